/* What the aggregator files share: the object, the per-method ops table and
 * the helpers every method builds on. Private to researcher/aggregator*.c.
 *
 * Division of work: aggregator.c owns the round (updates kept mapped, sorted
 * by node id at finish), the checks on every update, the write and the
 * commit, and the state across rounds (its layout, its vectors, save and
 * load). A method only says which layouts it expects (begin), how to turn
 * the sorted updates into the result (compute, or compute_block for a
 * coordinate-wise method), and what the state becomes once the result is
 * written (commit).
 *
 * Two ways to the result:
 *   streamed   (compute_block) FedAvg, FedProx, FedOpt, SCAFFOLD: every
 *              result value depends on the same coordinate of the updates
 *              alone, so aggregator_sum.c sums block by block and the
 *              writer writes each block as it is done; nothing of the
 *              model's size is allocated for the round but the method's
 *              own vectors (FedOpt's x and new moments, SCAFFOLD's x and
 *              new c).
 *   in memory  (compute) median, trimmed mean, krum, multikrum,
 *              normbounded: the whole result vector is computed, then
 *              written. Krum and normbounded need every update's distance
 *              or norm over the whole model before any value is known (two
 *              passes); median and trimmed mean could go by blocks but
 *              keep their per-coordinate sort scratch as it is. */
#ifndef FEDC_RESEARCHER_AGGREGATOR_INTERNAL_H
#define FEDC_RESEARCHER_AGGREGATOR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "aggregator.h"
#include "fedc/buf.h"
#include "fedc/limits.h"

/* Named tensor shapes in order, laid out one after the other in a flat
 * vector of floats or doubles. */
struct agg_layout {
	size_t count;
	struct fedc_tensor *tensors; /* data == NULL; each name is names[i] */
	char **names;                /* owned: the tensors' names, with their prefix */
	uint64_t *offsets;           /* element offset of each tensor */
	uint64_t n_elements;         /* all tensors together */
};

struct agg_update {
	char node_id[FEDC_MAX_ID_LEN + 1];
	struct fedc_params *params; /* owned, mapped */
	uint64_t weight; /* the sample count claimed */
	double share;    /* the weight used: `weight` capped by max_weight (aggregator__share_weights) */
};

#define AGG_MAX_STATE_VECS 2

enum { AGG_SUM_NONE = 0, AGG_SUM_WEIGHTED, AGG_SUM_PLAIN };

/* The state across rounds: vectors over the model layout (float32 so that
 * a parameter file holds them exactly). */
struct agg_state {
	bool ready; /* layout and vectors set (first begin() or a loaded state) */
	struct agg_layout layout;
	float *vecs[AGG_MAX_STATE_VECS];
};

struct aggregator;

struct agg_ops {
	const char *name;
	/* What a secure sum (aggregator__add_sum) must hold for this method:
	 * AGG_SUM_WEIGHTED (weights are sample counts), AGG_SUM_PLAIN (every
	 * weight 1) or AGG_SUM_NONE (the method needs the updates one by one). */
	int secure_sum;
	/* The state vectors' name prefixes in a state file ("m.", "v." ...). */
	size_t n_state_vecs;
	const char *state_prefixes[AGG_MAX_STATE_VECS];
	/* Sets agg->model, agg->update_layout, agg->out_layout from `global`
	 * and allocates what the round needs in agg->round. Each layout starts
	 * with the model tensors; out tensors past them come in groups of the
	 * model's count, group g holding state vector g - 1 over the model
	 * (SCAFFOLD's c): aggregator_roles.c relies on both. */
	FEDC_NODISCARD enum fedc_err (*begin)(struct aggregator *agg, const struct fedc_params *global);
	/* First values of freshly allocated state vectors (may be NULL: zeros). */
	void (*init_state)(struct aggregator *agg, const struct fedc_params *global);
	/* Combines agg->updates (sorted by node id, all checked) into
	 * out_layout.n_elements floats owned by agg->round, which
	 * aggregator_roles.c may overwrite before the write. Called once.
	 * NULL for a streamed method. */
	FEDC_NODISCARD enum fedc_err (*compute)(struct aggregator *agg, float **result);
	/* A streamed method (NULL for the others): out tensor t, values first ..
	 * first + n - 1, from `sums`, the same values of update tensor t summed
	 * over the updates in node-id order (weighted by their shares when
	 * secure_sum is AGG_SUM_WEIGHTED, else each with weight 1) or the secure
	 * sum's. Called from several threads on disjoint blocks, and again on
	 * every block when a failed write is retried: writes dst and the
	 * round's own vectors at these coordinates only, never the state. */
	void (*compute_block)(struct aggregator *agg, size_t t, uint64_t first, size_t n, const double *sums,
			      float *dst);
	/* The result is written: move the new state in (may be NULL). */
	void (*commit)(struct aggregator *agg);
	void (*release_round)(struct aggregator *agg);
};

