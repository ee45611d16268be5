/* Monitoring counters and the Prometheus text exposition format, version
 * 0.0.4 (docs/monitoring.md lists what the node and the repository export).
 *
 * Counters and gauges are C11 atomics: any thread may bump them without a
 * lock, and a scrape reads each one once (a scrape sees every counter at
 * some moment of its own, not one snapshot of all: Prometheus asks no more).
 *
 * The writers append to a fedc_buf, one metric family at a time:
 *   fedc_prom_family(b, "fedc_node_rounds_total", FEDC_PROM_COUNTER, "Rounds run.");
 *   fedc_prom_sample(b, "fedc_node_rounds_total", labels, 1, 3.0);
 * Names and label names are checked against the format's grammar (a bad one
 * is the caller's bug: FEDC_ERR_INVAL); label values and help texts are
 * escaped as the format requires, so they may hold anything. */
#ifndef FEDC_PROM_H
#define FEDC_PROM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/buf.h"
#include "fedc/err.h"

/* The Content-Type of a scrape's answer. */
#define FEDC_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A counter only goes up (from 0 at process start). */
struct fedc_prom_counter {
	atomic_uint_least64_t value;
};

/* A gauge goes up and down. */
struct fedc_prom_gauge {
	atomic_int_least64_t value;
};

static inline void fedc_prom_add(struct fedc_prom_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

static inline uint64_t fedc_prom_get(struct fedc_prom_counter *c)
{
	return atomic_load_explicit(&c->value, memory_order_relaxed);
}

static inline void fedc_prom_gauge_add(struct fedc_prom_gauge *g, int64_t n)
{
	atomic_fetch_add_explicit(&g->value, n, memory_order_relaxed);
}

static inline void fedc_prom_gauge_set(struct fedc_prom_gauge *g, int64_t v)
{
	atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

/* Raises the gauge to `v` if it is below (a high-water mark). */
static inline void fedc_prom_gauge_max(struct fedc_prom_gauge *g, int64_t v)
{
	int_least64_t cur = atomic_load_explicit(&g->value, memory_order_relaxed);

	while (cur < v && !atomic_compare_exchange_weak_explicit(&g->value, &cur, v, memory_order_relaxed,
								 memory_order_relaxed))
		;
}

static inline int64_t fedc_prom_gauge_get(struct fedc_prom_gauge *g)
{
	return atomic_load_explicit(&g->value, memory_order_relaxed);
}

enum fedc_prom_type { FEDC_PROM_COUNTER, FEDC_PROM_GAUGE };

/* One label of a sample: name="value". */
struct fedc_prom_label {
	const char *name;
	const char *value;
};

/* Whether `name` is a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool fedc_prom_name_valid(const char *name);
/* Whether `name` is a label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting "__"
 * (reserved by Prometheus). */
bool fedc_prom_label_name_valid(const char *name);

/* Writes "# HELP name help" and "# TYPE name counter|gauge". A counter's
 * name must end in "_total". FEDC_ERR_INVAL (bad name), or what
 * fedc_buf_printf returns (FEDC_ERR_TOO_BIG, FEDC_ERR_NOMEM). */
FEDC_NODISCARD
enum fedc_err fedc_prom_family(struct fedc_buf *b, const char *name, enum fedc_prom_type type, const char *help);

/* Writes "name{l1="v1",...} value": `value` as the shortest text that reads
 * back the same double (%.17g trimmed), NaN as "NaN", infinities as "+Inf"
 * and "-Inf". No braces when n_labels is 0. Errors as fedc_prom_family. */
FEDC_NODISCARD
enum fedc_err fedc_prom_sample(struct fedc_buf *b, const char *name, const struct fedc_prom_label *labels,
			       size_t n_labels, double value);

/* A family of one sample without labels (the common case). */
FEDC_NODISCARD
enum fedc_err fedc_prom_single(struct fedc_buf *b, const char *name, enum fedc_prom_type type, const char *help,
			       double value);

/* Splits a listen address "HOST:PORT" ("[::1]:9464" for IPv6; PORT 0 to
 * 65535, 0 picks a free one) into host (brackets removed) and port.
 * FEDC_ERR_CONFIG with a message naming `what` (the config key) and the
 * expected form. */
#define FEDC_PROM_HOST_MAX 255
FEDC_NODISCARD
enum fedc_err fedc_prom_listen_parse(const char *what, const char *text, char host[FEDC_PROM_HOST_MAX + 1],
				     uint16_t *port);

#endif
