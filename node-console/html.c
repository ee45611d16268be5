/* HTML escaping (see html.h). */
#include "html.h"

#include <string.h>
#include <time.h>

static const char *entity(char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	default: return NULL;
	}
}

enum fedc_err html__text(struct fedc_buf *b, const char *s)
{
	enum fedc_err rc = fedc_buf_append(b, "", 0);
	size_t run = 0;

	/* Copies runs of plain bytes at once; bytes >= 0x80 (UTF-8) pass. */
	for (const char *p = s; !rc; p++) {
		unsigned char c = (unsigned char)*p;
		const char *e = entity(*p);
		bool drop = c < 0x20 && c != '\t' && c != '\n';

		if (c != '\0' && !e && !drop && c != 0x7f) {
			run++;
			continue;
		}
		rc = fedc_buf_append(b, p - run, run);
		run = 0;
		if (c == '\0')
			break;
		if (!rc && e)
			rc = fedc_buf_append(b, e, strlen(e));
	}
	return rc;
}

enum fedc_err html__time(struct fedc_buf *b, int64_t t)
{
	char text[40];
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		return fedc_buf_append(b, "-", 1);
	strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return fedc_buf_append(b, text, strlen(text));
}
