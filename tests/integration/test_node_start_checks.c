/* An operator's mistakes are seen when `fedc-node start` starts, with the
 * file named, not as silent retries: garbage, missing or mismatched TLS
 * files, private keys readable by others, a signing key that is not the
 * node's own, a corrupt or read-only node.db. A broker that is down is
 * waited for, and said so with its URL. Real fedc-node, Mosquitto and
 * repository; each case spoils one file of a provisioned node, runs start,
 * and puts the file back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../test_argv.h"

#define NOBODY 65534

static struct harness H;
static char output[1 << 16];
static char dir1[600], dir2[600]; /* the bundles of nodes c1 and c2 */

static int setup(void **state)
{
	char csv[512];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	snprintf(csv, sizeof(csv), "%s/c.csv", H.dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 100) ||
	    harness_add_node(&H, "c1", csv, "checks", NULL) != 0 || harness_add_node(&H, "c2", NULL, NULL, NULL) != 1 ||
	    harness_add_node(&H, "c3", NULL, NULL, NULL) != 2)
		return -1;
	snprintf(dir1, sizeof(dir1), "%s/nodes/c1", H.fed_dir);
	snprintf(dir2, sizeof(dir2), "%s/nodes/c2", H.fed_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run_cmd(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

/* `fedc-node start` for node c1 must stop at once (well before it could
 * connect), exit 1, and say `needle`. */
static void expect_start_refused(const char *needle)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[0].config, "start", NULL };
	int64_t t0 = fedc_unix_ms();
	int code = harness_run(&H, argv, 30, output, sizeof(output));

	if (code != 1 || !strstr(output, needle))
		fail_msg("start: exit %d, expected 1 and \"%s\":\n%s", code, needle, output);
	assert_true(fedc_unix_ms() - t0 < 10000);
	assert_null(strstr(output, "serving federation"));
}

/* Replaces c1's `name` by `text` for one start, then restores it. */
static void with_file_text(const char *name, const char *text, const char *needle)
{
	char path[700];

	path_in(path, sizeof(path), dir1, name);
	run_cmd("cp -p '%s' '%s.keep'", path, path);
	run_cmd("printf '%%s' '%s' > '%s'", text, path);
	expect_start_refused(needle);
	run_cmd("mv '%s.keep' '%s'", path, path);
}

static void test_garbage_tls_files(void **state)
{
	(void)state;
	with_file_text("ca.pem", "not a certificate", "[broker] ca_file");
	assert_non_null(strstr(output, "no PEM certificate"));
	with_file_text("client.pem", "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
		       "[broker] cert_file");
	with_file_text("client.key", "garbage", "no PEM private key");
}

static void test_missing_ca_file(void **state)
{
	char path[700];

	(void)state;
	path_in(path, sizeof(path), dir1, "ca.pem");
	run_cmd("mv '%s' '%s.away'", path, path);
	expect_start_refused("No such file or directory");
	assert_non_null(strstr(output, path));
	run_cmd("mv '%s.away' '%s'", path, path);
}

/* Puts node c2's file `name` in c1's bundle for one start, then restores c1's. */
static void with_file_of_c2(const char *name, const char *needle)
{
	char mine[700], theirs[700];

	path_in(mine, sizeof(mine), dir1, name);
	path_in(theirs, sizeof(theirs), dir2, name);
	run_cmd("cp -p '%s' '%s.keep' && cp -p '%s' '%s'", mine, mine, theirs, mine);
	expect_start_refused(needle);
	run_cmd("mv '%s.keep' '%s'", mine, mine);
}

/* Another node's TLS key with this node's certificate. */
static void test_key_not_the_certificates(void **state)
{
	(void)state;
	with_file_of_c2("client.key", "is not the key of the certificate");
}

static void test_private_keys_readable_by_others_refused(void **state)
{
	char path[700];

	(void)state;
	path_in(path, sizeof(path), dir1, "client.key");
	assert_int_equal(chmod(path, 0644), 0);
	expect_start_refused("chmod 600");
	assert_non_null(strstr(output, "readable by others"));
	assert_int_equal(chmod(path, 0600), 0);
	path_in(path, sizeof(path), dir1, "signing.key");
	assert_int_equal(chmod(path, 0640), 0);
	expect_start_refused("[security] signing_key");
	assert_non_null(strstr(output, "readable by its group"));
	assert_int_equal(chmod(path, 0600), 0);
}

