/* Fuzz target: fedc_envelope_open() and fedc_envelope_detect(), the signed
 * envelope around every MQTT payload (fedc/sign.h).
 *
 * The keyring trusts one key, a fixed test key (below) for participant
 * FUZZ_SIGNER, so that the seeds can carry valid signatures and every run
 * checks the same thing. Beyond "no crash, no leak": a body (and a version-2
 * attachment) handed back lies inside the input; what opens is detected as
 * an envelope, comes from the one trusted signer, has an attachment whose
 * SHA-256 is the digest handed back, passes a fresh replay guard once and
 * only once, and opens again after being sealed anew (same version) with
 * the same body, attachment and stamp.
 *
 * Version 3 opens through a lookup that knows one session, FUZZ_SESSION
 * (fixed sid and key, below), for FUZZ_SIGNER: what opens as v3 names that
 * sid and hands back that session. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fedc/hash.h"
#include "fedc/sign.h"
#include "fuzz.h"

#define FUZZ_SIGNER "fuzz-node"
#define FUZZ_TOPIC "fedc/fuzz/nodes/fuzz-node"

/* An Ed25519 key made for these tests only (openssl genpkey -algorithm
 * ed25519): it signs nothing but fuzz seeds. */
static const char private_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIMDIyDdYlW6gm29Y3zQFrRAG5OBzvYAeYarqcqDhtWB1\n"
	"-----END PRIVATE KEY-----\n";
static const char public_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MCowBQYDK2VwAyEAxgkE6j1RhakUNc03nuTOzoRgUGn6rugSiCbOuXHf64M=\n"
	"-----END PUBLIC KEY-----\n";

static struct fedc_signer *signer;
static struct fedc_keyring *keyring;

/* The one session: sid 16 x 0x5a, both keys 32 x 0x42 (the sender's send key
 * is the receiver's receive key). The v3 seeds of corpus/envelope were
 * sealed with fedc_envelope_seal_v3 under these values, stamp 1700000000000. */
static struct fedc_session session;

static const struct fedc_session *find_session(void *ctx, const char *who, const uint8_t sid[FEDC_SESSION_ID_BYTES])
{
	(void)ctx;
	return strcmp(who, FUZZ_SIGNER) == 0 && memcmp(sid, session.sid, FEDC_SESSION_ID_BYTES) == 0 ? &session : NULL;
}

static const struct fedc_session_lookup lookup = { find_session, NULL };

static void free_keys(void)
{
	fedc_signer_free(signer);
	fedc_keyring_free(keyring);
	signer = NULL;
	keyring = NULL;
}

static void init_once(void)
{
	char path[PATH_MAX], dir[PATH_MAX];
	int n;

	if (keyring)
		return;
	fuzz_quiet_logs();
	memset(session.sid, 0x5a, sizeof(session.sid));
	memset(session.send_key, 0x42, sizeof(session.send_key));
	memset(session.recv_key, 0x42, sizeof(session.recv_key));
	snprintf(session.job_id, sizeof(session.job_id), "fuzz-job");
	fuzz_write_file(FUZZ_SIGNER ".key", private_pem, strlen(private_pem), path);
	fuzz_require(fedc_signer_load(FUZZ_SIGNER, path, &signer) == FEDC_OK, "cannot load the test key");
	n = snprintf(dir, sizeof(dir), "%s/keyring", fuzz_tmpdir());
	fuzz_require(n > 0 && (size_t)n < sizeof(dir) && mkdir(dir, 0700) == 0, "cannot make the keyring");
	fuzz_write_file("keyring/" FUZZ_SIGNER ".pub", public_pem, strlen(public_pem), path);
	fuzz_require(fedc_keyring_load_dir(dir, &keyring) == FEDC_OK && fedc_keyring_size(keyring) == 1,
		     "cannot load the keyring");
	atexit(free_keys);
}

/* Accepted once, refused as a replay the second time. */
static void check_replay_guard(const struct fedc_envelope *env)
{
	struct fedc_replay_guard *guard = NULL;

	fuzz_require(fedc_replay_guard_new(60000, 4, &guard) == FEDC_OK, "cannot make a replay guard");
	fuzz_require(fedc_replay_check(guard, env->signer, env->nonce, env->ts_ms, env->ts_ms) == FEDC_OK,
		     "a fresh guard must accept an envelope stamped now");
	fuzz_require(fedc_replay_check(guard, env->signer, env->nonce, env->ts_ms, env->ts_ms) == FEDC_ERR_AUTH,
		     "a guard must refuse the same nonce twice");
	fedc_replay_guard_free(guard);
}

