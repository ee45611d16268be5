/* Seeded image augmentation: shift (crop with zero padding), horizontal
 * flip and rotation composed into one affine map, sampled bilinearly. */
#include <math.h>

#include "fedc/nn/augment.h"
#include "fedc/nn/err.h"

/* The inverse map of one sample: output pixel (x, y) reads input
 * (cx + a (x - cx - sx) + b (y - cy - sy), cy + c (x - cx - sx) + d (y - cy - sy)). */
struct affine {
	double a, b, c, d, sx, sy, cx, cy;
};

static struct affine draw(const struct fedc_augment_cfg *cfg, const struct fedc_vol *v, struct fedc_rng *rng)
{
	struct affine m = { 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, (double)(v->w - 1) / 2.0, (double)(v->h - 1) / 2.0 };
	double theta = 0.0, flip = 1.0;

	if (cfg->crop_pad) {
		uint64_t span = 2 * (uint64_t)cfg->crop_pad + 1;

		m.sx = (double)fedc_rng_below(rng, span) - (double)cfg->crop_pad;
		m.sy = (double)fedc_rng_below(rng, span) - (double)cfg->crop_pad;
	}
	if (cfg->hflip && fedc_rng_below(rng, 2))
		flip = -1.0;
	if (cfg->max_rotate_deg > 0.0)
		theta = (2.0 * fedc_rng_uniform(rng) - 1.0) * cfg->max_rotate_deg * (M_PI / 180.0);
	/* Inverse of rotate-by-theta after flip: flip (rotate by -theta). */
	if (theta != 0.0) {
		double cs = cos(theta), sn = sin(theta);

		m.a = cs, m.b = sn, m.c = -sn, m.d = cs;
	}
	m.a *= flip;
	m.b *= flip;
	return m;
}

static float texel(const float *img, const struct fedc_vol *v, long x, long y)
{
	if (x < 0 || y < 0 || x >= (long)v->w || y >= (long)v->h)
		return 0.0f;
	return img[(size_t)y * v->w + (size_t)x];
}

/* One H x W plane through the map. */
static void warp_plane(const struct affine *m, const struct fedc_vol *v, const float *in, float *out)
{
	for (size_t y = 0; y < v->h; y++) {
		for (size_t x = 0; x < v->w; x++) {
			double u = (double)x - m->cx - m->sx, w = (double)y - m->cy - m->sy;
			double sx = m->cx + m->a * u + m->b * w, sy = m->cy + m->c * u + m->d * w;
			double fx = floor(sx), fy = floor(sy);
			float tx = (float)(sx - fx), ty = (float)(sy - fy);
			long x0 = (long)fx, y0 = (long)fy;
			float top = texel(in, v, x0, y0) * (1.0f - tx) + texel(in, v, x0 + 1, y0) * tx;
			float bottom = texel(in, v, x0, y0 + 1) * (1.0f - tx) + texel(in, v, x0 + 1, y0 + 1) * tx;

			out[y * v->w + x] = top * (1.0f - ty) + bottom * ty;
		}
	}
}

int fedc_augment_batch(const struct fedc_augment_cfg *cfg, const struct fedc_vol *vol, const struct fedc_mat *x,
		       struct fedc_mat *y, struct fedc_rng *rng)
{
	size_t plane, planes;

	if (!cfg || !vol || !x || !y || !rng)
		return FEDC_NN_ERR_INVAL;
	if (x->cols != fedc_vol_len(vol) || y->rows != x->rows || y->cols != x->cols || x->data == y->data)
		return FEDC_NN_ERR_SHAPE;
	if (cfg->crop_pad >= vol->h || cfg->crop_pad >= vol->w || !isfinite(cfg->max_rotate_deg) ||
	    cfg->max_rotate_deg < 0.0 || cfg->max_rotate_deg > 180.0)
		return FEDC_NN_ERR_INVAL;
	plane = vol->h * vol->w;
	planes = vol->c * vol->d;
	for (size_t i = 0; i < x->rows; i++) {
		struct affine m = draw(cfg, vol, rng);

		for (size_t k = 0; k < planes; k++)
			warp_plane(&m, vol, x->data + i * x->cols + k * plane, y->data + i * y->cols + k * plane);
	}
	return FEDC_NN_OK;
}
