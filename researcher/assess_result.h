/* A node's `assess_result` (docs/protocol.md, "Assessments"), decoded and
 * combined over the nodes. Outside bytes: every line is checked.
 *
 *   count NAME N     a whole number; summed over the nodes
 *   sum NAME X       a finite real; summed
 *   mean NAME X      a finite real; averaged weighted by the node's n_test
 *   text NAME VALUE  printable text (spaces allowed); kept per node
 *
 * NAME is 1 to 63 of [A-Za-z0-9_.-], each at most once per result; at most
 * ASSESS_MAX_LINES lines, each ended by '\n', FEDC_MAX_ASSESS_RESULT bytes. */
#ifndef FEDC_RESEARCHER_ASSESS_RESULT_H
#define FEDC_RESEARCHER_ASSESS_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"

#define ASSESS_MAX_LINES 4096
#define ASSESS_NAME_MAX 63
#define ASSESS_TEXT_MAX 1023

enum assess_kind { ASSESS_COUNT, ASSESS_SUM, ASSESS_MEAN, ASSESS_TEXT };

struct assess_value {
	char name[ASSESS_NAME_MAX + 1];
	enum assess_kind kind;
	uint64_t count;       /* ASSESS_COUNT */
	double value;         /* ASSESS_SUM; ASSESS_MEAN: the weighted sum until assess_result__finish */
	double weight;        /* ASSESS_MEAN: the weights summed */
	char *text;           /* ASSESS_TEXT, owned */
};

struct assess_result {
	struct assess_value *values;
	size_t n, cap;
};

/* Decodes `len` bytes into a fresh `out` (release with assess_result__free
 * also on failure). FEDC_ERR_MALFORMED with a detail naming the line:
 * a bad number, an unknown kind, a duplicate name, too many lines, a line
 * without its '\n'; FEDC_ERR_TOO_BIG past FEDC_MAX_ASSESS_RESULT;
 * FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err assess_result__decode(const void *data, size_t len, struct assess_result *out);

/* Adds one node's decoded result, of weight `n_test` for its means, into
 * `total`. Texts are not combined (the first kept). FEDC_ERR_MALFORMED when
 * a name comes with another kind than before; FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err assess_result__add(struct assess_result *total, const struct assess_result *node, uint64_t n_test);

/* Turns the means' weighted sums into means (a mean of weight 0 is NAN). */
void assess_result__finish(struct assess_result *total);

/* The value named `name`, or NULL. */
const struct assess_value *assess_result__get(const struct assess_result *r, const char *name);
/* A count (0 when absent), a sum or mean (`otherwise` when absent). */
uint64_t assess_result__count(const struct assess_result *r, const char *name);
double assess_result__real(const struct assess_result *r, const char *name, double otherwise);

void assess_result__free(struct assess_result *r);

#endif
