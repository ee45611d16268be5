/* The repository on object storage: a real single-host Ceph cluster with a
 * RADOS Gateway (scripts/ceph-single-host.sh) holds plans, parameters and
 * updates instead of fedc-repository (which is not started at all), over
 * HTTPS with the federation's CA. Each
 * participant is a radosgw user with its own keys, the bucket policy comes
 * from `fedc-admin s3-policy`, and the demo experiment runs on it. Then the
 * store's and the client's checks: a node cannot write another node's
 * updates, read them or publish blobs (403 -> FEDC_ERR_AUTH), unknown keys
 * are refused, a tampered object is refused by its digest.
 *
 * Needs the Debian packages ceph-mon ceph-osd radosgw ceph-common and curl
 * (scripts/setup.sh): without them the set-up fails, and so does the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/hash.h"
#include "harness.h"

#define BUCKET "fedc-test"
#define SCRIPT FEDC_SOURCE_DIR "/scripts/ceph-single-host.sh"

static struct harness H;
static const size_t shares[3][2] = { { 0, 100 }, { 100, 180 }, { 280, 289 } };
static char ceph_dir[400], rgw_url[128], owner_creds[128];
static char output[1 << 16];

static int run_script(const char *const argv[], int timeout_s, char *out, size_t cap)
{
	int rc = harness_run(&H, argv, timeout_s, out, cap);

	if (rc != 0)
		fprintf(stderr, "%s %s failed (%d): %s\n", argv[0], argv[1], rc, out ? out : "");
	return rc;
}

/* RGW_URL=... from the cluster's env file. */
static int read_rgw_url(void)
{
	char path[512], line[256];
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/env", ceph_dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "RGW_URL=", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			rc = strlen(line + 8) < sizeof(rgw_url) ? 0 : -1;
			memcpy(rgw_url, line + 8, rc ? 0 : strlen(line + 8) + 1);
		}
	}
	if (f)
		fclose(f);
	return rc;
}

/* radosgw serves HTTPS with the certificate fedc-admin made for the
 * repository, so participants verify it with their bundle's ca.pem as
 * they would fedc-repository's. */
static int start_ceph(void)
{
	char pid[16], out[4096], cert[512], key[512], ca[512];
	const char *argv[] = { SCRIPT, "start", ceph_dir, "--tls", cert, key, ca, "--watch", pid, NULL };

	snprintf(ceph_dir, sizeof(ceph_dir), "%s/ceph", H.dir);
	snprintf(cert, sizeof(cert), "%s/repository/server.pem", H.fed_dir);
	snprintf(key, sizeof(key), "%s/repository/server.key", H.fed_dir);
	snprintf(ca, sizeof(ca), "%s/ca/ca.pem", H.fed_dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (run_script(argv, 90, out, sizeof(out)) != 0)
		return -1;
	fprintf(stderr, "%s", out); /* "... ready in N ms" */
	return read_rgw_url();
}

/* A radosgw user `uid`; its "ACCESS:SECRET" (the script's last line of
 * output) into creds[cap]. */
static int make_user(const char *uid, char *creds, size_t cap)
{
	char out[2048], *line;
	const char *argv[] = { SCRIPT, "user", ceph_dir, uid, NULL };
	size_t n;

	if (run_script(argv, 60, out, sizeof(out)) != 0)
		return -1;
	for (n = strlen(out); n > 0 && out[n - 1] == '\n'; n--)
		out[n - 1] = '\0';
	line = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
	if (!strchr(line, ':') || strlen(line) >= cap) {
		fprintf(stderr, "user %s: no ACCESS:SECRET in: %s\n", uid, out);
		return -1;
	}
	memcpy(creds, line, strlen(line) + 1);
	return 0;
}

/* The participant's repository token becomes its S3 keys: the same file,
 * the same [repository] token_file / repository_token_file key. */
static int give_s3_keys(const char *bundle, const char *uid)
{
	char creds[128], path[512];

	snprintf(path, sizeof(path), "%s/repository.token", bundle);
	if (make_user(uid, creds, sizeof(creds)) != 0)
		return -1;
	strcat(creds, "\n");
	return fedc_write_atomic(path, creds, strlen(creds)) == FEDC_OK && chmod(path, 0600) == 0 ? 0 : -1;
}

/* Replaces the first `from` in file `path` by `to`. */
static int replace_in_file(const char *path, const char *from, const char *to)
{
	char *text = calloc(1, 65536), *at;
	FILE *f = text ? fopen(path, "r") : NULL;
	size_t n = f ? fread(text, 1, 65535, f) : 0;
	int rc = -1;

	if (f)
		fclose(f);
	at = n ? strstr(text, from) : NULL;
	f = at ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
		rc = fclose(f) == 0 ? 0 : -1;
	}
	free(text);
	return rc;
}

