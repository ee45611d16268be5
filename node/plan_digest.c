/* Plan digests (see plan_digest.h). */
#include "plan_digest.h"

#include <stdio.h>
#include <string.h>

static const enum fedc_hash_alg all_algs[] = { FEDC_HASH_SHA256, FEDC_HASH_SHA512, FEDC_HASH_SHA3_256,
					       FEDC_HASH_BLAKE2B_512 };

enum fedc_err plan_digest__fill(enum fedc_hash_alg alg, const char *path, struct node_plan *plan)
{
	enum fedc_err rc = fedc_hash_file(alg, path, plan->digest);

	if (rc)
		return fedc_fail(rc, "cannot hash the plan %s: %s", path, fedc_last_error());
	snprintf(plan->algorithm, sizeof(plan->algorithm), "%s", fedc_hash_alg_name(alg));
	return FEDC_OK;
}

enum fedc_err plan_digest__find(struct node_db *db, const char *path, const char *sha256, struct node_plan *out)
{
	struct node_plan probe;

	for (size_t i = 0; i < sizeof(all_algs) / sizeof(all_algs[0]); i++) {
		enum fedc_err rc = FEDC_OK;

		if (all_algs[i] == FEDC_HASH_SHA256 && sha256) {
			snprintf(probe.digest, sizeof(probe.digest), "%s", sha256);
			snprintf(probe.algorithm, sizeof(probe.algorithm), "sha256");
		} else {
			rc = plan_digest__fill(all_algs[i], path, &probe);
		}
		if (!rc)
			rc = db__plan_get(db, probe.digest, out);
		if (rc == FEDC_OK && strcmp(out->algorithm, probe.algorithm) == 0)
			return FEDC_OK;
		if (rc && rc != FEDC_ERR_NOT_FOUND)
			return rc;
	}
	return fedc_fail(FEDC_ERR_NOT_FOUND, "plan %s is not in the approval list", path);
}
