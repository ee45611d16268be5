/* Downloads node updates on a few threads of their own, so that the
 * researcher keeps taking replies (and other downloads go on) while one
 * update arrives. Each fetch downloads an update into a file (its SHA-256
 * checked as it streams) and opens it, or takes one that came inline after
 * checking its SHA-256 (written out only when asked), and runs the caller's
 * check on it, all on the fetching thread; the caller collects the results
 * on its own thread.
 * Each thread has its own repository connection. */
#ifndef FEDC_RESEARCHER_FETCHER_H
#define FEDC_RESEARCHER_FETCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "experiment.h"
#include "fedc/err.h"
#include "fedc/params.h"

/* Enough to keep both cores busy with large updates and to overlap the round
 * trips of small ones. */
#define FETCHER_THREADS 4

struct fetcher;

/* Runs on a fetching thread with the opened update: FEDC_OK keeps it. */
typedef FEDC_NODISCARD enum fedc_err (*fetch_check_fn)(void *ctx, const struct fedc_params *update);

struct fetch_result {
	size_t tag;                  /* as submitted */
	enum fedc_err rc;
	bool refused;                /* rc came from the check, or inline bytes missed their digest: not the transfer */
	char error[512];             /* what went wrong, when rc != FEDC_OK */
	struct fedc_params *update;  /* FEDC_OK: opened and checked; the caller owns it */
};

/* Starts `threads` threads, each with a repository client made from `exp`. */
FEDC_NODISCARD
enum fedc_err fetcher__new(const struct experiment *exp, unsigned threads, struct fetcher **out);
/* Stops the threads once their current download is over; results not taken
 * are dropped. NULL is a no-op. */
void fetcher__free(struct fetcher *f);

/* Queues: GET the update `digest` of `node_id` into `path` (overwritten and
 * cut to size, not fsynced: a scratch file), then open it and, with `check`,
 * run check(ctx, update). A failed fetch removes `path`. */
FEDC_NODISCARD
enum fedc_err fetcher__submit(struct fetcher *f, size_t tag, const char *node_id, const char *digest,
			      const char *path, fetch_check_fn check, void *ctx);
/* The same for an update that came inside its train-reply (docs/protocol.md,
 * "Parameters inline"): takes `bytes` (malloc'd, `len` bytes; freed here
 * whatever happens) and, on a fetching thread, checks their SHA-256 against
 * `digest` unless `checked` (they came as a signed envelope's attachment,
 * hashed to `digest` when it was opened; a mismatch fails the fetch,
 * FEDC_ERR_DIGEST), writes them to
 * `path`, opens it and runs `check`. With `path` NULL no file is written: the
 * update is parsed from the bytes, which it then owns (a file and a mapping
 * per node-round cost more than the parse). FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err fetcher__submit_inline(struct fetcher *f, size_t tag, const char *node_id, const char *digest,
				     uint8_t *bytes, size_t len, bool checked, const char *path, fetch_check_fn check,
				     void *ctx);
/* Waits for the next result of those submitted. False when none is left. */
bool fetcher__next(struct fetcher *f, struct fetch_result *out);

#endif
