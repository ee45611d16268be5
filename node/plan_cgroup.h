/* A memory and pids cgroup per plan process (docs/security.md, "The
 * limits").
 *
 * The resident-memory watch of the sandbox sees only the plan process's own
 * pages: a memfd it fills with fallocate(), or System V shared memory it
 * never maps, costs memory that no process shows, and a thread bomb costs no
 * memory at all. A cgroup counts all of it: the kernel charges every page the
 * process allocates, shared and file-backed ones included, to its memory
 * cgroup and kills it when it passes memory.max; the pids controller caps
 * its threads and processes.
 *
 * Where: cgroup v2 in the daemon's own cgroup when it is delegated to the
 * node's user (systemd's Delegate=yes; the daemon moves itself into a leaf
 * `daemon` child, as v2 wants processes only in leaves, and enables memory
 * and pids for its children), else the cgroup v1 memory and pids
 * hierarchies when the daemon may write there (a node run as root). Each
 * plan process gets `fedc-plan.<tag>.<pid>`, where <tag> names the node, so
 * that a restarted daemon finds and kills what a previous one left
 * (plan_cgroup__setup) and leaves other nodes' alone. Without either, the
 * daemon says so at start and the plan keeps the watch, the address-space
 * cap and the seccomp filter (which then forbids the calls that could get
 * around them). */
#ifndef FEDC_NODE_PLAN_CGROUP_H
#define FEDC_NODE_PLAN_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* At daemon start, once: finds where plan cgroups go, kills and removes
 * those a previous daemon of the same node left (`tag`: the node's id and
 * data directory, turned into a safe name), and logs what plans get.
 * Returns whether plans will get cgroups. */
bool plan_cgroup__setup(const char *node_id, const char *data_dir);

struct plan_cgroup; /* opaque */

/* Creates the cgroup of plan process `pid` with its limits (memory in MiB,
 * tasks: threads and processes together) and moves `pid` into it. NULL when
 * cgroups are unavailable or this fails (logged): the plan then runs
 * without, like on a host that has none. */
struct plan_cgroup *plan_cgroup__enter(pid_t pid, int64_t memory_mb, int64_t max_tasks);

/* Whether the kernel killed a process of this cgroup for passing its
 * memory limit (ask after the process has died). NULL: false. */
bool plan_cgroup__oom_killed(const struct plan_cgroup *cg);

/* Kills whatever still runs in it, removes it, frees. NULL is allowed. */
void plan_cgroup__remove(struct plan_cgroup *cg);

#endif
