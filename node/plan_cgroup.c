/* A memory and pids cgroup per plan process: see plan_cgroup.h. */
#include "plan_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fedc/clock.h"
#include "fedc/log.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define PREFIX "fedc-plan."
#define EMPTY_WAIT_MS 2000

enum mode { MODE_NONE, MODE_V2, MODE_V1 };

static enum mode mode = MODE_NONE;
static char tag[96];
/* v2: the folder plan cgroups go in. v1: the memory and pids folders. */
static char base_a[PATH_MAX], base_b[PATH_MAX];

struct plan_cgroup {
	char dir_a[PATH_MAX + 128]; /* v2: the cgroup; v1: its memory folder */
	char dir_b[PATH_MAX + 128]; /* v1: its pids folder; "" in v2 */
};

/* ---- small file helpers ------------------------------------------------- */

static int write_text(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 192];
	size_t len = strlen(text);
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
		close(fd);
	}
	return rc;
}

/* Reads a small file into buf (NUL-terminated); false if unreadable. */
static bool read_text(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[PATH_MAX + 192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* True if the space-separated `list` holds `word`. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	}
	return false;
}

/* ---- where the daemon is ------------------------------------------------ */

/* The daemon's cgroup path for v2 ("0::/path") or for the v1 hierarchy that
 * holds `controller` ("N:a,b:/path"), from /proc/self/cgroup. */
