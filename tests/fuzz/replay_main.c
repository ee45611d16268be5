/* Replays corpus files through a harness without libFuzzer (gcc builds,
 * ctest -L fuzz): every regular file of each directory given, in name order,
 * goes once to LLVMFuzzerTestOneInput(). A missing directory counts as
 * empty (git keeps no empty regressions/<name>/), but no input at all is an
 * error: a replay test that tests nothing must not pass. A file named on the
 * command line is replayed too, to reproduce one input under a debugger. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Whole files only; the corpora hold small ones (docs/fuzzing.md). */
#define REPLAY_MAX_BYTES (64u << 20)

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long size;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || (unsigned long)size > REPLAY_MAX_BYTES ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: unreadable or over %u bytes\n", path, REPLAY_MAX_BYTES);
		goto out;
	}
	/* One byte more than needed, so that an empty file still gets a
	 * non-NULL pointer, as libFuzzer gives. */
	buf = malloc((size_t)size + 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Hidden files and READMEs are not inputs. */
static int is_input(const struct dirent *e)
{
	return e->d_name[0] != '.' && strncmp(e->d_name, "README", 6) != 0;
}

static int replay_dir(const char *dir, unsigned *count)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, is_input, by_name);
	int rc = 0;

	if (n < 0)
		return errno == ENOENT ? 0 : -1;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;

		if (rc == 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(path);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(argv[i]);
			count++;
		} else {
			rc = replay_dir(argv[i], &count);
		}
		if (rc) {
			fprintf(stderr, "replay: %s: failed\n", argv[i]);
			return 1;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("replay: %u inputs, no failure\n", count);
	return 0;
}
