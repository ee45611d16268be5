/* The Prometheus text format writer and the counters (fedc/prom.h), and
 * fedc_disk_usage (fedc/fs.h) that the scrapes report disk use with. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/prom.h"

static void test_family_and_sample(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(4096);
	const struct fedc_prom_label labels[] = { { "method", "GET" }, { "code", "2xx" } };

	(void)state;
	assert_int_equal(fedc_prom_family(&b, "fedc_x_total", FEDC_PROM_COUNTER, "Things done."), FEDC_OK);
	assert_int_equal(fedc_prom_sample(&b, "fedc_x_total", labels, 2, 42), FEDC_OK);
	assert_int_equal(fedc_prom_single(&b, "fedc_open", FEDC_PROM_GAUGE, "Open now.", -3), FEDC_OK);
	assert_string_equal(b.data, "# HELP fedc_x_total Things done.\n"
				    "# TYPE fedc_x_total counter\n"
				    "fedc_x_total{method=\"GET\",code=\"2xx\"} 42\n"
				    "# HELP fedc_open Open now.\n"
				    "# TYPE fedc_open gauge\n"
				    "fedc_open -3\n");
	fedc_buf_free(&b);
}

static void test_values_special_and_exact(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(4096);

	(void)state;
	assert_int_equal(fedc_prom_sample(&b, "a", NULL, 0, NAN), FEDC_OK);
	assert_int_equal(fedc_prom_sample(&b, "b", NULL, 0, INFINITY), FEDC_OK);
	assert_int_equal(fedc_prom_sample(&b, "c", NULL, 0, -INFINITY), FEDC_OK);
	assert_int_equal(fedc_prom_sample(&b, "d", NULL, 0, 0.1), FEDC_OK);
	assert_int_equal(fedc_prom_sample(&b, "e", NULL, 0, 18446744073709551615.0), FEDC_OK);
	assert_int_equal(fedc_prom_sample(&b, "f", NULL, 0, 1.5e-7), FEDC_OK);
	/* the shortest text that reads back the same double */
	assert_string_equal(b.data, "a NaN\nb +Inf\nc -Inf\nd 0.1\ne 1.8446744073709552e+19\nf 1.5e-07\n");
	fedc_buf_free(&b);
}

static void test_escaping(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(4096);
	const struct fedc_prom_label label = { "path", "a\\b\"c\nd" };

	(void)state;
	/* help: backslash and newline escaped, a quote left as it is */
	assert_int_equal(fedc_prom_family(&b, "m", FEDC_PROM_GAUGE, "x\\y\nz \"q\""), FEDC_OK);
	/* label value: backslash, quote and newline */
	assert_int_equal(fedc_prom_sample(&b, "m", &label, 1, 1), FEDC_OK);
	assert_string_equal(b.data, "# HELP m x\\\\y\\nz \"q\"\n"
				    "# TYPE m gauge\n"
				    "m{path=\"a\\\\b\\\"c\\nd\"} 1\n");
	fedc_buf_free(&b);
}

static void test_bad_names_refused(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(4096);
	const struct fedc_prom_label reserved = { "__name__", "x" }, colon = { "a:b", "x" }, digit = { "1a", "x" };

	(void)state;
	assert_true(fedc_prom_name_valid("fedc:node_rounds_total"));
	assert_true(fedc_prom_name_valid("_x9"));
	assert_false(fedc_prom_name_valid(""));
	assert_false(fedc_prom_name_valid("9x"));
	assert_false(fedc_prom_name_valid("a-b"));
	assert_false(fedc_prom_name_valid("a b"));
	assert_false(fedc_prom_label_name_valid("a:b"));
	assert_false(fedc_prom_label_name_valid("__x"));
	assert_true(fedc_prom_label_name_valid("_x"));
	/* a counter must end in _total */
	assert_int_equal(fedc_prom_family(&b, "fedc_rounds", FEDC_PROM_COUNTER, "h"), FEDC_ERR_INVAL);
	assert_int_equal(fedc_prom_family(&b, "bad name", FEDC_PROM_GAUGE, "h"), FEDC_ERR_INVAL);
	assert_int_equal(fedc_prom_sample(&b, "m", &reserved, 1, 1), FEDC_ERR_INVAL);
	assert_int_equal(fedc_prom_sample(&b, "m", &colon, 1, 1), FEDC_ERR_INVAL);
	assert_int_equal(fedc_prom_sample(&b, "m", &digit, 1, 1), FEDC_ERR_INVAL);
	assert_int_equal(fedc_prom_sample(&b, "m{", NULL, 0, 1), FEDC_ERR_INVAL);
	fedc_buf_free(&b);
}