static bool own_cgroup(const char *controller, char *path, size_t cap)
{
	char line[PATH_MAX + 64];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *first = strchr(line, ':'), *second = first ? strchr(first + 1, ':') : NULL;
		char list[128];
		size_t len;

		if (!second)
			continue;
		len = (size_t)(second - first - 1);
		if (len >= sizeof(list))
			continue;
		memcpy(list, first + 1, len);
		list[len] = '\0';
		for (char *c = list; *c; c++)
			if (*c == ',')
				*c = ' ';
		if ((controller && has_word(list, controller)) || (!controller && len == 0)) {
			second[strcspn(second, "\n")] = '\0';
			snprintf(path, cap, "%s", second + 1);
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* v2, delegated: memory and pids available for children of the daemon's
 * cgroup, the daemon itself in a leaf. */
static bool try_v2(void)
{
	char own[PATH_MAX - 64], dir[PATH_MAX], text[512], pid[32];

	if (!read_text(CGROUP_ROOT, "cgroup.controllers", text, sizeof(text)) || !own_cgroup(NULL, own, sizeof(own)))
		return false;
	snprintf(dir, sizeof(dir), "%s%s", CGROUP_ROOT, strcmp(own, "/") == 0 ? "" : own);
	if (!read_text(dir, "cgroup.controllers", text, sizeof(text)) || !has_word(text, "memory") ||
	    !has_word(text, "pids"))
		return false;
	if (!read_text(dir, "cgroup.subtree_control", text, sizeof(text)) || !has_word(text, "memory") ||
	    !has_word(text, "pids")) {
		/* Processes live only in leaves: the daemon moves into its own. */
		char leaf[PATH_MAX + 16];

		snprintf(leaf, sizeof(leaf), "%s/daemon", dir);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		if (strcmp(own, "/") != 0 && ((mkdir(leaf, 0755) != 0 && errno != EEXIST) ||
					      write_text(leaf, "cgroup.procs", pid) != 0))
			return false;
		if (write_text(dir, "cgroup.subtree_control", "+memory +pids") != 0)
			return false;
	}
	snprintf(base_a, sizeof(base_a), "%s", dir);
	base_b[0] = '\0';
	return true;
}

/* A folder of ours can be made in `dir`. */
static bool writable(const char *dir)
{
	char probe[PATH_MAX + 128];

	snprintf(probe, sizeof(probe), "%s/" PREFIX "%s.probe", dir, tag);
	if (mkdir(probe, 0755) != 0 && errno != EEXIST)
		return false;
	(void)rmdir(probe);
	return true;
}

static bool try_v1(void)
{
	char mem[PATH_MAX - 64], pids[PATH_MAX - 64];

	if (!own_cgroup("memory", mem, sizeof(mem)) || !own_cgroup("pids", pids, sizeof(pids)))
		return false;
	snprintf(base_a, sizeof(base_a), "%s/memory%s", CGROUP_ROOT, strcmp(mem, "/") == 0 ? "" : mem);
	snprintf(base_b, sizeof(base_b), "%s/pids%s", CGROUP_ROOT, strcmp(pids, "/") == 0 ? "" : pids);
	return writable(base_a) && writable(base_b);
}

/* ---- emptying and removing ---------------------------------------------- */

/* SIGKILL to every process in the cgroup at `dir`, until it is empty or
 * EMPTY_WAIT_MS pass; then rmdir. */
static void empty_and_remove(const char *dir)
{
	int64_t give_up = fedc_now_ms() + EMPTY_WAIT_MS;
	char text[4096], *save = NULL;

	while (read_text(dir, "cgroup.procs", text, sizeof(text)) && text[0] && fedc_now_ms() < give_up) {
		for (char *tok = strtok_r(text, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
			(void)kill((pid_t)atoi(tok), SIGKILL);
		usleep(5000);
	}
	if (rmdir(dir) != 0 && errno != ENOENT)
		fedc_warn("sandbox: cannot remove cgroup %s: %s", dir, strerror(errno));
}

/* Kills and removes what a previous daemon of this node left in `base`. */
static unsigned reap_leftovers(const char *base)
{
	char prefix[sizeof(tag) + 16], dir[PATH_MAX + 300];
	unsigned count = 0;
	struct dirent *e;
	DIR *d;

	if (!base[0] || !(d = opendir(base)))
		return 0;
	snprintf(prefix, sizeof(prefix), PREFIX "%s.", tag);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name);
		empty_and_remove(dir);
		count++;
	}
	closedir(d);
	return count;
}

/* "<node id>.<8 hex of the data dir>": ids are [A-Za-z0-9._-], safe in a
 * folder name; two nodes of one id on one machine differ by data dir. */
static void make_tag(const char *node_id, const char *data_dir)
{
	uint32_t h = 2166136261u;

	for (const char *c = data_dir; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	snprintf(tag, sizeof(tag), "%.64s.%08" PRIx32, node_id, h);
}

bool plan_cgroup__setup(const char *node_id, const char *data_dir)
{
	unsigned left;

	make_tag(node_id, data_dir);
	if (try_v2())
		mode = MODE_V2;
	else if (try_v1())
		mode = MODE_V1;
	else {
		mode = MODE_NONE;
		fedc_warn("sandbox: no cgroup for plans here (neither a delegated cgroup v2 with memory and pids, "
			  "nor writable v1 memory and pids hierarchies): the memory limit counts only the plan "
			  "process's resident pages and threads are not capped; the seccomp filter forbids the "
			  "calls that would get around that (docs/security.md, \"The limits\")");
		return false;
	}
	left = reap_leftovers(base_a) + reap_leftovers(base_b);
	if (left)
		fedc_warn("sandbox: killed the plan processes of %u cgroup(s) a previous run of this node left",
			  left);
	fedc_info("sandbox: each plan process gets a memory and pids cgroup (%s, under %s)",
		  mode == MODE_V2 ? "cgroup v2" : "cgroup v1", base_a);
	return true;
}

/* ---- one plan process --------------------------------------------------- */

static int make_cgroup(const char *base, pid_t pid, char *dir, size_t cap)
{
	snprintf(dir, cap, "%s/" PREFIX "%s.%d", base, tag, (int)pid);
	return mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int limit_v2(const struct plan_cgroup *cg, const char *bytes, const char *tasks, const char *pid)
{
	(void)write_text(cg->dir_a, "memory.swap.max", "0"); /* absent without swap accounting */
	if (write_text(cg->dir_a, "memory.max", bytes) != 0 || write_text(cg->dir_a, "pids.max", tasks) != 0)
		return -1;
	return write_text(cg->dir_a, "cgroup.procs", pid);
}

static int limit_v1(const struct plan_cgroup *cg, const char *bytes, const char *tasks, const char *pid)
{
	if (write_text(cg->dir_a, "memory.limit_in_bytes", bytes) != 0 ||
	    write_text(cg->dir_b, "pids.max", tasks) != 0)
		return -1;
	(void)write_text(cg->dir_a, "memory.memsw.limit_in_bytes", bytes); /* absent without swap accounting */
	if (write_text(cg->dir_a, "cgroup.procs", pid) != 0)
		return -1;
	return write_text(cg->dir_b, "cgroup.procs", pid);
}

struct plan_cgroup *plan_cgroup__enter(pid_t pid, int64_t memory_mb, int64_t max_tasks)
{
	struct plan_cgroup *cg;
	char bytes[32], tasks[32], text[32];
	int rc;

	if (mode == MODE_NONE)
		return NULL;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return NULL;
	snprintf(bytes, sizeof(bytes), "%" PRId64, memory_mb << 20);
	snprintf(tasks, sizeof(tasks), "%" PRId64, max_tasks);
	snprintf(text, sizeof(text), "%d", (int)pid);
	rc = make_cgroup(base_a, pid, cg->dir_a, sizeof(cg->dir_a));
	if (!rc && mode == MODE_V1)
		rc = make_cgroup(base_b, pid, cg->dir_b, sizeof(cg->dir_b));
	if (!rc)
		rc = mode == MODE_V2 ? limit_v2(cg, bytes, tasks, text) : limit_v1(cg, bytes, tasks, text);
	if (rc) {
		fedc_warn("sandbox: cannot put plan process %d in its cgroup (%s): it runs without", (int)pid,
			  strerror(errno));
		plan_cgroup__remove(cg);
		return NULL;
	}
	return cg;
}

bool plan_cgroup__oom_killed(const struct plan_cgroup *cg)
{
	char text[1024];
	const char *at;

	if (!cg)
		return false;
	if (!read_text(cg->dir_a, mode == MODE_V2 ? "memory.events" : "memory.oom_control", text, sizeof(text)))
		return false;
	at = strstr(text, "oom_kill ");
	return at && atoll(at + 9) > 0;
}

void plan_cgroup__remove(struct plan_cgroup *cg)
{
	if (!cg)
		return;
	if (cg->dir_a[0])
		empty_and_remove(cg->dir_a);
	if (cg->dir_b[0])
		empty_and_remove(cg->dir_b);
	free(cg);
}
