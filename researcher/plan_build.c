/* Compiling a plan from source (see plan_build.h). */
#include "plan_build.h"

#include "experiment.h"
#include "fedc/fs.h"
#include "install_dirs.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

bool plan_build__is_source(const char *path)
{
	size_t n = strlen(path);

	return n > 2 && strcmp(path + n - 2, ".c") == 0;
}

/* This installation's fedcplan.pc first (install_dirs.h: the build tree's
 * or the install's, beside the executable, or $FEDC_SDK_PC_PATH), then
 * wherever PKG_CONFIG_PATH and pkg-config's defaults find one. */
static void set_pkg_config_path(void)
{
	const char *old = getenv("PKG_CONFIG_PATH");
	char dir[4096];
	char value[8192];

	if (install_dirs__find(INSTALL_DIRS_SDK_PC, "fedcplan.pc", dir, sizeof(dir)) != FEDC_OK)
		return;
	snprintf(value, sizeof(value), "%s%s%s", dir, old && old[0] ? ":" : "", old ? old : "");
	setenv("PKG_CONFIG_PATH", value, 1);
}

/* Appends the head of the compiler's log to the error detail. */
static enum fedc_err compile_failed(const char *source, const char *log, int status)
{
	char text[640] = "";
	FILE *f = fopen(log, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	if (f)
		fclose(f);
	text[n] = '\0';
	return fedc_fail(FEDC_ERR_PLAN, "cannot compile the plan %s (%s %d); the compiler said:\n%s(all of it in %s)",
			 source, WIFEXITED(status) ? "exit code" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), text, log);
}

/* Makes a private scratch directory "<dir of out_so>/.plan-build.XXXXXX"
 * (0700, a fresh name: nothing planted there can redirect the compiler's
 * output) and names the compiler's output file in it. */
static enum fedc_err make_scratch(const char *out_so, char *scratch, char *built, size_t cap)
{
	const char *slash = strrchr(out_so, '/');
	int dir_len = slash ? (int)(slash - out_so) : 1;

	if ((size_t)snprintf(scratch, cap, "%.*s/.plan-build.XXXXXX/plan.so", dir_len, slash ? out_so : ".") >= cap)
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s", out_so);
	*strrchr(scratch, '/') = '\0';
	if (!mkdtemp(scratch)) {
		scratch[0] = '\0';
		return fedc_fail(FEDC_ERR_IO, "cannot create a directory to compile the plan in beside %s: %s", out_so,
				 strerror(errno));
	}
	snprintf(built, cap, "%s/plan.so", scratch);
	return FEDC_OK;
}

enum fedc_err plan_build__compile(const char *source, const char *out_so)
{
	/* Paths travel as positional parameters, never pasted into the script. */
	/* posix_spawn takes char *const argv[]: the script and the source path
	 * are copied into arrays of this frame rather than cast from const. */
	char script[] = "exec ${FEDC_CC:-cc} -std=c11 -O2 -shared -fPIC -fvisibility=hidden \"$1\" "
			"-o \"$2\" $(pkg-config --cflags --libs fedcplan) > \"$3\" 2>&1";
	char src[4200], scratch[4200] = "", built[4200], log[4200];
	char *argv[] = { "sh", "-c", script, "sh", src, built, log, NULL };
	enum fedc_err rc = FEDC_OK;
	pid_t pid;
	int status = 0;

	if (access(source, R_OK) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot read the plan source %s: %s", source, strerror(errno));
	if ((size_t)snprintf(src, sizeof(src), "%s", source) >= sizeof(src))
		return fedc_fail(FEDC_ERR_INVAL, "plan source path too long: %s", source);
	if ((size_t)snprintf(log, sizeof(log), "%s.log", out_so) >= sizeof(log))
		return fedc_fail(FEDC_ERR_INVAL, "path too long: %s", out_so);
	rc = make_scratch(out_so, scratch, built, sizeof(built));
	if (rc)
		goto out;
	set_pkg_config_path();
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot start /bin/sh to compile %s: %s", source, strerror(errno));
		goto out;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		rc = compile_failed(source, log, status);
	else
		rc = fedc_copy_atomic(built, out_so, 0755);
out:
	/* the compiler writes its own temporary files into $TMPDIR: the
	 * scratch directory holds its output alone, if anything */
	if (scratch[0] && ((unlink(built) != 0 && errno != ENOENT) || rmdir(scratch) != 0) && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "cannot remove %s: %s", scratch, strerror(errno));
	return rc;
}

enum fedc_err plan_build__prepare(struct experiment *exp, bool reuse)
{
	char out[EXP_PATH_MAX + 16];
	enum fedc_err rc;

	if (!plan_build__is_source(exp->plan_path))
		return FEDC_OK;
	if ((size_t)snprintf(out, sizeof(out), "%s/plan.so", exp->output_dir) >= sizeof(out))
		return fedc_fail(FEDC_ERR_INVAL, "output directory path too long");
	rc = reuse && access(out, R_OK) == 0 ? FEDC_OK : fedc_mkdir_p(exp->output_dir, 0755);
	if (!rc && !(reuse && access(out, R_OK) == 0)) {
		printf("compiling %s\n", exp->plan_path);
		fflush(stdout);
		rc = plan_build__compile(exp->plan_path, out);
	}
	if (!rc)
		rc = fedc_config_set_string(&exp->plan_path, out);
	return rc;
}
