/* FedBN on the node: LOCAL tensors (fedc/plan.h, param_roles) stay at each
 * node between the rounds of a job.
 *
 * The plan process (plan_runner.c), each round: local_params__begin() reads
 * the plan's roles and, for every LOCAL tensor, the node's own value from
 * the job's state file (the one SCAFFOLD's c_i lives in, scaffold_client.h;
 * "local.<tensor>" there), and gives set_params() the global tensors with
 * those put back; in the job's first round there is none: the global values
 * stay. After training, local_params__extra() names what the update carries
 * last: a copy of every LOCAL tensor as "local.<tensor>", the trained value
 * the node keeps. The update still carries the LOCAL tensors themselves, so
 * the researcher's global model keeps their sample-weighted average (a
 * starting point for a new site).
 *
 * The node (round.c), right after the plan process: local_params__take()
 * cuts the "local." tensors off the update (they never leave the node:
 * before differential privacy, masks and upload) and keeps them; once the
 * round reached the researcher, scaffold__save_state() writes them to the
 * job's state file of this round, next to c_i. A retried round starts from
 * the same state file as the first try. */
#ifndef FEDC_NODE_LOCAL_PARAMS_H
#define FEDC_NODE_LOCAL_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/params.h"
#include "fedc/plan.h"

#define LOCAL_PARAMS_PREFIX "local."

/* The plan process's side, for one round. */
struct local_params {
	size_t n;                     /* model tensors */
	uint8_t *roles;               /* n roles (enum fedc_param_role) */
	size_t n_local;               /* how many are LOCAL */
	struct fedc_tensor *tensors;  /* n: the global ones, LOCAL ones from the state file */
	struct fedc_params *state;    /* the state file, kept mapped while tensors point into it */
	struct fedc_tensor *extra;    /* n_local "local.<name>" copies for the update */
	char (*names)[FEDC_MAX_NAME_LEN + 1];
};

/* Reads the roles of `model` (fedc_plan_roles) and builds r->tensors from
 * the n global tensors `global` and, for LOCAL ones, the values in
 * `state_path` (may not exist: the job's first round; "" or NULL: none). A
 * saved value of another shape is not used (the global one is). FEDC_ERR_PLAN
 * (param_roles failed), FEDC_ERR_MALFORMED (the state file is not a float32
 * parameter file), FEDC_ERR_NOMEM, with a detail. local_params__end() in
 * every case. */
FEDC_NODISCARD
enum fedc_err local_params__begin(const struct fedc_plan *plan, void *model, const struct fedc_tensor *global,
				  size_t n, const char *state_path, struct local_params *r);
void local_params__end(struct local_params *r);

/* The "local.<name>" copies of the LOCAL tensors of `y` (the n trained
 * tensors, in the model's order) for the end of the update: *extra (owned
 * by r, pointing into y) and *n_extra (0 when the plan has none).
 * FEDC_ERR_TOO_BIG for a name too long to prefix. */
FEDC_NODISCARD
enum fedc_err local_params__extra(struct local_params *r, const struct fedc_tensor *y,
				  const struct fedc_tensor **extra, size_t *n_extra);

/* Writes the update of a round without SCAFFOLD to `fd`: the `count`
 * trained tensors `y`, then `extra` (local_params__extra). FEDC_ERR_IO,
 * FEDC_ERR_INVAL, FEDC_ERR_NOMEM (fedc_params_write_fd). */
FEDC_NODISCARD
enum fedc_err local_params__write(int fd, const struct fedc_tensor *y, size_t count, const struct fedc_tensor *extra,
				  size_t n_extra);

/* The node's side: the tensors cut off an update. */
struct local_kept {
	size_t n;
	struct fedc_tensor *tensors; /* "local.<name>", data in `values` */
	char (*names)[FEDC_MAX_NAME_LEN + 1];
	float *values;
};

/* If the update in *update_fd ends with "local." tensors, moves them into
 * `kept` and replaces *update_fd (closed) with a new memfd, rewound, that
 * holds the other tensors. Nothing changes when there are none.
 * FEDC_ERR_MALFORMED (a "local." tensor before another kind, or not
 * float32), FEDC_ERR_IO, FEDC_ERR_NOMEM. local_kept__free() in every case. */
FEDC_NODISCARD
enum fedc_err local_params__take(int *update_fd, struct local_kept *kept);
void local_kept__free(struct local_kept *kept);

#endif
