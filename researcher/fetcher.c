/* A queue of fetches in, a queue of results out, both under one mutex; the
 * threads block on `work`, the caller on `done`. */
#include "fetcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/id.h"
#include "fedc/inline_params.h"
#include "fedc/log.h"
#include "fedc/repo.h"
#include "fedc/store_layout.h"

struct fetch {
	struct fetch *next;
	size_t tag;
	char node_id[FEDC_MAX_ID_LEN + 1];
	char digest[FEDC_SHA256_HEXLEN + 1];
	char *path;
	bool is_inline;        /* the update came in its reply: inline_bytes, not a download */
	uint8_t *inline_bytes; /* owned */
	size_t inline_len;
	bool inline_checked;   /* they hashed to `digest` when their envelope was opened */
	fetch_check_fn check;
	void *ctx;
	struct fetch_result result;
};

struct fetch_queue {
	struct fetch *head, *tail;
};

struct worker {
	struct fetcher *owner;     /* its store_dir is read, never written, by the workers */
	struct fedc_repo *repo;
	pthread_t thread;
	bool started;
};

struct fetcher {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct fetch_queue queued, finished;
	size_t outstanding; /* submitted, result not yet taken */
	bool stopping;
	struct worker *workers;
	unsigned n_workers;
	const char *store_dir; /* repository_store_dir, or NULL: updates are downloaded */
};

static void push(struct fetch_queue *q, struct fetch *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
}

static struct fetch *pop(struct fetch_queue *q)
{
	struct fetch *f = q->head;

	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
	}
	return f;
}

static void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	fedc_params_close(f->result.update);
	free(f->inline_bytes);
	free(f->path);
	free(f);
}

static void drop_all(struct fetch_queue *q)
{
	struct fetch *f;

	while ((f = pop(q)))
		fetch_free(f);
}

