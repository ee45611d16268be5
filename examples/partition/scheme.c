/* The partition schemes (scheme.h); the exact rules are in
 * examples/partition/README.md, "The schemes, exactly". */
#include "scheme.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- random draws ---- */

/* Uniform in (0, 1]: safe under log and pow. */
static double uniform_open(struct fedc_rng *rng)
{
	return 1.0 - fedc_rng_uniform(rng);
}

/* Standard normal, Box-Muller (one of the pair). */
static double normal(struct fedc_rng *rng)
{
	double r = sqrt(-2.0 * log(uniform_open(rng)));

	return r * cos(2.0 * M_PI * fedc_rng_uniform(rng));
}

/* Gamma(shape a, scale 1): Marsaglia and Tsang (2000), with the
 * Gamma(a + 1) * U^(1/a) boost for a < 1. */
static double gamma_draw(struct fedc_rng *rng, double a)
{
	double d, c, x, v, u;

	if (a < 1.0)
		return gamma_draw(rng, a + 1.0) * pow(uniform_open(rng), 1.0 / a);
	d = a - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		do {
			x = normal(rng);
			v = 1.0 + c * x;
		} while (v <= 0.0);
		v = v * v * v;
		u = uniform_open(rng);
		if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

void partition__dirichlet(struct fedc_rng *rng, double alpha, uint32_t k, double *p)
{
	double sum = 0;

	for (uint32_t j = 0; j < k; j++) {
		p[j] = gamma_draw(rng, alpha);
		sum += p[j];
	}
	if (!(sum > 0)) { /* every draw underflowed (alpha far below 1): one party takes all */
		uint32_t only = (uint32_t)fedc_rng_below(rng, k);

		for (uint32_t j = 0; j < k; j++)
			p[j] = j == only;
		return;
	}
	for (uint32_t j = 0; j < k; j++)
		p[j] /= sum;
}

/* ---- parties ---- */

static enum fedc_err push(struct partition_party *party, uint32_t row)
{
	if (party->n == party->cap) {
		size_t cap = party->cap ? party->cap * 2 : 1024;
		uint32_t *rows = realloc(party->rows, cap * sizeof(*rows));

		if (!rows)
			return FEDC_ERR_NOMEM;
		party->rows = rows;
		party->cap = cap;
	}
	party->rows[party->n++] = row;
	return 0;
}

/* Gives rows[from, to) to `party`. */
static enum fedc_err push_range(struct partition_party *party, const uint32_t *rows, size_t from, size_t to)
{
	enum fedc_err rc = 0;

	for (size_t i = from; i < to && !rc; i++)
		rc = push(party, rows[i]);
	return rc;
}

static void clear(struct partition *p)
{
	for (uint32_t k = 0; k < p->n_parties; k++)
		p->parties[k].n = 0;
	p->n_unused = 0;
}

static size_t smallest(const struct partition *p)
{
	size_t min = SIZE_MAX;

	for (uint32_t k = 0; k < p->n_parties; k++)
		if (p->parties[k].n < min)
			min = p->parties[k].n;
	return min;
}

static void shuffle_parties(struct partition *p, struct fedc_rng *rng)
{
	for (uint32_t k = 0; k < p->n_parties; k++)
		fedc_rng_shuffle(rng, p->parties[k].rows, p->parties[k].n);
}

/* Cuts rows[0, count) at floor(cumsum(share) * count), NIID-Bench's
 * (np.cumsum(p) * len).astype(int): party k takes the k-th piece, the last
 * party the rest. */
static enum fedc_err cut(struct partition *p, const uint32_t *rows, size_t count, const double *share)
{
	double cum = 0;
	size_t from = 0, to;
	enum fedc_err rc = 0;

	for (uint32_t k = 0; k < p->n_parties && !rc; k++) {
		cum += share[k];
		to = k + 1 == p->n_parties ? count : (size_t)floor(cum * (double)count);
		if (to > count)
			to = count;
		if (to < from)
			to = from;
		rc = push_range(&p->parties[k], rows, from, to);
		from = to;
	}
	return rc;
}

/* Splits `count` rows in proportion to weights[k] (largest remainder, ties to
 * the lower party): quota[k]. */
static void apportion(size_t count, const double *weights, uint32_t n, size_t *quota)
{
	double total = 0, frac[PARTITION_MAX_PARTIES];
	size_t given = 0;

	for (uint32_t k = 0; k < n; k++)
		total += weights[k];
	for (uint32_t k = 0; k < n; k++) {
		double exact = total > 0 ? (double)count * weights[k] / total : 0;

		quota[k] = (size_t)floor(exact);
		frac[k] = exact - (double)quota[k];
		given += quota[k];
	}
	while (given < count) {
		uint32_t best = 0;

		for (uint32_t k = 1; k < n; k++)
			if (frac[k] > frac[best])
				best = k;
		quota[best]++;
		frac[best] = -1;
		given++;
	}
}

/* ---- rows by class ---- */

struct by_class {
	uint32_t *rows;   /* all positions, grouped by class, each class in input order */
	size_t *start;    /* class c: rows[start[c], start[c + 1]) */
	uint32_t n_classes;
};

static enum fedc_err group(const uint32_t *labels, size_t n, uint32_t n_classes, struct by_class *g)
{
	size_t *next = NULL;
	enum fedc_err rc = FEDC_ERR_NOMEM;

	g->n_classes = n_classes;
	g->rows = malloc((n ? n : 1) * sizeof(*g->rows));
	g->start = calloc((size_t)n_classes + 1, sizeof(*g->start));
	next = calloc(n_classes, sizeof(*next));
	if (!g->rows || !g->start || !next)
		goto out;
	for (size_t i = 0; i < n; i++)
		g->start[labels[i] + 1]++;
	for (uint32_t c = 0; c < n_classes; c++) {
		g->start[c + 1] += g->start[c];
		next[c] = g->start[c];
	}
	for (size_t i = 0; i < n; i++)
		g->rows[next[labels[i]]++] = (uint32_t)i;
	rc = 0;
out:
	free(next);
	return rc;
}

static void group_free(struct by_class *g)
{
	free(g->rows);
	free(g->start);
}

/* ---- the schemes ---- */

static enum fedc_err split_iid(struct partition *p, size_t n)
{
	enum fedc_err rc = 0;

	for (uint32_t k = 0; k < p->n_parties && !rc; k++)
		for (size_t i = (size_t)k * n / p->n_parties; i < (size_t)(k + 1) * n / p->n_parties && !rc; i++)
			rc = push(&p->parties[k], (uint32_t)i);
	return rc;
}

/* NIID-Bench noniid-labeldir: per class, shares from Dir(beta), with the
 * parties already at or over n / n_parties rows getting none of it; redrawn
 * whole until every party has min_size rows. */
static enum fedc_err split_dirichlet(const struct partition_spec *s, const struct by_class *g, size_t n,
				     struct fedc_rng *rng, struct partition *p)
{
	double share[PARTITION_MAX_PARTIES];
	enum fedc_err rc = 0;

	for (uint32_t attempt = 0; attempt < PARTITION_MAX_DRAWS; attempt++) {
		clear(p);
		for (uint32_t c = 0; c < g->n_classes && !rc; c++) {
			double sum = 0;

			partition__dirichlet(rng, s->beta, s->n_parties, share);
			for (uint32_t k = 0; k < s->n_parties; k++) {
				if ((double)p->parties[k].n >= (double)n / s->n_parties)
					share[k] = 0;
				sum += share[k];
			}
			for (uint32_t k = 0; k < s->n_parties; k++)
				share[k] = sum > 0 ? share[k] / sum : 1.0 / s->n_parties;
			rc = cut(p, g->rows + g->start[c], g->start[c + 1] - g->start[c], share);
		}
		if (rc || smallest(p) >= s->min_size)
			break;
	}
	if (!rc && smallest(p) < s->min_size)
		rc = fedc_fail(FEDC_ERR_INVAL,
			       "--beta %g: no draw in %d gave every one of the %u parties %u rows or more; give a larger "
			       "--beta, fewer --parties or a smaller --min-size",
			       s->beta, PARTITION_MAX_DRAWS, s->n_parties, s->min_size);
	if (!rc)
		shuffle_parties(p, rng);
	return rc;
}

/* NIID-Bench noniid-#label<C>: party k holds class k mod K and C - 1 more
 * drawn uniformly (no repeats); each class is cut into equal pieces (the
 * first count mod t pieces one row longer, as np.array_split) for the t
 * parties holding it, in party order. */
static enum fedc_err split_classes(const struct partition_spec *s, const struct by_class *g, struct fedc_rng *rng,
				   struct partition *p)
{
	uint32_t K = g->n_classes, n = s->n_parties;
	uint32_t *times = calloc(K, sizeof(*times)), *seen = calloc(K, sizeof(*seen));
	bool *holds = calloc((size_t)n * K, sizeof(*holds));
	enum fedc_err rc = FEDC_ERR_NOMEM;

	if (!times || !seen || !holds)
		goto out;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t have = 1;

		holds[(size_t)k * K + k % K] = true;
		times[k % K]++;
		while (have < s->classes) {
			uint32_t c = (uint32_t)fedc_rng_below(rng, K);

			if (!holds[(size_t)k * K + c]) {
				holds[(size_t)k * K + c] = true;
				times[c]++;
				have++;
			}
		}
	}
	rc = 0;
	for (uint32_t c = 0; c < K && !rc; c++) {
		size_t count = g->start[c + 1] - g->start[c], from = g->start[c];

		if (!times[c]) {
			p->n_unused += count;
			continue;
		}
		for (uint32_t k = 0; k < n && !rc; k++) {
			size_t len;

			if (!holds[(size_t)k * K + c])
				continue;
			len = count / times[c] + (seen[c] < count % times[c]);
			rc = push_range(&p->parties[k], g->rows, from, from + len);
			from += len;
			seen[c]++;
		}
	}
	if (!rc)
		shuffle_parties(p, rng);
out:
	free(times);
	free(seen);
	free(holds);
	return rc;
}