/* The bucket, owned by an operator user, with fedc-admin's policy. */
static int make_bucket(void)
{
	char policy[512], command[2048], out[8192];
	const char *admin[] = { "/bin/sh", "-c", command, NULL };
	const char *bucket[] = { SCRIPT, "bucket", ceph_dir, BUCKET, owner_creds, policy, NULL };

	snprintf(policy, sizeof(policy), "%s/policy.json", H.dir);
	/* the policy is stdout; the users it names go to stderr */
	snprintf(command, sizeof(command), "'%s' s3-policy '%s' " BUCKET " > '%s'", harness_bin("fedc-admin"),
		 H.fed_dir, policy);
	if (make_user("fedc-operator", owner_creds, sizeof(owner_creds)) != 0 ||
	    run_script(admin, 30, out, sizeof(out)) != 0)
		return -1;
	return run_script(bucket, 30, out, sizeof(out));
}

static int approve(size_t node, const char *plan)
{
	const char *argv[] = { harness_bin("fedc-node"), "--config", H.nodes[node].config, "plan", "approve",
			       plan, NULL };

	return harness_run(&H, argv, 30, NULL, 0);
}

static int add_nodes(void)
{
	char csv[512], id[32];

	for (size_t i = 0; i < 3; i++) {
		snprintf(csv, sizeof(csv), "%s/hospital-%zu.csv", H.dir, i);
		snprintf(id, sizeof(id), "hospital-%zu", i);
		if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, shares[i][0],
				      shares[i][1]) ||
		    harness_add_node(&H, id, csv, "breast-cancer,tabular", harness_plan("logreg")) != (int)i ||
		    approve(i, harness_plan("fixtures/identity")) != 0)
			return -1;
	}
	return 0;
}

/* Points the nodes and the test researcher at the bucket. */
static int move_repository_to_s3(void)
{
	char old_line[96], new_line[200], bundle[600];
	const char *host = rgw_url + strlen("https://");

	snprintf(old_line, sizeof(old_line), "url = %s\n", H.repo_url);
	if (strncmp(rgw_url, "https://", 8) != 0 || strlen(host) > sizeof(H.repo_url) - sizeof("s3:///" BUCKET))
		return -1;
	snprintf(H.repo_url, sizeof(H.repo_url), "s3://%.40s/" BUCKET, host);
	snprintf(new_line, sizeof(new_line), "url = %s\n", H.repo_url);
	if (give_s3_keys(H.researcher_dir, H.researcher_id) != 0)
		return -1;
	for (size_t i = 0; i < H.n_nodes; i++) {
		snprintf(bundle, sizeof(bundle), "%s/nodes/%s", H.fed_dir, H.nodes[i].id);
		if (give_s3_keys(bundle, H.nodes[i].id) != 0 || replace_in_file(H.nodes[i].config, old_line, new_line))
			return -1;
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	if (harness_init(&H) || start_ceph() || harness_start_broker(&H) || harness_connect_observer(&H) ||
	    add_nodes() || move_repository_to_s3() || make_bucket())
		return -1;
	for (size_t i = 0; i < H.n_nodes; i++) {
		if (harness_start_node(&H, i) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	const char *argv[] = { SCRIPT, "stop", ceph_dir, NULL };

	(void)state;
	if (ceph_dir[0])
		(void)harness_run(&H, argv, 30, NULL, 0);
	harness_cleanup(&H);
	return 0;
}

static void test_experiment_on_rgw(void **state)
{
	char exp[512], params[600];
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, NULL };
	int rc;

	(void)state;
	snprintf(exp, sizeof(exp), "%s/logreg.ini", H.dir);
	assert_int_equal(harness_write_experiment(&H, exp, harness_plan("logreg"), "breast-cancer", 5, 3, 60,
						  "n_features = 30", NULL),
			 0);
	rc = harness_run(&H, argv, 120, output, sizeof(output));
	if (rc != 0)
		fail_msg("%s", output);
	assert_non_null(strstr(output, "round    5/5"));
	assert_non_null(strstr(output, "nodes 3/3"));
	assert_true(harness_final_accuracy(output) >= 0.9);
	snprintf(params, sizeof(params), "%s-out/global.params", exp);
	assert_int_equal(access(params, R_OK), 0);
}

/* A small file and its digest. */
static void blob_file(const char *name, const char *text, char *path, size_t cap, char *hex)
{
	snprintf(path, cap, "%s/%s", H.dir, name);
	assert_int_equal(fedc_write_atomic(path, text, strlen(text)), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, path, hex), FEDC_OK);
}

static struct fedc_repo *client_of_node(size_t i)
{
	char bundle[600];
	struct fedc_repo *repo = NULL;

	snprintf(bundle, sizeof(bundle), "%s/nodes/%s", H.fed_dir, H.nodes[i].id);
	assert_int_equal(harness_repo_as(&H, bundle, &repo), 0);
	return repo;
}

static void test_node_confined_to_its_updates(void **state)
{
	struct fedc_repo *node0 = client_of_node(0), *researcher = NULL;
	char path[512], got[512], hex[FEDC_SHA256_HEXLEN + 1];
	bool uploaded = false;

	(void)state;
	blob_file("node0-update", "an update of hospital-0\n", path, sizeof(path), hex);
	/* its own updates: written and read back */
	assert_int_equal(fedc_repo_put_update_file(node0, "hospital-0", path, NULL, NULL, &uploaded), FEDC_OK);
	assert_true(uploaded);
	snprintf(got, sizeof(got), "%s/node0-update.back", H.dir);
	assert_int_equal(fedc_repo_get_update_file(node0, "hospital-0", hex, got, 0), FEDC_OK);
	/* another node's: neither written nor read */
	assert_int_equal(fedc_repo_put_update_file(node0, "hospital-1", path, NULL, NULL, NULL), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "AccessDenied"));
	assert_int_equal(fedc_repo_get_update_file(node0, "hospital-1", hex, got, 0), FEDC_ERR_AUTH);
	/* no publishing */
	assert_int_equal(fedc_repo_put_file(node0, path, NULL, NULL, NULL), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "forbidden by the bucket policy"));
	/* the researcher reads the node's update, and finds no published copy */
	assert_int_equal(harness_repo_new(&H, &researcher), 0);
	assert_int_equal(fedc_repo_get_update_file(researcher, "hospital-0", hex, got, 0), FEDC_OK);
	assert_int_equal(fedc_repo_get_file(researcher, hex, got, 0), FEDC_ERR_NOT_FOUND);
	assert_non_null(strstr(fedc_last_error(), "NoSuchKey"));
	fedc_repo_free(researcher);
	fedc_repo_free(node0);
}

