/* Logging (fedc/log.h): one line per event; under systemd, when stderr is
 * the journal's stream (JOURNAL_STREAM names its device and inode), each
 * line starts with its syslog priority <N> so that `journalctl -p` filters
 * by level; anywhere else it does not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/log.h"

/* What fedc_log wrote into a fresh file, with JOURNAL_STREAM set to `env`
 * (NULL: unset; "self": the file's own device and inode). */
static void logged(const char *env, enum fedc_log_level level, char *out, size_t cap)
{
	char path[] = "/tmp/fedc-test-log-XXXXXX", self[64];
	int fd = mkstemp(path);
	struct stat st;
	ssize_t n;

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(fstat(fd, &st), 0);
	snprintf(self, sizeof(self), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	if (env)
		setenv("JOURNAL_STREAM", strcmp(env, "self") == 0 ? self : env, 1);
	else
		unsetenv("JOURNAL_STREAM");
	fedc_log_init("test", FEDC_LOG_DEBUG, fd);
	fedc_log(level, "hello %d", 7);
	n = pread(fd, out, cap - 1, 0);
	assert_true(n > 0);
	out[n] = '\0';
	fedc_log_init("test", FEDC_LOG_INFO, 2);
	close(fd);
}

static void test_journal_stream_gets_priorities(void **state)
{
	static const struct { enum fedc_log_level level; const char *prefix, *name; } cases[] = {
		{ FEDC_LOG_DEBUG, "<7>", "DEBUG" }, { FEDC_LOG_INFO, "<6>", "INFO" },
		{ FEDC_LOG_WARN, "<4>", "WARN" }, { FEDC_LOG_ERROR, "<3>", "ERROR" },
	};
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		logged("self", cases[i].level, out, sizeof(out));
		assert_memory_equal(out, cases[i].prefix, 3);
		assert_non_null(strstr(out, cases[i].name));
		assert_non_null(strstr(out, "test: hello 7\n"));
	}
}

static void test_other_streams_get_none(void **state)
{
	static const char *const envs[] = { NULL, "1:2", "12", "self-not", "1:2:3", "" };
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		logged(envs[i], FEDC_LOG_WARN, out, sizeof(out));
		assert_true(out[0] >= '0' && out[0] <= '9'); /* the timestamp first */
		assert_non_null(strstr(out, " WARN test: hello 7\n"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_stream_gets_priorities),
		cmocka_unit_test(test_other_streams_get_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
