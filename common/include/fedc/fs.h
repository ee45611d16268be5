/* File-system steps that must survive a crash: directories made whole,
 * files replaced atomically and durably. */
#ifndef FEDC_FS_H
#define FEDC_FS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fedc/err.h"

/* mkdir -p: creates `path` and its missing parents with `mode`. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_mkdir_p(const char *path, mode_t mode);

/* Writes all `len` bytes to `fd` (retrying short writes and EINTR); `what`
 * names the file in the error. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_write_all(int fd, const void *data, size_t len, const char *what);

/* Reads exactly `len` bytes of `fd` from offset 0 into `buf` (pread: the file
 * position is left alone; retrying short reads and EINTR); `what` names the
 * file in the error. FEDC_ERR_IO, also when the file holds fewer bytes. */
FEDC_NODISCARD
enum fedc_err fedc_read_all_at_zero(int fd, void *buf, size_t len, const char *what);

/* Rewriting a scratch file in place (a memfd, a work file) rather than
 * making a new one keeps the pages it already has: a fresh page costs a
 * fault, and in a virtual machine often a second one in the host. Rewind,
 * write from offset 0, then cut the file where the writing stopped. Both
 * FEDC_ERR_IO naming `what`. */
FEDC_NODISCARD
enum fedc_err fedc_fd_rewind(int fd, const char *what);
FEDC_NODISCARD
enum fedc_err fedc_fd_cut_here(int fd, const char *what);

/* Asks the kernel to drop the clean cached pages of `path` (best effort,
 * no error): for a file kept on disk that will not be read again soon, so
 * that the next file written takes those pages. */
void fedc_drop_cached(const char *path);

/* Makes the entries of directory `dir` durable (after a create or rename). */
FEDC_NODISCARD
enum fedc_err fedc_fsync_dir(const char *dir);

/* A file replaced atomically and durably: the one way fedc writes a file that
 * must survive a crash whole (parameters, states, downloads, blobs, configs).
 *
 *   struct fedc_atomic_file af;
 *   rc = fedc_atomic_begin(&af, path, 0644);  // af.fd is open for writing
 *   if (!rc) rc = write(af.fd, ...) ...;
 *   rc = rc ? (fedc_atomic_abort(&af), rc) : fedc_atomic_commit(&af);
 *
 * The new content goes into a temporary file in `path`'s directory (so that
 * the rename is atomic), made with O_TMPFILE where the file system has it:
 * then it has no name until commit, and a process killed while writing leaves
 * nothing behind. Elsewhere it is "<dir>/.<base>.XXXXXX" from its creation.
 * Commit: chmod to `mode`, fsync, name it, rename over `path`, fsync of the
 * directory. Readers see the old file or the new one, never a mix; after a
 * crash the disk holds one or the other. Every failure of commit, and abort,
 * closes the descriptor and removes the temporary file; the old `path` is
 * untouched unless the rename happened. The temporary file is 0600 until
 * commit, so a secret is never readable by others. Fault-injection point
 * "atomic-commit" (fedc/crash.h): after the fsync, before the file is named. */
struct fedc_atomic_file {
	int fd;               /* open for writing between begin and commit/abort, else -1 */
	mode_t mode;          /* the final file's mode */
	char path[PATH_MAX];  /* the file replaced */
	char tmp[PATH_MAX];   /* the temporary file's name; "" while it has none */
};

/* Opens the temporary file for `path`. FEDC_ERR_INVAL (empty, a directory
 * name, too long to add a temporary name to), FEDC_ERR_IO (directory missing
 * or not writable). On failure af->fd is -1 and nothing was created;
 * fedc_atomic_abort() is harmless then. */
FEDC_NODISCARD
enum fedc_err fedc_atomic_begin(struct fedc_atomic_file *af, const char *path, mode_t mode);
/* Publishes what was written to af->fd as `path` (see above). FEDC_ERR_IO
 * naming the step that failed; af is finished either way. */
FEDC_NODISCARD
enum fedc_err fedc_atomic_commit(struct fedc_atomic_file *af);
/* Drops the temporary file. Idempotent; harmless after commit. */
void fedc_atomic_abort(struct fedc_atomic_file *af);

/* Replaces `path` with `len` bytes through a fedc_atomic_file. A crash
 * leaves the old file or the new one, never a mix. FEDC_ERR_INVAL, FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_write_atomic(const char *path, const void *data, size_t len);
/* The same with the file's final mode (0600 for secrets: the temporary file
 * is 0600 from its creation). */
FEDC_NODISCARD
enum fedc_err fedc_write_atomic_mode(const char *path, const void *data, size_t len, mode_t mode);

/* Makes `dst` hold the content of `src`: a hard link when the file system
 * allows (the source is never rewritten in place: fedc replaces files by
 * rename), else an fsync'd copy. FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_link_or_copy(const char *src, const char *dst);

/* Replaces `dst` with a copy of `src` through a fedc_atomic_file with the
 * final mode `mode`: a failure (source unreadable, directory not writable,
 * path too long, disk full) leaves the old `dst` and no temporary file.
 * FEDC_ERR_INVAL, FEDC_ERR_IO. */
FEDC_NODISCARD
enum fedc_err fedc_copy_atomic(const char *src, const char *dst, mode_t mode);

/* Reads a small secret (password, token) from `path` into `buf`, without a
 * trailing newline. Empty, over `cap`-1 bytes, or unreadable: FEDC_ERR_CONFIG
 * / FEDC_ERR_IO naming the file. Warns when others than the owner may read
 * it. */
FEDC_NODISCARD
enum fedc_err fedc_read_secret(const char *path, char *buf, size_t cap);

/* Disk use of the tree under `dir`: *bytes, the blocks its files and
 * directories take (st_blocks, so sparse and hard-linked files count what
 * they really use; a file with several names counts once per name); *files,
 * its regular files. Symbolic links and other file systems are not followed. FEDC_ERR_IO naming the path (disk_usage.c). */
FEDC_NODISCARD
enum fedc_err fedc_disk_usage(const char *dir, uint64_t *bytes, uint64_t *files);

#endif
