/* A federation changes while it runs (docs/provisioning.md, "Rotating,
 * revoking and removing"): three hospitals run experiments on the real
 * Mosquitto, fedc-repository and node daemons; fedc-admin rotates the
 * credentials of one, revokes another, removes the third and enrols a new
 * node under the freed id. After each step the broker and the repository get
 * SIGHUP and never stop; the old credentials are refused by the broker (TLS
 * handshake: the CRL; login: the password) and by the repository (401), a
 * connected node that loses them is cut off at the reload, and an experiment
 * runs with the participants that remain.
 *
 * The tests run in the order of main(), each on what the one before left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char output[1 << 16];

static int setup(void **state)
{
	char csv[512], id[32];

	(void)state;
	if (harness_init(&H) || harness_start_broker(&H) || harness_start_repository(&H) ||
	    harness_connect_observer(&H))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, i * 150, 150) ||
		    harness_add_node(&H, id, csv, "breast-cancer", harness_plan("logreg")) != (int)i ||
		    harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	harness_cleanup(&H);
	return 0;
}

static int admin(const char *cmd, const char *id)
{
	const char *argv[] = { harness_bin("fedc-admin"), cmd, H.fed_dir, id, NULL };

	return harness_run(&H, argv, 60, output, sizeof(output));
}

static void bundle_of(const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/nodes/%s", H.fed_dir, id);
}

/* A copy of the bundle of `id` as it is now, in dir/<name>. */
static void keep_bundle(const char *id, const char *name, char *copy, size_t cap)
{
	char bundle[512];
	const char *argv[] = { "/bin/cp", "-r", bundle, copy, NULL };

	bundle_of(id, bundle, sizeof(bundle));
	snprintf(copy, cap, "%s/%s", H.dir, name);
	assert_int_equal(harness_run(&H, argv, 30, NULL, 0), 0);
}

/* Copies file `name` of bundle `from` into bundle `to`. */
static void copy_into(const char *from, const char *to, const char *name)
{
	char src[600], dst[600];
	const char *argv[] = { "/bin/cp", src, dst, NULL };

	snprintf(src, sizeof(src), "%s/%s", from, name);
	snprintf(dst, sizeof(dst), "%s/%s", to, name);
	assert_int_equal(harness_run(&H, argv, 30, NULL, 0), 0);
}

/* Whether the broker lets the credentials of `bundle` connect as `user`. */
static bool broker_accepts(const char *bundle, const char *user)
{
	char client_id[96];
	struct fedc_mqtt *m = NULL;
	static unsigned n;

	snprintf(client_id, sizeof(client_id), "%s:probe%u", user, n++);
	if (harness_connect_as(&H, bundle, user, client_id, NULL, 0, &m) != 0)
		return false;
	fedc_mqtt_close(m, NULL, 0);
	return true;
}

/* The repository's answer to the token of `bundle`: FEDC_OK, or
 * FEDC_ERR_AUTH for a 401. */
static enum fedc_err repository_answer(const char *bundle)
{
	static const char digest[] = "0000000000000000000000000000000000000000000000000000000000000000";
	struct fedc_repo *repo = NULL;
	bool exists = true;
	enum fedc_err rc;

	assert_int_equal(harness_repo_as(&H, bundle, &repo), 0);
	rc = fedc_repo_has(repo, digest, &exists);
	if (rc == FEDC_ERR_AUTH)
		assert_non_null(strstr(fedc_last_error(), "401"));
	fedc_repo_free(repo);
	return rc;
}

/* Whether node i's daemon lost its connection (the broker drops a revoked
 * client when it reloads) within 10 s. */
static bool cut_off(size_t i)
{
	for (int t = 0; t < 100; t++) {
		if (harness_file_contains(H.nodes[i].proc.log, "lost (no cause given); reconnecting"))
			return true;
		usleep(100000);
	}
	return false;
}

/* A logreg experiment of two rounds that needs `nodes` nodes; fails the test
 * unless it completes with exactly them. */
static void experiment(const char *name, unsigned nodes)
{
	char exp[512], want[32];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };

	snprintf(exp, sizeof(exp), "%s/%s.ini", H.dir, name);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 2, nodes, 60,
						  "n_features = 30", NULL),
			 0);
	if (harness_run(&H, argv, 300, output, sizeof(output)) != 0)
		fail_msg("%s did not run:\n%s", name, output);
	snprintf(want, sizeof(want), "nodes %u/%u", nodes, nodes);
	if (!strstr(output, "round    2/2") || !strstr(output, want))
		fail_msg("%s: expected %s in:\n%s", name, want, output);
}

/* hospital-0 gets new credentials; the old ones are refused, the node comes
 * back with its new bundle and all three train. */
