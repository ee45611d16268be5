/* fedc-repository's metrics (repository-server/metrics.h): what a finished
 * request counts, which answers are refusals, and the store's disk use and
 * blob count in the exposition. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrics.h"

/* The value of the sample written exactly as `line_start` ("name{...} "). */
static double sample(const char *text, const char *line_start)
{
	char needle[256];
	const char *at;

	snprintf(needle, sizeof(needle), "\n%s ", line_start);
	at = strstr(text, needle);
	if (!at)
		fail_msg("no sample %s in:\n%s", line_start, text);
	return strtod(at + strlen(needle), NULL);
}

static void make_blob(const char *root, const char *hex, size_t size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sha256/%.2s", root, hex);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sha256/%.2s/%s", root, hex, hex);
	f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('b', f);
	assert_int_equal(fclose(f), 0);
}

static void test_requests_and_refusals(void **state)
{
	static struct repo_metrics m; /* zeroed: how the server starts */
	struct fedc_buf out = FEDC_BUF_INIT(1 << 20);
	char root[] = "/tmp/fedc_repo_metrics_XXXXXX", path[300];

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/sha256", root);
	assert_int_equal(mkdir(path, 0700), 0);
	make_blob(root, "aa01", 5000);
	make_blob(root, "aa02", 10);
	make_blob(root, "bb03", 10);

	repo_metrics__request(&m, REPO_METHOD_GET, 200, NULL, 0, 5000);
	repo_metrics__request(&m, REPO_METHOD_PUT, 201, NULL, 700, 0);
	repo_metrics__request(&m, REPO_METHOD_PUT, 401, "unauthorized", 0, 0);
	repo_metrics__request(&m, REPO_METHOD_GET, 403, "forbidden", 0, 0);
	repo_metrics__request(&m, REPO_METHOD_PUT, 507, "quota-exceeded", 0, 0);
	repo_metrics__request(&m, REPO_METHOD_PUT, 507, "insufficient-storage", 30, 0); /* a failure, no refusal */
	repo_metrics__request(&m, REPO_METHOD_PUT, 413, "too-big", 0, 0);
	repo_metrics__request(&m, REPO_METHOD_OTHER, 405, "method-not-allowed", 0, 0);
	repo_metrics__request(&m, REPO_METHOD_HEAD, 0, NULL, 0, 0); /* the client left */
	assert_int_equal(repo_metrics__render(&m, 7, 3, root, &out), FEDC_OK);

	assert_true(sample(out.data, "fedc_repository_requests_total{method=\"GET\",code=\"2xx\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_requests_total{method=\"PUT\",code=\"4xx\"}") == 2);
	assert_true(sample(out.data, "fedc_repository_requests_total{method=\"PUT\",code=\"5xx\"}") == 2);
	assert_true(sample(out.data, "fedc_repository_requests_total{method=\"other\",code=\"4xx\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_requests_total{method=\"HEAD\",code=\"none\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_received_bytes_total") == 730);
	assert_true(sample(out.data, "fedc_repository_sent_bytes_total") == 5000);
	assert_true(sample(out.data, "fedc_repository_refused_total{reason=\"auth\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_refused_total{reason=\"forbidden\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_refused_total{reason=\"quota\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_refused_total{reason=\"too_big\"}") == 1);
	assert_true(sample(out.data, "fedc_repository_refused_total{reason=\"guard\"}") == 7);
	assert_true(sample(out.data, "fedc_repository_downloads_waiting") == 3);
	assert_true(sample(out.data, "fedc_repository_blobs") == 3);
	assert_true(sample(out.data, "fedc_repository_store_disk_bytes") >= 5020);
	fedc_buf_free(&out);

	/* a store that went away: an error for the log, no half answer */
	snprintf(path, sizeof(path), "rm -rf %s", root);
	assert_int_equal(system(path), 0);
	assert_int_equal(repo_metrics__render(&m, 0, 0, root, &out), FEDC_ERR_IO);
	fedc_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_and_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
