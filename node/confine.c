/* Namespaces for the plan process: see confine.h.
 *
 * The parent clones the child straight into new user, mount, IPC, PID and
 * network namespaces (clone(2) with those flags, fork-like: no new stack),
 * writes the child's uid and gid maps from outside (only a process outside
 * the new user namespace may map it to a user other than its own), and
 * releases it through a pipe. The child then builds its root in a tmpfs
 * and pivots into it. Everything the child does before its exec is
 * async-signal-safe: the daemon has threads, and clone(2) without glibc's
 * fork() skips even the atfork handlers that make malloc usable. */
#define _GNU_SOURCE /* clone flags, pivot_root, execveat */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/log.h"

#define NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET)
/* Where the new root is built: any directory exists to mount a tmpfs on,
 * and the mount is private to the child's namespace. */
#define NEW_ROOT "/tmp"
#define OLD_ROOT "/.old-root"
#define PATH_CAP 4096

extern char **environ;

static int probed = -1; /* -1 not yet, 0 no, 1 yes */
static uid_t outer_uid;
static gid_t outer_gid;

/* ---- the parent's side --------------------------------------------------- */

static pid_t clone_into(int flags)
{
	return (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, 0UL);
}

/* The plan's root is the node's own user outside. Even when that is root,
 * a process in a child user namespace has no capability outside it: it
 * keeps only the owner's access to the files the node's user owns, and its
 * mount namespace shows it none of them but its plan and its data (which a
 * node run as root may have made 0600: another user could not read them). */
static void pick_outer_ids(void)
{
	outer_uid = geteuid();
	outer_gid = getegid();
}

static int write_proc_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	int fd, rc = -1;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
		close(fd);
	}
	return rc;
}

/* Maps the child's root to outer_uid / outer_gid. setgroups is denied first,
 * as the kernel requires of a gid map written without CAP_SETGID. */
static int write_id_maps(pid_t pid)
{
	char uid_map[64], gid_map[64];

	snprintf(uid_map, sizeof(uid_map), "0 %u 1\n", (unsigned)outer_uid);
	snprintf(gid_map, sizeof(gid_map), "0 %u 1\n", (unsigned)outer_gid);
	if (write_proc_file(pid, "setgroups", "deny") != 0 && errno != ENOENT)
		return -1;
	if (write_proc_file(pid, "uid_map", uid_map) != 0 || write_proc_file(pid, "gid_map", gid_map) != 0)
		return -1;
	return 0;
}

bool confine__probe(void)
{
	struct confine_child c = { 0 };
	const char *step = "";
	pid_t pid;
	int status = 0;

	if (probed >= 0)
		return probed == 1;
	pick_outer_ids();
	probed = 1; /* confine__fork() below tries the namespaces */
	pid = confine__fork(&c);
	if (pid == 0) {
		static const struct confine_paths none = { 0 };

		_exit(confine__enter(&c, &none, &step) == 0 ? 0 : 1);
	}
	if (pid > 0 && confine__release(&c, pid) != 0)
		(void)kill(pid, SIGKILL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !c.namespaces) {
		probed = 0;
		fedc_warn("sandbox: plans run WITHOUT namespaces here (%s): a plan can read every file user %u "
			  "can read, see every process, and keep System V shared memory after it ends; only "
			  "the seccomp filter and the limits hold (docs/security.md, \"Hosts without user "
			  "namespaces\")",
			  pid < 0 ? strerror(errno) : "a test plan process could not build its mount tree",
			  (unsigned)geteuid());
		return false;
	}
	fedc_info("sandbox: plans run in their own user, mount, IPC, PID and network namespaces, as uid %u "
		  "outside",
		  (unsigned)outer_uid);
	return true;
}

