/* Helpers for unit tests that check what a module printed to a FILE (a
 * tmpfile standing for stdout). Header-only: each test is its own program. */
#ifndef FEDC_TEST_TEXT_CAPTURE_H
#define FEDC_TEST_TEXT_CAPTURE_H

#include <stdio.h>
#include <string.h>

/* Everything written to `f` so far, as a string (static buffer of 16 KiB). */
static inline const char *capture_contents(FILE *f)
{
	static char buf[16384];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

/* How many times `needle` occurs in `text` (overlaps counted). */
static inline size_t capture_count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#endif
