/* Helpers shared by the fuzz harnesses (see fuzz.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/log.h"

static char tmpdir[PATH_MAX];

void fuzz_require(bool ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz: property broken: %s\n", what);
	abort();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* rm -rf of our own directory, without following symlinks. */
static void remove_tmpdir(void)
{
	if (tmpdir[0])
		(void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

const char *fuzz_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (tmpdir[0])
		return tmpdir;
	if (!base || !base[0])
		base = "/tmp";
	if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/fedc-fuzz-XXXXXX", base) >= sizeof(tmpdir) ||
	    !mkdtemp(tmpdir)) {
		fprintf(stderr, "fuzz: cannot make a temp directory under %s: %s\n", base, strerror(errno));
		abort();
	}
	atexit(remove_tmpdir);
	return tmpdir;
}

static bool write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

void fuzz_write_file(const char *name, const void *data, size_t len, char *path)
{
	int fd;
	bool ok;

	if ((size_t)snprintf(path, PATH_MAX, "%s/%s", fuzz_tmpdir(), name) >= PATH_MAX)
		fuzz_require(false, "temp path too long");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fuzz_require(fd >= 0, "cannot create an input file in the temp directory");
	ok = write_all(fd, data, len);
	ok = close(fd) == 0 && ok;
	fuzz_require(ok, "cannot write an input file in the temp directory");
}

void fuzz_quiet_logs(void)
{
	fedc_log_init("fuzz", FEDC_LOG_ERROR, 2);
}