pid_t confine__fork(struct confine_child *c)
{
	pid_t pid;

	c->namespaces = false;
	c->go[0] = c->go[1] = -1;
	if (pipe2(c->go, O_CLOEXEC) != 0)
		return -1;
	pid = probed == 1 ? clone_into(NS_FLAGS) : fork();
	if (pid == 0) {
		c->namespaces = probed == 1;
		close(c->go[1]);
		c->go[1] = -1;
		return 0;
	}
	close(c->go[0]);
	c->go[0] = -1;
	if (pid < 0) {
		int saved = errno;

		close(c->go[1]);
		c->go[1] = -1;
		errno = saved;
		return -1;
	}
	c->namespaces = probed == 1;
	return pid;
}

int confine__release(struct confine_child *c, pid_t pid)
{
	char one = 1;
	int rc = 0, saved = 0;

	if ((c->namespaces && write_id_maps(pid) != 0) || write(c->go[1], &one, 1) != 1) {
		saved = errno;
		rc = -1;
	}
	close(c->go[1]);
	c->go[1] = -1;
	errno = saved;
	return rc;
}

/* ---- the child's side: async-signal-safe only ------------------------------ */

/* dst = a + b (b may be NULL), bounded; false if it does not fit. */
static bool join(char *dst, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;

	if (la + lb + 1 > PATH_CAP)
		return false;
	memcpy(dst, a, la);
	if (b)
		memcpy(dst + la, b, lb);
	dst[la + lb] = '\0';
	return true;
}

/* mkdir -p of `path` (absolute), each missing level 0755. */
static int make_dirs(const char *path)
{
	char buf[PATH_CAP];
	size_t len = strlen(path);

	if (len + 1 > sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = i < len ? '/' : '\0';
	}
	return 0;
}

/* The flags a read-only remount of `target` must keep: a mount namespace
 * owned by a user namespace may not clear flags the original mount had
 * (nosuid, nodev, noexec, the atime ones). */
static unsigned long kept_flags(const char *target)
{
	struct statvfs sv;
	unsigned long flags = 0;

	if (statvfs(target, &sv) != 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		flags |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		flags |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		flags |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		flags |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		flags |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		flags |= MS_RELATIME;
	return flags;
}

/* One thing of the host to show in the new root. Opened (O_PATH) before the
 * tmpfs covers NEW_ROOT, and bound through /proc/self/fd/N, which resolves
 * to the opened file itself: a source under /tmp stays reachable. */
struct source {
	const char *path;
	bool optional;
	bool system;   /* a system folder: a link is copied as a link */
	int fd;        /* -1: absent (optional) */
	char link[256]; /* a system link (merged /usr: /lib -> usr/lib): its target */
};

#define MAX_SOURCES 24

static int open_source(struct source *s, const char **step)
{
	ssize_t n;

	*step = s->path;
	s->fd = -1;
	s->link[0] = '\0';
	n = s->system ? readlink(s->path, s->link, sizeof(s->link) - 1) : -1;
	if (n >= 0 && (size_t)n < sizeof(s->link) - 1) {
		s->link[n] = '\0';
		return 0;
	}
	s->link[0] = '\0';
	/* The plan's own files: followed if they are links, and shown at the
	 * path the plan process is given. */
	s->fd = open(s->path, O_PATH | O_CLOEXEC);
	if (s->fd < 0 && (s->optional && errno == ENOENT))
		return 0;
	return s->fd < 0 ? -1 : 0;
}

/* "/proc/self/fd/N" without stdio. */
static void fd_path(int fd, char *out)
{
	char digits[16];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd > 0 && n < sizeof(digits));
	memcpy(out, "/proc/self/fd/", 14);
	for (size_t i = 0; i < n; i++)
		out[14 + i] = digits[n - 1 - i];
	out[14 + n] = '\0';
}

