/* Writing HTML: every value that did not come from this program (names,
 * notes, paths and schemas from the database, form values echoed back) goes
 * through html__text, which escapes the five characters that can end a text
 * or a quoted attribute and drops control characters. */
#ifndef FEDC_CONSOLE_HTML_H
#define FEDC_CONSOLE_HTML_H

#include <stdint.h>

#include "fedc/buf.h"

/* Appends `s` escaped (& < > " ' become entities; control characters other
 * than tab and newline are dropped). FEDC_ERR_TOO_BIG, FEDC_ERR_NOMEM. */
FEDC_NODISCARD
enum fedc_err html__text(struct fedc_buf *b, const char *s);

/* Appends a unix time as "2026-01-02 03:04:05 UTC", "-" for 0. */
FEDC_NODISCARD
enum fedc_err html__time(struct fedc_buf *b, int64_t t);

#endif
