/* `fedc-researcher archive DIR` (named run_archive, not archive: <archive.h>
 * is libarchive's): one .tar.gz (written with libarchive) that
 * keeps what a run produced and how it was set up, without its secrets:
 *
 *   NAME/experiment.ini   the experiment file the run's latest breakpoint names,
 *   NAME/network.ini      and its network file (if one was given), each with
 *                         the value of every key whose name holds "token",
 *                         "password" or "secret" (and does not end in
 *                         "_file" or "_dir") replaced by REMOVED; the files
 *                         such keys point to (keys, passwords, tokens,
 *                         trusted keys) are never included
 *   NAME/history.jsonl, rounds.csv, nodes.csv, status.json (when there)
 *   NAME/analytics.csv, analytics.json  (an [analytics] step, when there)
 *   NAME/nodes/NODE.jsonl the per-node round logs (node_log.h); a run
 *                         without them (older) is archived without, saying so
 *   NAME/PLOT.svg         the plots: every .svg file in DIR (fedc-researcher plot)
 *   NAME/global.params, best.params (keep_best, when there)
 *   NAME/MANIFEST         "SHA256  PATH" per member above, the format of
 *                         sha256sum: `sha256sum -c MANIFEST` in NAME/ checks
 * NAME is the output directory's own name. Breakpoints, updates, the plan
 * and the lock are left out. */
#ifndef FEDC_RESEARCHER_RUN_ARCHIVE_H
#define FEDC_RESEARCHER_RUN_ARCHIVE_H

#include <stddef.h>
#include <stdio.h>

#include "fedc/err.h"

/* Writes the archive of the run in `output_dir` to `out_path`, replaced
 * atomically. An experiment or network file that is gone is left out, and
 * one that changed since the run is archived as it is; both are said on
 * `notes`. FEDC_ERR_NOT_FOUND (no run there: no breakpoint), FEDC_ERR_IO,
 * FEDC_ERR_NOMEM, with a detail. */
FEDC_NODISCARD
enum fedc_err run_archive__write(const char *output_dir, const char *out_path, FILE *notes);

/* The redaction above, of INI text `in` (len bytes) appended to `out`.
 * FEDC_ERR_NOMEM / FEDC_ERR_TOO_BIG from the buffer. */
struct fedc_buf;
FEDC_NODISCARD
enum fedc_err run_archive__redact_ini(const char *in, size_t len, struct fedc_buf *out);

#endif
