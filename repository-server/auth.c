/* Principals, bearer tokens and the access rules of fedc-repository (see
 * auth.h). */
#include "auth.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fedc/hash.h"
#include "fedc/id.h"
#include "fedc/sign.h"
#include "textfile.h"

/* A tokens file is a short list of participants: these caps keep a wrong
 * path (a disk image, /dev/zero) from being read whole, and bound the linear
 * scan that every request makes. */
#define TOKENS_FILE_MAX ((size_t)4 << 20)
#define PRINCIPALS_MAX 10000
#define ADMIN_ID "admin"

struct entry {
	struct principal who;
	char digest[FEDC_SHA256_HEXLEN + 1];
	unsigned line; /* in the tokens file; 0 for the `token` setting */
};

/* One immutable generation of principals. */
struct token_set {
	size_t count;
	struct entry entries[]; /* count of them */
};

struct auth {
	bool enabled;
	char token_digest[FEDC_SHA256_HEXLEN + 1]; /* "" when no `token` */
	char *tokens_file;                          /* NULL when none */
	pthread_rwlock_t lock;                      /* guards `set` */
	struct token_set *set;
};

/* ---- IDs and descriptions ------------------------------------------------ */

static const char *role_name(enum auth_role role)
{
	switch (role) {
	case AUTH_ROLE_RESEARCHER:
		return "researcher";
	case AUTH_ROLE_NODE:
		return "node";
	case AUTH_ROLE_OPEN:
	default:
		return "-";
	}
}

void auth__describe(const struct principal *p, char *buf, size_t cap)
{
	if (p->role == AUTH_ROLE_OPEN)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%s:%s", role_name(p->role), p->id);
}

/* ---- access rules -------------------------------------------------------- */

bool auth__may(const struct principal *p, bool write, const char *update_node)
{
	switch (p->role) {
	case AUTH_ROLE_OPEN:
		return true; /* no auth configured: a development store */
	case AUTH_ROLE_RESEARCHER:
		/* Researchers publish plans and parameters and read every
		 * update, but an update is only ever written by its node. */
		return update_node ? !write : true;
	case AUTH_ROLE_NODE:
		/* Nodes read what is published, and only their own updates. */
		if (!update_node)
			return !write;
		return strcmp(update_node, p->id) == 0;
	default:
		return false;
	}
}

/* ---- the tokens file ----------------------------------------------------- */

/* Splits `line` (modified in place) into at most `max` fields separated by
 * blanks; a field starting with '#' starts a comment. Returns the count, or
 * max + 1 when there are more. */
static size_t split_fields(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == max)
			return max + 1;
		fields[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*p)
			*p++ = '\0';
	}
}

/* The line of the entry that already uses `digest`, or -1 (0: `token`). */
static long find_digest(const struct token_set *set, const char *digest)
{
	for (size_t i = 0; i < set->count; i++) {
		if (memcmp(set->entries[i].digest, digest, FEDC_SHA256_HEXLEN) == 0)
			return (long)set->entries[i].line;
	}
	return -1;
}

/* Checks one line's fields and appends its principal. */
static enum fedc_err parse_entry(const char *path, unsigned line, char **f, size_t nf,
				 struct token_set *set)
{
	struct entry *e = &set->entries[set->count];
	long dup;

	if (nf != 3)
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%u: expected 3 fields \"ROLE ID SHA256HEX\", got %s",
				 path, line, nf > 3 ? "more" : nf == 2 ? "2" : "1");
	if (strcmp(f[0], "node") == 0)
		e->who.role = AUTH_ROLE_NODE;
	else if (strcmp(f[0], "researcher") == 0)
		e->who.role = AUTH_ROLE_RESEARCHER;
	else
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%u: role \"%.32s\": expected node or researcher",
				 path, line, f[0]);
	if (!fedc_id_valid(f[1]))
		return fedc_fail(FEDC_ERR_CONFIG,
				 "%s:%u: id \"%.80s\": expected 1 to %d of A-Z a-z 0-9 . _ -, not starting "
				 "with . or -", path, line, f[1], AUTH_ID_MAX);
	/* The value is not echoed: it may be a token pasted by mistake. */
	if (!fedc_hex_valid(f[2], FEDC_SHA256_HEXLEN))
		return fedc_fail(FEDC_ERR_CONFIG,
				 "%s:%u: expected the SHA-256 of the token as 64 lower-case hex digits, got "
				 "%zu characters (the digest, not the token: printf %%s TOKEN | sha256sum)",
				 path, line, strlen(f[2]));
	dup = find_digest(set, f[2]);
	if (dup == 0)
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%u: same token as the `token` setting", path, line);
	if (dup > 0)
		return fedc_fail(FEDC_ERR_CONFIG, "%s:%u: same token as line %ld", path, line, dup);
	snprintf(e->who.id, sizeof(e->who.id), "%s", f[1]);
	memcpy(e->digest, f[2], FEDC_SHA256_HEXLEN + 1);
	e->line = line;
	set->count++;
	return FEDC_OK;
}

