/* `fedc-researcher predict` and `explain`: the final (or best) model of a
 * run, assessed at the nodes in evaluate-only train requests with `assess`
 * (docs/protocol.md, "Assessments"; docs/researcher-guide.md, "Predicting
 * with the final model" and "Explaining the model"). The nodes answer
 * aggregate lines only (assess_result.h); the combined figures are printed
 * and written to DIR/predict.json or DIR/explain.json (assess_report.c). */
#ifndef FEDC_RESEARCHER_ASSESS_H
#define FEDC_RESEARCHER_ASSESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "assess_result.h"
#include "fedc/limits.h"

struct assess_opts {
	const char *kind;     /* "predict" or "explain" */
	const char *dir;      /* the run's output directory */
	const char *tags;     /* "T1,T2", or NULL: the experiment's tags */
	bool best;            /* DIR/best.params rather than DIR/global.params */
	const char *network;  /* NULL: the run's */
	uint32_t repeats;     /* explain */
	const char *metric;   /* explain */
	int timeout_s;        /* 0: the experiment's round_timeout_s */
};

/* One node's answer. */
struct assess_node {
	char node_id[FEDC_MAX_ID_LEN + 1];
	char dataset_id[FEDC_MAX_ID_LEN + 1];
	uint64_t n_test;
	struct assess_result result;
};

/* Runs the command; returns the exit code (0, or 1 with the reason on stderr). */
int assess__run(const struct assess_opts *o);

/* The reports (assess_report.c): printed to `out` and written into `dir`.
 * 0 or 1. */
int assess_report__predict(const char *dir, const struct assess_node *nodes, size_t n,
			   const struct assess_result *total, FILE *out);
int assess_report__explain(const char *dir, const char *metric, const struct assess_node *nodes, size_t n,
			   const struct assess_result *total, FILE *out);

#endif
