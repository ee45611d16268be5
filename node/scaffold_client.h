/* SCAFFOLD (Karimireddy et al. 2020) on the node, "option II".
 *
 * The global parameters of a SCAFFOLD experiment carry, after the model
 * tensors, the server's control variate c as "scaffold.c.<tensor>" (same
 * order and shapes). The node keeps its own c_i per job and dataset in a
 * state file (data_dir/scaffold/), hands the plan the correction c - c_i to
 * add to every gradient (fedc_train_args.scaffold_correction; only plans
 * exporting FEDC_PLAN_FEATURE_SCAFFOLD take it), and after K local steps of
 * rate lr sends, after its trained tensors y, "scaffold.dc.<tensor>":
 *     dc = c_i+ - c_i = -c + (x - y) / (K lr)
 * The plan's child computes the update (it may not write files); the parent
 * then saves c_i+ = c_i + dc. The same state file keeps FedBN's local
 * tensors, as "local.<tensor>" (local_params.h). */
#ifndef FEDC_NODE_SCAFFOLD_CLIENT_H
#define FEDC_NODE_SCAFFOLD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/params.h"

#define SCAFFOLD_C_PREFIX "scaffold.c."
#define SCAFFOLD_DC_PREFIX "scaffold.dc."

struct scaffold_round {
	size_t n;                         /* model tensors */
	const struct fedc_tensor *x;      /* the global model tensors (in the mapping) */
	const struct fedc_tensor *c;      /* the server's control variate, n tensors */
	struct fedc_tensor *correction;   /* c - c_i, n tensors (owned) */
	float *values;                    /* the correction's data */
};

/* How many leading tensors of `global` are the model; *on when c follows
 * (then exactly n more, "scaffold.c.<name>" with the same shapes, float32).
 * FEDC_ERR_MALFORMED otherwise. */
FEDC_NODISCARD
enum fedc_err scaffold__split(const struct fedc_params *global, size_t *n_model, bool *on);

/* For a SCAFFOLD round: reads c_i from `state_path` (zeros if the file does
 * not exist yet: the node's first round of the job) and computes c - c_i. */
FEDC_NODISCARD
enum fedc_err scaffold__begin(const struct fedc_params *global, size_t n_model, const char *state_path,
			      struct scaffold_round *r);
void scaffold__end(struct scaffold_round *r);

/* Writes the update to `fd`: the trained tensors `y` (n, the model's),
 * their "scaffold.dc." tensors, for K steps at rate lr, then the n_extra
 * tensors `extra` (FedBN's "local." ones, local_params.h; may be 0). */
FEDC_NODISCARD
enum fedc_err scaffold__write_update(int fd, const struct scaffold_round *r, const struct fedc_tensor *y,
				     uint64_t steps, double lr, const struct fedc_tensor *extra, size_t n_extra);

/* In the parent, after a successful round: the job's state for the next
 * round, saved atomically to `after_path`: c_i+ = c_i + dc, with c_i read
 * from `before_path` (the file the round started from; zeros if it does not
 * exist) and dc from the update at `update_fd`, then the n_extra tensors
 * `extra` (the node's FedBN "local." tensors, local_params.h). Nothing to do
 * (FEDC_OK) when the update carries no "scaffold.dc." tensors and there is
 * no extra. */
FEDC_NODISCARD
enum fedc_err scaffold__save_state(int update_fd, const char *before_path, const char *after_path,
				   const struct fedc_tensor *extra, size_t n_extra);

#endif
