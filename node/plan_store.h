/* The node's kept copies of training plans: one file per plan,
 * <data_dir>/plans/<sha256>.so, named by the SHA-256 of its bytes whatever
 * digest the operator approves plans by (plan_digest.h). The admin CLI puts
 * files there (`plan approve FILE`), the daemon downloads into it (`approval`,
 * `training-plan-status`, `train`); this module is the one place that builds
 * those paths. */
#ifndef FEDC_NODE_PLAN_STORE_H
#define FEDC_NODE_PLAN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "fedc/err.h"
#include "fedc/hash.h"
#include "fedc/repo.h"

/* Creates <data_dir>/plans if needed (mode 0700; an existing directory keeps
 * its mode) and writes its absolute path to `dir`: the database keeps paths
 * into it and is read by processes whose working directories differ.
 * FEDC_ERR_CONFIG (path too long), FEDC_ERR_IO (cannot create or resolve). */
FEDC_NODISCARD
enum fedc_err plan_store__open(const char *data_dir, char *dir, size_t cap);

/* `dir`/<sha256>.so. FEDC_ERR_INVAL unless `sha256` is 64 lower-case hex
 * digits (a digest from a message is checked here before it names a file),
 * or when the path does not fit. */
FEDC_NODISCARD
enum fedc_err plan_store__path(const char *dir, const char *sha256, char *out, size_t cap);

/* Copies the file `src_path` into the store through a fedc_atomic_file
 * (fedc/fs.h), hashing the bytes it copies, so the digest handed back is
 * that of the kept copy: a source that changes while it is copied is
 * refused. `sha256` receives 65 bytes, `final_path` the kept copy's path.
 * FEDC_ERR_IO, FEDC_ERR_TOO_BIG (more than `max_bytes`), FEDC_ERR_DIGEST
 * (the source changed), FEDC_ERR_INVAL (path too long); on failure no
 * temporary file is left and an older copy of the same plan is intact. */
FEDC_NODISCARD
enum fedc_err plan_store__keep(const char *dir, const char *src_path, uint64_t max_bytes, char *sha256,
			       char *final_path, size_t cap);

/* The kept copy plan_store__fetch last found intact, so that a job's
 * rounds do not hash an unchanged file again each time: the file's identity
 * and times when it hashed to `sha256`. Any change to the file (a write, a
 * rename over it, chmod) moves its ctime, which no unprivileged process can
 * set back; a file changed in the same clock tick as the stat taken before
 * hashing would keep it, so a copy whose ctime is not some seconds old is
 * not remembered (git's "racily clean" rule). Zeroed: remembers nothing. */
struct plan_store_memo {
	char sha256[FEDC_SHA256_HEXLEN + 1];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* Makes sure the plan `sha256` is in the store, downloading it with `repo`
 * when it is missing or no longer hashes to its name; `path` receives its
 * path. With `memo` (NULL: none), a copy it shows unchanged since it hashed
 * right is not hashed again, and memo is updated. FEDC_ERR_INVAL (not a
 * SHA-256), FEDC_ERR_NOT_FOUND (not in the repository), else the
 * repository's errors, with a detail naming the plan. */
FEDC_NODISCARD
enum fedc_err plan_store__fetch(const char *dir, struct fedc_repo *repo, const char *sha256, uint64_t max_bytes,
				struct plan_store_memo *memo, char *path, size_t cap);

/* Deletes the kept copy at `path` if it is a file of this store (directly in
 * `dir` and named <sha256>.so): never another path, even one read from the
 * database. A missing file is not an error. FEDC_OK, FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err plan_store__remove(const char *dir, const char *path);

#endif
