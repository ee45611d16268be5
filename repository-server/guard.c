/* Deadlines and a cap for unauthenticated connections: see guard.h. */
#include "guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fedc/clock.h"
#include "fedc/log.h"

/* One accepted connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED.
 * In the list in accept order: the head is the oldest. */
struct tracked {
	struct tracked *prev, *next;
	int fd;        /* -1 once closed by the reaper or stale */
	int64_t start_ms;
	bool trusted;
};

struct guard {
	struct guard_limits limits;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t reaper;
	bool stopping;
	struct tracked *head, *tail;
	size_t untrusted; /* entries with !trusted && fd >= 0 */
	uint64_t closed;  /* connections cut since start (guard__closed) */
};

static void unlink_entry(struct guard *g, struct tracked *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		g->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		g->tail = t->prev;
	t->prev = t->next = NULL;
}

/* Called with the lock held: the socket stops, MHD closes the connection. */
static void cut(struct guard *g, struct tracked *t)
{
	(void)shutdown(t->fd, SHUT_RDWR);
	t->fd = -1;
	g->untrusted--;
}

static void reap(struct guard *g, int64_t now)
{
	unsigned late = 0, over = 0;
	struct tracked *t;

	for (t = g->head; t; t = t->next) {
		if (!t->trusted && t->fd >= 0 && now - t->start_ms >= g->limits.deadline_ms) {
			cut(g, t);
			late++;
		}
	}
	/* Oldest first: a fresh connection has had the least time to show
	 * its token. */
	for (t = g->head; t && g->untrusted > g->limits.max_untrusted; t = t->next) {
		if (!t->trusted && t->fd >= 0) {
			cut(g, t);
			over++;
		}
	}
	g->closed += late + over;
	if (late || over)
		fedc_warn("closed unauthenticated connections: %u without a valid token %lld ms after "
			  "connecting, %u past the %zu allowed at once",
			  late, (long long)g->limits.deadline_ms, over, g->limits.max_untrusted);
}

static void *reaper_main(void *arg)
{
	struct guard *g = arg;
	struct timespec until;

	pthread_mutex_lock(&g->lock);
	while (!g->stopping) {
		reap(g, fedc_now_ms());
		clock_gettime(CLOCK_REALTIME, &until);
		fedc_timespec_add_ms(&until, g->limits.tick_ms);
		(void)pthread_cond_timedwait(&g->wake, &g->lock, &until);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

enum fedc_err guard__new(const struct guard_limits *limits, struct guard **out)
{
	struct guard *g = calloc(1, sizeof(*g));
	int err;

	*out = NULL;
	if (!g)
		return FEDC_ERR_NOMEM;
	g->limits = *limits;
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->wake, NULL);
	err = pthread_create(&g->reaper, NULL, reaper_main, g);
	if (err) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return fedc_fail(FEDC_ERR_IO, "connection guard thread: %s", strerror(err));
	}
	*out = g;
	return FEDC_OK;
}

void guard__free(struct guard *g)
{
	struct tracked *t;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->reaper, NULL);
	while ((t = g->head) != NULL) { /* none after MHD_stop_daemon */
		unlink_entry(g, t);
		free(t);
	}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static int connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return info ? info->connect_fd : -1;
}

static void on_started(struct guard *g, struct MHD_Connection *conn, void **socket_context)
{
	struct tracked *t = calloc(1, sizeof(*t));

	*socket_context = t;
	if (!t)
		return; /* untracked: it keeps only the idle timeout */
	t->fd = connection_fd(conn);
	t->start_ms = fedc_now_ms();
	pthread_mutex_lock(&g->lock);
	for (struct tracked *o = g->head; o && t->fd >= 0; o = o->next) {
		if (o->fd == t->fd) { /* stale: that connection's fd is closed */
			if (!o->trusted)
				g->untrusted--;
			o->fd = -1;
		}
	}
	t->prev = g->tail;
	if (g->tail)
		g->tail->next = t;
	else
		g->head = t;
	g->tail = t;
	if (t->fd >= 0)
		g->untrusted++;
	pthread_mutex_unlock(&g->lock);
}

static void on_closed(struct guard *g, void **socket_context)
{
	struct tracked *t = *socket_context;

	if (!t)
		return;
	pthread_mutex_lock(&g->lock);
	if (!t->trusted && t->fd >= 0)
		g->untrusted--;
	unlink_entry(g, t);
	pthread_mutex_unlock(&g->lock);
	free(t);
	*socket_context = NULL;
}

void guard__on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct guard *g = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		on_started(g, conn, socket_context);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		on_closed(g, socket_context);
}

void guard__trust(struct guard *g, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tracked *t = info ? info->socket_context : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&g->lock);
	if (!t->trusted && t->fd >= 0)
		g->untrusted--;
	t->trusted = true;
	pthread_mutex_unlock(&g->lock);
}

uint64_t guard__closed(struct guard *g)
{
	uint64_t n;

	pthread_mutex_lock(&g->lock);
	n = g->closed;
	pthread_mutex_unlock(&g->lock);
	return n;
}
