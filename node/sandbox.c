/* The parent's side of running a plan: start the child, read its report
 * under a deadline, and turn whatever happened into a result or an error. */
#define _GNU_SOURCE /* memfd_create, pipe2, close_range */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fedc/clock.h"
#include "fedc/log.h"

#define REPORT_LINE_MAX 1024
/* How often the parent reads the child's resident memory: at a few GB/s of
 * page faults, a plan overshoots its limit by at most some 200 MB before it
 * is killed, and the address-space cap below bounds even that. */
#define MEMORY_CHECK_MS 50
#define MAX_CHILD_ARGS (40 + 2 * FEDC_PLAN_MAX_METRICS + 2 * 32)

/* argv for the child, built in one buffer. */
struct child_argv {
	char *argv[MAX_CHILD_ARGS + 1];
	size_t argc;
	char text[16384];
	size_t used;
};

static enum fedc_err add_arg(struct child_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum fedc_err add_arg(struct child_argv *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc >= MAX_CHILD_ARGS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "too many plan arguments");
	va_start(ap, fmt);
	n = vsnprintf(a->text + a->used, sizeof(a->text) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->text) - a->used)
		return fedc_fail(FEDC_ERR_TOO_BIG, "plan arguments too long");
	a->argv[a->argc++] = a->text + a->used;
	a->used += (size_t)n + 1;
	return FEDC_OK;
}

static enum fedc_err build_argv(const struct sandbox_job *job, struct child_argv *a)
{
	const struct node_dataset *ds = job->dataset;
	const struct fedc_train_args *t = &job->train_args;
	enum fedc_err rc = FEDC_OK;

	a->argc = 0;
	a->used = 0;
	rc = add_arg(a, "fedc-node");
	if (!rc) rc = add_arg(a, "__run-plan");
	if (!rc) rc = add_arg(a, "--plan=%s", job->plan_path);
	if (!rc) rc = add_arg(a, "--params=%s", job->params_path);
	if (!rc) rc = add_arg(a, "--data=%s", ds->path);
	if (!rc) rc = add_arg(a, "--data-digest=%s", ds->digest);
	if (!rc) rc = add_arg(a, "--data-type=%s", ds->type);
	if (!rc) rc = add_arg(a, "--data-header=%s", ds->header);
	if (!rc) rc = add_arg(a, "--label-column=%" PRId32, ds->label_column);
	if (!rc) rc = add_arg(a, "--n-classes=%" PRIu32, ds->n_classes);
	if (!rc) rc = add_arg(a, "--n-samples=%" PRIu64, ds->n_samples);
	if (!rc) rc = add_arg(a, "--n-features=%" PRIu64, ds->n_features);
	if (!rc) rc = add_arg(a, "--data-name=%s", ds->name);
	if (!rc && ds->labels_path[0]) rc = add_arg(a, "--data-labels=%s", ds->labels_path);
	if (!rc) rc = add_arg(a, "--test-ratio=%.17g", job->test_ratio);
	if (!rc) rc = add_arg(a, "--split-seed=%" PRIu64, job->split_seed);
	if (!rc) rc = add_arg(a, "--seed=%" PRIu64, t->seed);
	if (!rc) rc = add_arg(a, "--lr=%.17g", t->lr);
	if (!rc) rc = add_arg(a, "--epochs=%" PRIu32, t->epochs);
	if (!rc) rc = add_arg(a, "--num-updates=%" PRIu32, t->num_updates);
	if (!rc) rc = add_arg(a, "--batch-size=%" PRIu32, t->batch_size);
	if (!rc) rc = add_arg(a, "--fedprox-mu=%.17g", t->fedprox_mu);
	if (!rc) rc = add_arg(a, "--optimizer=%s", t->optimizer ? t->optimizer : "sgd");
	if (!rc && job->scaffold_state)
		rc = add_arg(a, "--scaffold-state=%s", job->scaffold_state);
	if (!rc && job->skip_test_global)
		rc = add_arg(a, "--no-test-global");
	if (!rc && job->skip_test_local)
		rc = add_arg(a, "--no-test-local");
	if (!rc && job->evaluate_only)
		rc = add_arg(a, "--evaluate-only");
	for (size_t i = 0; !rc && job->model_args && i < job->model_args->count; i++)
		rc = add_arg(a, "--arg=%s=%.17g", job->model_args->items[i].name,
			     job->model_args->items[i].value);
	a->argv[a->argc] = NULL;
	return rc;
}