/* Overwrites the node's scratch file in place (fedc_fd_cut_here). */
static enum fedc_err download(struct fedc_repo *repo, const struct fetch *f)
{
	int fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	enum fedc_err rc;

	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", f->path, strerror(errno));
	rc = fedc_repo_get_update_fd(repo, f->node_id, f->digest, fd, 0);
	if (!rc)
		rc = fedc_fd_cut_here(fd, f->path);
	if (close(fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", f->path, strerror(errno));
	return rc;
}

/* `path` (a marker or a blob of the store) could not be had, errno says why:
 * ENOENT is "not there (yet)"; anything else is said. Either way the update
 * is downloaded. */
static enum fedc_err not_here(const struct fetch *f, const char *path)
{
	if (errno != ENOENT)
		fedc_warn("update %s of %s: %s: %s; downloading it", f->digest, f->node_id, path, strerror(errno));
	return FEDC_OK;
}

/* repository_store_dir: the update as the repository stored it, when the
 * node's namespace marks it (the marker comes after the blob is complete and
 * checked: store_layout.h). *found false: not there (yet), or not readable
 * here (said in the log), so download it. The bytes are hashed here all the
 * same, as a download's are: what is aggregated is what the node named. */
static enum fedc_err read_stored(const char *store_dir, const struct fetch *f, struct fedc_params **out, bool *found)
{
	char marker[PATH_MAX], blob[PATH_MAX], got[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc;
	int fd;

	*found = false;
	/* checked when the reply was decoded; again here, as they make paths */
	if (!fedc_id_valid(f->node_id) || !fedc_hex_valid(f->digest, FEDC_SHA256_HEXLEN) ||
	    !fedc_store_marker_path(store_dir, f->node_id, f->digest, marker, sizeof(marker)) ||
	    !fedc_store_blob_path(store_dir, f->digest, blob, sizeof(blob)))
		return FEDC_OK;
	if (access(marker, F_OK) != 0)
		return not_here(f, marker);
	fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return not_here(f, blob);
	*found = true;
	fedc_debug("update %s of %s: read in place from the repository's store", f->digest, f->node_id);
	rc = fedc_hash_fd(FEDC_HASH_SHA256, fd, got);
	if (!rc && strcmp(got, f->digest) != 0)
		rc = fedc_fail(FEDC_ERR_DIGEST, "%s: its SHA-256 is %s, not the %s the node named", blob, got, f->digest);
	else if (!rc)
		rc = fedc_params_open_fd(fd, out);
	if (rc && rc != FEDC_ERR_DIGEST)
		rc = fedc_fail(rc, "%s: %s", blob, fedc_last_error());
	close(fd);
	return rc;
}

/* Bytes that came inline hash to their digest (an attachment did already). */
static enum fedc_err check_inline(const struct fetch *f)
{
	return f->inline_checked ? FEDC_OK
				 : fedc_inline_params_check(f->inline_bytes, f->inline_len, f->digest, "the update");
}

/* An update that came inline: checked, then written where a download goes. */
static enum fedc_err write_inline(const struct fetch *f)
{
	enum fedc_err rc = check_inline(f);
	int fd;

	if (rc)
		return rc;
	fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", f->path, strerror(errno));
	rc = fedc_inline_params_write_fd(fd, f->inline_bytes, f->inline_len, f->path);
	if (close(fd) != 0 && !rc)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", f->path, strerror(errno));
	return rc;
}

/* An update that came inline and needs no file: checked, then parsed where
 * it lies; the update takes the bytes. */
static enum fedc_err adopt_inline(struct fetch *f, struct fedc_params **out)
{
	enum fedc_err rc = check_inline(f);

	if (!rc) {
		rc = fedc_params_adopt_buffer(f->inline_bytes, f->inline_len, out);
		f->inline_bytes = NULL; /* freed by the update, or by the failure */
	}
	return rc;
}

static void run_fetch(const char *store_dir, struct fedc_repo *repo, struct fetch *f)
{
	struct fetch_result *r = &f->result;
	bool opened = false; /* r->update made from the bytes, not from our file */

	if (f->is_inline && !f->path) {
		r->rc = adopt_inline(f, &r->update);
		opened = true;
	} else if (f->is_inline) {
		r->rc = write_inline(f);
	} else {
		if (store_dir)
			r->rc = read_stored(store_dir, f, &r->update, &opened);
		if (!opened)
			r->rc = download(repo, f);
	}
	r->refused = f->is_inline && r->rc == FEDC_ERR_DIGEST; /* the node's bytes, not the transfer */
	if (!r->rc && !opened)
		r->rc = fedc_params_open(f->path, &r->update);
	if (!r->rc && f->check) {
		r->rc = f->check(f->ctx, r->update);
		r->refused = r->rc != FEDC_OK;
	}
	if (r->rc) {
		snprintf(r->error, sizeof(r->error), "%s", fedc_last_error());
		fedc_params_close(r->update);
		r->update = NULL;
		if (f->path)
			(void)unlink(f->path);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fetcher *owner = w->owner;

	pthread_mutex_lock(&owner->lock);
	for (;;) {
		struct fetch *f;

		while (!owner->stopping && !owner->queued.head)
			pthread_cond_wait(&owner->work, &owner->lock);
		if (owner->stopping)
			break;
		f = pop(&owner->queued);
		pthread_mutex_unlock(&owner->lock);
		run_fetch(owner->store_dir, w->repo, f);
		pthread_mutex_lock(&owner->lock);
		push(&owner->finished, f);
		pthread_cond_signal(&owner->done);
	}
	pthread_mutex_unlock(&owner->lock);
	return NULL;
}

void fetcher__free(struct fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->lock);
	for (unsigned i = 0; i < f->n_workers; i++) {
		if (f->workers[i].started)
			pthread_join(f->workers[i].thread, NULL);
		fedc_repo_free(f->workers[i].repo);
	}
	drop_all(&f->queued);
	drop_all(&f->finished);
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->done);
	pthread_mutex_destroy(&f->lock);
	free(f->workers);
	free(f);
}

/* repository_store_dir, if this user can read it: its blobs and the nodes'
 * namespaces. Otherwise the run stops before its first round, saying so. */
static enum fedc_err use_store(struct fetcher *f, const char *store_dir)
{
	static const char *const parts[] = { FEDC_STORE_BLOBS_DIR, FEDC_STORE_UPDATES_DIR };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", store_dir, parts[i]);
		if (access(path, R_OK | X_OK) != 0)
			return fedc_fail(FEDC_ERR_CONFIG, "[network] repository_store_dir: %s: %s (the store_dir of the "
					 "fedc-repository on this machine, readable by this user)", path, strerror(errno));
	}
	f->store_dir = store_dir;
	return FEDC_OK;
}

enum fedc_err fetcher__new(const struct experiment *exp, unsigned threads, struct fetcher **out)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	enum fedc_err rc = FEDC_OK;

