/* Fuzz target: the S3 backend's readers of outside text (fedc/repo_s3.h):
 * the repository URL with its credentials (config values an operator
 * writes) and the <Code> of an S3 store's error answer (bytes from the
 * network).
 *
 * Input: the whole of it is an error answer; its first line is a URL and
 * its second line the credentials. Properties: an error code found is 1 to
 * FEDC_REPO_S3_MAX_CODE letters and digits that stand between <Code> and
 * </Code> in the input; a URL is accepted or refused with FEDC_ERR_INVAL,
 * and an accepted one gives an http(s) endpoint without user info, query or
 * fragment, a SigV4 scope "aws:amz:REGION:s3" and the credentials as given,
 * and its mapping of any status names a fedc error. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/repo_s3.h"
#include "fuzz.h"

static void check_error_code(const uint8_t *data, size_t size)
{
	char code[FEDC_REPO_S3_MAX_CODE + 1], framed[FEDC_REPO_S3_MAX_CODE + 16];
	const char *hint = NULL;
	size_t n;

	if (fedc_repo_s3_error_code((const char *)data, size, code, sizeof(code)) != FEDC_OK)
		return;
	n = strlen(code);
	fuzz_require(n >= 1 && n <= FEDC_REPO_S3_MAX_CODE, "a code is 1 to 64 characters");
	for (size_t i = 0; i < n; i++)
		fuzz_require((code[i] >= 'a' && code[i] <= 'z') || (code[i] >= 'A' && code[i] <= 'Z') ||
				     (code[i] >= '0' && code[i] <= '9'),
			     "a code is letters and digits");
	snprintf(framed, sizeof(framed), "<Code>%s</Code>", code);
	fuzz_require(memmem(data, size, framed, strlen(framed)) != NULL, "the code stands framed in the input");
	fuzz_require(fedc_repo_s3_status(403, "GET", code, &hint) < FEDC_ERR__COUNT && hint != NULL,
		     "every code maps to a fedc error and a hint");
}

static void check_url(const char *url, const char *credentials)
{
	struct fedc_repo_s3 s3;
	enum fedc_err rc = fedc_repo_s3_parse(url, credentials, &s3);

	if (rc) {
		fuzz_require(rc == FEDC_ERR_INVAL || rc == FEDC_ERR_NOMEM, "a refusal is FEDC_ERR_INVAL");
		fuzz_require(s3.endpoint == NULL && s3.userpwd == NULL, "a refusal leaves nothing allocated");
		return;
	}
	fuzz_require(fedc_repo_s3_is_url(url), "an accepted URL is an S3 URL");
	fuzz_require(strncmp(s3.endpoint, "http://", 7) == 0 || strncmp(s3.endpoint, "https://", 8) == 0,
		     "the endpoint is http or https");
	fuzz_require(!strpbrk(s3.endpoint, "@?# \\"), "no user info, query, fragment or space in the endpoint");
	fuzz_require(strncmp(s3.sigv4, "aws:amz:", 8) == 0 && strlen(s3.sigv4) > 11 &&
			     strcmp(s3.sigv4 + strlen(s3.sigv4) - 3, ":s3") == 0,
		     "the scope is aws:amz:REGION:s3");
	fuzz_require(strcmp(s3.userpwd, credentials) == 0, "the credentials are kept as given");
	fedc_repo_s3_clear(&s3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *nl, *credentials = NULL;

	fuzz_require(text != NULL, "the input is copied");
	fuzz_quiet_logs();
	check_error_code(data, size);
	memcpy(text, data, size);
	text[size] = '\0';
	nl = strchr(text, '\n');
	if (nl) {
		*nl = '\0';
		credentials = nl + 1;
		credentials[strcspn(credentials, "\n")] = '\0';
	}
	check_url(text, credentials);
	free(text);
	return 0;
}
