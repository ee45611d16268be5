/* The plan store (node/plan_store.c): the one place that builds the paths of
 * kept plans, for the CLI and the daemon alike. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "fedc/hash.h"
#include "plan_store.h"
#include "file_check.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char root[64];

static int make_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/fedc-plan-store-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int remove_root(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* The file `path` holds `text`. */
static void write_file(const char *path, const char *text)
{
	assert_int_equal(file_write(path, text), 0);
}

/* A relative data_dir gives an absolute store path, created 0700. */
static void test_open_absolute_and_private(void **state)
{
	char dir[NODE_PATH_MAX], cwd[NODE_PATH_MAX], expected[NODE_PATH_MAX];
	struct stat st;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(root), 0);
	assert_int_equal(plan_store__open("var/node", dir, sizeof(dir)), FEDC_OK);
	assert_int_equal(chdir(cwd), 0);
	snprintf(expected, sizeof(expected), "%s/var/node/plans", root);
	assert_string_equal(dir, expected);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_path_only_for_sha256(void **state)
{
	char path[NODE_PATH_MAX];

	(void)state;
	assert_int_equal(plan_store__path("/d", SHA_A, path, sizeof(path)), FEDC_OK);
	assert_string_equal(path, "/d/" SHA_A ".so");
	assert_int_equal(plan_store__path("/d", "../../etc/passwd", path, sizeof(path)), FEDC_ERR_INVAL);
	assert_int_equal(plan_store__path("/d", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", path,
					  sizeof(path)),
			 FEDC_ERR_INVAL);
}

/* keep: the copy is named by the SHA-256 of its bytes; over the cap, nothing stays. */
static void test_keep_names_copy_by_digest(void **state)
{
	char dir[NODE_PATH_MAX], src[NODE_PATH_MAX], kept[NODE_PATH_MAX], digest[FEDC_SHA256_HEXLEN + 1];
	char want[FEDC_SHA256_HEXLEN + 1], expected[NODE_PATH_MAX + 80], again[FEDC_SHA256_HEXLEN + 1];

	(void)state;
	assert_int_equal(plan_store__open(root, dir, sizeof(dir)), FEDC_OK);
	snprintf(src, sizeof(src), "%s/plan.so", root);
	write_file(src, "not really a shared object");
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, src, want), FEDC_OK);
	assert_int_equal(plan_store__keep(dir, src, 1024, digest, kept, sizeof(kept)), FEDC_OK);
	assert_string_equal(digest, want);
	snprintf(expected, sizeof(expected), "%s/%s.so", dir, want);
	assert_string_equal(kept, expected);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, kept, again), FEDC_OK);
	assert_string_equal(again, want);
	assert_int_equal(unlink(kept), 0);
	assert_int_equal(plan_store__keep(dir, src, 4, digest, kept, sizeof(kept)), FEDC_ERR_TOO_BIG);
	assert_int_equal(access(kept, F_OK), -1);
	assert_int_equal(rmdir(dir), 0); /* no temporary file left either */
}

static char keep_dir[NODE_PATH_MAX], keep_src[NODE_PATH_MAX];

/* Runs plan_store__keep(keep_dir, keep_src) in a child: after `crash_at`
 * (a FEDC_CRASH_AT value, or NULL) and under a file size limit of
 * `fsize` bytes (0: none). Returns the wait status; exit 0 when keep
 * failed with FEDC_ERR_IO. */
