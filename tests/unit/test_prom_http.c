/* The scrape endpoint (fedc/prom_http.h) on a real loopback socket, asked
 * with libcurl: what it serves, what it refuses, and bad listen addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "fedc/prom.h"
#include "fedc/prom_http.h"

struct reply {
	long status;
	char body[4096];
	size_t len;
	char content_type[128];
	char allow[64];
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct reply *r = user;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, data, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	struct reply *r = user;
	size_t len = size * n;

	if (len > 7 && strncasecmp(data, "Allow: ", 7) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), data + 7);
	return len;
}

static void ask(uint16_t port, const char *method, const char *path, const char *body, struct reply *r)
{
	CURL *curl = curl_easy_init();
	char url[128];
	char *type = NULL;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	if (body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
	snprintf(r->content_type, sizeof(r->content_type), "%s", type ? type : "");
	curl_easy_cleanup(curl);
}

static int scrapes;

static enum fedc_err render_ok(void *ctx, struct fedc_buf *out)
{
	(void)ctx;
	scrapes++;
	return fedc_prom_single(out, "fedc_test_scrapes_total", FEDC_PROM_COUNTER, "Scrapes.", scrapes);
}

static enum fedc_err render_fails(void *ctx, struct fedc_buf *out)
{
	(void)ctx;
	(void)out;
	return fedc_fail(FEDC_ERR_IO, "the store is gone");
}

static void test_serves_metrics(void **state)
{
	struct fedc_prom_http *srv = NULL;
	struct reply r;

	(void)state;
	scrapes = 0;
	assert_int_equal(fedc_prom_http_start("k", "127.0.0.1:0", render_ok, NULL, &srv), FEDC_OK);
	assert_true(fedc_prom_http_port(srv) > 0);
	ask(fedc_prom_http_port(srv), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, FEDC_PROM_CONTENT_TYPE);
	assert_string_equal(r.body, "# HELP fedc_test_scrapes_total Scrapes.\n"
				    "# TYPE fedc_test_scrapes_total counter\n"
				    "fedc_test_scrapes_total 1\n");
	ask(fedc_prom_http_port(srv), "GET", "/metrics", NULL, &r);
	assert_non_null(strstr(r.body, "fedc_test_scrapes_total 2\n")); /* rendered afresh */
	ask(fedc_prom_http_port(srv), "HEAD", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	fedc_prom_http_stop(srv);
}

static void test_refuses_other_requests(void **state)
{
	struct fedc_prom_http *srv = NULL;
	struct reply r;
	uint16_t port;

	(void)state;
	scrapes = 0;
	assert_int_equal(fedc_prom_http_start("k", "127.0.0.1:0", render_ok, NULL, &srv), FEDC_OK);
	port = fedc_prom_http_port(srv);
	ask(port, "GET", "/", NULL, &r);
	assert_int_equal(r.status, 404);
	ask(port, "GET", "/metrics/", NULL, &r);
	assert_int_equal(r.status, 404);
	ask(port, "GET", "/metricsx", NULL, &r);
	assert_int_equal(r.status, 404);
	ask(port, "DELETE", "/metrics", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	ask(port, "POST", "/metrics", "x=1", &r);
	assert_int_equal(r.status, 400);
	assert_int_equal(scrapes, 0); /* none of them rendered */
	fedc_prom_http_stop(srv);
}

static void test_render_failure_is_500(void **state)
{
	struct fedc_prom_http *srv = NULL;
	struct reply r;

	(void)state;
	assert_int_equal(fedc_prom_http_start("k", "127.0.0.1:0", render_fails, NULL, &srv), FEDC_OK);
	ask(fedc_prom_http_port(srv), "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_null(strstr(r.body, "store")); /* the detail goes to the log, not to the scraper */
	fedc_prom_http_stop(srv);
}

static void test_bad_listen(void **state)
{
	struct fedc_prom_http *srv = NULL, *second = NULL;
	char taken[64];

	(void)state;
	assert_int_equal(fedc_prom_http_start("[metrics] listen", "127.0.0.1", render_ok, NULL, &srv),
			 FEDC_ERR_CONFIG);
	assert_null(srv);
	assert_non_null(strstr(fedc_last_error(), "[metrics] listen"));
	assert_int_equal(fedc_prom_http_start("k", "no-such-host.invalid:9465", render_ok, NULL, &srv), FEDC_ERR_NET);
	assert_non_null(strstr(fedc_last_error(), "no-such-host.invalid"));
	/* a port in use */
	assert_int_equal(fedc_prom_http_start("k", "127.0.0.1:0", render_ok, NULL, &srv), FEDC_OK);
	snprintf(taken, sizeof(taken), "127.0.0.1:%u", (unsigned)fedc_prom_http_port(srv));
	assert_int_equal(fedc_prom_http_start("k", taken, render_ok, NULL, &second), FEDC_ERR_NET);
	assert_null(second);
	assert_non_null(strstr(fedc_last_error(), taken));
	fedc_prom_http_stop(srv);
	fedc_prom_http_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_metrics),
		cmocka_unit_test(test_refuses_other_requests),
		cmocka_unit_test(test_render_failure_is_500),
		cmocka_unit_test(test_bad_listen),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
