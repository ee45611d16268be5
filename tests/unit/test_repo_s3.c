/* The S3 backend of the repository client (fedc/repo_s3.h): URL and
 * credential parsing, error answers, and -- through fedc/repo.h against a
 * loopback stand-in that records each request and answers as S3 does --
 * the keys, the signing headers and the mapping of S3's refusals. The real
 * store (Ceph RGW, its policy and signature checks) is integration.test_s3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/hash.h"
#include "fedc/repo.h"
#include "fedc/repo_s3.h"

#define CREDS "AKIAFEDCTEST00000000:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0wMDAw"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HELLO "hello, bucket\n"

/* ---- parsing ------------------------------------------------------------ */

static void expect_parse(const char *url, const char *endpoint, const char *sigv4)
{
	struct fedc_repo_s3 s3;

	assert_int_equal(fedc_repo_s3_parse(url, CREDS, &s3), FEDC_OK);
	assert_string_equal(s3.endpoint, endpoint);
	assert_string_equal(s3.sigv4, sigv4);
	assert_string_equal(s3.userpwd, CREDS);
	fedc_repo_s3_clear(&s3);
	assert_null(s3.endpoint);
}

static void test_parse_url_forms(void **state)
{
	(void)state;
	expect_parse("s3://store.example:7480/fedc-blobs", "https://store.example:7480/fedc-blobs",
		     "aws:amz:us-east-1:s3");
	expect_parse("s3+https://store.example/fedc", "https://store.example/fedc", "aws:amz:us-east-1:s3");
	expect_parse("s3+http://127.0.0.1:8000/fed.a-1/", "http://127.0.0.1:8000/fed.a-1", "aws:amz:us-east-1:s3");
	expect_parse("s3://[::1]:7480/fed?region=eu-west-3", "https://[::1]:7480/fed", "aws:amz:eu-west-3:s3");
	assert_true(fedc_repo_s3_is_url("s3://h/b"));
	assert_true(fedc_repo_s3_is_url("s3+http://h/b"));
	assert_false(fedc_repo_s3_is_url("https://h/b"));
	assert_false(fedc_repo_s3_is_url(NULL));
}

static void expect_refused(const char *url, const char *creds, const char *detail)
{
	struct fedc_repo_s3 s3;

	assert_int_equal(fedc_repo_s3_parse(url, creds, &s3), FEDC_ERR_INVAL);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("%s: \"%s\" does not say \"%s\"", url, fedc_last_error(), detail);
	assert_null(s3.endpoint);
}

static void test_parse_bad_urls(void **state)
{
	(void)state;
	expect_refused("s3:/host/bucket", CREDS, "expected s3://host:port/bucket");
	expect_refused("s3+ftp://host/bucket", CREDS, "expected s3://");
	expect_refused("s3://host", CREDS, "then /bucket");
	expect_refused("s3:///bucket", CREDS, "then /bucket");
	expect_refused("s3://user:pw@host/bucket", CREDS, "then /bucket");
	expect_refused("s3://host:0/bucket", CREDS, "then /bucket");
	expect_refused("s3://host:65536/bucket", CREDS, "then /bucket");
	expect_refused("s3://host:80a/bucket", CREDS, "then /bucket");
	expect_refused("s3://host:/bucket", CREDS, "then /bucket");
	expect_refused("s3://[::1/bucket", CREDS, "then /bucket");
	expect_refused("s3://host/ab", CREDS, "bucket name must be 3 to 63");
	expect_refused("s3://host/Bucket", CREDS, "bucket name");
	expect_refused("s3://host/-bucket", CREDS, "bucket name");
	expect_refused("s3://host/bucket_1", CREDS, "bucket name");
	expect_refused("s3://host/bucket/blobs", CREDS, "nothing may follow the bucket");
	expect_refused("s3://host/bucket?acl", CREDS, "only query understood is ?region=");
	expect_refused("s3://host/bucket?region=", CREDS, "region must be 1 to 32");
	expect_refused("s3://host/bucket?region=EU", CREDS, "region: only a-z 0-9 -");
}

static void test_parse_bad_credentials(void **state)
{
	(void)state;
	expect_refused("s3://host/bucket", NULL, "ACCESS_KEY:SECRET_KEY");
	expect_refused("s3://host/bucket", "", "got none");
	expect_refused("s3://host/bucket", "justakey", "got no ':'");
	expect_refused("s3://host/bucket", ":secret", "must both be given");
	expect_refused("s3://host/bucket", "ACCESS:", "must both be given");
	expect_refused("s3://host/bucket", "ACC-ESS:secret", "letters and digits");
	expect_refused("s3://host/bucket", "ACCESS:sec ret", "visible ASCII");
}

