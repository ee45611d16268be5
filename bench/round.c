/* bench/round: federated rounds with a plan that returns its parameters
 * unchanged (tests/fixtures/plans/identity.c), N nodes x P float32
 * parameters, on a real stack (Mosquitto, fedc-repository, N fedc-node
 * daemons) on loopback. Prints the median round time (from the researcher's
 * rounds.csv) and the researcher's peak RSS, against the targets of issue 2.
 *
 *   bench_round [--secagg[=VALUE_MAX[:K]]] [ROUNDS] [N,...] [P,...]   defaults: 5  2,8,32  1e4,1e6,1e7
 *
 * With --secagg each case runs twice in the same stack, plain and with
 * secure aggregation ([privacy] secure_aggregation = on), and the ratio is
 * printed against the targets of the privacy issue (1.5x at N=8, P=1e6;
 * 2x at N=32, P=1e4). =VALUE_MAX sets secagg_value_max: the identity plan's
 * values lie in [0, 1), so --secagg=1 lets the researcher pick the 32-bit
 * ring where the scale allows it (docs/privacy.md, "Fixed point and ring");
 * :K sets secagg_neighbours (SecAgg+: each node masks with K others). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of the "seconds" column of rounds.csv, train rounds only. */
static double median_round(const char *csv_path)
{
	FILE *f = fopen(csv_path, "r");
	char line[1024];
	double values[1024];
	size_t n = 0;

	if (!f)
		return NAN;
	while (fgets(line, sizeof(line), f) && n < 1024) {
		char *fields[16], *rest = line, *tok;
		size_t k = 0;

		/* strsep, not strtok: empty cells (unknown metrics) are fields too */
		while ((tok = strsep(&rest, ",")) && k < 16)
			fields[k++] = tok;
		if (k >= 8 && strcmp(fields[1], "train") == 0)
			values[n++] = atof(fields[7]);
	}
	fclose(f);
	if (!n)
		return NAN;
	qsort(values, n, sizeof(values[0]), compare_double);
	return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static const char *secagg_value_max; /* --secagg=VALUE_MAX, or NULL */
static const char *secagg_neighbours; /* --secagg=VALUE_MAX:K, or NULL */

static int run_case(struct harness *h, unsigned rounds, unsigned n, double p, bool secagg, double *median,
		    double *rss_mb)
{
	char exp[512], model[128], csv[600], extra[256];
	const char *log_level = getenv("FEDC_BENCH_LOG") ? getenv("FEDC_BENCH_LOG") : "warn";
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, "--log-level", log_level, NULL };
	int len;
	struct harness_proc proc = { 0 };
	struct rusage usage;
	int status;

	snprintf(exp, sizeof(exp), "%s/bench-%u-%.0f%s.ini", h->dir, n, p, secagg ? "-secagg" : "");
	snprintf(model, sizeof(model), "n_params = %.0f", p);
	len = snprintf(extra, sizeof(extra), "final_evaluation = false\n%s",
		       secagg ? "[privacy]\nsecure_aggregation = on\n" : "");
	if (secagg && secagg_value_max)
		len += snprintf(extra + len, sizeof(extra) - (size_t)len, "secagg_value_max = %s\n", secagg_value_max);
	if (secagg && secagg_neighbours)
		snprintf(extra + len, sizeof(extra) - (size_t)len, "secagg_neighbours = %s\n", secagg_neighbours);
	if (harness_write_experiment(h, exp, harness_plan("fixtures/identity"), "bench", rounds, n, 300, model,
				     extra) != 0)
		return -1;
	if (harness_spawn(h, &proc, "researcher-bench", argv) != 0)
		return -1;
	if (wait4(proc.pid, &status, 0, &usage) != proc.pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "researcher failed, see %s\n", proc.log);
		return -1;
	}
	*rss_mb = (double)usage.ru_maxrss / 1024.0;
	snprintf(csv, sizeof(csv), "%s-out/rounds.csv", exp);
	*median = median_round(csv);
	return 0;
}

static int start_nodes(struct harness *h, unsigned n)
{
	char csv[512], id[32];

	snprintf(csv, sizeof(csv), "%s/bench.csv", h->dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 100) != 0)
		return -1;
	for (unsigned i = (unsigned)h->n_nodes; i < n; i++) {
		snprintf(id, sizeof(id), "bench-%02u", i);
		if (harness_add_node(h, id, csv, "bench", harness_plan("fixtures/identity")) != (int)i ||
		    harness_start_node(h, i) != 0)
			return -1;
	}
	return 0;
}

