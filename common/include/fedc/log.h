/* Levelled logging: one line per event, "2026-11-23T22:40:01.123Z INFO node: text",
 * to stderr or to a file. Safe from several threads (one write(2) per line). */
#ifndef FEDC_LOG_H
#define FEDC_LOG_H

#include <stdio.h>

enum fedc_log_level { FEDC_LOG_DEBUG, FEDC_LOG_INFO, FEDC_LOG_WARN, FEDC_LOG_ERROR };

/* Sets the component name shown on each line (copied), the minimum level and
 * the file descriptor to write to (2 for stderr). May be called again. */
void fedc_log_init(const char *component, enum fedc_log_level min_level, int fd);

/* Parses "debug", "info", "warn"/"warning" or "error". Returns 0, or -1 if unknown. */
int fedc_log_level_parse(const char *name, enum fedc_log_level *out);

void fedc_log(enum fedc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define fedc_debug(...) fedc_log(FEDC_LOG_DEBUG, __VA_ARGS__)
#define fedc_info(...) fedc_log(FEDC_LOG_INFO, __VA_ARGS__)
#define fedc_warn(...) fedc_log(FEDC_LOG_WARN, __VA_ARGS__)
#define fedc_error(...) fedc_log(FEDC_LOG_ERROR, __VA_ARGS__)

#endif
