/* The parent's side of running a plan: start the child, read its report
 * under a deadline, and turn whatever happened into a result or an error. */
#define _GNU_SOURCE /* memfd_create, pipe2, close_range */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "plan_cgroup.h"
#include "fedc/clock.h"
#include "fedc/config.h"
#include "fedc/fs.h"
#include "fedc/log.h"
#include "node_metrics.h"
#include "plan_report.h"

/* How often the parent reads the child's resident memory: at a few GB/s of
 * page faults, a plan overshoots its limit by at most some 200 MB before it
 * is killed, and the address-space cap below bounds even that. */
#define MEMORY_CHECK_MS 50
/* Threads and processes of one plan process, where a pids cgroup can hold
 * it (plan_cgroup.h): OpenBLAS and OpenMP start one thread per core, a plan
 * perhaps a few of its own; a thread bomb stops here. */
#define PLAN_MAX_TASKS 256
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

/* The plan process's own arguments: what stays the same for all its rounds. */
static enum fedc_err build_process_args(const struct sandbox_job *job, struct child_argv *a)
{
	const struct node_dataset *ds = job->dataset;
	enum fedc_err rc = FEDC_OK;

	rc = add_arg(a, "fedc-node");
	if (!rc) rc = add_arg(a, "__run-plan");
	if (!rc) rc = add_arg(a, "--plan=%s", job->plan_path);
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
	if (!rc && ds->options[0]) rc = add_arg(a, "--data-options=%s", ds->options);
	if (!rc) rc = add_arg(a, "--test-ratio=%.17g", job->test_ratio);
	if (!rc) rc = add_arg(a, "--split=%s", job->stratified ? "stratified" : "random");
	if (!rc && job->test_dataset) {
		const struct node_dataset *t = job->test_dataset;

		rc = add_arg(a, "--test-data=%s", t->path);
		if (!rc) rc = add_arg(a, "--test-data-digest=%s", t->digest);
		if (!rc) rc = add_arg(a, "--test-data-type=%s", t->type);
		if (!rc) rc = add_arg(a, "--test-data-header=%s", t->header);
		if (!rc) rc = add_arg(a, "--test-label-column=%" PRId32, t->label_column);
		if (!rc) rc = add_arg(a, "--test-n-classes=%" PRIu32, t->n_classes);
		if (!rc) rc = add_arg(a, "--test-n-samples=%" PRIu64, t->n_samples);
		if (!rc) rc = add_arg(a, "--test-n-features=%" PRIu64, t->n_features);
		if (!rc) rc = add_arg(a, "--test-data-name=%s", t->name);
		if (!rc && t->labels_path[0]) rc = add_arg(a, "--test-data-labels=%s", t->labels_path);
		if (!rc && t->options[0]) rc = add_arg(a, "--test-data-options=%s", t->options);
	}
	/* Seeds travel as signed numbers (two's complement): plan_runner.c reads
	 * them with fedc_parse_int, which takes all 64 bits that way. */
	if (!rc) rc = add_arg(a, "--split-seed=%" PRId64, (int64_t)job->split_seed);
	a->argv[a->argc] = NULL;
	return rc;
}

/* One round's request: what may change from round to round. */
static enum fedc_err build_round_args(const struct sandbox_job *job, struct child_argv *a)
{
	const struct fedc_train_args *t = &job->train_args;
	enum fedc_err rc = FEDC_OK;

	rc = add_arg(a, "--seed=%" PRId64, (int64_t)t->seed); /* signed: see build_process_args */
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
	if (!rc && job->assess_kind && job->assess_kind[0]) {
		rc = add_arg(a, "--assess=%s", job->assess_kind);
		if (!rc) rc = add_arg(a, "--assess-repeats=%" PRIu32, job->assess_repeats ? job->assess_repeats : 1);
		if (!rc) rc = add_arg(a, "--assess-metric=%s", job->assess_metric ? job->assess_metric : "accuracy");
		if (!rc) rc = add_arg(a, "--assess-seed=%" PRId64, (int64_t)job->assess_seed);
		/* at most FEDC_MAX_ASSESS_ARGS bytes: the request stays within SANDBOX_REQUEST_MAX */
		if (!rc && job->assess_args && job->assess_args[0])
			rc = add_arg(a, "--assess-args=%s", job->assess_args);
	}
	for (size_t i = 0; !rc && job->model_args && i < job->model_args->count; i++)
		rc = add_arg(a, "--arg=%s=%.17g", job->model_args->items[i].name,
			     job->model_args->items[i].value);
	if (!rc && a->used > SANDBOX_REQUEST_MAX)
		rc = fedc_fail(FEDC_ERR_TOO_BIG, "plan arguments too long");
	return rc;
}

