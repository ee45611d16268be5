/* Confinement of the plan process by kernel namespaces (docs/security.md,
 * "How a plan runs").
 *
 * The plan process starts in its own user, mount, IPC, PID and network
 * namespaces:
 *   - mount: its root is an empty read-only tmpfs holding only what a plan
 *     needs: the system's libraries (/usr and the root-level links into it,
 *     read-only), /etc/ld.so.cache and /etc/alternatives, /dev/null, zero,
 *     random and urandom, a /proc of its own PID namespace, the CPU topology
 *     under /sys, and read-only binds of exactly its plan file, its dataset
 *     (file or folder), a separately registered test set, and the job's
 *     SCAFFOLD directory. The node's data
 *     directory, configuration and keys are not there to be read;
 *   - user: root inside is the node's own user outside, with no capability
 *     outside (not even when the node runs as root);
 *   - IPC: System V and POSIX message queues and shared memory die with it;
 *   - PID: it is PID 1 of its namespace, so killing it kills every process
 *     and thread in it, and it sees no other process;
 *   - network: a loopback interface that is down, nothing else.
 * The daemon's binary is executed through a file descriptor opened before
 * the namespaces exist, so the binary need not be visible inside.
 *
 * Hosts without unprivileged user namespaces (or where a namespace cannot be
 * made) fall back to the plain child: confine__probe() says so at start and
 * docs/security.md says what the operator loses. */
#ifndef FEDC_NODE_CONFINE_H
#define FEDC_NODE_CONFINE_H

#include <stdbool.h>
#include <sys/types.h>

/* What the plan process may see besides the system: absolute paths, NULL
 * or "" when absent. */
struct confine_paths {
	const char *plan;        /* the approved shared object */
	const char *data;        /* the dataset: a file or a folder */
	const char *labels;      /* a second dataset file (IDX labels) */
	const char *scaffold_dir; /* the job's SCAFFOLD state directory */
	const char *test_data;   /* a separately registered test set */
	const char *test_labels;
};

/* Checks once, at daemon start, that namespaces can be made here, and logs
 * what the plan processes will get (or lose). Returns whether they will be
 * confined. Calling it again returns the first answer. */
bool confine__probe(void);

/* One plan process being started. */
struct confine_child {
	bool namespaces; /* made in namespaces (set by confine__fork) */
	int go[2];       /* the parent tells the child its id maps are written */
};

/* Forks the plan process: in new namespaces when confine__probe() said so,
 * else a plain fork(). Returns as fork() does: the child's pid in the
 * parent, 0 in the child, -1 with errno. The child waits, in
 * confine__enter(), until the parent calls confine__release(): the parent
 * may first put it in a cgroup (plan_cgroup.h), so that it runs nothing
 * outside its limits. */
pid_t confine__fork(struct confine_child *c);

/* In the parent: writes the child's user and group maps (namespaces) and
 * lets it go. 0, or -1 with errno (the caller kills the child). */
int confine__release(struct confine_child *c, pid_t pid);

/* In the child, first: waits until the parent has released it, then (in
 * namespaces) builds the mount tree above and pivots into it. Only async-signal-safe
 * calls (the daemon has threads): no malloc, no stdio. Returns 0, or -1 with
 * errno and *step naming what failed. */
int confine__enter(struct confine_child *c, const struct confine_paths *paths, const char **step);

/* Opens the running binary for confine__exec (O_PATH | O_CLOEXEC): -1 with
 * errno. */
int confine__open_exe(void);
/* execveat(exe_fd, "", argv, environ, AT_EMPTY_PATH): runs the binary opened
 * before the mount tree changed. Returns only on failure. */
void confine__exec(int exe_fd, char *const argv[]);

#endif
