/* The output directory's lock and stop request (see run_control.h). */
#include "run_control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/fs.h"

#define LOCK_FILE "researcher.lock"
#define STOP_FILE "stop.request"

static enum fedc_err path_in(char *out, size_t cap, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "output directory path too long: %s", dir);
	return FEDC_OK;
}

/* The pid written in the lock file, 0 when it holds none. */
static pid_t read_pid(int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	pid = strtol(text, &end, 10);
	return pid > 0 && (*end == '\n' || *end == '\0') ? (pid_t)pid : 0;
}

static enum fedc_err write_pid(int fd, const char *path)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n)
		return fedc_fail(FEDC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return FEDC_OK;
}

enum fedc_err run_control__lock(const char *output_dir, bool create)
{
	char path[PATH_MAX], stop[PATH_MAX];
	enum fedc_err rc = path_in(path, sizeof(path), output_dir, LOCK_FILE);
	int fd = -1;

	if (!rc)
		rc = path_in(stop, sizeof(stop), output_dir, STOP_FILE);
	if (!rc && create)
		rc = fedc_mkdir_p(output_dir, 0755);
	if (!rc && !create && access(output_dir, F_OK) != 0)
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "%s: %s", output_dir, strerror(errno));
	if (rc)
		return rc;
	/* O_CLOEXEC: the plan compiler and other children must not keep it */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		pid_t pid = read_pid(fd);

		close(fd);
		if (err != EWOULDBLOCK)
			return fedc_fail(FEDC_ERR_IO, "cannot lock %s: %s", path, strerror(err));
		return fedc_fail(FEDC_ERR_EXISTS,
				 "%s is in use by a researcher still running there (pid %ld). See how it does with\n"
				 "  fedc-researcher status %s\nend it after its current round with\n"
				 "  fedc-researcher stop %s\nor give this run another directory with --output DIR",
				 output_dir, (long)pid, output_dir, output_dir);
	}
	rc = write_pid(fd, path);
	if (rc) {
		close(fd);
		return rc;
	}
	if (unlink(stop) != 0 && errno != ENOENT) {
		close(fd);
		return fedc_fail(FEDC_ERR_IO, "cannot remove the stale %s: %s", stop, strerror(errno));
	}
	return FEDC_OK; /* fd stays open: the lock lasts as long as the process */
}

bool run_control__live(const char *output_dir, pid_t *pid)
{
	char path[PATH_MAX];
	bool live = false;
	int fd;

	*pid = 0;
	if (path_in(path, sizeof(path), output_dir, LOCK_FILE) != FEDC_OK)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	*pid = read_pid(fd);
	/* A shared lock is refused only while the runner holds its exclusive one. */
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		live = errno == EWOULDBLOCK;
	close(fd); /* drops the shared lock if it was had */
	return live;
}

enum fedc_err run_control__request_stop(const char *output_dir)
{
	char path[PATH_MAX], text[64];
	pid_t pid;
	enum fedc_err rc = path_in(path, sizeof(path), output_dir, STOP_FILE);
	int n;

	if (rc)
		return rc;
	if (!run_control__live(output_dir, &pid))
		return fedc_fail(FEDC_ERR_NOT_FOUND, "no researcher is running in %s", output_dir);
	n = snprintf(text, sizeof(text), "stop %ld\n", (long)pid);
	return fedc_write_atomic(path, text, (size_t)n);
}

bool run_control__stop_requested(const char *output_dir)
{
	char path[PATH_MAX];

	return path_in(path, sizeof(path), output_dir, STOP_FILE) == FEDC_OK && access(path, F_OK) == 0;
}

void run_control__end(const char *output_dir)
{
	char path[PATH_MAX];

	if (path_in(path, sizeof(path), output_dir, STOP_FILE) == FEDC_OK)
		(void)unlink(path);
}
