/* Fault-injection points (see crash.h). Built only with FEDC_TEST_HOOKS
 * (common/CMakeLists.txt leaves this file out otherwise); the guard keeps a
 * hooks-off compile of it empty too (tests/hooks). */
#include "fedc/crash.h"

#ifdef FEDC_TEST_HOOKS

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long passes;

void fedc_crash_point(const char *name)
{
	const char *spec = getenv("FEDC_CRASH_AT");
	size_t len = strlen(name);
	long want = 1;

	if (!spec || strncmp(spec, name, len) != 0 || (spec[len] != '\0' && spec[len] != ':'))
		return;
	if (spec[len] == ':')
		want = strtol(spec + len + 1, NULL, 10);
	if (atomic_fetch_add(&passes, 1) + 1 == want)
		kill(getpid(), SIGKILL);
}

#endif