/* A PUT to an S3 store carries curl's "Expect: 100-continue" (repo_s3.c),
 * and the client waits for the 100 before the body: radosgw answers a
 * refused PUT without reading its body and would take body bytes sent
 * anyway for the next request on the kept connection (tried: the next GET
 * got a 400). An upload over 1 MiB comes back intact; after one refused
 * (another node's namespace) the same client's next request still works. */
static void test_large_update_and_refusal_keep_the_connection_usable(void **state)
{
	struct fedc_repo *node0 = client_of_node(0);
	size_t size = (3u << 20) + 17;
	char *body = malloc(size), path[512], got[512], hex[FEDC_SHA256_HEXLEN + 1], back_hex[FEDC_SHA256_HEXLEN + 1];
	struct stat sb;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < size; i++)
		body[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	snprintf(path, sizeof(path), "%s/large-update", H.dir);
	assert_int_equal(fedc_write_atomic(path, body, size), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, path, hex), FEDC_OK);
	assert_int_equal(fedc_repo_put_update_file(node0, "hospital-0", path, NULL, NULL, NULL), FEDC_OK);
	snprintf(got, sizeof(got), "%s/large-update.back", H.dir);
	assert_int_equal(fedc_repo_get_update_file(node0, "hospital-0", hex, got, 0), FEDC_OK);
	assert_int_equal(stat(got, &sb), 0);
	assert_int_equal((size_t)sb.st_size, size);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, got, back_hex), FEDC_OK);
	assert_string_equal(back_hex, hex);
	assert_int_equal(fedc_repo_put_update_file(node0, "hospital-1", path, NULL, NULL, NULL), FEDC_ERR_AUTH);
	assert_int_equal(fedc_repo_get_update_file(node0, "hospital-0", hex, got, 0), FEDC_OK);
	free(body);
	fedc_repo_free(node0);
}

static void expect_refused_credentials(const char *creds, const char *detail)
{
	struct fedc_repo *repo = NULL;
	char path[512], ca[512], hex[FEDC_SHA256_HEXLEN + 1];

	blob_file("stranger", "not from a participant\n", path, sizeof(path), hex);
	snprintf(ca, sizeof(ca), "%s/ca/ca.pem", H.fed_dir);
	assert_int_equal(fedc_repo_new(H.repo_url, creds, 30, &repo), FEDC_OK);
	/* without the federation's CA the store is not even reached */
	assert_int_equal(fedc_repo_put_file(repo, path, NULL, NULL, NULL), FEDC_ERR_NET);
	assert_non_null(strstr(fedc_last_error(), "TLS"));
	assert_int_equal(fedc_repo_set_ca_file(repo, ca), FEDC_OK);
	assert_int_equal(fedc_repo_put_file(repo, path, NULL, NULL, NULL), FEDC_ERR_AUTH);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("\"%s\" does not say \"%s\"", fedc_last_error(), detail);
	assert_int_equal(fedc_repo_get_file(repo, hex, path, 0), FEDC_ERR_AUTH);
	fedc_repo_free(repo);
}

