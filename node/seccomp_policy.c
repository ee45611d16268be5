/* The seccomp filter of a plan's child (see seccomp_policy.h and
 * docs/security.md for what it allows, denies and why).
 *
 * An allow list: the system calls that training needs (memory, threads,
 * reading files, time, the report pipe and the request socket) pass; the
 * calls that give a plan reach beyond its round raise SIGSYS, so that the
 * researcher is told which call it was; everything else, including every
 * system call a kernel adds after this list was written, fails with ENOSYS
 * (the answer of a kernel without the call: libraries fall back or fail
 * cleanly). Sanitizer builds, for tests only, allow what is not denied:
 * their runtimes make calls a release build never does. */
#define _GNU_SOURCE /* CLONE_THREAD, TIOCSTI */
#include "seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include "lazy/lazy_require.h"
#include "sandbox.h"

/* LeakSanitizer checks for leaks at exit by stopping the world: it clones a
 * tracer that shares the address space (CLONE_VM without CLONE_THREAD) and
 * ptraces the other threads. Sanitizer builds are for tests, never for a
 * production node, so they allow exactly that. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_RUNTIME 1
#else
#define SANITIZER_RUNTIME 0
#endif

#define CAT_NET "network access"
#define CAT_EXEC "running a program"
#define CAT_PROC "creating a process"
#define CAT_CLONE "creating a process, as fork() and system() do"
#define CAT_WRITE "writing to the file system"
#define CAT_OTHER "acting on another process"
#define CAT_LIMITS "changing its resource limits"
#define CAT_ADMIN "system administration"
#define CAT_URING "io_uring, which bypasses system-call filters"
#define CAT_TTY "injecting terminal input"
#define CAT_MEMORY "memory that the memory limit would not see"
#define CAT_IPC "shared memory or message queues that would outlive it"
#define CAT_DEATH "surviving the node's end"

struct denial {
	const char *name;     /* system call, as libseccomp names it */
	const char *category; /* why a plan may not: for the researcher */
};

