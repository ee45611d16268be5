/* The Prometheus endpoints (docs/monitoring.md) on a real stack: Mosquitto,
 * fedc-repository with metrics_listen and two fedc-node daemons with
 * [metrics] listen, all on port 0 (each logs the port it bound). A short
 * experiment runs, then both endpoints are scraped over a raw socket, the
 * text parsed strictly (every line a HELP, a TYPE, or a sample of a family
 * declared before it), and the counts checked against what happened: rounds
 * run, bytes moved, a bad-token upload and a garbage command refused, a
 * broker restart. Other
 * paths and methods are refused, and bad listen values stop the programs
 * with a message that names the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fedc/mqtt.h"
#include "fedc/prom.h"
#include "fedc/repo.h"
#include "harness.h"

#define ROUNDS 3
#define N_NODES 2
#define SCRAPE_MAX (1 << 20)

static struct harness H;
static int repo_metrics_port, node_metrics_port[N_NODES];
static char output[1 << 16];

static int append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* The port a program logged with "metrics: serving /metrics on ... (port N)". */
static int logged_port(const char *log)
{
	char line[1024];
	int port = -1;

	for (int tries = 0; port < 0 && tries < 200; tries++) {
		FILE *f = fopen(log, "r");

		while (f && fgets(line, sizeof(line), f)) {
			const char *at = strstr(line, "metrics: serving /metrics on ");

			at = at ? strstr(at, "(port ") : NULL;
			if (at)
				port = atoi(at + strlen("(port "));
		}
		if (f)
			fclose(f);
		if (port < 0)
			usleep(50000);
	}
	return port;
}

static int setup(void **state)
{
	char csv[512], id[32], repo_ini[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H))
		return -1;
	snprintf(repo_ini, sizeof(repo_ini), "%s/repository/repository.ini", H.fed_dir);
	if (append(repo_ini, "metrics_listen = 127.0.0.1:0\n") || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	repo_metrics_port = logged_port(H.repo.log);
	for (size_t i = 0; i < N_NODES; i++) {
		snprintf(csv, sizeof(csv), "%s/site-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "site-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 150, 150) ||
		    harness_add_node(&H, id, csv, "breast-cancer", harness_plan("logreg")) != (int)i ||
		    append(H.nodes[i].config, "[metrics]\nlisten = 127.0.0.1:0\n") || harness_start_node(&H, i))
			return -1;
		node_metrics_port[i] = logged_port(H.nodes[i].proc.log);
	}
	return repo_metrics_port > 0 && node_metrics_port[0] > 0 && node_metrics_port[1] > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

/* One HTTP/1.0 request over a raw socket; the status, and the body in
 * `body` (malloc'd, NUL-terminated). */
