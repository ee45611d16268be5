/* Large downloads served a few at a time (download_turns.h).
 *
 * The queue is in order of arrival, so its head has waited longest: a thread
 * sleeps until the head's wait reaches max_wait_ms (or the queue changes) and
 * then resumes every request that has waited that long, without a turn. */
#include "download_turns.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "fedc/clock.h"
#include "fedc/err.h"
#include "fedc/log.h"

struct waiter {
	struct MHD_Connection *conn;
	struct download_ticket *ticket;
	int64_t since_ms; /* fedc_now_ms() when it was queued */
	struct waiter *next;
};

struct download_turns {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* the queue's head, or `stopping` */
	pthread_t waits;        /* ends long waits */
	unsigned at_once;       /* turns in all */
	unsigned held;          /* turns held by requests sending now */
	int64_t max_wait_ms;
	bool open;              /* after release_all: nobody waits */
	bool stopping;          /* the thread ends */
	struct waiter *head, *tail;
	size_t waiting;
};

/* The first waiting request, off the queue (t->lock held); NULL if none. */
static struct waiter *next_in_line(struct download_turns *t)
{
	struct waiter *w = t->head;

	if (w) {
		t->head = w->next;
		if (!t->head)
			t->tail = NULL;
		t->waiting--;
		pthread_cond_signal(&t->changed);
	}
	return w;
}

/* Resumes a waiter taken off the queue, holding a turn or, having waited
 * its longest, without one; frees it (t->lock held: see wait_in_line). */
static void resume(struct waiter *w, bool with_turn)
{
	if (with_turn)
		w->ticket->held = true;
	else
		w->ticket->waited = true;
	MHD_resume_connection(w->conn);
	free(w);
}

/* Resumes the waiters at the head that have waited max_wait_ms by `now`
 * (t->lock held); how many. */
static unsigned end_long_waits(struct download_turns *t, int64_t now)
{
	unsigned n = 0;

	for (; t->head && now - t->head->since_ms >= t->max_wait_ms; n++)
		resume(next_in_line(t), false);
	return n;
}

static void *long_waits_main(void *arg)
{
	struct download_turns *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		unsigned ended = end_long_waits(t, fedc_now_ms());
		struct timespec until;
		int64_t left;

		if (ended) { /* said without the lock: a log write may block */
			pthread_mutex_unlock(&t->lock);
			fedc_info("%u download(s) waited %lld ms for a turn: sent beside the others "
				  "(downloads_at_once; docs/repository.md, \"Downloads in turn\")",
				  ended, (long long)t->max_wait_ms);
			pthread_mutex_lock(&t->lock);
			continue; /* the queue may have changed meanwhile */
		}
		if (!t->head) {
			pthread_cond_wait(&t->changed, &t->lock);
			continue;
		}
		left = t->head->since_ms + t->max_wait_ms - fedc_now_ms();
		clock_gettime(CLOCK_MONOTONIC, &until);
		fedc_timespec_add_ms(&until, left > 0 ? left : 0);
		pthread_cond_timedwait(&t->changed, &t->lock, &until);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

enum fedc_err download_turns__new(unsigned at_once, int64_t max_wait_ms, struct download_turns **out)
{
	struct download_turns *t;
	pthread_condattr_t attr;

	*out = NULL;
	if (at_once == 0)
		return FEDC_OK;
	t = calloc(1, sizeof(*t));
	if (!t)
		return FEDC_ERR_NOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the deadlines are fedc_now_ms()'s */
	pthread_cond_init(&t->changed, &attr);
	pthread_condattr_destroy(&attr);
	t->at_once = at_once;
	t->max_wait_ms = max_wait_ms;
	if (pthread_create(&t->waits, NULL, long_waits_main, t) != 0) {
		pthread_cond_destroy(&t->changed);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return fedc_fail(FEDC_ERR_IO, "cannot start the thread of the download turns");
	}
	*out = t;
	return FEDC_OK;
}

/* Queues `conn` and suspends it (t->lock held: a turn ending meanwhile
 * cannot resume a connection not yet suspended). False if out of memory:
 * the caller then sends without a turn. */
static bool wait_in_line(struct download_turns *t, struct MHD_Connection *conn, struct download_ticket *ticket)
{
	struct waiter *w = malloc(sizeof(*w));

	if (!w)
		return false;
	*w = (struct waiter){ .conn = conn, .ticket = ticket, .since_ms = fedc_now_ms() };
	if (t->tail) {
		t->tail->next = w;
	} else {
		t->head = w;
		pthread_cond_signal(&t->changed); /* a new head: the thread's next deadline */
	}
	t->tail = w;
	t->waiting++;
	MHD_suspend_connection(conn);
	return true;
}

bool download_turns__take(struct download_turns *t, struct MHD_Connection *conn, uint64_t bytes,
			  struct download_ticket *ticket)
{
	bool now = true;

	if (!t || ticket->held || ticket->waited || bytes < DOWNLOAD_TURNS_MIN_BYTES)
		return true;
	pthread_mutex_lock(&t->lock);
	if (t->held < t->at_once) {
		t->held++;
		ticket->held = true;
	} else if (!t->open && wait_in_line(t, conn, ticket)) {
		now = false;
	} /* else stopping, or no memory to wait with: sent without a turn */
	pthread_mutex_unlock(&t->lock);
	return now;
}

void download_turns__end(struct download_turns *t, struct download_ticket *ticket)
{
	struct waiter *w;

	if (!t || !ticket->held)
		return;
	ticket->held = false;
	pthread_mutex_lock(&t->lock);
	w = next_in_line(t);
	if (w)
		resume(w, true); /* the turn passes on: `held` stays */
	else if (t->held)
		t->held--;
	pthread_mutex_unlock(&t->lock);
}

size_t download_turns__waiting(struct download_turns *t)
{
	size_t n;

	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	n = t->waiting;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void download_turns__release_all(struct download_turns *t)
{
	struct waiter *w;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->open = true;
	while ((w = next_in_line(t)) != NULL) {
		t->held++;
		resume(w, true);
	}
	pthread_mutex_unlock(&t->lock);
}

void download_turns__free(struct download_turns *t)
{
	struct waiter *w;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->changed);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->waits, NULL);
	while ((w = next_in_line(t)) != NULL)
		free(w);
	pthread_cond_destroy(&t->changed);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
