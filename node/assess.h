/* Assessing the final model: the node's side of a `train` request with
 * evaluate_only and `assess` (docs/protocol.md, "Assessments"). The plan
 * process computes (plan_assess.h) and writes into the round's memfd; this
 * module checks the request's arguments before the round, then reads what
 * the plan process wrote -- untrusted, since plan code ran there -- and
 * builds the reply's `assess_result` lines:
 *
 *   count NAME N     integers the researcher sums over the nodes
 *   sum NAME X       reals the researcher sums
 *   mean NAME X      reals the researcher averages weighted by n_test
 *   text NAME VALUE  a per-node value, not combined
 *
 * predict (every row): the predictions go to
 * DATA_DIR/predictions/JOB__DATASET.csv (mode 0600: for the node's operator,
 * docs/node-admin.md), and the reply carries only `count rows`, the
 * confusion matrix `count cm.T.P`, the per-class score histograms
 * `count pos.C.B` / `count neg.C.B` (rows of class C / of another class
 * whose probability of C falls in bin B of `bins`), the calibration bins
 * `count cal.B`, `sum conf.B`, `count ok.B` (rows whose top probability
 * falls in bin B, its sum, how many were right), and `text predictions
 * PATH`; only non-zero counts are sent. A regression gets `count rows`,
 * `sum abs_err`, `sum sq_err`, `sum y`, `sum y2`.
 * explain (test rows): `mean base X`, `mean imp.K X` and `text name.K NAME`
 * for each feature K.
 * robust (test rows): `mean robust.clean.M X` and `mean robust.A.EPS.M X`
 * for each metric M of the plan's evaluate(), attack A and epsilon EPS
 * (node/plan_robust.h). */
#ifndef FEDC_NODE_ASSESS_H
#define FEDC_NODE_ASSESS_H

#include <stdint.h>

#include "db.h"
#include "fedc/buf.h"
#include "fedc/err.h"
#include "fedc/message.h"
#include "fedc/plan.h"
#include "plan_robust.h"

#define ASSESS_DEFAULT_BINS 100
#define ASSESS_MAX_BINS 1000
#define ASSESS_DEFAULT_REPEATS 5
/* robust: one line per metric for the clean rows and per attack and epsilon */
#define ASSESS_ROBUST_MAX_LINES ((1 + FEDC_ROBUST_N_ATTACKS * FEDC_ROBUST_MAX_EPSILONS) * FEDC_PLAN_MAX_METRICS)
#define ASSESS_ROBUST_NAME_MAX 63 /* bytes of "robust.NAME": what the researcher takes */

struct assess_request {
	char kind[FEDC_SHORT_BUF]; /* "predict", "explain", "robust"; "" when the request assesses nothing */
	uint32_t bins;     /* predict: histogram and calibration bins over [0, 1] */
	uint32_t repeats;  /* explain: shuffles per feature */
	char metric[FEDC_PLAN_METRIC_NAME_LEN]; /* explain: the metric whose drop is the importance */
	char args[FEDC_MAX_ASSESS_ARGS + 1]; /* robust: the arguments, checked, passed to the plan process as they are */
};

/* Reads the request's `assess` and `assess_args` (`bins=N` for predict,
 * `repeats=N` and `metric=NAME` for explain, one per line; for robust the
 * lines fedc_robust_args_parse takes). FEDC_OK with
 * kind "" when the request has no `assess`; FEDC_ERR_INVAL with a detail
 * naming the line to change. */
FEDC_NODISCARD
enum fedc_err assess__parse(const struct fedc_msg *req, struct assess_request *out);

/* Reads the plan process's output from `fd` (offset 0 to its end), checks
 * it against the dataset `ds`, writes the predictions file under
 * `data_dir` (predict), and appends the result lines to `out`.
 * FEDC_ERR_PLAN when the output breaks its format (the detail says how),
 * FEDC_ERR_IO, FEDC_ERR_NOMEM, FEDC_ERR_TOO_BIG (more lines than a reply
 * holds: fewer bins). */
FEDC_NODISCARD
enum fedc_err assess__finish(const struct assess_request *a, const struct fedc_msg *req, const char *data_dir,
			     const struct node_dataset *ds, int fd, struct fedc_buf *out);

/* Checks the robust stage's output of the plan process (`len` bytes of
 * `data`, untrusted) and appends its lines to `out`: at least one and at
 * most ASSESS_ROBUST_MAX_LINES lines, each `mean robust.NAME VALUE\n` with
 * "robust.NAME" at most ASSESS_ROBUST_NAME_MAX bytes of [A-Za-z0-9_.-] and
 * VALUE a finite number. FEDC_ERR_PLAN naming the line that breaks this,
 * FEDC_ERR_TOO_BIG (out's cap), FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err assess__robust_lines(const char *data, size_t len, struct fedc_buf *out);

#endif
