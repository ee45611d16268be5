/* Console sessions, kept in the console's memory only (a restart logs
 * everyone out; no session secret is ever on disk).
 *
 * A session id is 256 random bits (hex) sent as the cookie
 * `fedc_console`; each session has its own CSRF token (256 bits, hex) that
 * every POST form carries and that is compared in constant time. A browser
 * gets an anonymous session with the login form (so that the login POST is
 * CSRF-checked too); logging in replaces it by a new one (no fixation).
 * Sessions end after `idle_s` without a request, or at logout.
 *
 * Login attempts are limited per client address: after LOGIN_FAILURES_MAX
 * failures within LOGIN_WINDOW_S, that address may not try again until the
 * window has passed since its first failure. Not thread-safe: the console
 * serves from one thread. */
#ifndef FEDC_CONSOLE_SESSION_H
#define FEDC_CONSOLE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"

#define SESSION_TOKEN_HEX 64 /* 32 random bytes */
#define SESSION_USER_MAX 64
#define SESSIONS_MAX 256
#define LOGIN_FAILURES_MAX 5
#define LOGIN_WINDOW_S 300
#define LOGIN_CLIENTS_MAX 256

struct session {
	char id[SESSION_TOKEN_HEX + 1];   /* "" for a free slot */
	char csrf[SESSION_TOKEN_HEX + 1];
	char user[SESSION_USER_MAX + 1];  /* "" while anonymous */
	int64_t last_seen;
};

struct login_client {
	char addr[64];
	int failures;
	int64_t first_failure;
};

struct sessions {
	int64_t idle_s;
	struct session s[SESSIONS_MAX];
	struct login_client clients[LOGIN_CLIENTS_MAX];
};

void sessions__init(struct sessions *all, int64_t idle_s);

/* Starts a session for `user` ("" for anonymous) and hands it back. When
 * the table is full the least recently used session is dropped. FEDC_ERR_IO
 * when no random bytes could be had. */
FEDC_NODISCARD
enum fedc_err sessions__start(struct sessions *all, const char *user, int64_t now, struct session **out);

/* Logged-in sessions not yet idle past idle_s at `now` (for the metrics). */
int64_t sessions__count_logged_in(const struct sessions *all, int64_t now);

/* The live session of cookie value `id` (NULL when unknown, malformed or
 * idle too long; an expired one is forgotten). Refreshes last_seen. */
struct session *sessions__find(struct sessions *all, const char *id, int64_t now);

/* Forgets a session (its id and token are wiped). */
void sessions__end(struct session *s);

/* True when `token` is the session's CSRF token (constant-time compare). */
bool sessions__csrf_ok(const struct session *s, const char *token);

/* Login rate limiting per client address. */
bool sessions__login_allowed(struct sessions *all, const char *addr, int64_t now);
void sessions__login_failed(struct sessions *all, const char *addr, int64_t now);
void sessions__login_succeeded(struct sessions *all, const char *addr);

#endif