/* c2's signing key in c1's bundle: its public key is not c1's signing.pub. */
static void test_signing_key_of_another_node_refused(void **state)
{
	(void)state;
	with_file_of_c2("signing.key", "is not this node's key");
}

/* Pages after the first overwritten: the file still opens (its header and
 * schema are intact), so only a check finds it. */
static void test_corrupt_database_refused(void **state)
{
	char db[700];
	struct stat st;

	(void)state;
	path_in(db, sizeof(db), dir1, "data/node.db");
	assert_int_equal(stat(db, &st), 0);
	assert_true(st.st_size > 8192);
	run_cmd("cp -p '%s' '%s.keep'", db, db);
	run_cmd("head -c %lld /dev/zero | tr '\\0' '\\377' | dd of='%s' bs=4096 seek=1 conv=notrunc status=none",
		(long long)st.st_size - 4096, db);
	expect_start_refused("is damaged");
	run_cmd("mv '%s.keep' '%s'", db, db);
}

/* A read-only node.db: as root permissions do not bind, so the node then
 * runs as `nobody` on a copy of the bundle that nobody owns. */
static void test_read_only_database_refused(void **state)
{
	char copy[700], config[800], db[800];
	const char *argv[] = { harness_bin("fedc-node"), "--config", config, "start", NULL };
	char **exec_argv;
	int fd, status = 0;
	pid_t pid;

	(void)state;
	snprintf(copy, sizeof(copy), "%s/ro-node", H.dir);
	run_cmd("cp -a '%s' '%s'", dir1, copy);
	snprintf(config, sizeof(config), "%s/node.ini", copy);
	snprintf(db, sizeof(db), "%s/data/node.db", copy);
	assert_int_equal(chmod(db, 0444), 0);
	if (geteuid() == 0)
		run_cmd("chown -R %d:%d '%s' && chmod 755 '%s'", NOBODY, NOBODY, copy, H.dir);
	exec_argv = test_argv_dup(argv);
	assert_non_null(exec_argv);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char log[900];

		snprintf(log, sizeof(log), "%s/ro-start.log", H.dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		if (geteuid() == 0 && (setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
			_exit(126);
		alarm(30);
		execv(exec_argv[0], exec_argv);
		_exit(127);
	}
	test_argv_free(exec_argv);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	{
		char log[900];
		FILE *f;
		size_t n;

		snprintf(log, sizeof(log), "%s/ro-start.log", H.dir);
		f = fopen(log, "r");
		assert_non_null(f);
		n = fread(output, 1, sizeof(output) - 1, f);
		output[n] = '\0';
		fclose(f);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(output, "is read-only"))
		fail_msg("start on a read-only node.db: status %d:\n%s", status, output);
	assert_non_null(strstr(output, db));
}

/* Broker down at start: the node waits and says so with the URL; once the
 * broker is up it comes online by itself. */
static void test_waits_for_broker_at_start(void **state)
{
	char needle[128];

	(void)state;
	assert_int_not_equal(harness_stop(&H.broker, SIGTERM, 5000), -1);
	assert_int_equal(harness_spawn_node(&H, 2), 0);
	snprintf(needle, sizeof(needle), "waiting for the broker at %s", H.broker_url);
	for (int waited = 0; waited < 15000 && !harness_file_contains(H.nodes[2].proc.log, needle); waited += 100)
		usleep(100000);
	if (!harness_file_contains(H.nodes[2].proc.log, needle))
		fail_msg("no \"%s\" in %s", needle, H.nodes[2].proc.log);
	assert_int_equal(kill(H.nodes[2].proc.pid, 0), 0); /* still trying */
	assert_int_equal(harness_start_broker(&H), 0); /* the observer reconnects by itself */
	assert_int_equal(harness_wait_online(&H, "c3", 15000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_tls_files),
		cmocka_unit_test(test_missing_ca_file),
		cmocka_unit_test(test_key_not_the_certificates),
		cmocka_unit_test(test_private_keys_readable_by_others_refused),
		cmocka_unit_test(test_signing_key_of_another_node_refused),
		cmocka_unit_test(test_corrupt_database_refused),
		cmocka_unit_test(test_read_only_database_refused),
		cmocka_unit_test(test_waits_for_broker_at_start),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
