/* Breakpoints: after each finished round, everything a resumed run needs to
 * continue bit for bit, in OUTPUT_DIR/breakpoints/round-NNNNNN/:
 *   global.params     the global parameters after the round (a hard link)
 *   aggregator.state  the aggregator's state (server optimiser moments,
 *                     control variates), when it has one
 *   breakpoint.json   the round, job, digests of the files above and of the
 *                     experiment and network files, the sampling RNG state,
 *                     the history files' lengths at that point and the
 *                     model tensors' roles (format 2: "param_roles", one
 *                     digit per tensor, "0" weight, "1" buffer, "2" local;
 *                     a format 1 breakpoint has none: all weights) and,
 *                     with keep_best, "best": {"round", "value"} (best.h)
 * A breakpoint is built in a temporary directory, fsync'd, and renamed into
 * place: a crash leaves the previous breakpoints whole and at worst a
 * ".round-*.tmp" directory that the next save removes. */
#ifndef FEDC_RESEARCHER_BREAKPOINT_H
#define FEDC_RESEARCHER_BREAKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "best.h"
#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/uuid.h"
#include "history.h"

#define BREAKPOINT_FORMAT 2
#define BREAKPOINT_FORMAT_OLDEST 1 /* still loaded */
#define BREAKPOINT_PATH_MAX 4096

struct breakpoint {
	uint32_t round;                 /* rounds finished */
	uint32_t rounds;                /* rounds the experiment asks for */
	char job_id[FEDC_UUID_STRLEN + 1];
	char plan_digest[FEDC_SHA256_HEXLEN + 1];
	char global_digest[FEDC_SHA256_HEXLEN + 1];     /* SHA-256 of global.params */
	char experiment_path[BREAKPOINT_PATH_MAX];       /* absolute */
	char experiment_digest[FEDC_SHA256_HEXLEN + 1];
	char network_path[BREAKPOINT_PATH_MAX];          /* "" when none was given */
	char network_digest[FEDC_SHA256_HEXLEN + 1];
	uint64_t rng[4];                                 /* node sampling state */
	uint64_t history_sizes[HISTORY_FILES];
	bool has_aggregator_state;
	char aggregator_digest[FEDC_SHA256_HEXLEN + 1];
	uint8_t roles[FEDC_MAX_TENSORS];                 /* enum fedc_param_role per model tensor */
	size_t n_roles;                                  /* 0: every tensor a weight */
	struct best_model best;                          /* keep_best's choice so far */
};

/* Saves `bp` with the files at `global_path` and `aggregator_state_path`
 * (NULL when bp->has_aggregator_state is false). FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err breakpoint__save(const char *output_dir, const struct breakpoint *bp, const char *global_path,
			       const char *aggregator_state_path);

/* The highest round with a breakpoint directory (complete or not: load
 * checks). FEDC_ERR_NOT_FOUND when there is none. */
FEDC_NODISCARD
enum fedc_err breakpoint__latest(const char *output_dir, uint32_t *round);

/* Loads and verifies the breakpoint of `round`: its JSON, its format, and
 * the digests of its files. Fills `dir` (capacity `cap`) with its directory.
 * FEDC_ERR_NOT_FOUND, FEDC_ERR_MALFORMED or FEDC_ERR_DIGEST (damaged or
 * truncated), each with a detail naming the file. */
FEDC_NODISCARD
enum fedc_err breakpoint__load(const char *output_dir, uint32_t round, struct breakpoint *bp, char *dir,
			       size_t cap);

/* Removes OUTPUT_DIR/breakpoints and every breakpoint in it, for a run that
 * starts afresh in a directory used before (`run --force`). FEDC_OK also when
 * there is none; FEDC_ERR_IO when something else is in the way. */
FEDC_NODISCARD
enum fedc_err breakpoint__remove_all(const char *output_dir);

#endif
