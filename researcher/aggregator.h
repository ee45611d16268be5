/* Aggregators: combine node updates into the next global parameters.
 * docs/researcher-guide.md, "[aggregator]", documents every method, option
 * and the SCAFFOLD tensor names.
 *
 * A round: begin() with the global parameters the nodes were sent, add() each
 * node's update as it comes (any order), finish() to write the result.
 * Determinism: finish() folds the updates in canonical order, sorted by node
 * id (bytewise), so the same inputs give bit-identical results whatever order
 * they were added in. Updates are parameter files (fedc_params: opened from
 * a path, an fd or a buffer) that the aggregator keeps mapped, not copied,
 * until finish(), and reads block by block, releasing the pages it has read.
 * FedAvg, FedProx, the FedOpt family and SCAFFOLD compute their result block
 * by block as it is written to its file: the round allocates nothing of the
 * model's size beyond their own vectors (FedOpt's global copy and new
 * moments, SCAFFOLD's global copy and new c); FedAvg's round is a few MB at
 * any model size. Median, trimmed mean, krum, multikrum and normbounded hold
 * their result vector (O(model size), whatever the number of nodes; median
 * and trimmed mean add a scratch block of a few hundred values per node);
 * aggregator_internal.h says why.
 *
 * State that lives across rounds (server optimizer moments, SCAFFOLD's
 * control variate, the round counter) can be saved to and loaded from a
 * parameter file, byte-exactly, so that a resumed run continues bit for bit. */
#ifndef FEDC_RESEARCHER_AGGREGATOR_H
#define FEDC_RESEARCHER_AGGREGATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/params.h"

/* Reserved tensor-name prefixes of the SCAFFOLD convention: the global
 * parameters carry "scaffold.c.<tensor>" (the server control variate) after
 * the model tensors; a node's update carries "scaffold.dc.<tensor>" (its
 * control-variate delta c_i+ - c_i) after its trained model tensors. */
#define AGG_SCAFFOLD_PREFIX "scaffold."
#define AGG_SCAFFOLD_C_PREFIX "scaffold.c."
#define AGG_SCAFFOLD_DC_PREFIX "scaffold.dc."

/* Options of the [aggregator] section. A method reads only the ones it takes
 * (aggregator__option_applies); aggregator__default_options() fills them all. */
struct aggregator_options {
	double server_lr; /* fedadam, fedyogi, fedadagrad, scaffold: server step size */
	double beta1;     /* fedadam, fedyogi, fedadagrad: first-moment decay */
	double beta2;     /* fedadam, fedyogi: second-moment decay */
	double tau;       /* fedadam, fedyogi, fedadagrad: adaptivity (epsilon) */
	double beta;      /* trimmed_mean: fraction trimmed from each end */
	double mu;        /* fedprox: proximal term sent to the nodes */
	double max_weight; /* weighted methods: largest share of the total weight one node may have */
	double f;         /* krum, multikrum: Byzantine nodes tolerated (a whole number) */
	double m;         /* multikrum: updates averaged (a whole number; 0: n - f) */
	double clip_norm; /* normbounded: bound C on the L2 norm of each update's change */
};

/* One option key: its range (bounds inclusive unless the *_open flag says
 * otherwise), where it lives in struct aggregator_options. */
struct aggregator_option_spec {
	const char *key;
	double min, max;
	bool min_open, max_open;
	bool whole; /* a whole number */
	size_t offset;
	const char *methods; /* the methods that take it, comma-separated, for messages */
};

/* The option keys, in a fixed order: index 0 .. until NULL. */
const struct aggregator_option_spec *aggregator__option_spec(size_t index);
/* True if `method` is a known method name. */
bool aggregator__method_known(const char *method);
/* "fedavg, fedprox, ...": every known method, for messages. */
const char *aggregator__method_list(void);
/* True if `method` takes option `spec`. */
bool aggregator__option_applies(const char *method, const struct aggregator_option_spec *spec);
/* Fills *o with the defaults of `method` (defaults of options a method does
 * not take are those of the methods that do). */
void aggregator__default_options(const char *method, struct aggregator_options *o);
/* FEDC_ERR_CONFIG naming the key ("[aggregator] beta1: ...") if an option
 * that `method` takes is out of range. */
FEDC_NODISCARD
enum fedc_err aggregator__check_options(const char *method, const struct aggregator_options *o);

/* Checks a node's claimed training sample count against the rows of the
 * dataset it offered in `search` (`registered`): FEDC_ERR_INVAL, with a
 * reason for the history, for 0 or a claim above `registered` (a node that
 * registered 100 rows cannot have trained on more; the weight it asks for
 * would otherwise buy it the model). FEDC_OK otherwise. */
FEDC_NODISCARD
enum fedc_err aggregator__check_claim(uint64_t n_samples, uint64_t registered);

/* The weights FedAvg and the methods built on it use, from the claimed
 * sample counts w[0..n-1] (each > 0): no node may hold more than
 * `max_weight` of their sum. The largest are lowered to one level T (the
 * others keep theirs) so that T / (sum of the new weights) == max_weight;
 * where no level does that (max_weight * n <= 1) every node gets the same
 * weight. Writes out[0..n-1] (the caller divides by their sum). Depends
 * only on the values, not their order. */
void aggregator__cap_weights(const uint64_t *w, size_t n, double max_weight, double *out);

struct aggregator; /* opaque */

/* `method` is one of aggregator__method_list(); `opts` NULL means the
 * defaults. FEDC_ERR_CONFIG for an unknown method or a bad option,
 * FEDC_ERR_NOMEM. The caller owns *out (aggregator__free). */
FEDC_NODISCARD
enum fedc_err aggregator__new(const char *method, const struct aggregator_options *opts,
			      struct aggregator **out);