static void test_rotate_node(void **state)
{
	char bundle[512], old[600], mixed[600];
	const char *mkdir_argv[] = { "/bin/mkdir", mixed, NULL };

	(void)state;
	experiment("before", 3);
	bundle_of("hospital-0", bundle, sizeof(bundle));
	keep_bundle("hospital-0", "old-hospital-0", old, sizeof(old));
	if (admin("rotate", "hospital-0") != 0)
		fail_msg("rotate: %s", output);
	harness_reload_credentials(&H);
	assert_int_equal(harness_reload_trust(&H), 0);
	/* the node restarts with its new files (node.ini and its data stayed) */
	harness_stop(&H.nodes[0].proc, SIGTERM, 10000);
	assert_int_equal(harness_start_node(&H, 0), 0);

	assert_true(broker_accepts(bundle, "hospital-0"));
	assert_false(broker_accepts(old, "hospital-0"));
	/* the old certificate with the new password: only the CRL refuses it */
	snprintf(mixed, sizeof(mixed), "%s/mixed-hospital-0", H.dir);
	assert_int_equal(harness_run(&H, mkdir_argv, 30, NULL, 0), 0);
	copy_into(old, mixed, "ca.pem");
	copy_into(old, mixed, "client.pem");
	copy_into(old, mixed, "client.key");
	copy_into(bundle, mixed, "broker.password");
	copy_into(bundle, mixed, "repository.token");
	assert_false(broker_accepts(mixed, "hospital-0"));
	assert_int_equal(repository_answer(bundle), FEDC_OK);
	assert_int_equal(repository_answer(old), FEDC_ERR_AUTH);
	/* its replies are signed with the new key, which the researcher trusts */
	experiment("after-rotate", 3);
}

/* hospital-1 is revoked: the broker cuts it off at the reload (its last will
 * says offline) and refuses it after, the repository answers 401, and the
 * two others train. */
static void test_revoke_node(void **state)
{
	char bundle[512], trusted[600];

	(void)state;
	bundle_of("hospital-1", bundle, sizeof(bundle));
	assert_true(broker_accepts(bundle, "hospital-1"));
	if (admin("revoke", "hospital-1") != 0)
		fail_msg("revoke: %s", output);
	harness_reload_credentials(&H);
	assert_true(cut_off(1));
	assert_false(broker_accepts(bundle, "hospital-1"));
	assert_int_equal(repository_answer(bundle), FEDC_ERR_AUTH);
	snprintf(trusted, sizeof(trusted), "%s/trusted/hospital-1.pub", H.researcher_dir);
	assert_int_equal(access(trusted, F_OK), -1);
	assert_int_equal(harness_reload_trust(&H), 0);
	harness_stop(&H.nodes[1].proc, SIGTERM, 10000);
	experiment("after-revoke", 2);
	assert_null(strstr(output, "node hospital-1  dataset"));
	/* mosquitto refuses the will of a user without ACL block, so its status
	 * stays "online"; the researcher no longer trusts the key it is signed with */
	assert_non_null(strstr(output, "status/hospital-1 signed by hospital-1: signed by \"hospital-1\", whose key "
				       "is not trusted here"));
	/* on record, and its id stays taken */
	const char *list[] = { harness_bin("fedc-admin"), "list", H.fed_dir, NULL };

	assert_int_equal(harness_run(&H, list, 30, output, sizeof(output)), 0);
	assert_non_null(strstr(output, "hospital-1 (revoked)"));
}

/* hospital-2 is removed (bundle and key deleted) and cut off; a new node
 * enrolled under the freed id trains with hospital-0. */
static void test_remove_node(void **state)
{
	char bundle[512], old[600], csv[512];
	int i;

	(void)state;
	keep_bundle("hospital-2", "old-hospital-2", old, sizeof(old));
	if (admin("remove", "hospital-2") != 0)
		fail_msg("remove: %s", output);
	harness_reload_credentials(&H);
	assert_true(cut_off(2));
	bundle_of("hospital-2", bundle, sizeof(bundle));
	assert_int_equal(access(bundle, F_OK), -1);
	assert_false(broker_accepts(old, "hospital-2"));
	assert_int_equal(repository_answer(old), FEDC_ERR_AUTH);
	harness_stop(&H.nodes[2].proc, SIGTERM, 10000);
	experiment("after-remove", 1);

	snprintf(csv, sizeof(csv), "%s/hospital-2.csv", H.dir);
	i = harness_add_node(&H, "hospital-2", csv, "breast-cancer", harness_plan("logreg"));
	assert_int_equal(i, 3);
	assert_int_equal(harness_start_node(&H, (size_t)i), 0);
	assert_false(broker_accepts(old, "hospital-2")); /* the new node's credentials are new */
	experiment("after-re-add", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate_node),
		cmocka_unit_test(test_revoke_node),
		cmocka_unit_test(test_remove_node),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