/* True if `p`, `len` bytes, lies inside data[0..size). */
static bool inside(const uint8_t *p, size_t len, const uint8_t *data, size_t size)
{
	return p >= data && len <= size && p - data <= (ptrdiff_t)(size - len);
}

/* The digest handed back is the SHA-256 of the attached bytes. */
static void check_attachment(const struct fedc_envelope *env)
{
	char hex[FEDC_SHA256_HEXLEN + 1], want[FEDC_SHA256_HEXLEN + 1];

	fuzz_require(env->version >= 2, "only versions 2 and 3 carry an attachment");
	fuzz_require(fedc_hash_buffer(FEDC_HASH_SHA256, env->att, env->att_len, hex) == FEDC_OK, "SHA-256 failed");
	for (size_t i = 0; i < FEDC_SHA256_BYTES; i++)
		snprintf(want + 2 * i, 3, "%02x", env->att_sha256[i]);
	fuzz_require(strcmp(hex, want) == 0, "an opened attachment must hash to the digest handed back");
}

/* Sealing the same body, attachment and stamp again, in the same version,
 * gives an envelope that opens to them. */
static void check_reseal(const struct fedc_envelope *env)
{
	struct fedc_attachment att = { .data = env->att, .len = env->att_len };
	struct fedc_envelope again;
	void *sealed = NULL;
	size_t len = 0;
	enum fedc_err rc;

	memcpy(att.sha256, env->att_sha256, sizeof(att.sha256));
	if (env->version == 3)
		rc = fedc_envelope_seal_v3(FUZZ_SIGNER, &session, FUZZ_TOPIC, env->body, env->body_len,
					   env->has_att ? &att : NULL, env->ts_ms, &sealed, &len);
	else if (env->version == 2)
		rc = fedc_envelope_seal_v2(signer, FUZZ_TOPIC, env->body, env->body_len, env->has_att ? &att : NULL,
					   env->ts_ms, &sealed, &len);
	else
		rc = fedc_envelope_seal(signer, FUZZ_TOPIC, env->body, env->body_len, env->ts_ms, &sealed, &len);
	fuzz_require(rc == FEDC_OK, "an opened body must seal again");
	fuzz_require(fedc_envelope_open_sessions(keyring, &lookup, FUZZ_TOPIC, sealed, len, &again) == FEDC_OK,
		     "a sealed envelope must open");
	fuzz_require(again.ts_ms == env->ts_ms && strcmp(again.signer, env->signer) == 0 &&
		     again.body_len == env->body_len &&
		     (env->body_len == 0 || memcmp(again.body, env->body, env->body_len) == 0) &&
		     again.version == env->version && again.has_att == env->has_att && again.att_len == env->att_len &&
		     (env->att_len == 0 || memcmp(again.att, env->att, env->att_len) == 0),
		     "a resealed envelope must hold the same version, signer, stamp, body and attachment");
	free(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fedc_envelope env;
	bool detected;
	enum fedc_err rc;

	init_once();
	memset(&env, 0, sizeof(env));
	detected = fedc_envelope_detect(data, size);
	rc = fedc_envelope_open_sessions(keyring, &lookup, FUZZ_TOPIC, data, size, &env);
	if (env.body)
		fuzz_require(inside(env.body, env.body_len, data, size), "the body must lie inside the payload");
	if (env.att)
		fuzz_require(inside(env.att, env.att_len, data, size), "the attachment must lie inside the payload");
	if (rc != FEDC_OK)
		return 0;
	fuzz_require(detected, "an envelope that opens must be detected as one");
	fuzz_require(strcmp(env.signer, FUZZ_SIGNER) == 0, "only the trusted signer can open");
	fuzz_require(env.version >= 1 && env.version <= 3, "only versions 1 to 3 open");
	fuzz_require((env.version == 3) == (env.session == &session), "a v3 envelope, and only one, opens under the session");
	if (env.version == 3)
		fuzz_require(memcmp(env.sid, session.sid, FEDC_SESSION_ID_BYTES) == 0, "v3 opens under the sid it names");
	if (env.has_att)
		check_attachment(&env);
	check_replay_guard(&env);
	check_reseal(&env);
	return 0;
}
