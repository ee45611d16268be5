/* Test helper shared by test_repo.c and test_repository_server.c: runs the
 * REAL fedc-repository binary (from FEDC_BIN_DIR) on a free loopback port
 * (--port 0 --port-file) over a store in a fresh mkdtemp directory.
 *
 * Every server started is registered: the cmocka group teardown stops it, and
 * an atexit() handler stops whatever is left (a failed assertion, an early
 * exit) and removes the temp directories. The child also gets
 * PR_SET_PDEATHSIG, so even a crashed test leaves no server behind.
 *
 * Header-only (static functions) because each tests/unit/test_*.c is its own
 * executable; include it once per test file, after _GNU_SOURCE. */
#ifndef FEDC_TEST_REPO_SERVER_HARNESS_H
#define FEDC_TEST_REPO_SERVER_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fedc/params.h"
#include "../test_argv.h"

#define HARNESS_REPOSITORY_BIN FEDC_BIN_DIR "/fedc-repository"
#define HARNESS_MAX_SERVERS 8
#define HARNESS_MAX_DIRS 16
/* Each test file uses a different subset of these helpers. */
#define HARNESS_FN __attribute__((unused)) static

struct test_server {
	pid_t pid;              /* 0 when not running */
	int port;
	char dir[PATH_MAX];     /* temp dir: store/, port, server.log */
	char store[PATH_MAX];   /* the store directory */
	char log[PATH_MAX];     /* the server's stdout and stderr */
	char url[64];           /* http://127.0.0.1:<port> */
};

static struct test_server *harness_servers[HARNESS_MAX_SERVERS];
static char harness_dirs[HARNESS_MAX_DIRS][PATH_MAX];
static bool harness_atexit_done;

HARNESS_FN void harness_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

HARNESS_FN int harness_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* rm -rf, without following symlinks. */
HARNESS_FN void harness_rm_rf(const char *path)
{
	if (path[0])
		(void)nftw(path, harness_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int harness_count_total;

HARNESS_FN int harness_count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(sb->st_mode))
		harness_count_total++;
	return 0;
}

/* Regular files under `dir`, recursively (0 if it does not exist). */
HARNESS_FN int harness_count_files(const char *dir)
{
	harness_count_total = 0;
	(void)nftw(dir, harness_count_entry, 16, FTW_PHYS);
	return harness_count_total;
}

/* Waits up to `ms` for the child; returns its wait status, or -1 if it is
 * still running. */
HARNESS_FN int harness_wait(pid_t pid, long ms)
{
	int status = 0;

	for (long waited = 0;; waited += 20) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= ms)
			return -1;
		harness_sleep_ms(20);
	}
}

HARNESS_FN void harness_print_file(const char *path);

/* SIGTERM, then SIGKILL after 5 s. Returns the exit code (128+signal when
 * killed), or -1 if it was not running. */
HARNESS_FN int test_server_stop(struct test_server *s)
{
	int status, code = -1;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		status = harness_wait(s->pid, 5000);
		if (status == -1) {
			kill(s->pid, SIGKILL);
			status = harness_wait(s->pid, 5000);
		}
		if (status != -1)
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		s->pid = 0;
	}
	return code;
}

/* Stops the server, removes its directory and forgets it. Returns the exit
 * code (see test_server_stop()); when the server failed (above 0) its output is
 * printed first (a sanitizer report, say). */
HARNESS_FN int test_server_destroy(struct test_server *s)
{
	int code = test_server_stop(s);

	if (code > 0 && s->log[0]) {
		fprintf(stderr, "fedc-repository exited with %d; its output:\n", code);
		harness_print_file(s->log);
	}
	harness_rm_rf(s->dir);
	s->dir[0] = '\0';
	s->log[0] = '\0';
	for (int i = 0; i < HARNESS_MAX_SERVERS; i++) {
		if (harness_servers[i] == s)
			harness_servers[i] = NULL;
	}
	return code;
}

HARNESS_FN void harness_cleanup_all(void)
{
	for (int i = 0; i < HARNESS_MAX_SERVERS; i++) {
		if (harness_servers[i])
			test_server_destroy(harness_servers[i]);
	}
	for (int i = 0; i < HARNESS_MAX_DIRS; i++) {
		harness_rm_rf(harness_dirs[i]);
		harness_dirs[i][0] = '\0';
	}
}

HARNESS_FN void harness_register_atexit(void)
{
	if (!harness_atexit_done) {
		atexit(harness_cleanup_all);
		harness_atexit_done = true;
	}
}

/* A fresh temp directory, removed at exit. Returns 0 or -1. */
HARNESS_FN int harness_mkdtemp(char *out, size_t cap)
{
	int slot = -1;

	harness_register_atexit();
	for (int i = 0; i < HARNESS_MAX_DIRS && slot < 0; i++) {
		if (!harness_dirs[i][0])
			slot = i;
	}
	if (slot < 0 || (size_t)snprintf(out, cap, "/tmp/fedc-test-repo-XXXXXX") >= cap || !mkdtemp(out))
		return -1;
	snprintf(harness_dirs[slot], PATH_MAX, "%s", out);
	return 0;
}

/* Removes a directory made by harness_mkdtemp() and frees its slot. */
HARNESS_FN void harness_rmdtemp(const char *dir)
{
	for (int i = 0; i < HARNESS_MAX_DIRS; i++) {
		if (harness_dirs[i][0] && strcmp(harness_dirs[i], dir) == 0)
			harness_dirs[i][0] = '\0';
	}
	harness_rm_rf(dir);
}

