/* fedc-node-console: what the server and its pages share. One thread serves
 * every request (libmicrohttpd's internal polling thread), so the state
 * below needs no lock. docs/node-console.md. */
#ifndef FEDC_CONSOLE_H
#define FEDC_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "db.h"
#include "fedc/buf.h"
#include "session.h"
#include "store.h"

#define PAGE_MAX ((size_t)4 << 20) /* the largest page the console writes */

struct console {
	struct cli_ctx cli;     /* the loaded node.ini (cli.cfg) */
	struct node_db *db;     /* datasets and plans, read through node/db.h */
	struct store *store;    /* the console's own tables */
	struct sessions sessions;
};

/* A request as the pages see it. */
struct request {
	struct console *c;
	struct session *session; /* the logged-in session, NULL before login */
	const char *remote;      /* client address, for the audit log */
	const char *query_id;    /* ?id= of GET /datasets/show, /datasets/picture, /plans/source */
	const char *query_n;     /* ?n= of GET /datasets/picture */
	const struct form *form; /* POST fields, NULL for GET */
	int64_t now;
};

/* What a handler answers: a status, a page or a redirect. */
struct reply {
	unsigned status;
	struct fedc_buf body;
	const char *location;     /* 303 target */
	const char *content_type; /* NULL: an HTML page */
	char cookie[256];         /* Set-Cookie value, "" for none */
};

/* Pages (pages.c): each writes r->body and sets r->status. */
enum fedc_err pages__login(struct request *q, struct reply *r, struct session *anon, const char *error);
enum fedc_err pages__plans(struct request *q, struct reply *r, const char *message);
/* GET /plans/source?id=DIGEST: the source shipped with a plan. */
enum fedc_err pages__plan_source(struct request *q, struct reply *r);
enum fedc_err pages__datasets(struct request *q, struct reply *r, const char *message);
enum fedc_err pages__dataset_show(struct request *q, struct reply *r);
/* GET /datasets/picture?id=ID&n=K: a PNG (preview.h). */
enum fedc_err pages__dataset_picture(struct request *q, struct reply *r);
enum fedc_err pages__jobs(struct request *q, struct reply *r);
enum fedc_err pages__audit(struct request *q, struct reply *r);
enum fedc_err pages__error(struct reply *r, unsigned status, const char *message);

/* Actions (actions.c): POST handlers, after the session and CSRF checks. */
enum fedc_err actions__plan_decide(struct request *q, struct reply *r);
enum fedc_err actions__dataset_add(struct request *q, struct reply *r);
enum fedc_err actions__dataset_remove(struct request *q, struct reply *r);
struct upload;
/* An uploaded CSV file, complete and CSRF-checked (upload.h), registered
 * with `fedc-node dataset add`; the file is removed (upload__discard) when
 * that refuses it. */
enum fedc_err actions__dataset_upload(struct request *q, struct reply *r, struct upload *u);

/* Records an audit row; a failure is logged, not returned: the action it
 * records has happened already. */
void console__audit(struct request *q, const char *user, const char *action, const char *target,
		    const char *detail);

#endif
