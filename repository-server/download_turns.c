/* Large downloads served a few at a time (download_turns.h). */
#include "download_turns.h"

#include <pthread.h>
#include <stdlib.h>

struct waiter {
	struct MHD_Connection *conn;
	bool *turn;
	struct waiter *next;
};

struct download_turns {
	pthread_mutex_t lock;
	unsigned at_once;  /* turns in all */
	unsigned held;     /* turns held by requests sending now */
	bool open;         /* after release_all: nobody waits */
	struct waiter *head, *tail;
	size_t waiting;
};

enum fedc_err download_turns__new(unsigned at_once, struct download_turns **out)
{
	struct download_turns *t;

	*out = NULL;
	if (at_once == 0)
		return FEDC_OK;
	t = calloc(1, sizeof(*t));
	if (!t)
		return FEDC_ERR_NOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->at_once = at_once;
	*out = t;
	return FEDC_OK;
}

/* Queues `conn` and suspends it (t->lock held: a turn ending meanwhile
 * cannot resume a connection not yet suspended). False if out of memory:
 * the caller then sends without a turn. */
static bool wait_in_line(struct download_turns *t, struct MHD_Connection *conn, bool *turn)
{
	struct waiter *w = malloc(sizeof(*w));

	if (!w)
		return false;
	*w = (struct waiter){ .conn = conn, .turn = turn };
	if (t->tail)
		t->tail->next = w;
	else
		t->head = w;
	t->tail = w;
	t->waiting++;
	MHD_suspend_connection(conn);
	return true;
}

bool download_turns__take(struct download_turns *t, struct MHD_Connection *conn, uint64_t bytes, bool *turn)
{
	bool now = true;

	if (!t || *turn || bytes < DOWNLOAD_TURNS_MIN_BYTES)
		return true;
	pthread_mutex_lock(&t->lock);
	if (t->held < t->at_once) {
		t->held++;
		*turn = true;
	} else if (t->open || !wait_in_line(t, conn, turn)) {
		now = true; /* stopping, or no memory to wait with: sent without a turn */
	} else {
		now = false;
	}
	pthread_mutex_unlock(&t->lock);
	return now;
}

/* The first waiting request, off the queue (t->lock held); NULL if none. */
static struct waiter *next_in_line(struct download_turns *t)
{
	struct waiter *w = t->head;

	if (w) {
		t->head = w->next;
		if (!t->head)
			t->tail = NULL;
		t->waiting--;
	}
	return w;
}

void download_turns__end(struct download_turns *t, bool *turn)
{
	struct waiter *w;

	if (!t || !*turn)
		return;
	*turn = false;
	pthread_mutex_lock(&t->lock);
	w = next_in_line(t);
	if (w) {
		/* The turn passes on: `held` stays. */
		*w->turn = true;
		MHD_resume_connection(w->conn);
	} else if (t->held) {
		t->held--;
	}
	pthread_mutex_unlock(&t->lock);
	free(w);
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
		*w->turn = true;
		MHD_resume_connection(w->conn);
		free(w);
	}
	pthread_mutex_unlock(&t->lock);
}

void download_turns__free(struct download_turns *t)
{
	struct waiter *w;

	if (!t)
		return;
	while ((w = next_in_line(t)) != NULL)
		free(w);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