/* Shows `s` at its own path under the new root, read-only. */
static int show(const struct source *s, const char **step)
{
	char target[PATH_CAP], parent[PATH_CAP], via[32];
	struct stat sb;
	char *slash;
	int fd;

	*step = s->path;
	if (!join(target, NEW_ROOT, s->path))
		return -1;
	memcpy(parent, target, strlen(target) + 1);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	if (make_dirs(parent) != 0)
		return -1;
	if (s->link[0])
		return symlink(s->link, target) == 0 || errno == EEXIST ? 0 : -1;
	if (s->fd < 0)
		return 0;
	if (fstat(s->fd, &sb) != 0)
		return -1;
	if (S_ISDIR(sb.st_mode)) {
		if (mkdir(target, 0755) != 0 && errno != EEXIST)
			return -1;
	} else {
		fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		close(fd);
	}
	fd_path(s->fd, via);
	if (mount(via, target, NULL, MS_BIND | MS_REC, NULL) != 0)
		return -1;
	if (S_ISCHR(sb.st_mode))
		return 0; /* a device: read and written as it is */
	return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept_flags(target),
		     NULL);
}

_Static_assert(MAX_SOURCES >= 14 + 6, "room for the system's sources and the plan's own");

/* What the new root shows: the system's libraries (/bin, /lib ... are links
 * into /usr on a merged-/usr system: the same links), the loader's cache,
 * Debian's alternatives (libblas.so.3 is a link through them), the CPU
 * topology (OpenBLAS and OpenMP count cores there), four devices (a user
 * namespace cannot make device nodes), and the plan's own files. */
static size_t list_sources(const struct confine_paths *p, struct source *src)
{
	static const char *const system[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
					      "/etc/ld.so.cache", "/etc/alternatives", "/sys/devices/system/cpu",
					      "/dev/null", "/dev/zero", "/dev/random", "/dev/urandom" };
	const char *const own[] = { p->plan, p->data, p->labels, p->test_data, p->test_labels, p->scaffold_dir };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
		src[n++] = (struct source){ .path = system[i], .optional = true, .system = true };
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (own[i] && own[i][0]) /* the SCAFFOLD folder may not exist yet */
			src[n++] = (struct source){ .path = own[i], .optional = i == 5 };
	}
	return n;
}

static int populate(const struct confine_paths *p, const char **step)
{
	struct source src[MAX_SOURCES];
	size_t n = list_sources(p, src);
	int rc = 0;

	for (size_t i = 0; !rc && i < n; i++)
		rc = open_source(&src[i], step);
	if (!rc) {
		*step = "the new root";
		rc = mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755");
	}
	for (size_t i = 0; !rc && i < n; i++)
		rc = show(&src[i], step);
	if (!rc) {
		*step = "/proc";
		rc = make_dirs(NEW_ROOT "/proc");
	}
	/* A /proc of the child's own PID namespace: only its own processes.
	 * Without one (a host whose /proc is partly masked refuses a new
	 * mount), the plan simply has no /proc. */
	if (!rc)
		(void)mount("proc", NEW_ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	for (size_t i = 0; i < n; i++) {
		if (src[i].fd >= 0)
			close(src[i].fd);
	}
	return rc;
}

static int pivot(const char **step)
{
	*step = "pivot_root";
	if (make_dirs(NEW_ROOT OLD_ROOT) != 0 || syscall(SYS_pivot_root, NEW_ROOT, NEW_ROOT OLD_ROOT) != 0 ||
	    chdir("/") != 0)
		return -1;
	*step = "detaching the old root";
	if (umount2(OLD_ROOT, MNT_DETACH) != 0 || rmdir(OLD_ROOT) != 0)
		return -1;
	*step = "making the root read-only";
	return mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

int confine__enter(struct confine_child *c, const struct confine_paths *paths, const char **step)
{
	char go = 0;

	*step = "waiting for the parent";
	if (read(c->go[0], &go, 1) != 1)
		return -1;
	close(c->go[0]);
	c->go[0] = -1;
	*step = "";
	if (!c->namespaces)
		return 0;
	*step = "making the mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	if (populate(paths, step) != 0)
		return -1;
	return pivot(step);
}

int confine__open_exe(void)
{
	return open("/proc/self/exe", O_PATH | O_CLOEXEC);
}

void confine__exec(int exe_fd, char *const argv[])
{
	syscall(SYS_execveat, exe_fd, "", argv, environ, AT_EMPTY_PATH);
}
