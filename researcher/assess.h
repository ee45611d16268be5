/* `fedc-researcher predict`, `explain` and `robust`: the final (or best) model of a
 * run, assessed at the nodes in evaluate-only train requests with `assess`
 * (docs/protocol.md, "Assessments"; docs/researcher-guide.md, "Predicting
 * with the final model" and "Explaining the model"). The nodes answer
 * aggregate lines only (assess_result.h); the combined figures are printed
 * and written to DIR/predict.json, DIR/explain.json or DIR/robust.json
 * (assess_report.c). robust is also the stage `run` ends with when the
 * experiment has [robustness] (assess__after_run). */
#ifndef FEDC_RESEARCHER_ASSESS_H
#define FEDC_RESEARCHER_ASSESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "assess_result.h"
#include "fedc/limits.h"

struct assess_opts {
	const char *kind;     /* "predict", "explain" or "robust" */
	const char *dir;      /* the run's output directory */
	const char *tags;     /* "T1,T2", or NULL: the experiment's tags */
	bool best;            /* DIR/best.params rather than DIR/global.params */
	const char *network;  /* NULL: the run's */
	uint32_t repeats;     /* explain */
	const char *metric;   /* explain */
	const char *robust_args; /* robust: key = value lines (plan_robust.h), checked by the caller */
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

/* The robustness stage after `run` (cmd_run, once job__run returned 0 and
 * closed its session): assess__run with kind robust on `dir`, the
 * experiment's [robustness] arguments. A failure is printed with the command
 * that tries again, and does not fail the run: returns nothing. */
void assess__after_run(const char *dir, const char *network, const char *robust_args);

/* The reports (assess_report.c): printed to `out` and written into `dir`.
 * 0 or 1. */
int assess_report__predict(const char *dir, const struct assess_node *nodes, size_t n,
			   const struct assess_result *total, FILE *out);
int assess_report__explain(const char *dir, const char *metric, const struct assess_node *nodes, size_t n,
			   const struct assess_result *total, FILE *out);

/* robust: the table, DIR/robust.json and DIR/robust.svg (accuracy against
 * epsilon, or the first metric when there is no accuracy). 0 or 1. */
int assess_report__robust(const char *dir, const struct assess_node *nodes, size_t n,
			  const struct assess_result *total, FILE *out);

#endif
