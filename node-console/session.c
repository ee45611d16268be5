/* Sessions, CSRF tokens and login rate limiting (see session.h). */
#include "session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

void sessions__init(struct sessions *all, int64_t idle_s)
{
	memset(all, 0, sizeof(*all));
	all->idle_s = idle_s;
}

static enum fedc_err random_hex(char out[SESSION_TOKEN_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char bytes[SESSION_TOKEN_HEX / 2];

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return fedc_fail(FEDC_ERR_IO, "no random bytes for a session");
	for (size_t i = 0; i < sizeof(bytes); i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[SESSION_TOKEN_HEX] = '\0';
	OPENSSL_cleanse(bytes, sizeof(bytes));
	return FEDC_OK;
}

/* A free slot, else the least recently used one (ended first). */
static struct session *slot_for_new(struct sessions *all)
{
	struct session *oldest = &all->s[0];

	for (size_t i = 0; i < SESSIONS_MAX; i++) {
		if (!all->s[i].id[0])
			return &all->s[i];
		if (all->s[i].last_seen < oldest->last_seen)
			oldest = &all->s[i];
	}
	sessions__end(oldest);
	return oldest;
}

enum fedc_err sessions__start(struct sessions *all, const char *user, int64_t now, struct session **out)
{
	struct session *s = slot_for_new(all);
	enum fedc_err rc;

	*out = NULL;
	if (strlen(user) > SESSION_USER_MAX)
		return fedc_fail(FEDC_ERR_INVAL, "user name too long");
	rc = random_hex(s->id);
	if (!rc)
		rc = random_hex(s->csrf);
	if (rc) {
		sessions__end(s);
		return rc;
	}
	memcpy(s->user, user, strlen(user) + 1);
	s->last_seen = now;
	*out = s;
	return FEDC_OK;
}

static bool token_shaped(const char *t)
{
	if (!t || strlen(t) != SESSION_TOKEN_HEX)
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

struct session *sessions__find(struct sessions *all, const char *id, int64_t now)
{
	struct session *found = NULL;

	if (!token_shaped(id))
		return NULL;
	/* Every slot is compared, in constant time, so that the time taken says
	 * nothing about how much of an id was right. */
	for (size_t i = 0; i < SESSIONS_MAX; i++)
		if (all->s[i].id[0] && CRYPTO_memcmp(all->s[i].id, id, SESSION_TOKEN_HEX) == 0)
			found = &all->s[i];
	if (found && now - found->last_seen > all->idle_s) {
		sessions__end(found);
		found = NULL;
	}
	if (found)
		found->last_seen = now;
	return found;
}

void sessions__end(struct session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
	memset(s, 0, sizeof(*s));
}

bool sessions__csrf_ok(const struct session *s, const char *token)
{
	return s && s->csrf[0] && token_shaped(token) && CRYPTO_memcmp(s->csrf, token, SESSION_TOKEN_HEX) == 0;
}

static struct login_client *client(struct sessions *all, const char *addr, bool create, int64_t now)
{
	struct login_client *free_slot = NULL, *oldest = &all->clients[0];

	for (size_t i = 0; i < LOGIN_CLIENTS_MAX; i++) {
		struct login_client *c = &all->clients[i];

		if (c->addr[0] && strcmp(c->addr, addr) == 0)
			return c;
		if (!c->addr[0] || now - c->first_failure > LOGIN_WINDOW_S)
			free_slot = free_slot ? free_slot : c;
		if (c->first_failure < oldest->first_failure)
			oldest = c;
	}
	if (!create)
		return NULL;
	free_slot = free_slot ? free_slot : oldest;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->addr, sizeof(free_slot->addr), "%s", addr);
	return free_slot;
}

bool sessions__login_allowed(struct sessions *all, const char *addr, int64_t now)
{
	struct login_client *c = client(all, addr, false, now);

	if (!c)
		return true;
	if (now - c->first_failure > LOGIN_WINDOW_S) {
		memset(c, 0, sizeof(*c));
		return true;
	}
	return c->failures < LOGIN_FAILURES_MAX;
}

void sessions__login_failed(struct sessions *all, const char *addr, int64_t now)
{
	struct login_client *c = client(all, addr, true, now);

	if (c->failures == 0 || now - c->first_failure > LOGIN_WINDOW_S) {
		c->failures = 0;
		c->first_failure = now;
	}
	c->failures++;
}

void sessions__login_succeeded(struct sessions *all, const char *addr)
{
	struct login_client *c = client(all, addr, false, 0);

	if (c)
		memset(c, 0, sizeof(*c));
}

int64_t sessions__count_logged_in(const struct sessions *all, int64_t now)
{
	int64_t n = 0;

	for (size_t i = 0; i < SESSIONS_MAX; i++)
		if (all->s[i].id[0] && all->s[i].user[0] && now - all->s[i].last_seen <= all->idle_s)
			n++;
	return n;
}
