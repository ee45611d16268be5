/* Atomic file replacement (fedc_atomic_file in fedc/fs.h): a failure at each
 * step -- the directory not writable, a path too long, a write refused, the
 * rename refused, the process killed before the rename -- leaves no
 * temporary file and the old file intact; a commit replaces it whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "file_check.h"

static char dir[64], target[128];

static int make_dir(void **state)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/fedc-fs-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(target, sizeof(target), "%s/state.bin", dir);
	f = fopen(target, "w");
	if (!f)
		return -1;
	fputs("old content", f);
	return fclose(f) == 0 ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[192];

	snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Entries of `dir` other than . and .. */
static int entries(void)
{
	return dir_entries(dir);
}

static void assert_old_intact(void)
{
	char buf[64] = { 0 };
	FILE *f = fopen(target, "r");

	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 11);
	fclose(f);
	assert_string_equal(buf, "old content");
	assert_int_equal(entries(), 1); /* state.bin alone: no temporary file */
}

static void test_commit_replaces_whole(void **state)
{
	struct fedc_atomic_file af;
	struct stat st;
	char buf[16] = { 0 };
	FILE *f;

	assert_int_equal(fedc_atomic_begin(&af, target, 0640), FEDC_OK);
	assert_int_equal(fedc_write_all(af.fd, "new", 3, "test"), FEDC_OK);
	assert_old_intact(); /* nothing visible before commit */
	assert_int_equal(fedc_atomic_commit(&af), FEDC_OK);
	assert_int_equal(af.fd, -1);
	f = fopen(target, "r");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 3);
	fclose(f);
	assert_string_equal(buf, "new");
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(entries(), 1);
	fedc_atomic_abort(&af); /* harmless after commit */
	assert_int_equal(entries(), 1);
}

static void test_abort_leaves_old(void **state)
{
	struct fedc_atomic_file af;

	assert_int_equal(fedc_atomic_begin(&af, target, 0644), FEDC_OK);
	assert_int_equal(fedc_write_all(af.fd, "half", 4, "test"), FEDC_OK);
	fedc_atomic_abort(&af);
	fedc_atomic_abort(&af); /* idempotent */
	assert_old_intact();
}

static void test_begin_path_too_long(void **state)
{
	struct fedc_atomic_file af;
	char *path = malloc(PATH_MAX + 10);

	assert_non_null(path);
	/* fits PATH_MAX, but not with the temporary name's suffix */
	memset(path, 'a', PATH_MAX - 4);
	memcpy(path, dir, strlen(dir));
	path[strlen(dir)] = '/';
	path[PATH_MAX - 4] = '\0';
	assert_int_equal(fedc_atomic_begin(&af, path, 0644), FEDC_ERR_INVAL);
	assert_int_equal(af.fd, -1);
	fedc_atomic_abort(&af);
	assert_int_equal(fedc_write_atomic(path, "x", 1), FEDC_ERR_INVAL);
	free(path);
	assert_int_equal(fedc_atomic_begin(&af, "", 0644), FEDC_ERR_INVAL);
	assert_int_equal(fedc_write_atomic("/tmp/", "x", 1), FEDC_ERR_INVAL);
	assert_old_intact();
}

static void test_begin_missing_directory(void **state)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/no-such-dir/state.bin", dir);
	assert_int_equal(fedc_write_atomic(path, "x", 1), FEDC_ERR_IO);
	assert_old_intact();
}

/* Runs `fn` in a child process and returns its wait status. */
static int in_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void write_as_nobody(void)
{
	/* root writes anywhere: drop to nobody to meet the permission check */
	if (geteuid() == 0 && setuid(65534) != 0)
		_exit(3);
	_exit(fedc_write_atomic(target, "new", 3) == FEDC_ERR_IO ? 0 : 1);
}

static void test_read_only_directory(void **state)
{
	int status;

	assert_int_equal(chmod(dir, 0555), 0);
	status = in_child(write_as_nobody);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_old_intact();
}

static void write_over_size_limit(void)
{
	struct rlimit lim = { 4096, 4096 };
	static char big[65536];

	signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG */
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		_exit(3);
	_exit(fedc_write_atomic(target, big, sizeof(big)) == FEDC_ERR_IO ? 0 : 1);
}