/* Denied whatever the arguments. */
static const struct denial always[] = {
	{ "socket", CAT_NET }, { "socketpair", CAT_NET },
	{ "execve", CAT_EXEC }, { "execveat", CAT_EXEC },
	{ "fork", CAT_PROC }, { "vfork", CAT_PROC },
	{ "creat", CAT_WRITE }, { "rename", CAT_WRITE }, { "renameat", CAT_WRITE }, { "renameat2", CAT_WRITE },
	{ "unlink", CAT_WRITE }, { "unlinkat", CAT_WRITE }, { "rmdir", CAT_WRITE }, { "mkdir", CAT_WRITE },
	{ "mkdirat", CAT_WRITE }, { "link", CAT_WRITE }, { "linkat", CAT_WRITE }, { "symlink", CAT_WRITE },
	{ "symlinkat", CAT_WRITE }, { "truncate", CAT_WRITE }, { "mknod", CAT_WRITE }, { "mknodat", CAT_WRITE },
	{ "chmod", CAT_WRITE }, { "fchmod", CAT_WRITE }, { "fchmodat", CAT_WRITE }, { "chown", CAT_WRITE },
	{ "fchown", CAT_WRITE }, { "lchown", CAT_WRITE }, { "fchownat", CAT_WRITE }, { "utime", CAT_WRITE },
	{ "utimes", CAT_WRITE }, { "futimesat", CAT_WRITE }, { "utimensat", CAT_WRITE },
	{ "setxattr", CAT_WRITE }, { "lsetxattr", CAT_WRITE }, { "fsetxattr", CAT_WRITE },
	{ "removexattr", CAT_WRITE }, { "lremovexattr", CAT_WRITE }, { "fremovexattr", CAT_WRITE },
	{ "name_to_handle_at", CAT_WRITE }, { "open_by_handle_at", CAT_WRITE },
	{ "process_vm_readv", CAT_OTHER }, { "process_vm_writev", CAT_OTHER }, { "kcmp", CAT_OTHER },
	{ "pidfd_getfd", CAT_OTHER }, { "pidfd_send_signal", CAT_OTHER }, { "tkill", CAT_OTHER },
	{ "setrlimit", CAT_LIMITS },
	{ "io_uring_setup", CAT_URING }, { "io_uring_enter", CAT_URING }, { "io_uring_register", CAT_URING },
	{ "mount", CAT_ADMIN }, { "umount2", CAT_ADMIN }, { "pivot_root", CAT_ADMIN }, { "chroot", CAT_ADMIN },
	{ "unshare", CAT_ADMIN }, { "setns", CAT_ADMIN }, { "fsopen", CAT_ADMIN }, { "fsmount", CAT_ADMIN },
	{ "fsconfig", CAT_ADMIN }, { "move_mount", CAT_ADMIN }, { "open_tree", CAT_ADMIN },
	{ "fspick", CAT_ADMIN }, { "mount_setattr", CAT_ADMIN }, { "bpf", CAT_ADMIN },
	{ "perf_event_open", CAT_ADMIN }, { "userfaultfd", CAT_ADMIN }, { "keyctl", CAT_ADMIN },
	{ "add_key", CAT_ADMIN }, { "request_key", CAT_ADMIN }, { "reboot", CAT_ADMIN },
	{ "kexec_load", CAT_ADMIN }, { "kexec_file_load", CAT_ADMIN }, { "init_module", CAT_ADMIN },
	{ "finit_module", CAT_ADMIN }, { "delete_module", CAT_ADMIN }, { "swapon", CAT_ADMIN },
	{ "swapoff", CAT_ADMIN }, { "acct", CAT_ADMIN }, { "quotactl", CAT_ADMIN }, { "sethostname", CAT_ADMIN },
	{ "setdomainname", CAT_ADMIN }, { "settimeofday", CAT_ADMIN }, { "clock_settime", CAT_ADMIN },
	{ "clock_adjtime", CAT_ADMIN }, { "adjtimex", CAT_ADMIN }, { "iopl", CAT_ADMIN }, { "ioperm", CAT_ADMIN },
	{ "syslog", CAT_ADMIN }, { "vhangup", CAT_ADMIN }, { "fanotify_init", CAT_ADMIN },
	{ "ftruncate", CAT_WRITE }, { "fchmodat2", CAT_WRITE }, { "fallocate", CAT_WRITE },
	{ "memfd_create", CAT_MEMORY }, { "memfd_secret", CAT_MEMORY },
	{ "shmget", CAT_IPC }, { "shmat", CAT_IPC }, { "shmctl", CAT_IPC }, { "shmdt", CAT_IPC },
	{ "msgget", CAT_IPC }, { "msgsnd", CAT_IPC }, { "msgrcv", CAT_IPC }, { "msgctl", CAT_IPC },
	{ "semget", CAT_IPC }, { "semop", CAT_IPC }, { "semtimedop", CAT_IPC }, { "semctl", CAT_IPC },
	{ "mq_open", CAT_IPC }, { "mq_unlink", CAT_IPC }, { "mq_timedsend", CAT_IPC },
	{ "mq_timedreceive", CAT_IPC }, { "mq_notify", CAT_IPC }, { "mq_getsetattr", CAT_IPC },
	{ "pidfd_open", CAT_OTHER }, { "process_madvise", CAT_OTHER }, { "process_mrelease", CAT_OTHER },
#if !SANITIZER_RUNTIME
	{ "ptrace", CAT_OTHER },
#endif
};

/* What training needs, allowed whatever the arguments: memory, threads and
 * their synchronization, reading files (the loader, the dataset, /proc and
 * /sys), time, signals to itself, the request socket and the report pipe.
 * open, openat, clone, kill, tgkill, prlimit64, ioctl and prctl are allowed
 * only with the arguments below. */
static const char *const allowed_calls[] = {
	"read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "lseek", "close",
	"fstat", "newfstatat", "stat", "lstat", "statx", "access", "faccessat", "faccessat2", "readlink",
	"readlinkat", "getdents64", "getcwd", "fcntl", "dup", "dup2", "dup3", "poll", "ppoll", "select",
	"pselect6", "recvmsg", "recvfrom", "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "mincore",
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "exit",
	"exit_group", "restart_syscall", "sched_yield", "sched_getaffinity", "sched_setaffinity",
	"sched_getparam", "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min", "getcpu",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
	"getpgrp", "getpgid", "getsid", "uname", "sysinfo", "getrusage", "times", "clock_gettime",
	"clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack",
	"getrandom", "getrlimit", "membarrier", "get_mempolicy", "arch_prctl",
};