static int http(int port, const char *request, char **body)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char *buf = malloc(SCRAPE_MAX + 1), *sep;
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

	assert_non_null(buf);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while (len < SCRAPE_MAX && (n = read(fd, buf + len, SCRAPE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	sscanf(buf, "HTTP/1.%*d %d", &status);
	sep = strstr(buf, "\r\n\r\n");
	assert_non_null(sep);
	memmove(buf, sep + 4, strlen(sep + 4) + 1);
	*body = buf;
	return status;
}

/* Checks a label set {a="b",c="d"} and returns the end, or NULL. */
static const char *parse_labels(const char *p)
{
	if (*p != '{')
		return p;
	p++;
	while (*p != '}') {
		char name[128];
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

		if (!n || n >= sizeof(name))
			return NULL;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!fedc_prom_label_name_valid(name) || p[n] != '=' || p[n + 1] != '"')
			return NULL;
		for (p += n + 2; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return NULL;
			if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
				return NULL;
			if (*p == '\\')
				p++;
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

/* Parses the exposition strictly; fails the test at the first bad line.
 * Every sample must belong to the family of the last TYPE line. */
static void check_exposition(const char *text)
{
	char family[128] = "";
	const char *line = text;

	assert_true(*text);
	while (*line) {
		const char *eol = strchr(line, '\n');
		char copy[2048], name[128], type[16], *end = NULL;
		const char *p;
		size_t n;

		if (!eol)
			fail_msg("the last line has no newline: %s", line);
		n = (size_t)(eol - line);
		assert_true(n < sizeof(copy));
		memcpy(copy, line, n);
		copy[n] = '\0';
		if (strncmp(copy, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(copy + 7, "%127s", name), 1);
			assert_true(fedc_prom_name_valid(name));
		} else if (strncmp(copy, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(copy + 7, "%127s %15s", family, type), 2);
			assert_true(fedc_prom_name_valid(family));
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0);
			if (strcmp(type, "counter") == 0 && !strstr(family, "_total"))
				fail_msg("counter %s does not end in _total", family);
		} else {
			n = strcspn(copy, "{ ");
			assert_true(n > 0 && n < sizeof(name));
			memcpy(name, copy, n);
			name[n] = '\0';
			if (!fedc_prom_name_valid(name) || strcmp(name, family) != 0)
				fail_msg("sample \"%s\" outside its family (last TYPE: %s)", copy, family);
			p = parse_labels(copy + n);
			if (!p || *p != ' ')
				fail_msg("bad labels in \"%s\"", copy);
			if (strcmp(p + 1, "NaN") && strcmp(p + 1, "+Inf") && strcmp(p + 1, "-Inf")) {
				(void)strtod(p + 1, &end);
				if (end == p + 1 || *end)
					fail_msg("bad value in \"%s\"", copy);
			}
		}
		line = eol + 1;
	}
}

/* The value of the sample written exactly `sample` (name and labels). */
static double value(const char *text, const char *sample)
{
	char needle[512];
	const char *at;

	snprintf(needle, sizeof(needle), "\n%s ", sample);
	at = strstr(text, needle);
	if (!at)
		fail_msg("no sample %s in:\n%s", sample, text);
	return strtod(at + strlen(needle), NULL);
}

static char *scrape(int port)
{
	char *body = NULL;

	assert_int_equal(http(port, "GET /metrics HTTP/1.0\r\n\r\n", &body), 200);
	check_exposition(body);
	return body;
}

static void run_experiment(void)
{
	char exp[512];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	FILE *f;
	int rc;

	snprintf(exp, sizeof(exp), "%s/metrics.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", ROUNDS, N_NODES, 60,
						  "n_features = 30", NULL),
			 0);
	/* through the repository, whose counters this test reads: [network] is
	 * the file's last section, and a model this small would otherwise ride
	 * inline (docs/protocol.md, "Parameters inline") */
	f = fopen(exp, "a");
	assert_non_null(f);
	fputs("inline_params_max = 0\n", f);
	assert_int_equal(fclose(f), 0);
	rc = harness_run(&H, argv, 300, output, sizeof(output));
	if (rc != 0)
		fprintf(stderr, "%s\n", output);
	assert_int_equal(rc, 0);
}

/* A blob put with a token the repository does not know. */
static void upload_with_bad_token(void)
{
	char path[512], ca[512];
	struct fedc_repo *repo = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/blob.bin", H.dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", H.researcher_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not welcome", f);
	fclose(f);
	assert_int_equal(fedc_repo_new(H.repo_url, "not-a-participant-token", 30, &repo), FEDC_OK);
	assert_int_equal(fedc_repo_set_ca_file(repo, ca), FEDC_OK);
	assert_int_equal(fedc_repo_put_file(repo, path, NULL, NULL, NULL), FEDC_ERR_AUTH);
	fedc_repo_free(repo);
}

/* The node counts a refused command: bytes that are no signed envelope. */
static void send_garbage_command(void)
{
	char topic[FEDC_MAX_TOPIC_LEN + 1];

	assert_int_equal(fedc_topic_node(topic, H.federation, "site-0"), FEDC_OK);
	assert_int_equal(fedc_mqtt_publish(H.observer, topic, "\x93garbage", 8, false), FEDC_OK);
}

static void test_scrapes_count_what_happened(void **state)
{
	char *repo_before, *repo_after, *node, *other;
	double refused_before, refused_after, done, evaluate;

	(void)state;
	run_experiment();
	repo_before = scrape(repo_metrics_port);
	refused_before = value(repo_before, "fedc_repository_refused_total{reason=\"auth\"}");
	upload_with_bad_token();
	repo_after = scrape(repo_metrics_port);
	refused_after = value(repo_after, "fedc_repository_refused_total{reason=\"auth\"}");
	assert_true(refused_after == refused_before + 1);
	/* every round: each node uploads its update (PUT 201) */
	assert_true(value(repo_after, "fedc_repository_requests_total{method=\"PUT\",code=\"2xx\"}") >=
		    ROUNDS * N_NODES);
	assert_true(value(repo_after, "fedc_repository_requests_total{method=\"GET\",code=\"2xx\"}") >=
		    ROUNDS * N_NODES);
	assert_true(value(repo_after, "fedc_repository_received_bytes_total") > 0);
	assert_true(value(repo_after, "fedc_repository_sent_bytes_total") > 0);
	assert_true(value(repo_after, "fedc_repository_blobs") >= ROUNDS * N_NODES);
	assert_true(value(repo_after, "fedc_repository_store_disk_bytes") > 0);
	assert_true(value(repo_after, "fedc_repository_connections_total") > 0);

	send_garbage_command();
	for (int tries = 0; tries < 100; tries++) {
		node = scrape(node_metrics_port[0]);
		if (value(node, "fedc_node_commands_refused_total{code=\"malformed\"}") +
			    value(node, "fedc_node_commands_refused_total{code=\"unauthorized\"}") >= 1)
			break;
		free(node);
		node = NULL;
		usleep(50000);
	}
	assert_non_null(node);
	assert_true(value(node, "fedc_node_commands_refused_total{code=\"malformed\"}") +
			    value(node, "fedc_node_commands_refused_total{code=\"unauthorized\"}") ==
		    1);
	done = value(node, "fedc_node_rounds_total{kind=\"train\",result=\"done\"}");
	evaluate = value(node, "fedc_node_rounds_total{kind=\"evaluate\",result=\"done\"}");
	fprintf(stderr, "node site-0: %.0f train rounds, %.0f evaluation rounds, plan CPU %.3f s, peak %.1f MiB\n",
		done, evaluate, value(node, "fedc_node_plan_cpu_seconds_total"),
		value(node, "fedc_node_plan_peak_memory_bytes") / (1 << 20));
	assert_true(done == ROUNDS);
	assert_true(value(node, "fedc_node_rounds_total{kind=\"train\",result=\"failed\"}") == 0);
	assert_true(value(node, "fedc_node_plan_rounds_total") == done + evaluate);
	assert_true(value(node, "fedc_node_plan_cpu_seconds_total") > 0);
	assert_true(value(node, "fedc_node_plan_peak_memory_bytes") > 1 << 20);
	assert_true(value(node, "fedc_node_downloaded_bytes_total") > 0);
	assert_true(value(node, "fedc_node_uploaded_bytes_total") > 0);
	assert_true(value(node, "fedc_node_broker_connected") == 1);
	assert_true(value(node, "fedc_node_broker_reconnects_total") == 0);
	assert_true(value(node, "fedc_node_datasets") == 1);
	assert_true(value(node, "fedc_node_data_dir_disk_bytes") > 0);
	/* the other node got no garbage */
	other = scrape(node_metrics_port[1]);
	assert_true(value(other, "fedc_node_commands_refused_total{code=\"malformed\"}") +
			    value(other, "fedc_node_commands_refused_total{code=\"unauthorized\"}") ==
		    0);
	assert_true(value(other, "fedc_node_rounds_total{kind=\"train\",result=\"done\"}") == ROUNDS);
	free(other);
	free(node);
	free(repo_before);
	free(repo_after);
}

static void test_other_requests_refused(void **state)
{
	const int ports[] = { repo_metrics_port, node_metrics_port[0] };
	char *body = NULL;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(http(ports[i], "GET / HTTP/1.0\r\n\r\n", &body), 404);
		free(body);
		assert_int_equal(http(ports[i], "GET /v1/blobs/sha256/00 HTTP/1.0\r\n\r\n", &body), 404);
		free(body);
		assert_int_equal(http(ports[i], "DELETE /metrics HTTP/1.0\r\n\r\n", &body), 405);
		free(body);
		assert_int_equal(http(ports[i], "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", &body), 400);
		free(body);
	}
}

/* A bad or taken listen address stops the program at start, naming the key. */
static void test_bad_listen_values(void **state)
{
	char taken[64], store[512], out[4096], cfg[512];
	const char *repo_bad[] = { harness_bin("fedc-repository"), "--store", store, "--port", "0",
				   "--metrics-listen", "9464", NULL };
	const char *repo_taken[] = { harness_bin("fedc-repository"), "--store", store, "--port", "0",
				     "--metrics-listen", taken, NULL };
	const char *node_start[] = { harness_bin("fedc-node"), "--config", cfg, "start", NULL };

	(void)state;
	snprintf(store, sizeof(store), "%s/other-store", H.dir);
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", repo_metrics_port);
	assert_int_equal(harness_run(&H, repo_bad, 30, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "metrics_listen"));
	assert_non_null(strstr(out, "HOST:PORT"));
	assert_int_not_equal(harness_run(&H, repo_taken, 30, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "cannot listen on 127.0.0.1:"));

	/* a node's config with a bad [metrics] listen: refused when loaded */
	assert_int_equal(harness_add_node(&H, "site-bad", NULL, NULL, NULL), N_NODES);
	snprintf(cfg, sizeof(cfg), "%s", H.nodes[N_NODES].config);
	assert_int_equal(append(cfg, "[metrics]\nlisten = localhost\n"), 0);
	assert_int_not_equal(harness_run(&H, node_start, 30, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "[metrics] listen"));
	assert_non_null(strstr(out, "HOST:PORT"));
}

/* Polls node 0's gauge `sample` until it reads `want` (at most 60 s: the
 * node's reconnect backs off to 2 s between attempts). */
static bool node_reaches(const char *sample, double want)
{
	for (int tries = 0; tries < 600; tries++) {
		char *text = scrape(node_metrics_port[0]);
		bool ok = value(text, sample) == want;

		free(text);
		if (ok)
			return true;
		usleep(100000);
	}
	return false;
}

/* The broker goes away and comes back: the node shows it down, then up
 * again with one reconnect. */
static void test_broker_restart_counted(void **state)
{
	(void)state;
	assert_true(node_reaches("fedc_node_broker_connected", 1));
	assert_true(node_reaches("fedc_node_broker_reconnects_total", 0));
	assert_int_not_equal(harness_stop(&H.broker, SIGTERM, 5000), -1);
	assert_true(node_reaches("fedc_node_broker_connected", 0));
	assert_int_equal(harness_start_broker(&H), 0);
	assert_true(node_reaches("fedc_node_broker_connected", 1));
	assert_true(node_reaches("fedc_node_broker_reconnects_total", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrapes_count_what_happened),
		cmocka_unit_test(test_other_requests_refused),
		cmocka_unit_test(test_bad_listen_values),
		cmocka_unit_test(test_broker_restart_counted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
