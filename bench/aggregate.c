/* The researcher's aggregation alone, without the stack around it:
 *
 *   bench_aggregate [--method=M] N P [DIR]     (M: any method but scaffold)
 *
 * writes N update files of P float32 values (and the global file) in DIR (a
 * fresh directory under /tmp by default, removed at the end), then runs the
 * aggregator's round on them as the researcher does -- open and check each
 * update (the fetcher's part), add it, finish() to the global file -- and
 * prints the time of each phase and the process's peak RSS (VmHWM) before and
 * after the round. The update files are in the page cache (just written), as
 * the downloaded updates are at the researcher. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../researcher/aggregator.h"
#include "fedc/params.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* kB of a /proc/self/status line ("VmHWM", "VmRSS"), -1 if absent. */
static long status_kb(const char *key)
{
	char line[256];
	size_t len = strlen(key);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, len) == 0 && line[len] == ':')
			kb = strtol(line + len + 1, NULL, 10);
	}
	if (f)
		fclose(f);
	return kb;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so that the peak printed
 * is the round's, not the writing of the inputs'. */
static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

static int write_update(const char *path, float *values, size_t p, unsigned k)
{
	struct fedc_tensor t = { "w", FEDC_DTYPE_F32, 1, { p }, values };

	for (size_t j = 0; j < p; j++)
		values[j] = (float)((j * 2654435761u + k * 40503u) % 100003u) / 997.0f - 50.0f;
	if (fedc_params_write_file(path, &t, 1) != FEDC_OK) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, fedc_last_error());
		return -1;
	}
	return 0;
}

static int run(const char *method, unsigned n, size_t p, const char *dir)
{
	char path[4096];
	struct aggregator *agg = NULL;
	struct fedc_params *global = NULL;
	float *values = malloc(p * sizeof(float));
	double t0, t_check = 0, t_finish;
	int rc = -1;

	if (!values)
		return -1;
	for (unsigned k = 0; k <= n; k++) { /* k == n: the global */
		if (k == n)
			snprintf(path, sizeof(path), "%s/global.params", dir);
		else
			snprintf(path, sizeof(path), "%s/u%04u.params", dir, k);
		if (write_update(path, values, p, k) != 0)
			goto out;
	}
	free(values);
	values = NULL;
	reset_peak();
	printf("%-12s N %u  P %.0e  RSS before the round %.1f MB\n", method, n, (double)p,
	       (double)status_kb("VmRSS") / 1024);
	snprintf(path, sizeof(path), "%s/global.params", dir);
	if (aggregator__new(method, NULL, &agg) || fedc_params_open(path, &global) ||
	    aggregator__begin(agg, global, n))
		goto fail;
	fedc_params_close(global);
	for (unsigned k = 0; k < n; k++) {
		struct fedc_params *u = NULL;
		char id[16];

		snprintf(path, sizeof(path), "%s/u%04u.params", dir, k);
		snprintf(id, sizeof(id), "node-%04u", k);
		t0 = now_s();
		if (fedc_params_open(path, &u) || aggregator__check_update(agg, u)) {
			fedc_params_close(u);
			goto fail;
		}
		t_check += now_s() - t0;
		if (aggregator__add_checked(agg, id, u, 100 + k))
			goto fail;
	}
	printf("  peak RSS after the checks %.1f MB\n", (double)status_kb("VmHWM") / 1024);
	snprintf(path, sizeof(path), "%s/out.params", dir);
	t0 = now_s();
	if (aggregator__finish(agg, path))
		goto fail;
	t_finish = now_s() - t0;
	aggregator__end_round(agg);
	printf("  open+check %.3f s (all updates)  finish %.3f s  peak RSS of the round %.1f MB\n", t_check,
	       t_finish, (double)status_kb("VmHWM") / 1024);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench: %s\n", fedc_last_error());
out:
	aggregator__free(agg);
	free(values);
	return rc;
}

static void remove_files(const char *dir, unsigned n)
{
	char path[4096];

	for (unsigned k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "%s/u%04u.params", dir, k);
		(void)unlink(path);
	}
	snprintf(path, sizeof(path), "%s/global.params", dir);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/out.params", dir);
	(void)unlink(path);
}

int main(int argc, char **argv)
{
	const char *method = "fedavg";
	char tmp[] = "/tmp/bench-aggregate-XXXXXX";
	const char *dir = NULL;
	int a = 1, rc;
	long n;
	double p;

	if (argc > 1 && strncmp(argv[1], "--method=", 9) == 0)
		method = argv[a++] + 9;
	if (argc - a < 2 || argc - a > 3) {
		fprintf(stderr, "usage: bench_aggregate [--method=M] N P [DIR]\n");
		return 2;
	}
	if (strcmp(method, "scaffold") == 0) { /* its updates carry control variates too */
		fprintf(stderr, "bench: scaffold's updates are not plain models; pick another method\n");
		return 2;
	}
	n = strtol(argv[a], NULL, 10);
	p = strtod(argv[a + 1], NULL);
	if (n < 1 || n > 4096 || !(p >= 1 && p <= 1e9)) {
		fprintf(stderr, "bench: N must be 1..4096 and P 1..1e9\n");
		return 2;
	}
	if (argc - a == 3) {
		dir = argv[a + 2];
	} else if (!(dir = mkdtemp(tmp))) {
		fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	rc = run(method, (unsigned)n, (size_t)p, dir);
	remove_files(dir, (unsigned)n);
	if (argc - a != 3)
		(void)rmdir(dir);
	return rc ? 1 : 0;
}
