/* A CSV file uploaded from the browser (multipart/form-data POST to
 * /datasets/upload), taken part by part as libmicrohttpd's post processor
 * decodes the body, so that the file goes to disk as it arrives and is never
 * held in memory.
 *
 * The rules, checked as the parts arrive (the first broken one stops the
 * upload; the file written so far is removed):
 *   - the first field is `csrf`, the session's token: nothing is written
 *     before it is checked, so a forged form writes no byte; and at most
 *     UPLOAD_UNVERIFIED_MAX bytes of body (plus the piece in hand) are taken
 *     before it is, so a forged form cannot make the console read on;
 *   - the other text fields are `name`, `tags`, `description` and
 *     `label_column`, each once, at most FORM_VALUE_MAX bytes;
 *   - exactly one file, field `file`, at most UPLOAD_MAX_BYTES; it is
 *     written to a new file DIR/upload-XXXXXX.csv (mode 0640), DIR being
 *     the node's data_dir/uploads.
 * The text fields come back as a struct form (form.h), the file's path and
 * the name the browser gave it beside them. The dataset itself is checked
 * by `fedc-node dataset add`, as any other. Not thread-safe. */
#ifndef FEDC_CONSOLE_UPLOAD_H
#define FEDC_CONSOLE_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "form.h"
#include "session.h"

#define UPLOAD_MAX_BYTES ((uint64_t)512 << 20)
#define UPLOAD_PATH_MAX 4096
#define UPLOAD_FILENAME_MAX 255
/* Body bytes taken before the token is checked: the preamble, the csrf part
 * and the next part's headers fit in a few hundred. */
#define UPLOAD_UNVERIFIED_MAX ((uint64_t)64 << 10)

struct upload {
	struct session session;        /* a copy: whose CSRF token the form must carry */
	char dir[UPLOAD_PATH_MAX];
	bool csrf_ok;
	uint64_t unverified;           /* body bytes taken while !csrf_ok */
	struct form fields;            /* csrf, name, tags, description, label_column */
	char current[FORM_NAME_MAX + 1]; /* the field being received */
	uint64_t part_bytes;           /* its bytes so far */
	int fd;                        /* the file being written, -1 when none */
	bool have_file;
	uint64_t bytes;
	char path[UPLOAD_PATH_MAX];    /* where the file is, "" before it is */
	char filename[UPLOAD_FILENAME_MAX + 1]; /* as the browser named it (for the audit log) */
	unsigned status;               /* 0 while good; the HTTP status of a refusal */
	char why[256];                 /* the refusal, for the page */
};

/* Starts an upload for session `s` (copied) into `dir` (made, mode 0700, if
 * missing). FEDC_ERR_IO naming the folder. */
FEDC_NODISCARD
enum fedc_err upload__begin(struct upload *u, const char *dir, const struct session *s);

/* Before a piece of `size` raw body bytes is decoded (the post processor's
 * input, preamble and part headers included): counts it while the token is
 * not checked yet, and is false (403; later calls are refused too) when
 * UPLOAD_UNVERIFIED_MAX such bytes came before it. */
bool upload__body(struct upload *u, size_t size);

/* One piece of a part: `off` bytes of field `key` came before it;
 * `filename` is non-NULL for a file part. False when the upload is refused
 * (u->status and u->why say why; later calls are refused too). */
bool upload__part(struct upload *u, const char *key, const char *filename, const char *data, uint64_t off,
		  size_t size);

/* After the last part: false (with status and why) unless the csrf field
 * was good and a file came. Closes the file. */
bool upload__finish(struct upload *u);

/* Removes the file (a refused upload, or a dataset that was not
 * registered) and frees the fields. Safe to call twice. */
void upload__discard(struct upload *u);
/* Frees the fields, keeping the file (it is now a registered dataset's). */
void upload__free(struct upload *u);

#endif