/* ---- error answers ------------------------------------------------------ */

static void test_error_code(void **state)
{
	static const char denied[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
				     "<Message></Message></Error>";
	char code[FEDC_REPO_S3_MAX_CODE + 1];

	(void)state;
	assert_int_equal(fedc_repo_s3_error_code(denied, strlen(denied), code, sizeof(code)), FEDC_OK);
	assert_string_equal(code, "AccessDenied");
	/* cut before the closing tag: not a code */
	assert_int_equal(fedc_repo_s3_error_code(denied, (size_t)(strstr(denied, "</Code>") - denied) + 3, code,
						 sizeof(code)),
			 FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_repo_s3_error_code("<Code></Code>", 13, code, sizeof(code)), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_repo_s3_error_code("<Code>No Such</Code>", 20, code, sizeof(code)), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_repo_s3_error_code("no xml at all", 13, code, sizeof(code)), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_repo_s3_error_code(NULL, 0, code, sizeof(code)), FEDC_ERR_MALFORMED);
	assert_int_equal(fedc_repo_s3_error_code("<Code>AccessDenied</Code>", 25, code, 5), FEDC_ERR_MALFORMED);
}

static void test_status_mapping(void **state)
{
	const char *hint;

	(void)state;
	assert_int_equal(fedc_repo_s3_status(403, "PUT", "AccessDenied", &hint), FEDC_ERR_AUTH);
	assert_non_null(strstr(hint, "bucket policy"));
	assert_int_equal(fedc_repo_s3_status(403, "GET", "AccessDenied", &hint), FEDC_ERR_AUTH);
	assert_non_null(strstr(hint, "or absent"));
	assert_int_equal(fedc_repo_s3_status(403, "PUT", "InvalidAccessKeyId", &hint), FEDC_ERR_AUTH);
	assert_non_null(strstr(hint, "ACCESS_KEY"));
	assert_int_equal(fedc_repo_s3_status(403, "GET", "SignatureDoesNotMatch", &hint), FEDC_ERR_AUTH);
	assert_non_null(strstr(hint, "SECRET_KEY"));
	assert_int_equal(fedc_repo_s3_status(403, "GET", "RequestTimeTooSkewed", &hint), FEDC_ERR_AUTH);
	assert_int_equal(fedc_repo_s3_status(403, "GET", "UserSuspended", &hint), FEDC_ERR_AUTH);
	assert_non_null(strstr(hint, "suspended"));
	assert_int_equal(fedc_repo_s3_status(400, "PUT", "XAmzContentSHA256Mismatch", &hint), FEDC_ERR_DIGEST);
	assert_int_equal(fedc_repo_s3_status(400, "PUT", "BadDigest", &hint), FEDC_ERR_DIGEST);
	assert_int_equal(fedc_repo_s3_status(400, "PUT", "EntityTooLarge", &hint), FEDC_ERR_TOO_BIG);
	assert_int_equal(fedc_repo_s3_status(400, "PUT", "InvalidArgument", &hint), FEDC_ERR_HTTP);
	assert_int_equal(fedc_repo_s3_status(404, "GET", "NoSuchKey", &hint), FEDC_ERR_NOT_FOUND);
	assert_int_equal(fedc_repo_s3_status(404, "GET", "NoSuchBucket", &hint), FEDC_ERR_NOT_FOUND);
	assert_non_null(strstr(hint, "create it"));
	assert_int_equal(fedc_repo_s3_status(404, "HEAD", "", &hint), FEDC_ERR_NOT_FOUND);
	assert_int_equal(fedc_repo_s3_status(500, "GET", "InternalError", &hint), FEDC_ERR_HTTP);
}

/* ---- through the client, against a stand-in ------------------------------ */

/* What the stand-in saw of the last request, and what it answers next. */
struct stand_in {
	struct MHD_Daemon *mhd;
	uint16_t port;
	char method[8], url[256], content_sha256[80], authorization[512], bearer_seen;
	size_t body_len;
	unsigned head_status;     /* the answer to a HEAD */
	unsigned answer_status;   /* to anything else */
	const char *answer_body; /* S3 error XML, or the object */
};

static struct stand_in S;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	const char *v;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls;
	(void)version;
	(void)upload;
	if (!*con_cls) { /* first call: headers only */
		*con_cls = &S;
		snprintf(S.method, sizeof(S.method), "%s", method);
		snprintf(S.url, sizeof(S.url), "%s", url);
		v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-amz-content-sha256");
		snprintf(S.content_sha256, sizeof(S.content_sha256), "%s", v ? v : "");
		v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		snprintf(S.authorization, sizeof(S.authorization), "%s", v ? v : "");
		S.body_len = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		S.body_len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(strlen(S.answer_body), (void *)(uintptr_t)S.answer_body,
					    MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, strcmp(method, "HEAD") == 0 ? S.head_status : S.answer_status, r);
	MHD_destroy_response(r);
	return ret;
}

static int start_stand_in(void **state)
{
	const union MHD_DaemonInfo *info;

	(void)state;
	assert_int_equal(fedc_repo_global_init(), FEDC_OK);
	S.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, NULL, MHD_OPTION_END);
	if (!S.mhd)
		return -1;
	info = MHD_get_daemon_info(S.mhd, MHD_DAEMON_INFO_BIND_PORT);
	S.port = info ? info->port : 0;
	return S.port ? 0 : -1;
}