static void set_limits(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit lim = { soft, hard };

	(void)setrlimit(resource, &lim);
}

static void set_limit(int resource, rlim_t value)
{
	set_limits(resource, value, value);
}

/* The address-space cap: a backstop behind the parent's watch of resident
 * memory, not the limit itself. Address space counts what is reserved and
 * never touched (thread stacks, malloc arenas, BLAS buffers), so a cap at
 * memory_mb would fail plans far below that much real use; twice the limit
 * plus 256 MiB leaves room for those and still stops a runaway allocation
 * faster than the watch could. */
#ifndef __SANITIZE_ADDRESS__
static rlim_t address_space_cap(int64_t memory_mb)
{
	return ((rlim_t)memory_mb * 2 + 256) << 20;
}
#endif

/* Nothing for a plan to read on the daemon's stdin, nor a terminal there
 * to push keystrokes into. Async-signal-safe. */
static void stdin_from_devnull(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0 && fd != STDIN_FILENO) {
		(void)dup2(fd, STDIN_FILENO);
		close(fd);
	}
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_child(const struct sandbox_job *job, struct child_argv *a, int params_fd, int report_fd)
{
	/* Through spare numbers first: dup2 of an fd onto itself would keep its
	 * close-on-exec flag, and one target may be the other source. */
	int params = fcntl(params_fd, F_DUPFD, 10), report = fcntl(report_fd, F_DUPFD, 10);

	if (params < 0 || report < 0 || dup2(params, SANDBOX_PARAMS_FD) < 0 || dup2(report, SANDBOX_REPORT_FD) < 0)
		_exit(120);
	(void)close_range(SANDBOX_REPORT_FD + 1, ~0u, 0);
	stdin_from_devnull();
	(void)setpgid(0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	set_limit(RLIMIT_CORE, 0);
	/* SIGXCPU at the soft limit, so that the parent can tell the CPU limit
	 * from any other kill; SIGKILL a second later if it is caught. */
	set_limits(RLIMIT_CPU, (rlim_t)job->cpu_seconds, (rlim_t)job->cpu_seconds + 1);
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer reserves terabytes of shadow address space at start:
	 * an address-space cap would kill every child of a sanitizer build,
	 * which relies on the resident-memory watch alone. */
	set_limit(RLIMIT_AS, address_space_cap(job->memory_mb));
#endif
	set_limit(RLIMIT_NOFILE, 64);
	execv("/proc/self/exe", a->argv);
	_exit(121);
}

/* Parses one report line; returns false when the child broke the protocol. */
static bool parse_report_line(const struct sandbox_job *job, char *line, struct sandbox_result *res,
			      bool *done)
{
	char name[FEDC_PLAN_METRIC_NAME_LEN];
	double value;
	unsigned long long a, b;
	struct fedc_metrics *m = NULL;

	if (strncmp(line, "error ", 6) == 0) {
		snprintf(res->error, sizeof(res->error), "%s", line + 6);
		return true;
	}
	if (strcmp(line, "done") == 0) {
		*done = true;
		return true;
	}
	if (sscanf(line, "samples %llu %llu", &a, &b) == 2) {
		res->n_train = a;
		res->n_test = b;
		return true;
	}
	if (sscanf(line, "scalar %63s %lf %llu %llu", name, &value, &a, &b) == 4) {
		if (job->on_scalar)
			job->on_scalar(job->ctx, name, value, a, (uint32_t)b);
		return true;
	}
	if (sscanf(line, "global %63s %lf", name, &value) == 2)
		m = &res->global_metrics;
	else if (sscanf(line, "local %63s %lf", name, &value) == 2)
		m = &res->local_metrics;
	if (!m || m->count >= FEDC_PLAN_MAX_METRICS)
		return false;
	snprintf(m->items[m->count].name, sizeof(m->items[0].name), "%s", name);
	m->items[m->count].value = value;
	m->count++;
	return true;
}

/* Feeds bytes read from the child into complete lines. */
struct line_buffer {
	char buf[REPORT_LINE_MAX + 1];
	size_t len;
};

static bool feed_lines(const struct sandbox_job *job, struct line_buffer *lb, const char *data, size_t n,
		       struct sandbox_result *res, bool *done)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n') {
			if (lb->len >= REPORT_LINE_MAX)
				return false;
			lb->buf[lb->len++] = data[i];
			continue;
		}
		lb->buf[lb->len] = '\0';
		lb->len = 0;
		if (!parse_report_line(job, lb->buf, res, done))
			return false;
	}
	return true;
}