/* NIID-Bench iid-diff-quantity: sizes from Dir(beta), redrawn until the
 * smallest share of n is min_size rows; contiguous pieces of the (already
 * shuffled) input. */
static enum fedc_err split_quantity(const struct partition_spec *s, size_t n, struct fedc_rng *rng,
				    struct partition *p)
{
	double share[PARTITION_MAX_PARTIES], min = 0;
	uint32_t *rows = malloc((n ? n : 1) * sizeof(*rows));
	enum fedc_err rc = 0;

	if (!rows)
		return FEDC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		rows[i] = (uint32_t)i;
	for (uint32_t attempt = 0; attempt < PARTITION_MAX_DRAWS; attempt++) {
		partition__dirichlet(rng, s->beta, s->n_parties, share);
		min = share[0];
		for (uint32_t k = 1; k < s->n_parties; k++)
			if (share[k] < min)
				min = share[k];
		if (min * (double)n >= s->min_size)
			break;
	}
	if (min * (double)n < s->min_size)
		rc = fedc_fail(FEDC_ERR_INVAL,
			       "--beta %g: no draw in %d gave every one of the %u parties %u rows or more; give a larger "
			       "--beta, fewer --parties or a smaller --min-size",
			       s->beta, PARTITION_MAX_DRAWS, s->n_parties, s->min_size);
	if (!rc)
		rc = cut(p, rows, n, share);
	free(rows);
	return rc;
}

