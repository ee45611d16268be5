/* Image augmentation for training batches ([n, C*H*W], or volumes slice by
 * slice): a random crop with zero padding (a shift of up to `crop_pad`
 * pixels each way), a horizontal flip with probability 1/2, and a rotation
 * by an angle uniform in [-max_rotate_deg, max_rotate_deg], composed into
 * one affine map about the image centre and sampled bilinearly (zero
 * outside). Shifts and flips alone move whole pixels, so they are exact.
 * The same transform applies to every channel and slice of a sample.
 * Draws come from the rng the caller seeds (the SDK's loop: from the
 * training seed), so a run is reproducible. */
#ifndef FEDC_NN_AUGMENT_H
#define FEDC_NN_AUGMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/nn/conv.h"
#include "fedc/nn/mat.h"
#include "fedc/nn/rng.h"

struct fedc_augment_cfg {
	size_t crop_pad;       /* 0: no crop */
	bool hflip;
	double max_rotate_deg; /* 0: no rotation; at most 180 */
};

static inline bool fedc_augment_on(const struct fedc_augment_cfg *a)
{
	return a && (a->crop_pad || a->hflip || a->max_rotate_deg > 0.0);
}

/* Writes augmented copies of the n samples of x (shape `vol`) into y (same
 * shape, not x). Returns 0, FEDC_NN_ERR_SHAPE or FEDC_NN_ERR_INVAL (a crop
 * pad not below the image's size, an angle over 180 or not finite). */
int fedc_augment_batch(const struct fedc_augment_cfg *cfg, const struct fedc_vol *vol, const struct fedc_mat *x,
		       struct fedc_mat *y, struct fedc_rng *rng);

#endif