static void test_write_fails(void **state)
{
	int status = in_child(write_over_size_limit);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_old_intact();
}

static void test_rename_fails(void **state)
{
	char sub[160], inside[200];
	struct fedc_atomic_file af;

	/* a non-empty directory where the file should go: rename() refuses */
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(inside, sizeof(inside), "%s/keep", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(fedc_write_atomic(inside, "k", 1), FEDC_OK);
	assert_int_equal(fedc_atomic_begin(&af, sub, 0644), FEDC_OK);
	assert_int_equal(fedc_write_all(af.fd, "new", 3, "test"), FEDC_OK);
	assert_int_equal(fedc_atomic_commit(&af), FEDC_ERR_IO);
	assert_int_equal(af.fd, -1);
	assert_int_equal(unlink(inside), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_old_intact();
}

static void killed_before_rename(void)
{
	setenv("FEDC_CRASH_AT", "atomic-commit", 1);
	/* no result to look at: the crash point kills the process inside */
	fedc_ignore(fedc_write_atomic(target, "new content, never seen", 23));
	_exit(1); /* not reached: the crash point kills the process */
}

/* A process killed mid-write leaves no temporary file behind (the researcher
 * killed while saving its aggregator state left .aggregator.state.XXXXXX). */
static void test_killed_before_rename_leaves_nothing(void **state)
{
	int status = in_child(killed_before_rename);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_old_intact();
}

/* fedc_copy_atomic: the copy replaces the file whole with its mode. */
static void test_copy_replaces_whole(void **state)
{
	char src[160], buf[16];
	struct stat st;

	snprintf(src, sizeof(src), "%s/src.bin", dir);
	assert_int_equal(fedc_write_atomic(src, "copied", 6), FEDC_OK);
	assert_int_equal(fedc_copy_atomic(src, target, 0640), FEDC_OK);
	assert_int_equal(file_text(target, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "copied");
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(entries(), 2); /* src.bin and state.bin */
}

static void test_copy_missing_source_leaves_old(void **state)
{
	char src[160];

	snprintf(src, sizeof(src), "%s/no-such-file", dir);
	assert_int_equal(fedc_copy_atomic(src, target, 0644), FEDC_ERR_IO);
	assert_old_intact();
}

static void copy_over_size_limit(void)
{
	struct rlimit lim = { 4096, 4096 };
	char src[160];
	static char big[65536];

	snprintf(src, sizeof(src), "%s/big.bin", dir);
	if (fedc_write_atomic(src, big, sizeof(big)) != FEDC_OK)
		_exit(3);
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		_exit(3);
	if (fedc_copy_atomic(src, target, 0644) != FEDC_ERR_IO)
		_exit(1);
	_exit(unlink(src) == 0 ? 0 : 4);
}

static void test_copy_write_fails_leaves_old(void **state)
{
	int status = in_child(copy_over_size_limit);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_old_intact();
}

/* fedc_read_all_at_zero: the whole file from offset 0, position kept; a
 * file shorter than asked is an error naming it. */
static void test_read_all_at_zero(void **state)
{
	FILE *f = tmpfile();
	char buf[16] = "";

	(void)state;
	assert_non_null(f);
	assert_int_equal(fedc_write_all(fileno(f), "0123456789", 10, "test"), FEDC_OK);
	assert_int_equal(fedc_read_all_at_zero(fileno(f), buf, 10, "test"), FEDC_OK);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(lseek(fileno(f), 0, SEEK_CUR), 10);
	assert_int_equal(fedc_read_all_at_zero(fileno(f), buf, 11, "the test file"), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "the test file"));
	assert_non_null(strstr(fedc_last_error(), "shrank"));
	assert_int_equal(fedc_read_all_at_zero(-1, buf, 1, "test"), FEDC_ERR_IO);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_replaces_whole, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_abort_leaves_old, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_begin_path_too_long, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_begin_missing_directory, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_read_only_directory, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_write_fails, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_rename_fails, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_killed_before_rename_leaves_nothing, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_copy_replaces_whole, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_copy_missing_source_leaves_old, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_copy_write_fails_leaves_old, make_dir, remove_dir),
		cmocka_unit_test(test_read_all_at_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