void aggregator__free(struct aggregator *agg);

/* The role of each model tensor (enum fedc_param_role, fedc/plan.h), in the
 * order of the global parameters' model tensors; copied. NULL / 0: every
 * tensor is a weight. Every method sets a BUFFER or LOCAL tensor to the
 * nodes' values averaged by their shares, bit for bit as FedAvg would, and
 * leaves its state (moments, control variates) over it as it was
 * (aggregator_roles.c). Between rounds only. FEDC_ERR_INVAL (an unknown
 * role, inside a round), FEDC_ERR_NOMEM; begin() fails with
 * FEDC_ERR_MALFORMED if the count differs from the model's tensors. */
FEDC_NODISCARD
enum fedc_err aggregator__set_roles(struct aggregator *agg, const uint8_t *roles, size_t count);

/* Starts a round over the layout of `global` (the parameters the nodes were
 * sent; the caller may close them once this returns). `n_nodes` is the
 * number of nodes taking part in the experiment, whether or not this round
 * selected them all (SCAFFOLD's N; at most that many updates are taken).
 * Forgets any earlier round, not the state across rounds.
 * FEDC_ERR_INVAL (n_nodes 0), FEDC_ERR_MALFORMED if `global` does not fit
 * the state (other tensors than the round before) or breaks the SCAFFOLD
 * convention, FEDC_ERR_NOMEM, FEDC_ERR_TOO_BIG. */
FEDC_NODISCARD
enum fedc_err aggregator__begin(struct aggregator *agg, const struct fedc_params *global, uint32_t n_nodes);
/* Adds `node_id`'s update with its weight (training sample count, > 0).
 * Takes ownership of `update` whatever the result: it is kept mapped until
 * finish(), the next begin() or free(). FEDC_ERR_MALFORMED (detail says which
 * tensor) if its tensors differ in names, dtypes, shapes or order from what
 * the round expects, or hold a NaN or an infinity; FEDC_ERR_INVAL for a node
 * added twice, a weight of 0, more updates than n_nodes, or a call after
 * finish(). A refused update leaves the round as it was. */
FEDC_NODISCARD
enum fedc_err aggregator__add(struct aggregator *agg, const char *node_id, struct fedc_params *update,
			      uint64_t n_samples);
/* add() in two halves, for callers that check updates on other threads.
 * check_update() makes add()'s checks of the content (layout, finite values)
 * and only reads what begin() set up: between begin() and finish(), several
 * threads may run it on different updates while the caller's thread calls
 * add_checked(). add_checked() takes an update that passed check_update() in
 * this round and makes the rest of add()'s checks; ownership as add(). */
FEDC_NODISCARD
enum fedc_err aggregator__check_update(const struct aggregator *agg, const struct fedc_params *update);
FEDC_NODISCARD
enum fedc_err aggregator__add_checked(struct aggregator *agg, const char *node_id, struct fedc_params *update,
				      uint64_t n_samples);
/* Computes the result, writes it to `out_path` atomically and, on the
 * first success of the round, advances the state across rounds. A failed
 * write may be retried (a streamed result is computed again, to the same
 * bits); a call after a success writes the same bytes again (a streamed
 * result by copying the file first written: its updates are gone by then).
 * No update is taken once the updates have been sorted for the result.
 * FEDC_ERR_INVAL if no update was added, FEDC_ERR_IO, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err aggregator__finish(struct aggregator *agg, const char *out_path);

/* Secure aggregation (docs/privacy.md): true if `method` works over a sum
 * of the updates; *weighted (may be NULL) says whether that sum weighs
 * each update by its sample count (false: every weight is 1, SCAFFOLD). */
bool aggregator__secure_sum_kind(const char *method, bool *weighted);
/* The values one update holds in this round (after begin()), in add()'s
 * layout and file order: what a secure sum adds up. */
uint64_t aggregator__update_values(const struct aggregator *agg);
/* Gives the round the sum of the updates instead of the updates: sum[j] is
 * the (weighted, per aggregator__secure_sum_kind) sum of value j over
 * `contributors` nodes, total_weight the sum of their weights. Takes `sum`
 * (malloc'd, update_values() doubles) whatever the result. Instead of any
 * add(). FEDC_ERR_INVAL (a method that needs single updates, a round with
 * updates, after finish()), FEDC_ERR_MALFORMED (NaN, or an unweighted sum
 * whose weight is not its count). */
FEDC_NODISCARD
enum fedc_err aggregator__add_sum(struct aggregator *agg, double *sum, uint64_t total_weight, size_t contributors);

/* Forgets the round in progress, as the next begin() would: its updates are
 * unmapped (their files may then be rewritten). The state across rounds
 * stays as it is. */
void aggregator__end_round(struct aggregator *agg);

/* Rounds finished (finish() succeeded) since creation or the loaded state. */
uint64_t aggregator__rounds(const struct aggregator *agg);

/* Writes the state across rounds to `path` atomically, as a parameter file
 * (tensor "aggregator.<method>" holding the round count, then the method's
 * vectors per model tensor: "m.<t>", "v.<t>" or "c.<t>"). Between rounds or
 * after finish(): the state saved is the one after the last successful
 * finish(). FEDC_ERR_IO, FEDC_ERR_INVAL (too many tensors for one file). */
FEDC_NODISCARD
enum fedc_err aggregator__save_state(const struct aggregator *agg, const char *path);
/* Replaces the state across rounds with the one saved in `path`, byte for
 * byte. Not inside a round (FEDC_ERR_INVAL). FEDC_ERR_MALFORMED if the file
 * is for another method or not a state file; open errors. */
FEDC_NODISCARD
enum fedc_err aggregator__load_state(struct aggregator *agg, const char *path);

#endif