HARNESS_FN void harness_print_file(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Child side: output to `log`, die with the test process, exec. */
HARNESS_FN void harness_exec(char *const argv[], const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Reads the port file once the server wrote it; 0 if not there yet. */
HARNESS_FN int harness_read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

/* Starts fedc-repository with `--store <dir>/store --port 0 --port-file ...`
 * followed by `extra` (NULL-terminated, may be NULL). Returns 0 when it
 * listens, -1 (after printing its log) when it did not within 10 s. */
HARNESS_FN int test_server_start(struct test_server *s, const char *const *extra)
{
	char port_file[PATH_MAX + 8];
	const char *argv[32];
	char **exec_argv;
	int argc = 0, slot = -1;

	memset(s, 0, sizeof(*s));
	harness_register_atexit();
	for (int i = 0; i < HARNESS_MAX_SERVERS && slot < 0; i++) {
		if (!harness_servers[i])
			slot = i;
	}
	if (slot < 0)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/fedc-test-repo-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	harness_servers[slot] = s;
	snprintf(s->store, sizeof(s->store), "%.4000s/store", s->dir);
	snprintf(s->log, sizeof(s->log), "%.4000s/server.log", s->dir);
	snprintf(port_file, sizeof(port_file), "%s/port", s->dir);
	argv[argc++] = HARNESS_REPOSITORY_BIN;
	argv[argc++] = "--store";
	argv[argc++] = s->store;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--port-file";
	argv[argc++] = port_file;
	for (int i = 0; extra && extra[i] && argc < 31; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	exec_argv = test_argv_dup(argv);
	s->pid = exec_argv ? fork() : -1;
	if (s->pid == 0)
		harness_exec(exec_argv, s->log);
	test_argv_free(exec_argv);
	if (s->pid < 0) {
		s->pid = 0;
		return -1;
	}
	for (int waited = 0; waited < 10000; waited += 20) {
		s->port = harness_read_port(port_file);
		if (s->port > 0) {
			snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
			return 0;
		}
		if (harness_wait(s->pid, 0) != -1) {
			s->pid = 0; /* exited */
			break;
		}
		harness_sleep_ms(20);
	}
	fprintf(stderr, "fedc-repository did not start; its output:\n");
	harness_print_file(s->log);
	return -1;
}

/* Runs fedc-repository with `args` (NULL-terminated, after argv[0]) and waits
 * up to 10 s for it to exit. Its stdout+stderr land in `output`. Returns the
 * exit code, or -1 (killed) if it did not exit. */
HARNESS_FN int harness_run_repository(const char *const *args, char *output, size_t cap)
{
	char dir[PATH_MAX], log[PATH_MAX + 16];
	const char *argv[32];
	char **exec_argv;
	int argc = 0, status, code = -1;
	FILE *f;
	size_t n = 0;
	pid_t pid;

	output[0] = '\0';
	if (harness_mkdtemp(dir, sizeof(dir)) != 0)
		return -1;
	snprintf(log, sizeof(log), "%s/out.log", dir);
	argv[argc++] = HARNESS_REPOSITORY_BIN;
	for (int i = 0; args[i] && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	exec_argv = test_argv_dup(argv);
	pid = exec_argv ? fork() : -1;
	if (pid == 0)
		harness_exec(exec_argv, log);
	test_argv_free(exec_argv);
	if (pid < 0)
		return -1;
	status = harness_wait(pid, 10000);
	if (status == -1) {
		kill(pid, SIGKILL);
		harness_wait(pid, 5000);
	} else if (WIFEXITED(status)) {
		code = WEXITSTATUS(status);
	}
	f = fopen(log, "r");
	if (f) {
		n = fread(output, 1, cap - 1, f);
		fclose(f);
	}
	output[n] = '\0';
	harness_rmdtemp(dir);
	return code;
}

/* Writes `len` bytes to <dir>/<name>; the path goes to `path`. Returns 0 or -1. */
HARNESS_FN int harness_write_file(const char *dir, const char *name, const void *data, size_t len,
			      char *path, size_t cap)
{
	FILE *f;
	int ok;

	if ((size_t)snprintf(path, cap, "%s/%s", dir, name) >= cap)
		return -1;
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Deterministic pseudo-random bytes (xorshift64), so that failures replay. */
HARNESS_FN void harness_fill(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed ? seed : 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

/* A valid fedc parameter file (one float32 tensor "w" of `n` finite values
 * drawn from `seed`): what the repository accepts as a node's update. The
 * caller frees the result; *len is its size. */
HARNESS_FN unsigned char *harness_params_blob(size_t n, uint64_t seed, size_t *len)
{
	float *values = malloc((n ? n : 1) * sizeof(float));
	struct fedc_tensor t = { .name = "w", .dtype = FEDC_DTYPE_F32, .ndim = 1, .shape = { n }, .data = values };
	unsigned char *out = NULL;
	uint64_t x = seed ? seed : 0x9e3779b97f4a7c15ull;
	struct stat sb;
	int fd = memfd_create("params", MFD_CLOEXEC);

	*len = 0;
	for (size_t i = 0; values && i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		values[i] = (float)(x % 20001) / 1000.0f - 10.0f;
	}
	if (values && fd >= 0 && fedc_params_write_fd(fd, &t, 1) == FEDC_OK && fstat(fd, &sb) == 0 &&
	    (out = malloc((size_t)sb.st_size)) != NULL && pread(fd, out, (size_t)sb.st_size, 0) == sb.st_size)
		*len = (size_t)sb.st_size;
	if (fd >= 0)
		close(fd);
	free(values);
	return out;
}

/* A small update named by `label` (its seed): distinct labels, distinct bytes. */
HARNESS_FN unsigned char *harness_update_blob(const char *label, size_t *len)
{
	uint64_t seed = 5381;

	for (const char *c = label; *c; c++)
		seed = seed * 33 + (unsigned char)*c;
	return harness_params_blob(64, seed, len);
}

#endif