struct aggregator {
	const struct agg_ops *ops;
	struct aggregator_options opts;
	uint64_t rounds_done;
	struct agg_state state;
	uint8_t *roles;  /* enum fedc_param_role per model tensor (aggregator__set_roles); NULL: all weights */
	size_t n_roles;
	/* the round */
	bool in_round, computed, committed; /* computed: sorted, shares and roles set; no more add() */
	uint32_t n_nodes;
	struct agg_layout model;         /* the global tensors the method updates */
	struct agg_layout update_layout; /* what add() accepts */
	struct agg_layout out_layout;    /* what finish() writes */
	struct agg_update *updates;   /* n_updates entries, kept in update_mem */
	size_t n_updates;
	struct fedc_buf update_mem;   /* capped at n_nodes entries */
	uint64_t total_weight;
	double share_total;           /* sum of the updates' shares, set before compute */
	size_t n_contributors;        /* updates folded in (n_updates, or the secure sum's count) */
	double *secure_sum;           /* aggregator__add_sum: the sum, owned until sum_updates takes it */
	uint64_t secure_weight;       /* its total weight */
	size_t secure_count;          /* the nodes it adds up */
	float *result;                /* an in-memory method's, once computed */
	char *written_path;           /* a streamed method's file, once written */
	float *roles_avg;                         /* the averaged tensors' values (aggregator_roles.c) */
	float *roles_state[AGG_MAX_STATE_VECS];   /* the state over them before the round */
	void *round; /* the method's, freed by release_round */
};

/* The methods (one file each). */
extern const struct agg_ops aggregator__fedavg_ops;
extern const struct agg_ops aggregator__fedprox_ops;
extern const struct agg_ops aggregator__fedadam_ops;
extern const struct agg_ops aggregator__fedyogi_ops;
extern const struct agg_ops aggregator__fedadagrad_ops;
extern const struct agg_ops aggregator__scaffold_ops;
extern const struct agg_ops aggregator__median_ops;
extern const struct agg_ops aggregator__trimmed_mean_ops;
extern const struct agg_ops aggregator__krum_ops;
extern const struct agg_ops aggregator__multikrum_ops;
extern const struct agg_ops aggregator__normbounded_ops;

/* Sets each update's share and share_total from the claimed weights, capped
 * by max_weight for the methods that take it (aggregator_weights.c). Called
 * on the updates sorted by node id, before compute. FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err aggregator__share_weights(struct aggregator *agg);

/* Layouts. `prefix` ("" for none) goes before every name. */
void aggregator__layout_free(struct agg_layout *l);
FEDC_NODISCARD
enum fedc_err aggregator__layout_init(struct agg_layout *l, size_t capacity);
FEDC_NODISCARD
enum fedc_err aggregator__layout_push(struct agg_layout *l, const struct fedc_tensor *t, const char *prefix);
FEDC_NODISCARD
enum fedc_err aggregator__layout_append(struct agg_layout *l, const struct agg_layout *src, const char *prefix);
FEDC_NODISCARD
enum fedc_err aggregator__layout_of(struct agg_layout *l, const struct fedc_tensor *t, size_t count,
				    const char *prefix);
/* True if a and b have the same names, dtypes and shapes in order. */
bool aggregator__layout_equal(const struct agg_layout *a, const struct agg_layout *b);

/* Sets model, update and out layouts all to the tensors of `global`. */
FEDC_NODISCARD
enum fedc_err aggregator__plain_layouts(struct aggregator *agg, const struct fedc_params *global);
/* calloc of n values of `size` bytes, FEDC_ERR_TOO_BIG / NOMEM with a detail. */
FEDC_NODISCARD
enum fedc_err aggregator__alloc(uint64_t n, size_t size, void *out_ptr);
/* True if none of x[0..n-1] is a NaN or an infinity (aggregator_finite.c). */
bool aggregator__all_finite(const float *x, size_t n);
/* Copies `count` tensors of `t` (laid out as `l`) into one flat float vector. */
void aggregator__flatten(const struct agg_layout *l, const struct fedc_tensor *t, float *dst);
/* A streamed method's result, computed block by block as it is written to
 * `out_path` (atomically), from the sorted updates or the secure sum. May
 * be called again after a failure. FEDC_ERR_IO, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err aggregator__stream_result(struct aggregator *agg, const char *out_path);

/* Buffers and local tensors (aggregator_roles.c). check_roles at begin:
 * FEDC_ERR_MALFORMED if the roles do not fit the model. Around compute:
 * roles_before (after the shares are set; FEDC_ERR_NOMEM),
 * roles_after_compute, and roles_after_commit after the method's commit.
 * roles_free at the end of the round. */
/* False for a BUFFER or LOCAL model tensor i: distances and norms that
 * choose or bound updates (krum, normbounded) leave it out. */
bool aggregator__is_weight(const struct aggregator *agg, size_t i);
FEDC_NODISCARD
enum fedc_err aggregator__check_roles(const struct aggregator *agg);
FEDC_NODISCARD
enum fedc_err aggregator__roles_before(struct aggregator *agg);
void aggregator__roles_after_compute(struct aggregator *agg);
/* The values out tensor t takes instead of the method's (a BUFFER or LOCAL
 * tensor's average, or the state saved over it), all of them from its
 * first; NULL for a tensor the method computes. After roles_before. */
const float *aggregator__roles_values(const struct aggregator *agg, size_t t);
void aggregator__roles_after_commit(struct aggregator *agg);
void aggregator__roles_free(struct aggregator *agg);

#endif