static int stop_stand_in(void **state)
{
	(void)state;
	MHD_stop_daemon(S.mhd);
	return 0;
}

static struct fedc_repo *client(const char *bucket)
{
	char url[128];
	struct fedc_repo *repo = NULL;

	snprintf(url, sizeof(url), "s3+http://127.0.0.1:%u/%s", (unsigned)S.port, bucket);
	assert_int_equal(fedc_repo_new(url, CREDS, 5, &repo), FEDC_OK);
	return repo;
}

static void hello_file(char *path, size_t cap, char *hex)
{
	FILE *f;

	snprintf(path, cap, "/tmp/fedc-test-s3-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(HELLO, f);
	fclose(f);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, path, hex), FEDC_OK);
}

/* The request was signed by SigV4 for this access key, region and service. */
static void assert_signed(void)
{
	assert_non_null(strstr(S.authorization, "AWS4-HMAC-SHA256 Credential=AKIAFEDCTEST00000000/"));
	assert_non_null(strstr(S.authorization, "/us-east-1/s3/aws4_request"));
	assert_non_null(strstr(S.authorization, "x-amz-content-sha256"));
	assert_null(strstr(S.authorization, "Bearer"));
	/* a header removal ("Expect:") signed but not sent breaks the signature */
	assert_non_null(strstr(S.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
}

static void test_keys_and_signing(void **state)
{
	struct fedc_repo *repo = client("fed-bucket");
	char path[64], hex[FEDC_SHA256_HEXLEN + 1], want[256];
	bool uploaded = false;

	(void)state;
	hello_file(path, sizeof(path), hex);
	/* HEAD finds nothing, then the PUT: key and signed payload digest */
	S.head_status = 404;
	S.answer_status = 200;
	S.answer_body = "";
	assert_int_equal(fedc_repo_put_update_file(repo, "hospital-1", path, NULL, NULL, &uploaded), FEDC_OK);
	snprintf(want, sizeof(want), "/fed-bucket/updates/hospital-1/sha256/%s", hex);
	assert_string_equal(S.method, "PUT");
	assert_string_equal(S.url, want);
	assert_string_equal(S.content_sha256, hex);
	assert_int_equal(S.body_len, strlen(HELLO));
	assert_signed();
	assert_true(uploaded);
	/* a GET signs the empty payload; the body is checked against the key */
	S.answer_body = HELLO;
	assert_int_equal(fedc_repo_get_file(repo, hex, path, 0), FEDC_OK);
	snprintf(want, sizeof(want), "/fed-bucket/blobs/sha256/%s", hex);
	assert_string_equal(S.method, "GET");
	assert_string_equal(S.url, want);
	assert_string_equal(S.content_sha256, EMPTY_SHA256);
	assert_signed();
	unlink(path);
	fedc_repo_free(repo);
}

/* HEAD answers `head` (403 on S3 reads as "absent": a node may not list
 * the bucket), then the PUT's answer counts. */
static void expect_put(unsigned head, unsigned status, const char *body, enum fedc_err want, const char *detail)
{
	struct fedc_repo *repo = client("fed-bucket");
	char path[64], hex[FEDC_SHA256_HEXLEN + 1];

	hello_file(path, sizeof(path), hex);
	S.head_status = head;
	S.answer_status = status;
	S.answer_body = body;
	assert_int_equal(fedc_repo_put_file(repo, path, hex, NULL, NULL), want);
	if (!strstr(fedc_last_error(), detail))
		fail_msg("\"%s\" does not say \"%s\"", fedc_last_error(), detail);
	assert_string_equal(S.method, "PUT");
	unlink(path);
	fedc_repo_free(repo);
}

static void test_put_refusals(void **state)
{
	(void)state;
	expect_put(403, 403, "<Error><Code>AccessDenied</Code></Error>", FEDC_ERR_AUTH,
		   "HTTP 403 AccessDenied: forbidden by the bucket policy");
	expect_put(403, 403, "<Error><Code>InvalidAccessKeyId</Code></Error>", FEDC_ERR_AUTH, "no such access key");
	expect_put(403, 403, "<Error><Code>SignatureDoesNotMatch</Code></Error>", FEDC_ERR_AUTH, "SECRET_KEY");
	expect_put(404, 400, "<Error><Code>XAmzContentSHA256Mismatch</Code></Error>", FEDC_ERR_DIGEST,
		   "hashed the body to another digest");
	expect_put(404, 400, "<Error><Code>InvalidArgument</Code></Error>", FEDC_ERR_HTTP, "HTTP 400 InvalidArgument");
	expect_put(404, 404, "<Error><Code>NoSuchBucket</Code></Error>", FEDC_ERR_NOT_FOUND, "create it");
}

static void test_get_refusals(void **state)
{
	struct fedc_repo *repo = client("fed-bucket");
	char path[64], hex[FEDC_SHA256_HEXLEN + 1];

	(void)state;
	hello_file(path, sizeof(path), hex);
	unlink(path);
	S.answer_status = 403;
	S.answer_body = "<Error><Code>AccessDenied</Code></Error>";
	assert_int_equal(fedc_repo_get_update_file(repo, "other-node", hex, path, 0), FEDC_ERR_AUTH);
	assert_non_null(strstr(fedc_last_error(), "or absent"));
	S.answer_status = 404;
	S.answer_body = "<Error><Code>NoSuchKey</Code></Error>";
	assert_int_equal(fedc_repo_get_file(repo, hex, path, 0), FEDC_ERR_NOT_FOUND);
	/* a body that is not what the key names: refused, nothing left behind */
	S.answer_status = 200;
	S.answer_body = "tampered\n";
	assert_int_equal(fedc_repo_get_file(repo, hex, path, 0), FEDC_ERR_DIGEST);
	assert_int_equal(access(path, F_OK), -1);
	fedc_repo_free(repo);
}

static void test_new_needs_credentials(void **state)
{
	struct fedc_repo *repo = NULL;

	(void)state;
	assert_int_equal(fedc_repo_new("s3+http://127.0.0.1:9/fed", NULL, 5, &repo), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "ACCESS_KEY:SECRET_KEY"));
	assert_int_equal(fedc_repo_new("s3+http://127.0.0.1:9/fed", "bearer-token-only", 5, &repo), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_new("s3+http://127.0.0.1:9/BAD", CREDS, 5, &repo), FEDC_ERR_INVAL);
	assert_null(repo);
	/* config files check the URL alone, before credentials are read */
	assert_int_equal(fedc_repo_check_url("s3://store:7480/fed-bucket"), FEDC_OK);
	assert_int_equal(fedc_repo_check_url("https://repo:8443"), FEDC_OK);
	assert_int_equal(fedc_repo_check_url("s3://store:7480/x"), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_check_url("ftp://repo"), FEDC_ERR_INVAL);
	assert_int_equal(fedc_repo_check_url(NULL), FEDC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse_url_forms),
		cmocka_unit_test(test_parse_bad_urls),
		cmocka_unit_test(test_parse_bad_credentials),
		cmocka_unit_test(test_error_code),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_new_needs_credentials),
	};
	const struct CMUnitTest wired[] = {
		cmocka_unit_test(test_keys_and_signing),
		cmocka_unit_test(test_put_refusals),
		cmocka_unit_test(test_get_refusals),
	};

	return cmocka_run_group_tests(pure, NULL, NULL) | cmocka_run_group_tests(wired, start_stand_in, stop_stand_in);
}
