/* The archive's redaction of experiment and network files
 * (researcher/run_archive.h): secret values replaced, paths to secret files
 * and everything else kept byte for byte. The archive itself is tested on a
 * real run in tests/integration/test_run_control.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fedc/buf.h"
#include "run_archive.h"

static void redacts(const char *in, const char *want)
{
	struct fedc_buf out = FEDC_BUF_INIT(1 << 16);

	assert_int_equal(run_archive__redact_ini(in, strlen(in), &out), FEDC_OK);
	assert_string_equal(out.data ? out.data : "", want);
	fedc_buf_free(&out);
}

static void test_secret_values_removed(void **state)
{
	(void)state;
	redacts("[network]\nrepository_token = abc123\n", "[network]\nrepository_token = REMOVED\n");
	redacts("  Broker_Password\t=  hunter2  \n", "  Broker_Password\t= REMOVED\n");
	redacts("client_secret=s3cr3t", "client_secret= REMOVED"); /* no newline at the end */
	redacts("api_token = a = b\n", "api_token = REMOVED\n");
	/* commented out, still a secret */
	redacts("# repository_token = old\n", "# repository_token = REMOVED\n");
	redacts(";password=x\n", ";password= REMOVED\n");
}

static void test_everything_else_kept(void **state)
{
	static const char *const kept[] = {
		"repository_token_file = /home/r/bundle/repository.token\n",
		"broker_password_file = pw\n",
		"trusted_keys_dir = keys\n",
		"signing_key = /home/r/bundle/signing.key\n",
		"# a comment about the token\n",
		"[token]\n",
		"lr = 0.1\r\n",
		"a line without an equals sign\n",
		"\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		redacts(kept[i], kept[i]);
	redacts("", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_values_removed),
		cmocka_unit_test(test_everything_else_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
