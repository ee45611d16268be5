/* The partition schemes of fedc-partition (examples/partition/README.md):
 * which party holds which row. Pure functions of the labels, the options and
 * a seeded fedc_rng, so the same input and seed give the same split on every
 * machine (the Dirichlet draws use libm's log, sqrt and pow; glibc's are
 * correctly rounded for these in practice, and the tests pin the results).
 *
 * The label-skew schemes follow NIID-Bench (Li, Diao, Chen, He, ICDE 2022;
 * its partition.py): "dirichlet" is its noniid-labeldir, "classes" its
 * noniid-#label<C>, "quantity" its iid-diff-quantity. */
#ifndef FEDC_EXAMPLES_PARTITION_SCHEME_H
#define FEDC_EXAMPLES_PARTITION_SCHEME_H

#include <stddef.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/rng.h"

#define PARTITION_MAX_PARTIES 1024
#define PARTITION_MAX_CLASSES 65536 /* a CSV label is at most 65535 */
#define PARTITION_MAX_DRAWS 10000   /* Dirichlet redraws before giving up */

enum partition_scheme {
	PARTITION_IID,       /* equal shares of the shuffled rows */
	PARTITION_DIRICHLET, /* per class, shares drawn from Dir(beta) */
	PARTITION_CLASSES,   /* each party holds `classes` classes */
	PARTITION_QUANTITY,  /* IID labels, sizes drawn from Dir(beta) */
	PARTITION_MAJOR,     /* party k mostly classes 2k, 2k+1 (examples/mlp) */
};

struct partition_spec {
	enum partition_scheme scheme;
	uint32_t n_parties;   /* 1 .. PARTITION_MAX_PARTIES */
	double beta;          /* dirichlet, quantity: > 0 */
	uint32_t classes;     /* classes: 1 .. n_classes */
	double major_share;   /* major: (0, 1] */
	uint32_t min_size;    /* dirichlet, quantity: redraw until every party has this many rows */
};

/* One party: positions into the labels given to partition__split. */
struct partition_party {
	uint32_t *rows;
	size_t n, cap;
};

struct partition {
	struct partition_party *parties; /* n_parties of them */
	uint32_t n_parties;
	size_t n_unused; /* classes: rows of classes no party drew (NIID-Bench drops them too) */
};

/* Splits rows 0 .. n-1, whose labels are labels[i] < n_classes, among
 * spec->n_parties parties; `rng` is consumed as examples/partition/README.md
 * ("The schemes, exactly") says. On success *out holds every row at most
 * once (exactly once but for out->n_unused rows under "classes"); free it
 * with partition__free. Returns 0; FEDC_ERR_INVAL with a detail (fedc_fail)
 * for options the data cannot meet (a Dirichlet that never gives every
 * party min_size rows, more classes per party than the data has, fewer than
 * 3 classes for "major"); FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err partition__split(const struct partition_spec *spec, const uint32_t *labels, size_t n, uint32_t n_classes,
		     struct fedc_rng *rng, struct partition *out);
void partition__free(struct partition *p);

/* One draw of Dir(alpha, ..., alpha) of dimension k into p (sums to 1);
 * alpha > 0. Exposed for the tests of its moments. */
void partition__dirichlet(struct fedc_rng *rng, double alpha, uint32_t k, double *p);

#endif
