/* Who a request comes from and what it may do (docs/repository.md,
 * "Access").
 *
 * Principals come from the single `token` setting (a researcher named
 * "admin") and from the `tokens_file`, one per line:
 *
 *     # ROLE       ID          SHA-256 of the bearer token (lower-case hex)
 *     researcher   alice       9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *     node         hospital-a  60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
 *
 * The server keeps only digests: a request's token is hashed and compared
 * with every known digest in constant time. With neither setting the store
 * is open: every request gets the OPEN principal, which may do anything.
 *
 * The set is swapped whole on reload (SIGHUP) under a lock, so a request sees
 * either the old set or the new one. All functions are thread-safe. */
#ifndef FEDC_REPOSITORY_AUTH_H
#define FEDC_REPOSITORY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"
#include "fedc/limits.h"

/* IDs follow fedc_id_valid() (fedc/id.h), the rule of every
 * participant ID of the federation: they also name store directories. */
#define AUTH_ID_MAX FEDC_MAX_ID_LEN

enum auth_role { AUTH_ROLE_OPEN, AUTH_ROLE_RESEARCHER, AUTH_ROLE_NODE };

struct principal {
	enum auth_role role;
	char id[AUTH_ID_MAX + 1]; /* "" for OPEN */
};

struct auth; /* opaque */

/* `token` and `tokens_file` may be "" (not set); both are copied. Loads the
 * file. FEDC_ERR_CONFIG (unreadable, or malformed: "<file>:<line>: why"),
 * FEDC_ERR_NOMEM. The caller frees *out with auth__free(). */
FEDC_NODISCARD
enum fedc_err auth__new(const char *token, const char *tokens_file, struct auth **out);
void auth__free(struct auth *a);

/* Whether requests need a token at all. */
bool auth__enabled(const struct auth *a);

/* Reads tokens_file again and swaps the set in. On any error the current set
 * stays and the error is returned (as auth__new). FEDC_OK without a file.
 * *count gets the number of principals in force afterwards (may be NULL). */
FEDC_NODISCARD
enum fedc_err auth__reload(struct auth *a, size_t *count);

/* The principal behind an Authorization header value (NULL: no header).
 * Returns false for no, malformed or unknown credentials (answer 401). With
 * auth disabled, every request is OPEN. */
bool auth__authenticate(struct auth *a, const char *header, struct principal *out);

/* Whether `p` may read (GET, HEAD) or write (PUT) a namespace: `update_node`
 * NULL for the published blobs, else the node whose updates are addressed.
 *   published blobs:  researchers write; researchers and nodes read
 *   updates of node X: node X writes; node X and researchers read */
bool auth__may(const struct principal *p, bool write, const char *update_node);

/* "researcher:alice", "node:a", "-" (OPEN, or nobody yet), for logs: one
 * word, so that log lines keep a fixed number of fields. */
void auth__describe(const struct principal *p, char *buf, size_t cap);

#endif
