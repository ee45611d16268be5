/* Helpers for unit tests that check what a failed write left on disk: no
 * temporary file beside the target, and the old content intact (and that
 * put the old content there).
 * Header-only: each test is its own program. */
#ifndef FEDC_TEST_FILE_CHECK_H
#define FEDC_TEST_FILE_CHECK_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

/* Entries of `dir` other than . and ..; -1 if it cannot be read. */
static inline int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* The first cap-1 bytes of `path` into buf, NUL-terminated ("" if it
 * cannot be read); the number of bytes read. */
static inline size_t file_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return n;
}

/* Writes `text` as the file `path`; 0, or -1 if it cannot. */
static inline int file_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Writes `text` as the file `dir`/`name`; 0, or -1 if it cannot. */
static inline int file_put_text(const char *dir, const char *name, const char *text)
{
	char path[4352];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -1;
	return file_write(path, text);
}

#endif
