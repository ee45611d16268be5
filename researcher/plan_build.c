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

enum fedc_err plan_build__compile(const char *source, const char *out_so)
{
	/* Paths travel as positional parameters, never pasted into the script. */
	/* posix_spawn takes char *const argv[]: the script and the source path
	 * are copied into arrays of this frame rather than cast from const. */
	char script[] = "exec ${FEDC_CC:-cc} -std=c11 -O2 -shared -fPIC -fvisibility=hidden \"$1\" "
			"-o \"$2\" $(pkg-config --cflags --libs fedcplan) > \"$3\" 2>&1";
	char src[4200], tmp[4200], log[4200];
	char *argv[] = { "sh", "-c", script, "sh", src, tmp, log, NULL };
	pid_t pid;
	int status = 0;

	if (access(source, R_OK) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot read the plan source %s: %s", source, strerror(errno));
	if ((size_t)snprintf(src, sizeof(src), "%s", source) >= sizeof(src))
		return fedc_fail(FEDC_ERR_INVAL, "plan source path too long: %s", source);
	snprintf(tmp, sizeof(tmp), "%s.tmp", out_so);
	snprintf(log, sizeof(log), "%s.log", out_so);
	set_pkg_config_path();
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot start /bin/sh to compile %s: %s", source, strerror(errno));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		(void)unlink(tmp);
		return compile_failed(source, log, status);
	}
	if (rename(tmp, out_so) != 0)
		return fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", tmp, out_so, strerror(errno));
	return FEDC_OK;
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