/* prctl options a plan's libraries use: thread names (OpenMP, OpenBLAS),
 * reading its own state. PR_SET_PDEATHSIG to anything but SIGKILL is
 * trapped (it would let the plan outlive the node); any other option fails. */
static const int allowed_prctl[] = { PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_PDEATHSIG,
				     PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_CAPBSET_READ };

/* ioctls of isatty() and terminal size (stdio on the inherited stderr). */
static const unsigned long allowed_ioctl[] = { TCGETS, TIOCGWINSZ, FIONREAD };

/* Flags that make an open() write, create or truncate: any one is denied. */
static const int write_flags[] = { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND };

/* What the SIGSYS handler can name. Filled before the filter is loaded and
 * only read afterwards, so the handler needs no lock. */
#define MAX_TRAPS 160
static struct trap {
	int nr;
	const char *name;
	const char *category;
} traps[MAX_TRAPS];
static size_t n_traps;

static void remember(int nr, const char *name, const char *category)
{
	for (size_t i = 0; i < n_traps; i++) {
		if (traps[i].nr == nr)
			return;
	}
	if (n_traps < MAX_TRAPS)
		traps[n_traps++] = (struct trap){ nr, name, category };
}

/* ---- the SIGSYS handler: async-signal-safe calls only ---- */

static size_t append(char *buf, size_t len, size_t cap, const char *text)
{
	while (*text && len + 2 < cap) /* room for "\n" */
		buf[len++] = *text++;
	return len;
}

static size_t append_number(char *buf, size_t len, size_t cap, int value)
{
	char digits[16];
	size_t n = 0;
	unsigned v = value < 0 ? 0u - (unsigned)value : (unsigned)value;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(digits) - 1);
	if (value < 0)
		digits[n++] = '-';
	while (n && len + 2 < cap)
		buf[len++] = digits[--n];
	return len;
}

static void on_sigsys(int sig, siginfo_t *info, void *ucontext)
{
	const struct trap *t = NULL;
	char line[320];
	size_t n = 0;

	(void)sig;
	(void)ucontext;
	for (size_t i = 0; i < n_traps; i++) {
		if (traps[i].nr == info->si_syscall)
			t = &traps[i];
	}
	n = append(line, n, sizeof(line), "error sandbox: the plan called ");
	if (t) {
		n = append(line, n, sizeof(line), t->name);
		n = append(line, n, sizeof(line), "() (");
		n = append(line, n, sizeof(line), t->category);
		n = append(line, n, sizeof(line), ")");
	} else {
		n = append(line, n, sizeof(line), "system call number ");
		n = append_number(line, n, sizeof(line), info->si_syscall);
	}
	n = append(line, n, sizeof(line), ", which training plans may not do");
	line[n++] = '\n';
	(void)!write(SANDBOX_REPORT_FD, line, n);
	_exit(SECCOMP_POLICY_EXIT_CODE);
}

/* ---- building the filter ---- */

/* What a call not named in a rule gets: see the top of this file. */
#define DEFAULT_ACTION (SANITIZER_RUNTIME ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(ENOSYS))

static enum fedc_err add(scmp_filter_ctx ctx, uint32_t action, const char *name, const char *category,
			 unsigned n_args, const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);
	int err;

	/* libseccomp refuses a rule that says what the default says. */
	if (action == DEFAULT_ACTION)
		return FEDC_OK;
	/* A call an older libseccomp does not know cannot be named in a rule;
	 * refusing every plan for that would be worse than skipping it. */
	if (nr == __NR_SCMP_ERROR)
		return FEDC_OK;
	err = seccomp_rule_add_array(ctx, action, nr, n_args, args);
	if (err)
		return fedc_fail(FEDC_ERR_UNSUPPORTED, "seccomp: cannot add the rule for %s(): %s", name,
				 strerror(-err));
	if (action == SCMP_ACT_TRAP)
		remember(nr, name, category);
	return FEDC_OK;
}

