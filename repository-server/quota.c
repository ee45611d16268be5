/* Bytes per node's updates namespace: see quota.h. */
#include "quota.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fedc/buf.h"
#include "fedc/id.h"
#include "fedc/limits.h"
#include "fedc/log.h"

/* A federation's nodes: a list searched linearly is enough (thousands at
 * most, one search per upload); past this many, uploads are refused. */
#define QUOTA_MAX_NODES 100000

struct node_use {
	char id[FEDC_MAX_ID_LEN + 1];
	uint64_t bytes;
};

struct quota {
	pthread_mutex_t lock;
	uint64_t limit;
	struct fedc_buf nodes; /* struct node_use[] */
};

static struct node_use *nodes_of(const struct quota *q, size_t *n)
{
	*n = q->nodes.len / sizeof(struct node_use);
	return (struct node_use *)(void *)q->nodes.data;
}

/* The entry of `node`, made if missing; NULL without memory. Lock held. */
static struct node_use *entry(struct quota *q, const char *node)
{
	size_t n;
	struct node_use *use = nodes_of(q, &n);
	void *at = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(use[i].id, node) == 0)
			return &use[i];
	}
	if (fedc_buf_extend(&q->nodes, sizeof(struct node_use), &at) != FEDC_OK)
		return NULL;
	use = at;
	snprintf(use->id, sizeof(use->id), "%s", node);
	return use;
}

/* Adds the sizes of the blobs whose markers are under <root>/updates/<node>/. */
static enum fedc_err count_node(struct quota *q, const char *root, const char *node)
{
	char dir[PATH_MAX], fan[PATH_MAX + 4], blob[PATH_MAX + 96];
	struct dirent *f, *m;
	DIR *fans, *markers;
	struct node_use *use;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/updates/%s", root, node);
	fans = opendir(dir);
	if (!fans)
		return FEDC_OK;
	use = entry(q, node);
	while (use && (f = readdir(fans))) {
		if (strlen(f->d_name) != 2)
			continue;
		snprintf(fan, sizeof(fan), "%s/%s", dir, f->d_name);
		markers = opendir(fan);
		while (markers && (m = readdir(markers))) {
			if (strlen(m->d_name) != 64)
				continue;
			snprintf(blob, sizeof(blob), "%s/sha256/%s/%s", root, f->d_name, m->d_name);
			if (stat(blob, &sb) == 0)
				use->bytes += (uint64_t)sb.st_size;
		}
		if (markers)
			closedir(markers);
	}
	closedir(fans);
	return use ? FEDC_OK : FEDC_ERR_NOMEM;
}

enum fedc_err quota__open(struct store *st, uint64_t limit_bytes, struct quota **out)
{
	struct quota *q = calloc(1, sizeof(*q));
	char dir[PATH_MAX];
	struct dirent *e;
	enum fedc_err rc = FEDC_OK;
	DIR *d;

	*out = NULL;
	if (!q)
		return FEDC_ERR_NOMEM;
	pthread_mutex_init(&q->lock, NULL);
	fedc_buf_init(&q->nodes, QUOTA_MAX_NODES * sizeof(struct node_use));
	q->limit = limit_bytes;
	snprintf(dir, sizeof(dir), "%s/updates", store__root(st));
	d = limit_bytes ? opendir(dir) : NULL; /* without a limit, nothing to count */
	while (!rc && d && (e = readdir(d))) {
		if (fedc_id_valid(e->d_name))
			rc = count_node(q, store__root(st), e->d_name);
	}
	if (d)
		closedir(d);
	if (rc) {
		quota__free(q);
		return rc;
	}
	*out = q;
	return FEDC_OK;
}

void quota__free(struct quota *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	fedc_buf_free(&q->nodes);
	free(q);
}

bool quota__allows(struct quota *q, const char *node, uint64_t more)
{
	bool ok;

	if (!q->limit)
		return true;
	pthread_mutex_lock(&q->lock);
	{
		const struct node_use *use = entry(q, node);

		ok = use && more <= q->limit && use->bytes <= q->limit - more;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

bool quota__reserve(struct quota *q, const char *node, uint64_t bytes)
{
	struct node_use *use;
	bool ok;

	if (!q->limit)
		return true;
	pthread_mutex_lock(&q->lock);
	use = entry(q, node);
	ok = use && bytes <= q->limit && use->bytes <= q->limit - bytes;
	if (ok)
		use->bytes += bytes;
	pthread_mutex_unlock(&q->lock);
	return ok;
}

void quota__release(struct quota *q, const char *node, uint64_t bytes)
{
	struct node_use *use;

	if (!q->limit)
		return;
	pthread_mutex_lock(&q->lock);
	use = entry(q, node);
	if (use)
		use->bytes -= bytes < use->bytes ? bytes : use->bytes;
	pthread_mutex_unlock(&q->lock);
}

uint64_t quota__used(struct quota *q, const char *node)
{
	uint64_t bytes = 0;
	const struct node_use *use;
	size_t n;

	pthread_mutex_lock(&q->lock);
	use = nodes_of(q, &n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(use[i].id, node) == 0)
			bytes = use[i].bytes;
	}
	pthread_mutex_unlock(&q->lock);
	return bytes;
}

uint64_t quota__limit(const struct quota *q)
{
	return q->limit;
}
