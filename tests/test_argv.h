/* Argument vectors for execv(), posix_spawn() and getopt(), which take
 * char *const argv[] (for C's history: none of them writes the strings).
 * Tests build their vectors from const strings; test_argv_dup() hands those
 * functions a copy of mutable strings instead of a cast that drops const
 * (fedc builds with -Wcast-qual). Header-only: the unit tests and the
 * integration harness both include it. */
#ifndef FEDC_TEST_ARGV_H
#define FEDC_TEST_ARGV_H

#include <stdlib.h>
#include <string.h>

/* Frees a vector from test_argv_dup (NULL allowed). */
static inline void test_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* A NULL-terminated copy of the NULL-terminated `argv`: the caller frees it
 * with test_argv_free. NULL if out of memory. Make it before fork(), not in
 * the child. */
static inline char **test_argv_dup(const char *const *argv)
{
	size_t n = 0;
	char **copy;

	while (argv[n])
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	for (size_t i = 0; copy && i < n; i++) {
		copy[i] = strdup(argv[i]);
		if (!copy[i]) {
			test_argv_free(copy);
			return NULL;
		}
	}
	return copy;
}

#endif
