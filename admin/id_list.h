/* The list of ids `fedc-admin add-nodes DIR FILE` reads: one id per line;
 * blank lines and lines starting with '#' are skipped; blanks around an id
 * are dropped. Kept apart from the rest of fedc-admin so that its fuzz
 * harness (tests/fuzz/fuzz_id_list.c) builds it alone. */
#ifndef FEDC_ADMIN_ID_LIST_H
#define FEDC_ADMIN_ID_LIST_H

#include <stddef.h>

#include "fedc/err.h"

/* Most ids one list may hold (ADMIN_MAX_PARTICIPANTS). */
#define ADMIN_ID_LIST_MAX 100000

/* Splits `text` (NUL-terminated; modified in place: each id ends in NUL)
 * into *ids, an array of *n pointers into it (the caller frees the array,
 * not the strings). `name` names the file in errors. FEDC_ERR_INVAL with the
 * line number for an id fedc_id_valid() refuses or a list with no id,
 * FEDC_ERR_TOO_BIG past ADMIN_ID_LIST_MAX ids, FEDC_ERR_NOMEM. Duplicates
 * are the caller's to refuse (admin__add_many). */
FEDC_NODISCARD
enum fedc_err admin__id_list_parse(char *text, const char *name, const char ***ids, size_t *n);

#endif
