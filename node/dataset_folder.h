/* Folder datasets, the part every folder kind shares (images, NIfTI volumes):
 * the listing of a folder's files in a stable order, and reading them with
 * a digest that covers every file, so that a changed, added or removed file
 * is refused at load. docs/node-admin.md, "Folder datasets".
 *
 * The listing is recursive, byte-wise sorted by relative path ("a/b.png"
 * before "a/c.png", "B" before "a"), and skips names that start with '.'
 * (".DS_Store", editors' files). A symbolic link is followed only to a
 * regular file inside the folder; one out of it, to a folder, or a special
 * file (fifo, socket, device) is refused naming it.
 *
 * The digest is SHA-256 over, first, when the kind has one, an extra file
 * (a manifest or a demographics table) under the name "+extra", then each
 * file in listing order: its relative path, a NUL, its size (8 bytes
 * little-endian) and its bytes. */
#ifndef FEDC_NODE_DATASET_FOLDER_H
#define FEDC_NODE_DATASET_FOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dataset.h"
#include "fedc/buf.h"
#include "fedc/hash.h"

#define FOLDER_MAX_FILES 10000000u        /* files in one dataset folder */
#define FOLDER_MAX_DEPTH 16               /* folder levels below the root */

struct folder_file {
	char *rel;        /* relative path, '/'-separated; owned by the listing */
	uint64_t size;
	struct timespec changed; /* st_ctim: when the file (or its inode) last changed */
};

struct folder_listing {
	struct folder_file *files;
	size_t n;
	struct timespec newest_dir; /* the latest st_ctim of the root and its folders */
	char newest_dir_rel[NODE_PATH_MAX]; /* which folder that is ("." for the root) */
};

/* Lists `root` (an absolute or relative folder path) into `out`, sorted.
 * FEDC_ERR_IO: not a folder, unreadable; FEDC_ERR_MALFORMED: a symbolic
 * link out of the folder or to a folder, a special file, too deep;
 * FEDC_ERR_TOO_BIG: more than FOLDER_MAX_FILES files; FEDC_ERR_NOMEM. The
 * detail names the path. Free with dataset_folder__free (also after a
 * failure). */
FEDC_NODISCARD
enum fedc_err dataset_folder__list(const char *root, struct folder_listing *out);
void dataset_folder__free(struct folder_listing *l);

/* Reads one listed file whole into `out` (reset first) and feeds the digest
 * `h` with it as the header says. At most `max` bytes (FEDC_ERR_TOO_BIG
 * naming the file). A size other than listed: FEDC_ERR_DIGEST is not
 * decided here; the file is read as it is now and the digest tells. */
FEDC_NODISCARD
enum fedc_err dataset_folder__read(const char *root, const struct folder_file *f, size_t max, struct fedc_hash *h,
				   struct fedc_buf *out);

/* Reads the extra file `path` (not in the folder) whole into `out` and feeds
 * `h` with it under the name "+extra". */
FEDC_NODISCARD
enum fedc_err dataset_folder__read_extra(const char *path, size_t max, struct fedc_hash *h, struct fedc_buf *out);

/* The refusal at load when the digest differs: FEDC_ERR_DIGEST through
 * dataset__changed(), naming the files that changed or were added after
 * `since` (the registration's dataset_folder__now(); by their st_ctim), else
 * the folder a file was removed from, else the folder as a whole. The names
 * are a hint (a file touched without a change is named too); the digest
 * decides. `extra` (may be NULL) is the extra file. */
FEDC_NODISCARD
enum fedc_err dataset_folder__changed(const struct node_dataset *ds, const struct folder_listing *l, const char *extra,
				      struct timespec since, const char *now_digest);

/* The time of a listing, kept with the registration as "SEC.NSEC" (fine
 * clock: a file's st_ctim, coarse or fine, is never past it for a file
 * written before). format: into out (32 bytes); parse: false unless well
 * formed. */
void dataset_folder__format_time(struct timespec t, char *out, size_t cap);
bool dataset_folder__parse_time(const char *text, struct timespec *out);

/* "key=value;key=value": the value of `key` into `out` (cap bytes). False
 * when absent or too long. The kinds keep their options this way in
 * ds->options. */
bool dataset_folder__option(const char *options, const char *key, char *out, size_t cap);

/* "28x28" (n 2) or "16x16x16" (n 3): exactly n whole numbers from 1 to max
 * joined by 'x', into dims[0..n-1]. */
bool dataset_folder__parse_dims(const char *text, uint32_t n, uint32_t max, uint32_t *dims);

#endif