/* examples/mlp's non-IID: party k's two classes are 2k and 2k+1 mod K; class
 * c goes to the parties in proportion to P/2 (a party's own class) or
 * (1-P)/(K-2), largest remainder. */
static enum fedc_err split_major(const struct partition_spec *s, const struct by_class *g, struct fedc_rng *rng,
				 struct partition *p)
{
	uint32_t K = g->n_classes, n = s->n_parties;
	double weights[PARTITION_MAX_PARTIES];
	size_t quota[PARTITION_MAX_PARTIES];
	enum fedc_err rc = 0;

	for (uint32_t c = 0; c < K && !rc; c++) {
		size_t from = g->start[c];

		for (uint32_t k = 0; k < n; k++) {
			bool major = c == (2 * k) % K || c == (2 * k + 1) % K;

			weights[k] = major ? s->major_share / 2 : (1 - s->major_share) / (K - 2);
		}
		apportion(g->start[c + 1] - g->start[c], weights, n, quota);
		for (uint32_t k = 0; k < n && !rc; k++) {
			rc = push_range(&p->parties[k], g->rows, from, from + quota[k]);
			from += quota[k];
		}
	}
	if (!rc)
		shuffle_parties(p, rng);
	return rc;
}

static enum fedc_err check(const struct partition_spec *s, uint32_t n_classes)
{
	if (s->n_parties == 0 || s->n_parties > PARTITION_MAX_PARTIES)
		return fedc_fail(FEDC_ERR_INVAL, "--parties %u: give 1 to %d", s->n_parties, PARTITION_MAX_PARTIES);
	if (s->scheme != PARTITION_IID && s->scheme != PARTITION_QUANTITY && n_classes == 0)
		return fedc_fail(FEDC_ERR_INVAL, "this split needs class labels; the data has none (regression)");
	if (s->scheme == PARTITION_CLASSES && (s->classes == 0 || s->classes > n_classes))
		return fedc_fail(FEDC_ERR_INVAL, "--classes %u: give 1 to %u, the number of classes in the data",
				 s->classes, n_classes);
	if (s->scheme == PARTITION_MAJOR && n_classes < 3)
		return fedc_fail(FEDC_ERR_INVAL, "--split major needs at least 3 classes; the data has %u", n_classes);
	if ((s->scheme == PARTITION_DIRICHLET || s->scheme == PARTITION_QUANTITY) && !(s->beta > 0))
		return fedc_fail(FEDC_ERR_INVAL, "--beta %g: give a number above 0", s->beta);
	return 0;
}

