/* Levelled, timestamped logging: one line per event, written with one write(2)
 * so that lines from several threads or processes never interleave. */
#include "fedc/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char log_component[32] = "fedc";
static enum fedc_log_level log_min = FEDC_LOG_INFO;
static int log_fd = 2;
static bool log_to_journal; /* prefix lines with their syslog priority, <N> */

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

/* Whether `fd` is the stream systemd connected to the journal: it says so in
 * JOURNAL_STREAM, "DEVICE:INODE" of that stream (systemd.exec(5)). The
 * journal then reads a leading "<N>" as the line's priority, so that
 * `journalctl -p warning` selects WARN and ERROR lines. */
static bool is_journal_stream(int fd)
{
	const char *env = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	char end;

	if (!env || sscanf(env, "%ju:%ju%c", &dev, &ino, &end) != 2 || fstat(fd, &st) != 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void fedc_log_init(const char *component, enum fedc_log_level min_level, int fd)
{
	snprintf(log_component, sizeof(log_component), "%s", component ? component : "fedc");
	log_min = min_level;
	log_fd = fd;
	log_to_journal = is_journal_stream(fd);
}

int fedc_log_level_parse(const char *name, enum fedc_log_level *out)
{
	static const struct { const char *name; enum fedc_log_level level; } names[] = {
		{ "debug", FEDC_LOG_DEBUG }, { "info", FEDC_LOG_INFO }, { "warn", FEDC_LOG_WARN },
		{ "warning", FEDC_LOG_WARN }, { "error", FEDC_LOG_ERROR },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -1;
}

void fedc_log(enum fedc_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec now;
	struct tm tm;
	size_t len;
	int n;
	va_list ap;
	static const char priorities[] = { '7', '6', '4', '3' }; /* debug, info, warning, err */

	if (level < log_min || level > FEDC_LOG_ERROR)
		return;
	len = 0;
	if (log_to_journal) {
		line[len++] = '<';
		line[len++] = priorities[level];
		line[len++] = '>';
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	len += strftime(line + len, sizeof(line) - len, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + len, sizeof(line) - len, ".%03ldZ %s %s: ", now.tv_nsec / 1000000L,
		     level_names[level], log_component);
	if (n > 0)
		len += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	/* Keep one event on one line: a peer's string must not forge log lines. */
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	(void)!write(log_fd, line, len);
}