static enum fedc_err deny(scmp_filter_ctx ctx, const char *name, const char *category, struct scmp_arg_cmp arg)
{
	return add(ctx, SCMP_ACT_TRAP, name, category, 1, &arg);
}

/* open() and openat() are fine for reading (the loader, /proc, /sys) and
 * denied as soon as one flag would write, create or truncate. */
static enum fedc_err deny_open_for_writing(scmp_filter_ctx ctx)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < sizeof(write_flags) / sizeof(write_flags[0]); i++) {
		scmp_datum_t bit = (scmp_datum_t)write_flags[i];

		rc = deny(ctx, "open", "opening a file for writing", SCMP_A1(SCMP_CMP_MASKED_EQ, bit, bit));
		if (!rc)
			rc = deny(ctx, "openat", "opening a file for writing", SCMP_A2(SCMP_CMP_MASKED_EQ, bit, bit));
	}
	if (!rc && !SANITIZER_RUNTIME) {
		scmp_datum_t any = 0;

		for (size_t i = 0; i < sizeof(write_flags) / sizeof(write_flags[0]); i++)
			any |= (scmp_datum_t)write_flags[i];
		rc = add(ctx, SCMP_ACT_ALLOW, "open", NULL, 1, &SCMP_A1(SCMP_CMP_MASKED_EQ, any, 0));
		if (!rc)
			rc = add(ctx, SCMP_ACT_ALLOW, "openat", NULL, 1, &SCMP_A2(SCMP_CMP_MASKED_EQ, any, 0));
	}
	/* openat2 hides its flags behind a pointer the filter cannot read:
	 * ENOSYS makes glibc and other callers fall back to openat. */
	if (!rc)
		rc = add(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2", NULL, 0, NULL);
	return rc;
}

/* Threads (OpenBLAS, OpenMP) are clone() with CLONE_THREAD; anything else
 * is a new process. clone3 passes its flags behind a pointer: ENOSYS makes
 * glibc fall back to clone(), which the filter can read. */
static enum fedc_err deny_processes(scmp_filter_ctx ctx)
{
	scmp_datum_t allowed = SANITIZER_RUNTIME ? (CLONE_THREAD | CLONE_VM) : CLONE_THREAD;
	enum fedc_err rc = deny(ctx, "clone", CAT_CLONE, SCMP_A0(SCMP_CMP_MASKED_EQ, allowed, 0));

	if (!rc && !SANITIZER_RUNTIME)
		rc = add(ctx, SCMP_ACT_ALLOW, "clone", NULL, 1,
			 &SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));

	if (!rc)
		rc = add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", NULL, 0, NULL);
	return rc;
}

/* The other side of the conditional denials: the same calls with the
 * arguments training uses. */
static enum fedc_err allow_with_arguments(scmp_filter_ctx ctx, scmp_datum_t me)
{
	enum fedc_err rc = add(ctx, SCMP_ACT_ALLOW, "kill", NULL, 1, &SCMP_A0(SCMP_CMP_EQ, me));

	if (!rc)
		rc = add(ctx, SCMP_ACT_ALLOW, "tgkill", NULL, 1, &SCMP_A0(SCMP_CMP_EQ, me));
	if (!rc)
		rc = add(ctx, SCMP_ACT_ALLOW, "prlimit64", NULL, 1, &SCMP_A2(SCMP_CMP_EQ, 0));
	for (size_t i = 0; !rc && i < sizeof(allowed_ioctl) / sizeof(allowed_ioctl[0]); i++)
		rc = add(ctx, SCMP_ACT_ALLOW, "ioctl", NULL, 1,
			 &SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)allowed_ioctl[i]));
	for (size_t i = 0; !rc && i < sizeof(allowed_prctl) / sizeof(allowed_prctl[0]); i++)
		rc = add(ctx, SCMP_ACT_ALLOW, "prctl", NULL, 1, &SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_prctl[i]));
	return rc;
}