	*out = NULL;
	if (!f || threads == 0) {
		free(f);
		return f ? FEDC_ERR_INVAL : FEDC_ERR_NOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->work, NULL);
	pthread_cond_init(&f->done, NULL);
	f->workers = calloc(threads, sizeof(*f->workers));
	if (!f->workers) {
		fetcher__free(f);
		return FEDC_ERR_NOMEM;
	}
	f->n_workers = threads;
	if (exp->repository_store_dir && exp->repository_store_dir[0] && !exp->cross_site)
		rc = use_store(f, exp->repository_store_dir);
	for (unsigned i = 0; !rc && i < threads; i++) {
		struct worker *w = &f->workers[i];

		w->owner = f;
		rc = experiment__repo_new(exp, &w->repo);
		if (!rc && pthread_create(&w->thread, NULL, worker_main, w) != 0)
			rc = fedc_fail(FEDC_ERR_NOMEM, "cannot start a download thread");
		w->started = !rc;
	}
	if (rc) {
		fetcher__free(f);
		return rc;
	}
	*out = f;
	return FEDC_OK;
}

/* A queued fetch; `bytes` (is_inline) as for fetcher__submit_inline. */
struct submission {
	bool is_inline, checked;
	uint8_t *bytes;
	size_t len;
};

static enum fedc_err submit(struct fetcher *f, size_t tag, const char *node_id, const char *digest,
			    struct submission in, const char *path, fetch_check_fn check, void *ctx)
{
	struct fetch *job = calloc(1, sizeof(*job));

	if (!job || (path && !(job->path = strdup(path)))) {
		free(job);
		free(in.bytes);
		return FEDC_ERR_NOMEM;
	}
	job->is_inline = in.is_inline;
	job->inline_bytes = in.bytes;
	job->inline_len = in.len;
	job->inline_checked = in.checked;
	job->tag = job->result.tag = tag;
	snprintf(job->node_id, sizeof(job->node_id), "%s", node_id);
	snprintf(job->digest, sizeof(job->digest), "%s", digest);
	job->check = check;
	job->ctx = ctx;
	pthread_mutex_lock(&f->lock);
	push(&f->queued, job);
	f->outstanding++;
	pthread_cond_signal(&f->work);
	pthread_mutex_unlock(&f->lock);
	return FEDC_OK;
}

enum fedc_err fetcher__submit(struct fetcher *f, size_t tag, const char *node_id, const char *digest,
			      const char *path, fetch_check_fn check, void *ctx)
{
	return submit(f, tag, node_id, digest, (struct submission){ .is_inline = false }, path, check, ctx);
}

enum fedc_err fetcher__submit_inline(struct fetcher *f, size_t tag, const char *node_id, const char *digest,
				     uint8_t *bytes, size_t len, bool checked, const char *path, fetch_check_fn check,
				     void *ctx)
{
	struct submission in = { .is_inline = true, .checked = checked, .bytes = bytes, .len = len };

	return submit(f, tag, node_id, digest, in, path, check, ctx);
}

bool fetcher__next(struct fetcher *f, struct fetch_result *out)
{
	struct fetch *job;

	pthread_mutex_lock(&f->lock);
	if (f->outstanding == 0) {
		pthread_mutex_unlock(&f->lock);
		return false;
	}
	while (!f->finished.head)
		pthread_cond_wait(&f->done, &f->lock);
	job = pop(&f->finished);
	f->outstanding--;
	pthread_mutex_unlock(&f->lock);
	*out = job->result;
	job->result.update = NULL; /* the caller's now */
	fetch_free(job);
	return true;
}