static const char *signal_story(int sig)
{
	switch (sig) {
	case SIGSEGV: return "segmentation fault";
	case SIGBUS: return "bus error";
	case SIGFPE: return "arithmetic exception";
	case SIGILL: return "illegal instruction";
	case SIGABRT: return "aborted";
	case SIGXCPU: return "CPU time limit reached";
	case SIGSYS: return "forbidden system call";
	case SIGKILL: return "killed (by the CPU time hard limit or the system's out-of-memory killer)";
	default: return "killed by a signal";
	}
}

/* A death by signal, told for the researcher. The limits get their own
 * sentences: they are the operator's settings, not a bug in the plan. */
static void tell_signal(const struct sandbox_job *job, int sig, struct sandbox_result *res)
{
	if (sig == SIGXCPU)
		snprintf(res->error, sizeof(res->error),
			 "the plan used up its CPU time limit of %" PRId64 " s and was stopped", job->cpu_seconds);
	else if (sig == SIGSYS)
		snprintf(res->error, sizeof(res->error),
			 "sandbox: the plan made a system call that training plans may not make (signal %d)", sig);
	else
		snprintf(res->error, sizeof(res->error), "the plan crashed: %s (signal %d)", signal_story(sig), sig);
}

/* Decides the outcome once the child is gone or must go. An `error` line
 * the child sent (the runner's own, or the seccomp handler's) wins over the
 * exit status, which only says that it failed. */
