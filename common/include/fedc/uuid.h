/* Random (version 4) UUIDs as 36-character lower-case strings. */
#ifndef FEDC_UUID_H
#define FEDC_UUID_H

#include <stdbool.h>

#define FEDC_UUID_STRLEN 36

/* Writes a new random UUID and its terminating NUL into `out`. */
void fedc_uuid_new(char out[FEDC_UUID_STRLEN + 1]);

/* True if `s` is exactly a UUID in the 8-4-4-4-12 hex form. */
bool fedc_uuid_valid(const char *s);

#endif