static void test_buffer_cap(void **state)
{
	struct fedc_buf b = FEDC_BUF_INIT(10);

	(void)state;
	assert_int_equal(fedc_prom_single(&b, "fedc_x", FEDC_PROM_GAUGE, "long enough help", 1), FEDC_ERR_TOO_BIG);
	fedc_buf_free(&b);
}

#define THREADS 4
#define PER_THREAD 100000

static struct fedc_prom_counter shared_counter;
static struct fedc_prom_gauge shared_max;

static void *bump(void *arg)
{
	int64_t base = (int64_t)(intptr_t)arg;

	for (int i = 0; i < PER_THREAD; i++) {
		fedc_prom_add(&shared_counter, 1);
		fedc_prom_gauge_max(&shared_max, base * PER_THREAD + i);
	}
	return NULL;
}

static void test_counters_threads(void **state)
{
	pthread_t t[THREADS];
	struct fedc_prom_gauge g = { 0 };

	(void)state;
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bump, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(fedc_prom_get(&shared_counter), THREADS * PER_THREAD);
	assert_int_equal(fedc_prom_gauge_get(&shared_max), THREADS * PER_THREAD - 1);
	fedc_prom_gauge_add(&g, 5);
	fedc_prom_gauge_add(&g, -7);
	assert_int_equal(fedc_prom_gauge_get(&g), -2);
	fedc_prom_gauge_set(&g, 9);
	fedc_prom_gauge_max(&g, 3); /* lower: unchanged */
	assert_int_equal(fedc_prom_gauge_get(&g), 9);
}

static void test_listen_parse(void **state)
{
	char host[FEDC_PROM_HOST_MAX + 1];
	char long_host[400];
	uint16_t port = 1;

	(void)state;
	assert_int_equal(fedc_prom_listen_parse("k", "127.0.0.1:9465", host, &port), FEDC_OK);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9465);
	assert_int_equal(fedc_prom_listen_parse("k", "[::1]:0", host, &port), FEDC_OK);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(fedc_prom_listen_parse("k", "localhost:65535", host, &port), FEDC_OK);
	assert_string_equal(host, "localhost");
	const char *bad[] = { "", "9465", ":9465", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
			      "127.0.0.1:9x", "::1:9465", "[::1:9465", "[]:9465", "127.0.0.1: 80", "[::1]x:80", "[[::1]]:80", "a]:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fedc_prom_listen_parse("metrics_listen", bad[i], host, &port), FEDC_ERR_CONFIG);
		/* the message names the key and the expected form */
		assert_non_null(strstr(fedc_last_error(), "metrics_listen"));
		assert_non_null(strstr(fedc_last_error(), "HOST:PORT"));
	}
	memset(long_host, 'a', sizeof(long_host));
	snprintf(long_host + 300, sizeof(long_host) - 300, ":80");
	assert_int_equal(fedc_prom_listen_parse("k", long_host, host, &port), FEDC_ERR_CONFIG);
	assert_int_equal(fedc_prom_listen_parse("k", NULL, host, &port), FEDC_ERR_CONFIG);
}

static void test_disk_usage(void **state)
{
	char dir[] = "/tmp/fedc_du_XXXXXX", path[256], big[8192];
	uint64_t bytes = 0, files = 0, empty_bytes = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(fedc_disk_usage(dir, &empty_bytes, &files), FEDC_OK);
	assert_int_equal(files, 0);
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s%d", dir, i ? "sub/f" : "f", i);
		f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(big, 1, sizeof(big), f), sizeof(big));
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("/usr", path), 0); /* not followed */
	assert_int_equal(fedc_disk_usage(dir, &bytes, &files), FEDC_OK);
	assert_int_equal(files, 3);
	assert_true(bytes >= empty_bytes + 3 * sizeof(big));
	assert_true(bytes < 1 << 20);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(fedc_disk_usage(path, &bytes, &files), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "missing"));
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_sample),
		cmocka_unit_test(test_values_special_and_exact),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_buffer_cap),
		cmocka_unit_test(test_counters_threads),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_disk_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
