/* Static files compiled into the console (assets.c). */
#ifndef FEDC_CONSOLE_ASSETS_H
#define FEDC_CONSOLE_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

/* True when `url` names one: *body (static storage), *len, *type. */
bool assets__get(const char *url, const char **body, size_t *len, const char **type);

#endif