static void test_unknown_credentials(void **state)
{
	char wrong_secret[160];

	(void)state;
	expect_refused_credentials("AKIANOSUCHUSER000000:c29tZS1zZWNyZXQtdGhhdC1tYXRjaGVzLW5vdGhpbmc",
				   "InvalidAccessKeyId");
	/* a real access key with a wrong secret */
	snprintf(wrong_secret, sizeof(wrong_secret), "%.*s:wrong-secret-key",
		 (int)(strchr(owner_creds, ':') - owner_creds), owner_creds);
	expect_refused_credentials(wrong_secret, "SignatureDoesNotMatch");
}

/* The store checks the body against the signed digest header, not the key
 * against the body: a node can put other bytes under a digest in its own
 * updates (here with curl, as any S3 client would). The researcher's
 * download hashes them and refuses. */
static void test_tampered_object_refused(void **state)
{
	struct fedc_repo *researcher = NULL;
	char path[512], bad[512], dest[512], hex[FEDC_SHA256_HEXLEN + 1], bad_hex[FEDC_SHA256_HEXLEN + 1];
	char url[512], creds[160], token[512], ca[512], out[2048];
	const char *curl[] = { FEDC_CURL, "-sS", "-f", "--cacert", ca, "--aws-sigv4", "aws:amz:us-east-1:s3",
			       "--user", creds, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", bad, url, NULL };

	(void)state;
	blob_file("honest", "the update hospital-1 meant to send\n", path, sizeof(path), hex);
	blob_file("tampered", "something else entirely\n", bad, sizeof(bad), bad_hex);
	snprintf(token, sizeof(token), "%s/nodes/hospital-1/repository.token", H.fed_dir);
	snprintf(ca, sizeof(ca), "%s/ca/ca.pem", H.fed_dir);
	assert_int_equal(fedc_read_secret(token, creds, sizeof(creds)), FEDC_OK);
	snprintf(url, sizeof(url), "%s/" BUCKET "/updates/hospital-1/sha256/%s", rgw_url, hex);
	if (harness_run(&H, curl, 30, out, sizeof(out)) != 0)
		fail_msg("curl: %s", out);
	assert_int_equal(harness_repo_new(&H, &researcher), 0);
	snprintf(dest, sizeof(dest), "%s/fetched-update", H.dir);
	assert_int_equal(fedc_repo_get_update_file(researcher, "hospital-1", hex, dest, 0), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), bad_hex)); /* it names what it got */
	assert_int_equal(access(dest, F_OK), -1);            /* and leaves nothing behind */
	fedc_repo_free(researcher);
}

/* Revoking a participant on the store: its user is suspended, and its
 * keys, good a moment ago, open nothing. */
static void test_suspended_user_refused(void **state)
{
	const char *argv[] = { SCRIPT, "suspend", ceph_dir, "hospital-2", NULL };
	struct fedc_repo *node2 = client_of_node(2);
	char path[512], hex[FEDC_SHA256_HEXLEN + 1];

	(void)state;
	blob_file("node2-update", "an update of hospital-2\n", path, sizeof(path), hex);
	assert_int_equal(fedc_repo_put_update_file(node2, "hospital-2", path, NULL, NULL, NULL), FEDC_OK);
	assert_int_equal(run_script(argv, 30, output, sizeof(output)), 0);
	assert_int_equal(fedc_repo_get_update_file(node2, "hospital-2", hex, path, 0), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "UserSuspended"));
	fedc_repo_free(node2);
}

/* fedc-admin refuses a bucket name S3 would refuse, naming the rule. */
static void test_policy_bad_bucket(void **state)
{
	const char *argv[] = { harness_bin("fedc-admin"), "s3-policy", H.fed_dir, "Not_A_Bucket", NULL };

	(void)state;
	assert_int_equal(harness_run(&H, argv, 30, output, sizeof(output)), 2);
	assert_non_null(strstr(output, "bad bucket name \"Not_A_Bucket\": 3 to 63 of a-z 0-9 . -"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_experiment_on_rgw),
		cmocka_unit_test(test_node_confined_to_its_updates),
		cmocka_unit_test(test_large_update_and_refusal_keep_the_connection_usable),
		cmocka_unit_test(test_unknown_credentials),
		cmocka_unit_test(test_tampered_object_refused),
		cmocka_unit_test(test_suspended_user_refused),
		cmocka_unit_test(test_policy_bad_bucket),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