static enum fedc_err judge(const struct sandbox_job *job, int status, bool done, bool violated,
			   struct sandbox_result *res)
{
	if (violated) {
		snprintf(res->error, sizeof(res->error), "the plan broke the report protocol and was killed");
		return FEDC_ERR_PLAN;
	}
	if (WIFSIGNALED(status)) {
		tell_signal(job, WTERMSIG(status), res);
		return FEDC_ERR_PLAN;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && done)
		return FEDC_OK;
	if (!res->error[0])
		snprintf(res->error, sizeof(res->error),
			 "the plan exited with code %d before finishing its round (a training plan must return "
			 "from its functions, never call exit())",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return FEDC_ERR_PLAN;
}

/* Resident memory of the child in MiB, from /proc/PID/statm (0 when it is
 * gone). It cannot fork, so its own pages are all there is to count. */
static int64_t resident_mb(pid_t pid)
{
	char path[64], text[128];
	unsigned long long size = 0, resident = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(text, sizeof(text), f) || sscanf(text, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (int64_t)((resident * (unsigned long long)(page > 0 ? page : 4096)) >> 20);
}

/* The memory limit as the operator set it: resident memory, watched from
 * here so that it holds under AddressSanitizer too (no RLIMIT_AS there). */
static bool over_memory_limit(const struct sandbox_job *job, pid_t pid, struct sandbox_result *res)
{
	int64_t mb = resident_mb(pid);

	if (mb <= job->memory_mb)
		return false;
	snprintf(res->error, sizeof(res->error),
		 "the plan exceeded its memory limit of %" PRId64 " MB (it held %" PRId64 " MB) and was killed",
		 job->memory_mb, mb);
	return true;
}

static void kill_child(pid_t pid)
{
	int status;

	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Reads the report until EOF, then reaps the child; all under the deadline. */
static enum fedc_err supervise(const struct sandbox_job *job, pid_t pid, int report_fd, volatile int *cancel,
			       struct sandbox_result *res)
{
	int64_t deadline = fedc_now_ms() + job->timeout_s * 1000, next_memory_check = 0;
	struct line_buffer *lb = calloc(1, sizeof(*lb));
	bool done = false, violated = false, eof = false;
	int status = 0;
	enum fedc_err rc;

	if (!lb) {
		kill_child(pid);
		return FEDC_ERR_NOMEM;
	}
	for (;;) {
		struct pollfd pfd = { .fd = report_fd, .events = POLLIN };
		int64_t left = deadline - fedc_now_ms();
		char chunk[4096];

		if (cancel && *cancel) {
			kill_child(pid);
			snprintf(res->error, sizeof(res->error), "the node is shutting down; round abandoned");
			rc = FEDC_ERR_INTERRUPTED;
			goto out;
		}
		if (left <= 0) {
			kill_child(pid);
			snprintf(res->error, sizeof(res->error), "the plan did not finish within %" PRId64 " s and was killed",
				 job->timeout_s);
			rc = FEDC_ERR_TIMEOUT;
			goto out;
		}
		if (fedc_now_ms() >= next_memory_check) {
			next_memory_check = fedc_now_ms() + MEMORY_CHECK_MS;
			if (over_memory_limit(job, pid, res)) {
				kill_child(pid);
				rc = FEDC_ERR_PLAN;
				goto out;
			}
		}
		if (eof) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid)
				break;
			usleep(2000);
			continue;
		}
		if (poll(&pfd, 1, left > MEMORY_CHECK_MS ? MEMORY_CHECK_MS : (int)left) <= 0)
			continue;
		ssize_t n = read(report_fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = true;
			continue;
		}
		if (!feed_lines(job, lb, chunk, (size_t)n, res, &done)) {
			violated = true;
			kill_child(pid);
			break;
		}
	}
	rc = judge(job, status, done, violated, res);
out:
	free(lb);
	return rc;
}

enum fedc_err sandbox__run(const struct sandbox_job *job, volatile int *cancel, struct sandbox_result *result)
{
	struct child_argv *args = calloc(1, sizeof(*args));
	int report[2] = { -1, -1 };
	int params_fd = -1;
	enum fedc_err rc;
	pid_t pid;

	memset(result, 0, sizeof(*result));
	result->params_fd = -1;
	if (!args)
		return FEDC_ERR_NOMEM;
	rc = build_argv(job, args);
	if (rc) {
		snprintf(result->error, sizeof(result->error), "%s", fedc_last_error());
		goto out;
	}
	params_fd = memfd_create("fedc-update", MFD_CLOEXEC);
	if (params_fd < 0 || pipe2(report, O_CLOEXEC) != 0) {
		rc = fedc_fail(FEDC_ERR_IO, "cannot create the plan's channels: %s", strerror(errno));
		snprintf(result->error, sizeof(result->error), "%s", fedc_last_error());
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = FEDC_ERR_IO;
		snprintf(result->error, sizeof(result->error), "fork failed: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		exec_child(job, args, params_fd, report[1]);
	close(report[1]);
	report[1] = -1;
	rc = supervise(job, pid, report[0], cancel, result);
	if (!rc) {
		result->params_fd = params_fd;
		params_fd = -1;
	}
out:
	if (params_fd >= 0)
		close(params_fd);
	if (report[0] >= 0)
		close(report[0]);
	if (report[1] >= 0)
		close(report[1]);
	free(args);
	return rc;
}
