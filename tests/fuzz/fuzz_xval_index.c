/* Fuzz target: cross-site validation's reader of a run's local/index.json
 * (researcher/xval.h, xval__index_parse), a file anyone who can write the
 * output directory can forge or damage; its ids become file names.
 *
 * Properties: a parse succeeds or fails with FEDC_ERR_MALFORMED (or NOMEM)
 * and a detail; an accepted index lists at most XVAL_MAX_NODES distinct
 * nodes whose ids are valid ids (no '/', no leading '.'), whose digests are
 * empty or 64 lowercase hex digits, and a job id of UUID length. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/id.h"
#include "fuzz.h"
#include "xval.h"

static void check(const struct xval_index *ix)
{
	fuzz_require(ix->n <= XVAL_MAX_NODES, "at most XVAL_MAX_NODES nodes");
	fuzz_require(strlen(ix->job_id) == FEDC_UUID_STRLEN, "a job id of UUID length");
	for (size_t i = 0; i < ix->n; i++) {
		const struct xval_node *n = &ix->nodes[i];

		fuzz_require(fedc_id_valid(n->node_id) && !strchr(n->node_id, '/'), "node ids are ids");
		fuzz_require(fedc_id_valid(n->dataset_id), "dataset ids are ids");
		fuzz_require(!n->digest[0] || strspn(n->digest, "0123456789abcdef") == 64, "digests are SHA-256 hex");
		for (size_t k = 0; k < i; k++)
			fuzz_require(strcmp(ix->nodes[k].node_id, n->node_id) != 0, "nodes are distinct");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xval_index ix;
	enum fedc_err rc = xval__index_parse((const char *)data, size, "index.json", &ix);

	fuzz_require(rc == FEDC_OK || rc == FEDC_ERR_MALFORMED || rc == FEDC_ERR_NOMEM, "OK or MALFORMED");
	if (rc == FEDC_OK)
		check(&ix);
	else
		fuzz_require(ix.nodes == NULL && ix.n == 0, "a refusal leaves nothing to free");
	xval__index_free(&ix);
	return 0;
}
