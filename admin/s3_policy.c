/* The bucket policy of a repository kept in an S3 store (docs/repository.md,
 * "S3 backend"): the same per-participant access as fedc-repository's
 * tokens, for S3 users named after the participants.
 *
 *   researchers  read every object, publish under blobs/, list the bucket
 *   nodes        read under blobs/; read and write under updates/<their id>/
 *                only
 *
 * Nothing may delete. Nodes may not list the bucket: a listing would show
 * the other nodes' updates (their digests and sizes), so a missing key reads
 * as 403 to them, which the client knows (fedc/repo_s3.h). The bucket's
 * owner (the federation's operator, another S3 user) keeps full access. */
#include "admin.h"

#include "fedc/repo_s3.h"

#include <stdio.h>

/* "arn:aws:iam:::user/ID" for every participant of `role`, comma separated;
 * *n says how many. Ids are fedc ids (A-Z a-z 0-9 . _ -): nothing to
 * escape in JSON. */
static enum fedc_err principals(const struct admin_registry *reg, enum admin_role role, struct fedc_buf *out,
				size_t *n)
{
	enum fedc_err rc = FEDC_OK;

	*n = 0;
	for (size_t i = 0; i < reg->n && !rc; i++) {
		if (reg->v[i].role != role)
			continue;
		rc = fedc_buf_printf(out, "%s\"arn:aws:iam:::user/%s\"", *n ? ", " : "", reg->v[i].id);
		(*n)++;
	}
	return rc;
}

/* One Allow statement. `sid` may be NULL (AWS takes only letters and
 * digits there, which node ids need not be). */
static enum fedc_err statement(struct fedc_buf *b, bool *first, const char *sid, const char *who,
			       const char *actions, const char *resources)
{
	enum fedc_err rc = fedc_buf_printf(b, "%s\n    {%s%s%s\"Effect\": \"Allow\", \"Principal\": {\"AWS\": [%s]},"
					      "\n     \"Action\": [%s],\n     \"Resource\": [%s]}",
					   *first ? "" : ",", sid ? "\"Sid\": \"" : "", sid ? sid : "",
					   sid ? "\", " : "", who, actions, resources);

	*first = false;
	return rc;
}

/* The researchers' statements: read all, publish blobs, list. */
static enum fedc_err researcher_statements(struct fedc_buf *b, bool *first, const char *who, const char *bucket)
{
	char res[3 * FEDC_REPO_S3_MAX_BUCKET + 128];
	enum fedc_err rc;

	snprintf(res, sizeof(res), "\"arn:aws:s3:::%s/*\"", bucket);
	rc = statement(b, first, "ResearchersRead", who, "\"s3:GetObject\"", res);
	snprintf(res, sizeof(res), "\"arn:aws:s3:::%s/" FEDC_REPO_S3_BLOBS_PREFIX "*\"", bucket);
	if (!rc)
		rc = statement(b, first, "ResearchersPublish", who, "\"s3:PutObject\"", res);
	snprintf(res, sizeof(res), "\"arn:aws:s3:::%s\"", bucket);
	if (!rc)
		rc = statement(b, first, "ResearchersList", who, "\"s3:ListBucket\"", res);
	return rc;
}

/* Every node reads blobs; each one reads and writes its own updates. */
static enum fedc_err node_statements(struct fedc_buf *b, bool *first, const struct admin_registry *reg,
				     const char *who, const char *bucket)
{
	char res[FEDC_REPO_S3_MAX_BUCKET + FEDC_MAX_ID_LEN + 128];
	char principal[FEDC_MAX_ID_LEN + 32];
	enum fedc_err rc;

	snprintf(res, sizeof(res), "\"arn:aws:s3:::%s/" FEDC_REPO_S3_BLOBS_PREFIX "*\"", bucket);
	rc = statement(b, first, "NodesReadBlobs", who, "\"s3:GetObject\"", res);
	for (size_t i = 0; i < reg->n && !rc; i++) {
		if (reg->v[i].role != ADMIN_ROLE_NODE)
			continue;
		snprintf(res, sizeof(res), "\"arn:aws:s3:::%s/" FEDC_REPO_S3_UPDATES_PREFIX "%s/*\"", bucket,
			 reg->v[i].id);
		snprintf(principal, sizeof(principal), "\"arn:aws:iam:::user/%s\"", reg->v[i].id);
		rc = statement(b, first, NULL, principal, "\"s3:GetObject\", \"s3:PutObject\"", res);
	}
	return rc;
}

enum fedc_err admin__s3_policy(const struct admin_registry *reg, const char *bucket, struct fedc_buf *out)
{
	struct fedc_buf researchers = FEDC_BUF_INIT(ADMIN_MAX_LIST_BYTES), nodes = FEDC_BUF_INIT(ADMIN_MAX_LIST_BYTES);
	size_t n_researchers = 0, n_nodes = 0;
	bool first = true;
	enum fedc_err rc;

	if (!fedc_repo_s3_bucket_valid(bucket))
		return fedc_fail(FEDC_ERR_INVAL, "bad bucket name \"%s\": 3 to %d of a-z 0-9 . -, starting and "
						 "ending with a letter or digit",
				 bucket, FEDC_REPO_S3_MAX_BUCKET);
	rc = principals(reg, ADMIN_ROLE_RESEARCHER, &researchers, &n_researchers);
	if (!rc)
		rc = principals(reg, ADMIN_ROLE_NODE, &nodes, &n_nodes);
	if (!rc && n_researchers + n_nodes == 0)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "the federation has no participants yet: add them first");
	if (!rc)
		rc = fedc_buf_printf(out, "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [");
	if (!rc && n_researchers)
		rc = researcher_statements(out, &first, researchers.data, bucket);
	if (!rc && n_nodes)
		rc = node_statements(out, &first, reg, nodes.data, bucket);
	if (!rc)
		rc = fedc_buf_printf(out, "\n  ]\n}\n");
	fedc_buf_free(&researchers);
	fedc_buf_free(&nodes);
	return rc;
}