static void set_limit(int resource, rlim_t value)
{
	struct rlimit lim = { value, value };

	(void)setrlimit(resource, &lim);
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

/* Tells the parent, on the report pipe, why the child cannot run the plan,
 * and exits. Async-signal-safe. */
static void child_fails(const char *what, const char *step, int err)
{
	char line[512], digits[16];
	size_t n = 0, d = 0;

	do {
		digits[d++] = (char)('0' + err % 10);
		err /= 10;
	} while (err > 0 && d < sizeof(digits));
	for (const char *p = "error sandbox: "; *p && n < 200; p++)
		line[n++] = *p;
	for (const char *p = what; *p && n < 300; p++)
		line[n++] = *p;
	for (const char *p = " ("; *p; p++)
		line[n++] = *p;
	for (const char *p = step; *p && n < 480; p++)
		line[n++] = *p;
	for (const char *p = ": errno "; *p; p++)
		line[n++] = *p;
	while (d > 0)
		line[n++] = digits[--d];
	line[n++] = ')';
	line[n++] = '\n';
	if (write(SANDBOX_REPORT_FD, line, n) < 0)
		_exit(122);
	_exit(122);
}

/* The folder of the job's SCAFFOLD state file, into `dir`. */
static void scaffold_folder(const char *state, char *dir, size_t cap)
{
	const char *slash = state ? strrchr(state, '/') : NULL;
	size_t len = slash ? (size_t)(slash - state) : 0;

	dir[0] = '\0';
	if (len > 0 && len < cap) {
		memcpy(dir, state, len);
		dir[len] = '\0';
	}
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_child(const struct sandbox_job *job, struct child_argv *a, int control_fd, int report_fd,
		       struct confine_child *confined, int exe_fd, const char *scaffold_dir)
{
	const struct confine_paths paths = { .plan = job->plan_path,
					     .data = job->dataset->path,
					     .labels = job->dataset->labels_path,
					     .scaffold_dir = scaffold_dir,
					     .test_data = job->test_dataset ? job->test_dataset->path : NULL,
					     .test_labels = job->test_dataset ? job->test_dataset->labels_path : NULL };
	const char *step = "";
	/* Through spare numbers first: dup2 of an fd onto itself would keep its
	 * close-on-exec flag, and one target may be the other source. The
	 * binary and the parent's go-ahead move up too: either may sit where
	 * fds 3 and 4 are about to be. */
	int control = fcntl(control_fd, F_DUPFD, 10), report = fcntl(report_fd, F_DUPFD, 10);
	int exe = fcntl(exe_fd, F_DUPFD_CLOEXEC, 10);
	int go = fcntl(confined->go[0], F_DUPFD_CLOEXEC, 10);

	if (control < 0 || report < 0 || exe < 0 || go < 0 || dup2(control, SANDBOX_CONTROL_FD) < 0 ||
	    dup2(report, SANDBOX_REPORT_FD) < 0)
		_exit(120);
	confined->go[0] = go;
	if (confine__enter(confined, &paths, &step) != 0)
		child_fails("cannot confine the plan process", step, errno);
	/* Everything past the report pipe closes at the exec, the binary
	 * included: the plan gets no descriptor of the node's. */
	(void)close_range(SANDBOX_REPORT_FD + 1, ~0u, CLOSE_RANGE_CLOEXEC);
	stdin_from_devnull();
	(void)setpgid(0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	set_limit(RLIMIT_CORE, 0);
	/* No RLIMIT_CPU: it counts the process's whole life, and the limit is
	 * per round; the parent watches each round's CPU time instead. */
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer reserves terabytes of shadow address space at start:
	 * an address-space cap would kill every child of a sanitizer build,
	 * which relies on the resident-memory watch alone. */
	set_limit(RLIMIT_AS, address_space_cap(job->memory_mb));
#endif
	set_limit(RLIMIT_NOFILE, 64);
	confine__exec(exe, a->argv);
	_exit(121);
}

static const char *signal_story(int sig)
{
	switch (sig) {
	case SIGSEGV: return "segmentation fault";
	case SIGBUS: return "bus error";
	case SIGFPE: return "arithmetic exception";
	case SIGILL: return "illegal instruction";
	case SIGABRT: return "aborted";
	case SIGSYS: return "forbidden system call";
	case SIGKILL: return "killed (by the system's out-of-memory killer?)";
	default: return "killed by a signal";
	}
}

/* A death by signal, told for the researcher. */
static void tell_signal(int sig, struct sandbox_result *res)
{
	if (sig == SIGSYS)
		snprintf(res->error, sizeof(res->error),
			 "sandbox: the plan made a system call that training plans may not make (signal %d)", sig);
	else
		snprintf(res->error, sizeof(res->error), "the plan crashed: %s (signal %d)", signal_story(sig), sig);
}

/* Tells why a round ended without `done`: the process is gone (or must go).
 * An `error` line it sent (the runner's own, or the seccomp handler's) wins
 * over the exit status, which only says that it failed. */
static enum fedc_err judge(int status, struct sandbox_result *res)
{
	if (WIFSIGNALED(status)) {
		tell_signal(WTERMSIG(status), res);
		return FEDC_ERR_PLAN;
	}
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
	char *resident, *end;
	long page = sysconf(_SC_PAGESIZE);
	int64_t pages = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* "size resident shared ...": the second field, in pages. */
	resident = fgets(text, sizeof(text), f) ? strchr(text, ' ') : NULL;
	end = resident ? strchr(resident + 1, ' ') : NULL;
	if (end) {
		*end = '\0';
		if (!fedc_parse_int(resident + 1, 0, INT64_MAX / 65536, &pages))
			pages = 0;
	}
	fclose(f);
	return (pages * (page > 0 ? page : 4096)) >> 20;
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

/* CPU time of the whole process (every thread) in ms, or -1 once it is gone. */
static int64_t cpu_ms(pid_t pid)
{
	struct timespec ts;
	clockid_t clock;

	if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CPU limit holds per round: what the process used since `start_ms`. */
static bool over_cpu_limit(const struct sandbox_job *job, pid_t pid, int64_t start_ms, struct sandbox_result *res)
{
	int64_t now = cpu_ms(pid);

	if (now < 0 || start_ms < 0 || now - start_ms <= job->cpu_seconds * 1000)
		return false;
	snprintf(res->error, sizeof(res->error),
		 "the plan used up its CPU time limit of %" PRId64 " s and was stopped", job->cpu_seconds);
	return true;
}

/* ---- the plan process kept between rounds ---- */

/* How long a retired plan process may take to exit on its own (a sanitizer
 * build checks for leaks then) before it is killed. */
#define RETIRE_GRACE_MS 2000

struct sandbox {
	pid_t pid;               /* the plan process, 0 when none */
	int control_fd;          /* our end of its request socket */
	int report_fd;           /* its report pipe, read end, non-blocking */
	char *key;               /* its arguments and session: which rounds it may serve */
	size_t key_len;
	int64_t idle_since_ms;   /* when its last round ended */
	/* The two files a round hands the process: the global parameters and
	 * the update. Kept while the process is, and rewritten in place round
	 * after round, so that their pages are reused: fresh pages cost a fault
	 * each, and in a virtual machine often one more in the host. */
	int global_fd, update_fd;
	struct plan_cgroup *cgroup; /* the process's memory and pids cgroup, NULL without */
};

struct sandbox *sandbox__new(void)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (sb) {
		sb->control_fd = -1;
		sb->report_fd = -1;
		sb->global_fd = -1;
		sb->update_fd = -1;
	}
	return sb;
}

static void release_memfds(struct sandbox *sb)
{
	if (sb->global_fd >= 0)
		close(sb->global_fd);
	if (sb->update_fd >= 0)
		close(sb->update_fd);
	sb->global_fd = -1;
	sb->update_fd = -1;
}

/* Makes *fd a memfd rewound to offset 0, creating it the first time. */
static enum fedc_err rewound_memfd(int *fd, const char *name)
{
	if (*fd < 0) {
		*fd = memfd_create(name, MFD_CLOEXEC);
		if (*fd < 0)
			return fedc_fail(FEDC_ERR_IO, "cannot create a memfd for %s: %s", name, strerror(errno));
		return FEDC_OK;
	}
	return fedc_fd_rewind(*fd, name);
}

int sandbox__global_memfd(struct sandbox *sb)
{
	return rewound_memfd(&sb->global_fd, "fedc-global") == FEDC_OK ? sb->global_fd : -1;
}

/* Drops what we hold of a process that is gone (reaped). */
static void forget_process(struct sandbox *sb)
{
	plan_cgroup__remove(sb->cgroup); /* and whatever of the plan still ran in it */
	sb->cgroup = NULL;
	if (sb->control_fd >= 0)
		close(sb->control_fd);
	if (sb->report_fd >= 0)
		close(sb->report_fd);
	free(sb->key);
	sb->key = NULL;
	sb->key_len = 0;
	sb->control_fd = -1;
	sb->report_fd = -1;
	sb->pid = 0;
}

static void kill_process(struct sandbox *sb)
{
	int status;

	(void)kill(-sb->pid, SIGKILL);
	(void)kill(sb->pid, SIGKILL);
	while (waitpid(sb->pid, &status, 0) < 0 && errno == EINTR)
		;
	forget_process(sb);
}

/* Ends the process the polite way: end of file on its request socket, then
 * SIGKILL if it has not exited within the grace period. */
static void retire_process(struct sandbox *sb)
{
	int64_t give_up;
	int status;

	if (!sb->pid)
		return;
	close(sb->control_fd);
	sb->control_fd = -1;
	(void)kill(sb->pid, SIGCONT);
	give_up = fedc_now_ms() + RETIRE_GRACE_MS;
	while (fedc_now_ms() < give_up) {
		pid_t w = waitpid(sb->pid, &status, WNOHANG);

		if (w == sb->pid || (w < 0 && errno != EINTR)) {
			forget_process(sb);
			return;
		}
		usleep(1000);
	}
	kill_process(sb);
}

void sandbox__free(struct sandbox *sb)
{
	if (!sb)
		return;
	retire_process(sb);
	release_memfds(sb);
	free(sb);
}

int64_t sandbox__retire_idle(struct sandbox *sb, int64_t idle_ms)
{
	int64_t idle;

	if (!sb)
		return -1;
	if (sb->pid) {
		idle = fedc_now_ms() - sb->idle_since_ms;
		if (idle < idle_ms)
			return idle_ms - idle;
		fedc_info("sandbox: plan process %d ends after %.0f s without a round", (int)sb->pid,
			  (double)idle / 1000);
		retire_process(sb);
	}
	release_memfds(sb); /* no round to come for them */
	return -1;
}

/* The key of a plan process: its arguments and the session it serves. */
static char *make_key(const struct child_argv *a, const char *session, size_t *len)
{
	size_t session_len = strlen(session ? session : "");
	char *key = malloc(a->used + session_len + 1);

	if (!key)
		return NULL;
	memcpy(key, a->text, a->used);
	memcpy(key + a->used, session ? session : "", session_len + 1);
	*len = a->used + session_len + 1;
	return key;
}

static enum fedc_err spawn_process(struct sandbox *sb, const struct sandbox_job *job, struct child_argv *a,
				   char *key, size_t key_len)
{
	int control[2] = { -1, -1 }, report[2] = { -1, -1 }, exe_fd;
	struct confine_child confined;
	char scaffold_dir[PATH_MAX];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0 ||
	    pipe2(report, O_CLOEXEC | O_NONBLOCK) != 0) {
		enum fedc_err rc = fedc_fail(FEDC_ERR_IO, "cannot create the plan's channels: %s", strerror(errno));

		for (int i = 0; i < 2; i++) {
			if (control[i] >= 0)
				close(control[i]);
		}
		free(key);
		return rc;
	}
	/* The child's end of the pipe must block: only ours is non-blocking. */
	(void)fcntl(report[1], F_SETFL, 0);
	scaffold_folder(job->scaffold_state, scaffold_dir, sizeof(scaffold_dir));
	exe_fd = confine__open_exe();
	pid = exe_fd >= 0 ? confine__fork(&confined) : -1;
	if (pid == 0)
		exec_child(job, a, control[1], report[1], &confined, exe_fd, scaffold_dir);
	if (exe_fd >= 0)
		close(exe_fd);
	/* In its cgroup before it runs a single instruction of its own. */
	sb->cgroup = pid > 0 ? plan_cgroup__enter(pid, job->memory_mb, PLAN_MAX_TASKS) : NULL;
	if (pid > 0 && confine__release(&confined, pid) != 0) {
		int saved = errno;

		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		plan_cgroup__remove(sb->cgroup);
		sb->cgroup = NULL;
		pid = -1;
		errno = saved;
	}
	close(control[1]);
	close(report[1]);
	if (pid < 0) {
		close(control[0]);
		close(report[0]);
		free(key);
		return fedc_fail(FEDC_ERR_IO, "cannot start the plan process: %s", strerror(errno));
	}
	sb->pid = pid;
	sb->control_fd = control[0];
	sb->report_fd = report[0];
	sb->key = key;
	sb->key_len = key_len;
	sb->idle_since_ms = 0;
	fedc_debug("sandbox: plan process %d started", (int)pid);
	return FEDC_OK;
}

/* Sends a round's arguments with its two files attached: the global
 * parameters and the memfd for the new ones. `round` is not const because
 * sendmsg's iovec points at mutable bytes; it is only read. */
static int send_round(struct sandbox *sb, struct child_argv *round, int params_fd, int update_fd)
{
	int fds[2] = { params_fd, update_fd };
	union {
		char bytes[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { round->text, round->used };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
			      .msg_controllen = sizeof(control.bytes) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	memset(control.bytes, 0, sizeof(control.bytes));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	do
		n = sendmsg(sb->control_fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)round->used ? 0 : -1;
}

/* Wakes a kept process for a new round. Whatever its threads wrote after
 * the last `done` belongs to no round: it is dropped first. */
static void resume_process(struct sandbox *sb)
{
	char junk[4096];

	while (read(sb->report_fd, junk, sizeof(junk)) > 0)
		;
	(void)kill(sb->pid, SIGCONT);
}

/* Ends a round that will not finish: the process goes. */
static enum fedc_err abandon(struct sandbox *sb, enum fedc_err rc)
{
	kill_process(sb);
	return rc;
}

/* Reads the report until `done` or the end of the process, all under the
 * deadline and the limits. On FEDC_OK the process lives on; on anything
 * else it is gone. */
static enum fedc_err supervise(struct sandbox *sb, const struct sandbox_job *job, volatile int *cancel,
			       struct sandbox_result *res)
{
	int64_t deadline = fedc_now_ms() + job->timeout_s * 1000, next_check = 0, cpu_start = cpu_ms(sb->pid);
	struct plan_report report;
	bool eof = false;
	int status = 0;
	enum fedc_err rc;

	/* with a separate test set, its rows are the test rows */
	plan_report__init(&report, job->dataset->n_samples + (job->test_dataset ? job->test_dataset->n_samples : 0),
			  job->on_scalar, job->ctx);

	for (;;) {
		struct pollfd pfd = { .fd = sb->report_fd, .events = POLLIN };
		int64_t left = deadline - fedc_now_ms();
		char chunk[4096];
		ssize_t n;

		if (cancel && *cancel) {
			snprintf(res->error, sizeof(res->error), "the node is shutting down; round abandoned");
			return abandon(sb, FEDC_ERR_INTERRUPTED);
		}
		if (left <= 0) {
			snprintf(res->error, sizeof(res->error), "the plan did not finish within %" PRId64 " s and was killed",
				 job->timeout_s);
			return abandon(sb, FEDC_ERR_TIMEOUT);
		}
		if (fedc_now_ms() >= next_check) {
			next_check = fedc_now_ms() + MEMORY_CHECK_MS;
			if (over_memory_limit(job, sb->pid, res) || over_cpu_limit(job, sb->pid, cpu_start, res))
				return abandon(sb, FEDC_ERR_PLAN);
		}
		if (eof) {
			pid_t w = waitpid(sb->pid, &status, WNOHANG);

			if (w == sb->pid)
				break;
			usleep(2000);
			continue;
		}
		if (poll(&pfd, 1, left > MEMORY_CHECK_MS ? MEMORY_CHECK_MS : (int)left) <= 0)
			continue;
		n = read(sb->report_fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			eof = true;
			continue;
		}
		if (plan_report__feed(&report, chunk, (size_t)n, NULL) != FEDC_OK) {
			snprintf(res->error, sizeof(res->error),
				 "the plan broke the report protocol (%s); round refused and the plan process killed",
				 report.violation);
			return abandon(sb, FEDC_ERR_PLAN);
		}
		if (report.done) {
			node_metrics__plan_round(sb->pid, cpu_ms(sb->pid) - cpu_start);
			res->n_train = report.n_train;
			res->n_test = report.n_test;
			res->global_metrics = report.global_metrics;
			res->local_metrics = report.local_metrics;
			return FEDC_OK;
		}
	}
	if (plan_cgroup__oom_killed(sb->cgroup)) {
		/* the kernel counted what the watch cannot see (shared memory) */
		snprintf(res->error, sizeof(res->error),
			 "the plan exceeded its memory limit of %" PRId64 " MB (counting shared memory) and was killed",
			 job->memory_mb);
		forget_process(sb);
		return FEDC_ERR_PLAN;
	}
	forget_process(sb);
	snprintf(res->error, sizeof(res->error), "%s", report.error);
	rc = judge(status, res);
	/* The plan refused what the job asked: say that a retry cannot help. */
	return rc == FEDC_ERR_PLAN && report.final && !WIFSIGNALED(status) ? FEDC_ERR_INVAL : rc;
}

/* Makes sure a process that may serve `key` is waiting, and sends it the
 * round. A kept process that cannot take it (gone meanwhile) is replaced. */
static enum fedc_err start_round(struct sandbox *sb, const struct sandbox_job *job, struct child_argv *process,
				 struct child_argv *round, int update_fd)
{
	size_t key_len = 0;
	char *key = make_key(process, job->session, &key_len);
	enum fedc_err rc;

	if (!key)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory");
	if (sb->pid && (sb->key_len != key_len || memcmp(sb->key, key, key_len) != 0))
		retire_process(sb);
	if (sb->pid) {
		resume_process(sb);
		if (send_round(sb, round, job->params_fd, update_fd) == 0) {
			free(key);
			fedc_debug("sandbox: plan process %d reused", (int)sb->pid);
			return FEDC_OK;
		}
		kill_process(sb);
	}
	rc = spawn_process(sb, job, process, key, key_len);
	if (!rc && send_round(sb, round, job->params_fd, update_fd) != 0) {
		kill_process(sb);
		rc = fedc_fail(FEDC_ERR_IO, "cannot send the round to the plan process: %s", strerror(errno));
	}
	return rc;
}

/* The process wrote the update with write(): it shares the file offset with
 * us, so the update ends where that offset is. The caller gets its own
 * descriptor of it. A failure here ends the process, like any failed round. */
static enum fedc_err take_update(struct sandbox *sb, struct sandbox_result *res)
{
	enum fedc_err rc = fedc_fd_cut_here(sb->update_fd, "the plan's update");

	if (!rc) {
		res->params_fd = dup(sb->update_fd);
		if (res->params_fd < 0)
			rc = fedc_fail(FEDC_ERR_IO, "cannot hand over the plan's update: %s", strerror(errno));
	}
	if (rc) {
		snprintf(res->error, sizeof(res->error), "%s", fedc_last_error());
		kill_process(sb);
	}
	return rc;
}

enum fedc_err sandbox__run(struct sandbox *sb, const struct sandbox_job *job, volatile int *cancel,
			   struct sandbox_result *result)
{
	struct child_argv *args = calloc(2, sizeof(*args));
	enum fedc_err rc;

	memset(result, 0, sizeof(*result));
	result->params_fd = -1;
	if (!args)
		return FEDC_ERR_NOMEM;
	rc = build_process_args(job, &args[0]);
	if (!rc)
		rc = build_round_args(job, &args[1]);
	if (!rc)
		rc = rewound_memfd(&sb->update_fd, "fedc-update");
	if (!rc)
		rc = start_round(sb, job, &args[0], &args[1], sb->update_fd);
	if (rc) {
		snprintf(result->error, sizeof(result->error), "%s", fedc_last_error());
		goto out;
	}
	rc = supervise(sb, job, cancel, result);
	if (!rc)
		rc = take_update(sb, result);
	if (rc)
		goto out;
	if (job->keep_process) {
		/* Stopped, it can do nothing until its next round. */
		(void)kill(sb->pid, SIGSTOP);
		sb->idle_since_ms = fedc_now_ms();
	} else {
		retire_process(sb);
	}
out:
	/* Without a kept process the memfds have no next round to serve. */
	if (!sb->pid)
		release_memfds(sb);
	free(args);
	return rc;
}
