/* The node daemon's metrics (node/node_metrics.h): what each event counts,
 * under which labels, and the endpoint serving them with the database and
 * data_dir read at each scrape. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "node_metrics.h"

struct body {
	char text[1 << 16];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct body *b = user;
	size_t len = size * n, room = sizeof(b->text) - 1 - b->len;

	memcpy(b->text + b->len, data, len < room ? len : room);
	b->len += len < room ? len : room;
	b->text[b->len] = '\0';
	return len;
}

/* Scrapes http://127.0.0.1:<port>/metrics; returns the HTTP status. */
static long scrape(uint16_t port, struct body *b)
{
	CURL *curl = curl_easy_init();
	char url[128];
	long status = 0;

	b->len = 0;
	b->text[0] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", (unsigned)port);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	return status;
}

static double value(const char *text, const char *sample)
{
	char needle[256];
	const char *at;

	snprintf(needle, sizeof(needle), "\n%s ", sample);
	at = strstr(text, needle);
	if (!at)
		fail_msg("no sample %s in:\n%s", sample, text);
	return strtod(at + strlen(needle), NULL);
}

static void test_counts_and_serves(void **state)
{
	char dir[] = "/tmp/fedc_node_metrics_XXXXXX", db_path[256], listen[] = "127.0.0.1:0", cmd[300];
	struct node_config cfg = { 0 };
	struct node_metrics_server *srv = NULL;
	struct body *b = calloc(1, sizeof(*b));

	(void)state;
	assert_non_null(b);
	assert_non_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/node.db", dir);
	cfg.data_dir = dir;
	cfg.db_path = db_path;
	cfg.metrics_listen = "";
	assert_int_equal(node_metrics__start(&cfg, NULL, &srv), FEDC_OK);
	assert_null(srv); /* off: no listener */
	cfg.metrics_listen = listen;

	node_metrics__round_end(FEDC_OK, false);
	node_metrics__round_end(FEDC_OK, false);
	node_metrics__round_end(FEDC_OK, true);
	node_metrics__round_end(FEDC_ERR_PLAN, false);
	node_metrics__round_end(FEDC_ERR_TIMEOUT, false);
	node_metrics__round_end(FEDC_ERR_PRIVACY, false);
	node_metrics__round_end(FEDC_ERR_UNAPPROVED, true);
	node_metrics__command_refused(FEDC_ERR_AUTH);
	node_metrics__command_refused(FEDC_ERR_AUTH);
	node_metrics__command_refused(FEDC_ERR_TOO_BIG);
	node_metrics__plan_round(getpid(), 1500);

	assert_int_equal(node_metrics__start(&cfg, NULL, &srv), FEDC_OK);
	assert_non_null(srv);
	/* a peak nobody could read was not read from /proc */
	assert_int_equal(scrape(node_metrics__port(srv), b), 200);
	assert_true(value(b->text, "fedc_node_plan_rounds_total") == 1);
	assert_true(value(b->text, "fedc_node_plan_peak_memory_bytes") == 0);
	node_metrics__plan_round(getpid(), 250);
	assert_int_equal(scrape(node_metrics__port(srv), b), 200);
	assert_true(value(b->text, "fedc_node_rounds_total{kind=\"train\",result=\"done\"}") == 2);
	assert_true(value(b->text, "fedc_node_rounds_total{kind=\"evaluate\",result=\"done\"}") == 1);
	assert_true(value(b->text, "fedc_node_rounds_total{kind=\"train\",result=\"failed\"}") == 2);
	assert_true(value(b->text, "fedc_node_rounds_total{kind=\"train\",result=\"refused\"}") == 1);
	assert_true(value(b->text, "fedc_node_rounds_total{kind=\"evaluate\",result=\"refused\"}") == 1);
	assert_true(value(b->text, "fedc_node_round_errors_total{code=\"plan-failed\"}") == 1);
	assert_true(value(b->text, "fedc_node_round_errors_total{code=\"timeout\"}") == 1);
	assert_true(value(b->text, "fedc_node_round_errors_total{code=\"privacy-policy\"}") == 1);
	assert_true(value(b->text, "fedc_node_round_errors_total{code=\"plan-not-approved\"}") == 1);
	assert_true(value(b->text, "fedc_node_round_errors_total{code=\"io\"}") == 0);
	assert_null(strstr(b->text, "code=\"ok\"")); /* success is not an error code */
	assert_true(value(b->text, "fedc_node_commands_refused_total{code=\"unauthorized\"}") == 2);
	assert_true(value(b->text, "fedc_node_commands_refused_total{code=\"malformed\"}") == 0);
	assert_true(value(b->text, "fedc_node_commands_refused_total{code=\"too-big\"}") == 1);
	assert_null(strstr(b->text, "fedc_node_commands_refused_total{code=\"timeout\"}")); /* only those seen */
	assert_true(value(b->text, "fedc_node_plan_rounds_total") == 2);
	assert_true(value(b->text, "fedc_node_plan_cpu_seconds_total") == 1.75);
	/* this test process stands in for a plan process: its own VmHWM */
	assert_true(value(b->text, "fedc_node_plan_peak_memory_bytes") > 1 << 20);
	assert_true(value(b->text, "fedc_node_plan_last_peak_memory_bytes") > 1 << 20);
	assert_true(value(b->text, "fedc_node_broker_connected") == 0); /* no broker */
	assert_true(value(b->text, "fedc_node_datasets") == 0);
	assert_true(value(b->text, "fedc_node_data_dir_disk_bytes") > 0); /* the database the scrape opened */
	assert_true(value(b->text, "fedc_node_start_time_seconds") > 1.7e9);

	/* data_dir gone: the scrape fails with 500 rather than half an answer */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(scrape(node_metrics__port(srv), b), 500);
	node_metrics__stop(srv);
	node_metrics__stop(NULL);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_serves),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