enum fedc_err partition__split(const struct partition_spec *spec, const uint32_t *labels, size_t n,
			       uint32_t n_classes, struct fedc_rng *rng, struct partition *out)
{
	struct by_class g = { 0 };
	enum fedc_err rc = check(spec, n_classes);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	out->parties = calloc(spec->n_parties, sizeof(*out->parties));
	if (!out->parties)
		return FEDC_ERR_NOMEM;
	out->n_parties = spec->n_parties;
	if (spec->scheme != PARTITION_IID && spec->scheme != PARTITION_QUANTITY) {
		rc = group(labels, n, n_classes, &g);
		if (rc)
			goto out;
	}
	switch (spec->scheme) {
	case PARTITION_IID: rc = split_iid(out, n); break;
	case PARTITION_DIRICHLET: rc = split_dirichlet(spec, &g, n, rng, out); break;
	case PARTITION_CLASSES: rc = split_classes(spec, &g, rng, out); break;
	case PARTITION_QUANTITY: rc = split_quantity(spec, n, rng, out); break;
	case PARTITION_MAJOR: rc = split_major(spec, &g, rng, out); break;
	}
out:
	group_free(&g);
	if (rc)
		partition__free(out);
	return rc;
}

void partition__free(struct partition *p)
{
	for (uint32_t k = 0; p->parties && k < p->n_parties; k++)
		free(p->parties[k].rows);
	free(p->parties);
	memset(p, 0, sizeof(*p));
}
