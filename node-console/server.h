/* The console's HTTPS server (libmicrohttpd, one thread): routing, the
 * session and CSRF checks every request passes, login and logout. */
#ifndef FEDC_CONSOLE_SERVER_H
#define FEDC_CONSOLE_SERVER_H

#include "console.h"
#include "tls.h"

struct console_server; /* opaque */

/* Starts serving `c` on cfg [console] listen:port with `pem`.
 * FEDC_ERR_CONFIG (bad address), FEDC_ERR_IO (cannot listen: detail says
 * where), FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err server__start(struct console *c, const struct tls_pem *pem, struct console_server **out);
void server__stop(struct console_server *s);

#endif
