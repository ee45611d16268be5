/* Sets of this process's threads (see fedc/thread_set.h). */
#define _GNU_SOURCE
#include "fedc/thread_set.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void fedc_thread_set_free(struct fedc_thread_set *set)
{
	free(set->tids);
	set->tids = NULL;
	set->n = 0;
}

static bool add_tid(struct fedc_thread_set *set, size_t *cap, pid_t tid)
{
	if (set->n == *cap) {
		size_t new_cap = *cap ? 2 * *cap : 16;
		pid_t *grown = realloc(set->tids, new_cap * sizeof(*grown));

		if (!grown)
			return false;
		set->tids = grown;
		*cap = new_cap;
	}
	set->tids[set->n++] = tid;
	return true;
}

enum fedc_err fedc_thread_set_snapshot(struct fedc_thread_set *out)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t cap = 0;

	fedc_thread_set_free(out);
	if (!d)
		return fedc_fail(FEDC_ERR_IO, "cannot list /proc/self/task: %s", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);

		if (e->d_name[0] == '.' || *end || tid <= 0)
			continue;
		if (!add_tid(out, &cap, (pid_t)tid)) {
			closedir(d);
			fedc_thread_set_free(out);
			return FEDC_ERR_NOMEM;
		}
	}
	closedir(d);
	return FEDC_OK;
}

static bool contains(const struct fedc_thread_set *set, pid_t tid)
{
	for (size_t i = 0; i < set->n; i++) {
		if (set->tids[i] == tid)
			return true;
	}
	return false;
}

void fedc_thread_set_subtract(struct fedc_thread_set *set, const struct fedc_thread_set *older)
{
	size_t kept = 0;

	for (size_t i = 0; i < set->n; i++) {
		if (!contains(older, set->tids[i]))
			set->tids[kept++] = set->tids[i];
	}
	set->n = kept;
}

/* A thread's /proc entry goes when the kernel reaps it, after its
 * thread-exit destructors have run. */
static bool thread_exists(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld", (long)tid);
	return access(path, F_OK) == 0;
}

bool fedc_thread_set_wait_gone(const struct fedc_thread_set *set, int timeout_ms)
{
	const struct timespec tick = {0, 1000000};

	for (int waited = 0;; waited++) {
		size_t alive = 0;

		for (size_t i = 0; i < set->n; i++)
			alive += thread_exists(set->tids[i]);
		if (alive == 0)
			return true;
		if (waited >= timeout_ms)
			return false;
		nanosleep(&tick, NULL);
	}
}
