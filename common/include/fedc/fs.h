/* File-system steps that must survive a crash: directories made whole,
 * files replaced atomically and durably. */
#ifndef FEDC_FS_H
#define FEDC_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "fedc/err.h"

/* mkdir -p: creates `path` and its missing parents with `mode`. FEDC_ERR_IO. */
enum fedc_err fedc_mkdir_p(const char *path, mode_t mode);

/* Writes all `len` bytes to `fd` (retrying short writes and EINTR); `what`
 * names the file in the error. FEDC_ERR_IO. */
enum fedc_err fedc_write_all(int fd, const void *data, size_t len, const char *what);

/* Rewriting a scratch file in place (a memfd, a work file) rather than
 * making a new one keeps the pages it already has: a fresh page costs a
 * fault, and in a virtual machine often a second one in the host. Rewind,
 * write from offset 0, then cut the file where the writing stopped. Both
 * FEDC_ERR_IO naming `what`. */
enum fedc_err fedc_fd_rewind(int fd, const char *what);
enum fedc_err fedc_fd_cut_here(int fd, const char *what);

/* Asks the kernel to drop the clean cached pages of `path` (best effort,
 * no error): for a file kept on disk that will not be read again soon, so
 * that the next file written takes those pages. */
void fedc_drop_cached(const char *path);

/* Makes the entries of directory `dir` durable (after a create or rename). */
enum fedc_err fedc_fsync_dir(const char *dir);

/* Replaces `path` with `len` bytes: a temporary file beside it, fsync,
 * rename, fsync of the directory. A crash leaves the old file or the new
 * one, never a mix. FEDC_ERR_IO. */
enum fedc_err fedc_write_atomic(const char *path, const void *data, size_t len);
/* The same with the file's final mode (0600 for secrets: the temporary file
 * is 0600 from its creation). */
enum fedc_err fedc_write_atomic_mode(const char *path, const void *data, size_t len, mode_t mode);

/* Makes `dst` hold the content of `src`: a hard link when the file system
 * allows (the source is never rewritten in place: fedc replaces files by
 * rename), else an fsync'd copy. FEDC_ERR_IO. */
enum fedc_err fedc_link_or_copy(const char *src, const char *dst);

/* Reads a small secret (password, token) from `path` into `buf`, without a
 * trailing newline. Empty, over `cap`-1 bytes, or unreadable: FEDC_ERR_CONFIG
 * / FEDC_ERR_IO naming the file. Warns when others than the owner may read
 * it. */
enum fedc_err fedc_read_secret(const char *path, char *buf, size_t cap);

#endif