static const char *target(unsigned n, double p, double median, double rss)
{
	static char text[64];

	if (n == 32 && p == 1e4)
		snprintf(text, sizeof(text), "round < 0.010 s: %s (%.1fx)", median < 0.010 ? "met" : "MISSED", median / 0.010);
	else if (n == 8 && p == 1e6)
		snprintf(text, sizeof(text), "round < 0.100 s: %s (%.1fx)", median < 0.100 ? "met" : "MISSED", median / 0.100);
	else if (n == 32 && p == 1e7)
		snprintf(text, sizeof(text), "RSS < 200 MB: %s (%.2fx)", rss < 200 ? "met" : "MISSED", rss / 200);
	else
		text[0] = '\0';
	return text;
}

/* The privacy issue's targets for the cost of secure aggregation. */
static const char *secagg_target(unsigned n, double p, double ratio)
{
	static char text[64];
	double limit = n == 8 && p == 1e6 ? 1.5 : n == 32 && p == 1e4 ? 2.0 : 0;

	if (limit > 0)
		snprintf(text, sizeof(text), "ratio < %.1f: %s", limit, ratio < limit ? "met" : "MISSED");
	else
		text[0] = '\0';
	return text;
}

static size_t parse_list(const char *s, double *out, size_t max)
{
	char buf[256];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = atof(tok);
	return n;
}

int main(int argc, char **argv)
{
	bool secagg = argc > 1 && strncmp(argv[1], "--secagg", 8) == 0 && (argv[1][8] == '\0' || argv[1][8] == '=');

	if (secagg) { /* the rest as without it */
		static char spec[64];
		char *colon;

		if (argv[1][8] == '=') {
			snprintf(spec, sizeof(spec), "%s", argv[1] + 9);
			colon = strchr(spec, ':');
			if (colon) {
				*colon = '\0';
				secagg_neighbours = colon + 1;
			}
			secagg_value_max = spec;
		}
		argv++;
		argc--;
	}
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 5;
	double ns[8] = { 2, 8, 32 }, ps[8] = { 1e4, 1e6, 1e7 };
	size_t n_ns = argc > 2 ? parse_list(argv[2], ns, 8) : 3, n_ps = argc > 3 ? parse_list(argv[3], ps, 8) : 3;
	struct harness h;
	int rc = 1;

	if (harness_init(&h) || harness_start_broker(&h) || harness_start_repository(&h) ||
	    harness_connect_status_observer(&h)) {
		fprintf(stderr, "bench: cannot start the stack\n");
		goto out;
	}
	printf("bench/round: identity plan, %u rounds per case, median round time and researcher peak RSS\n", rounds);
	if (secagg)
		printf("%6s %10s %14s %14s %8s %12s   %s\n", "nodes", "params", "plain round", "secagg round", "ratio",
		       "peak RSS", "target");
	else
		printf("%6s %10s %14s %12s   %s\n", "nodes", "params", "median round", "peak RSS", "target");
	for (size_t i = 0; i < n_ns; i++) {
		if (start_nodes(&h, (unsigned)ns[i]) != 0) {
			fprintf(stderr, "bench: cannot start %u nodes\n", (unsigned)ns[i]);
			goto out;
		}
		for (size_t k = 0; k < n_ps; k++) {
			double median, rss, masked, masked_rss;

			if (run_case(&h, rounds, (unsigned)ns[i], ps[k], false, &median, &rss) != 0)
				goto out;
			if (secagg) {
				if (run_case(&h, rounds, (unsigned)ns[i], ps[k], true, &masked, &masked_rss) != 0)
					goto out;
				printf("%6u %10.0e %12.4f s %12.4f s %7.2fx %9.1f MB   %s\n", (unsigned)ns[i], ps[k], median,
				       masked, masked / median, masked_rss,
				       secagg_target((unsigned)ns[i], ps[k], masked / median));
			} else {
				printf("%6u %10.0e %12.4f s %9.1f MB   %s\n", (unsigned)ns[i], ps[k], median, rss,
				       target((unsigned)ns[i], ps[k], median, rss));
			}
			fflush(stdout);
		}
	}
	rc = 0;
out:
	harness_cleanup(&h);
	return rc;
}