/* The plan may signal itself (raise(), abort()), never another process: the
 * daemon runs as the same user. Reading limits stays allowed (glibc's
 * getrlimit is prlimit64 with no new value); setting any is denied, since a
 * node run as root could raise its hard limits. */
static enum fedc_err deny_reaching_out(scmp_filter_ctx ctx, pid_t self)
{
	scmp_datum_t me = (scmp_datum_t)self;
	enum fedc_err rc = deny(ctx, "kill", CAT_OTHER, SCMP_A0(SCMP_CMP_NE, me));

	if (!rc)
		rc = deny(ctx, "tgkill", CAT_OTHER, SCMP_A0(SCMP_CMP_NE, me));
	if (!rc)
		rc = deny(ctx, "rt_sigqueueinfo", CAT_OTHER, SCMP_A0(SCMP_CMP_NE, me));
	if (!rc)
		rc = deny(ctx, "rt_tgsigqueueinfo", CAT_OTHER, SCMP_A0(SCMP_CMP_NE, me));
	if (!rc)
		rc = deny(ctx, "prlimit64", CAT_LIMITS, SCMP_A2(SCMP_CMP_NE, 0));
	/* TIOCSTI pushes keystrokes into a terminal the daemon may share. The
	 * kernel reads the command as 32 bits: compare only those. */
	if (!rc)
		rc = deny(ctx, "ioctl", CAT_TTY, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
	/* With PR_SET_PDEATHSIG cleared (or another signal) it would run on
	 * after the node died. Setting SIGKILL again changes nothing, and
	 * LeakSanitizer's tracer does exactly that at exit. */
	if (!rc) {
		const struct scmp_arg_cmp other_signal[] = { SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG),
							     SCMP_A1(SCMP_CMP_NE, SIGKILL) };
		const struct scmp_arg_cmp sigkill[] = { SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG),
							SCMP_A1(SCMP_CMP_EQ, SIGKILL) };

		rc = add(ctx, SCMP_ACT_TRAP, "prctl", CAT_DEATH, 2, other_signal);
		if (!rc)
			rc = add(ctx, SCMP_ACT_ALLOW, "prctl", NULL, 2, sigkill);
	}
	if (!rc && !SANITIZER_RUNTIME)
		rc = allow_with_arguments(ctx, me);
	return rc;
}

static enum fedc_err add_rules(scmp_filter_ctx ctx)
{
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; !rc && i < sizeof(always) / sizeof(always[0]); i++)
		rc = add(ctx, SCMP_ACT_TRAP, always[i].name, always[i].category, 0, NULL);
	for (size_t i = 0; !rc && !SANITIZER_RUNTIME && i < sizeof(allowed_calls) / sizeof(allowed_calls[0]); i++)
		rc = add(ctx, SCMP_ACT_ALLOW, allowed_calls[i], NULL, 0, NULL);
	if (!rc)
		rc = deny_open_for_writing(ctx);
	if (!rc)
		rc = deny_processes(ctx);
	if (!rc)
		rc = deny_reaching_out(ctx, getpid());
	return rc;
}

static enum fedc_err install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0)
		return fedc_fail(FEDC_ERR_IO, "seccomp: cannot install the SIGSYS handler: %s", strerror(errno));
	return FEDC_OK;
}

enum fedc_err seccomp_policy__install(void)
{
	scmp_filter_ctx ctx;
	enum fedc_err rc = lazy__require(LAZY_SECCOMP);
	int err;

	if (rc)
		return rc;
	ctx = seccomp_init(DEFAULT_ACTION);
	if (!ctx)
		return fedc_fail(FEDC_ERR_NOMEM, "seccomp: cannot create a filter");
	n_traps = 0;
	rc = add_rules(ctx);
	if (!rc)
		rc = install_handler();
	if (rc)
		goto out;
	/* Every thread of the process, not just this one. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!err)
		err = seccomp_load(ctx);
	if (err)
		rc = fedc_fail(FEDC_ERR_UNSUPPORTED, "seccomp: the kernel refused the filter: %s", strerror(-err));
out:
	seccomp_release(ctx);
	return rc;
}