static enum fedc_err parse_tokens(const char *path, char *text, struct token_set *set)
{
	char *fields[4];
	unsigned line = 0;
	char *next;

	for (char *p = text; p; p = next) {
		size_t nf;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		line++;
		nf = split_fields(p, fields, 3);
		if (nf == 0)
			continue; /* blank or comment */
		if (set->count >= PRINCIPALS_MAX)
			return fedc_fail(FEDC_ERR_CONFIG, "%s:%u: more than %d principals", path, line,
					 PRINCIPALS_MAX);
		if (parse_entry(path, line, fields, nf, set) != FEDC_OK)
			return FEDC_ERR_CONFIG;
	}
	return FEDC_OK;
}

/* Lines in `text`: an upper bound of its principals. */
static size_t count_lines(const char *text)
{
	size_t n = 1;

	for (const char *p = strchr(text, '\n'); p; p = strchr(p + 1, '\n'))
		n++;
	return n;
}

/* Builds a set: the `token` principal (if any), then the file's. */
static enum fedc_err build_set(const struct auth *a, struct token_set **out)
{
	struct token_set *set = NULL;
	char *text = NULL;
	size_t cap = 1;
	enum fedc_err rc = FEDC_OK;

	*out = NULL;
	if (a->tokens_file) {
		rc = textfile__read("tokens_file", a->tokens_file, TOKENS_FILE_MAX, &text);
		if (rc)
			return rc;
		cap += count_lines(text);
	}
	if (cap > PRINCIPALS_MAX + 1)
		cap = PRINCIPALS_MAX + 1;
	set = calloc(1, sizeof(*set) + cap * sizeof(struct entry));
	if (!set) {
		free(text);
		return FEDC_ERR_NOMEM;
	}
	if (a->token_digest[0]) {
		set->entries[0].who.role = AUTH_ROLE_RESEARCHER;
		snprintf(set->entries[0].who.id, sizeof(set->entries[0].who.id), ADMIN_ID);
		memcpy(set->entries[0].digest, a->token_digest, sizeof(a->token_digest));
		set->count = 1;
	}
	if (text)
		rc = parse_tokens(a->tokens_file, text, set);
	free(text);
	if (rc)
		free(set);
	else
		*out = set;
	return rc;
}

/* ---- life cycle ---------------------------------------------------------- */

enum fedc_err auth__new(const char *token, const char *tokens_file, struct auth **out)
{
	struct auth *a = NULL;
	enum fedc_err rc = FEDC_OK;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return FEDC_ERR_NOMEM;
	if (pthread_rwlock_init(&a->lock, NULL) != 0) {
		free(a);
		return FEDC_ERR_NOMEM;
	}
	a->enabled = (token && token[0]) || (tokens_file && tokens_file[0]);
	if (token && token[0])
		rc = fedc_hash_buffer(FEDC_HASH_SHA256, token, strlen(token), a->token_digest);
	if (!rc && tokens_file && tokens_file[0]) {
		a->tokens_file = strdup(tokens_file);
		if (!a->tokens_file)
			rc = FEDC_ERR_NOMEM;
	}
	if (!rc)
		rc = build_set(a, &a->set);
	if (rc)
		auth__free(a);
	else
		*out = a;
	return rc;
}

void auth__free(struct auth *a)
{
	if (!a)
		return;
	pthread_rwlock_destroy(&a->lock);
	free(a->set);
	free(a->tokens_file);
	free(a);
}

bool auth__enabled(const struct auth *a)
{
	return a->enabled;
}

enum fedc_err auth__reload(struct auth *a, size_t *count)
{
	struct token_set *fresh = NULL, *old;
	enum fedc_err rc = FEDC_OK;

	if (a->tokens_file)
		rc = build_set(a, &fresh);
	pthread_rwlock_wrlock(&a->lock);
	old = fresh ? a->set : NULL;
	if (fresh)
		a->set = fresh;
	if (count)
		*count = a->set->count;
	pthread_rwlock_unlock(&a->lock);
	free(old);
	return rc;
}

/* ---- authentication ------------------------------------------------------ */

bool auth__authenticate(struct auth *a, const char *header, struct principal *out)
{
	char digest[FEDC_SHA256_HEXLEN + 1];
	const struct token_set *set;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (!a->enabled)
		return true; /* OPEN */
	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	for (header += 7; *header == ' '; header++)
		;
	if (!*header || fedc_hash_buffer(FEDC_HASH_SHA256, header, strlen(header), digest) != FEDC_OK)
		return false;
	pthread_rwlock_rdlock(&a->lock);
	set = a->set;
	/* Every entry is compared, whole digests of equal length, in constant
	 * time and without stopping at a match: the time taken tells neither
	 * the token's length, nor how much of a guess matched, nor whom. */
	for (size_t i = 0; i < set->count; i++) {
		int differs = CRYPTO_memcmp(digest, set->entries[i].digest, FEDC_SHA256_HEXLEN);

		if (!differs && !found) {
			*out = set->entries[i].who;
			found = true;
		}
	}
	pthread_rwlock_unlock(&a->lock);
	return found;
}