static int keep_in_child(const char *crash_at, rlim_t fsize)
{
	char kept[NODE_PATH_MAX + 80], digest[FEDC_SHA256_HEXLEN + 1];
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit lim = { fsize, fsize };

		if (crash_at)
			setenv("FEDC_CRASH_AT", crash_at, 1);
		signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG */
		if (fsize && setrlimit(RLIMIT_FSIZE, &lim) != 0)
			_exit(3);
		_exit(plan_store__keep(keep_dir, keep_src, 1 << 20, digest, kept, sizeof(kept)) == FEDC_ERR_IO ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* A node CLI killed while it keeps an approved plan leaves no temporary file
 * in the store (the copy has no name until it is complete). */
static void test_keep_killed_leaves_nothing(void **state)
{
	int status;

	(void)state;
	assert_int_equal(plan_store__open(root, keep_dir, sizeof(keep_dir)), FEDC_OK);
	snprintf(keep_src, sizeof(keep_src), "%s/plan.so", root);
	write_file(keep_src, "not really a shared object");
	status = keep_in_child("atomic-commit", 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(dir_entries(keep_dir), 0);
}

/* A copy that cannot be written whole (the file size limit, as a full disk)
 * leaves the copy kept before -- here a damaged one -- and nothing else. */
static void test_keep_write_fails_leaves_old_copy(void **state)
{
	char want[FEDC_SHA256_HEXLEN + 1], kept[NODE_PATH_MAX + 80], text[64] = { 0 };
	static char big[8192];
	int status;

	(void)state;
	assert_int_equal(plan_store__open(root, keep_dir, sizeof(keep_dir)), FEDC_OK);
	snprintf(keep_src, sizeof(keep_src), "%s/plan.so", root);
	memset(big, 'x', sizeof(big) - 1);
	write_file(keep_src, big);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, keep_src, want), FEDC_OK);
	snprintf(kept, sizeof(kept), "%s/%s.so", keep_dir, want);
	write_file(kept, "old copy");
	status = keep_in_child(NULL, 4096);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	file_text(kept, text, sizeof(text));
	assert_string_equal(text, "old copy");
	assert_int_equal(dir_entries(keep_dir), 1);
}

/* remove deletes a file of the store and nothing else, whatever the database says. */
static void test_remove_only_store_files(void **state)
{
	char dir[NODE_PATH_MAX], inside[NODE_PATH_MAX + 80], outside[NODE_PATH_MAX], sneaky[NODE_PATH_MAX + 80];

	(void)state;
	assert_int_equal(plan_store__open(root, dir, sizeof(dir)), FEDC_OK);
	snprintf(inside, sizeof(inside), "%s/%s.so", dir, SHA_A);
	snprintf(outside, sizeof(outside), "%s/%s.so", root, SHA_A);
	snprintf(sneaky, sizeof(sneaky), "%s/../%s.so", dir, SHA_A);
	write_file(inside, "x");
	write_file(outside, "x");
	assert_int_equal(plan_store__remove(dir, outside), FEDC_OK);
	assert_int_equal(plan_store__remove(dir, sneaky), FEDC_OK);
	assert_int_equal(access(outside, F_OK), 0);
	assert_int_equal(plan_store__remove(dir, inside), FEDC_OK);
	assert_int_equal(access(inside, F_OK), -1);
	assert_int_equal(plan_store__remove(dir, inside), FEDC_OK); /* gone already: fine */
}

/* A kept copy named `digest` holding `text`, as the CLI keeps one. */
static void keep_text(const char *dir, const char *text, char *digest, char *kept, size_t cap)
{
	char src[NODE_PATH_MAX];

	snprintf(src, sizeof(src), "%s/plan.so", root);
	write_file(src, text);
	assert_int_equal(plan_store__keep(dir, src, 1024, digest, kept, cap), FEDC_OK);
}

/* fetch with a memo: a copy that changed since the memo vouched for it is
 * hashed again (and, altered, downloaded: here from a repository that is not
 * there, so the fetch fails); a copy the memo describes is not hashed, so a
 * memo made up for bytes that do not hash right is believed; a copy changed
 * in the last seconds is not remembered. */
static void test_fetch_memo(void **state)
{
	char dir[NODE_PATH_MAX], kept[NODE_PATH_MAX + 80], path[NODE_PATH_MAX + 80], digest[FEDC_SHA256_HEXLEN + 1];
	struct plan_store_memo memo = { .sha256 = "" };
	struct fedc_repo *repo = NULL;
	struct stat st;

	(void)state;
	assert_int_equal(fedc_repo_new("http://127.0.0.1:9", NULL, 5, &repo), FEDC_OK);
	assert_int_equal(plan_store__open(root, dir, sizeof(dir)), FEDC_OK);
	keep_text(dir, "the plan's bytes", digest, kept, sizeof(kept));
	/* just written: fetched, hashed, not remembered */
	assert_int_equal(plan_store__fetch(dir, repo, digest, 1024, &memo, path, sizeof(path)), FEDC_OK);
	assert_string_equal(path, kept);
	assert_string_equal(memo.sha256, "");
	sleep(3);
	assert_int_equal(plan_store__fetch(dir, repo, digest, 1024, &memo, path, sizeof(path)), FEDC_OK);
	assert_string_equal(memo.sha256, digest);
	/* altered in place, same size: its ctime moved, so it is hashed and refused */
	write_file(kept, "the plan's bytez");
	assert_int_not_equal(plan_store__fetch(dir, repo, digest, 1024, &memo, path, sizeof(path)), FEDC_OK);
	assert_string_equal(memo.sha256, "");
	/* the memo is what saves the hash: one that matches the file is believed */
	assert_int_equal(stat(kept, &st), 0);
	snprintf(memo.sha256, sizeof(memo.sha256), "%s", digest);
	memo.dev = st.st_dev;
	memo.ino = st.st_ino;
	memo.size = st.st_size;
	memo.mtime = st.st_mtim;
	memo.ctime = st.st_ctim;
	assert_int_equal(plan_store__fetch(dir, repo, digest, 1024, &memo, path, sizeof(path)), FEDC_OK);
	/* without a memo, as before */
	assert_int_not_equal(plan_store__fetch(dir, repo, digest, 1024, NULL, path, sizeof(path)), FEDC_OK);
	fedc_repo_free(repo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_absolute_and_private, make_root, remove_root),
		cmocka_unit_test(test_path_only_for_sha256),
		cmocka_unit_test_setup_teardown(test_keep_names_copy_by_digest, make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_remove_only_store_files, make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_keep_killed_leaves_nothing, make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_keep_write_fails_leaves_old_copy, make_root, remove_root),
		cmocka_unit_test_setup_teardown(test_fetch_memo, make_root, remove_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
