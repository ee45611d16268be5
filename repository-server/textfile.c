/* See textfile.h. */
#include "textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum fedc_err textfile__read(const char *what, const char *path, size_t max, char **out)
{
	char *buf = NULL;
	struct stat sb;
	size_t len = 0;
	enum fedc_err rc = FEDC_OK;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_CONFIG, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s %s: not a regular file of at most %zu bytes", what,
			       path, max);
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		rc = FEDC_ERR_NOMEM;
		goto out;
	}
	while (len < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)sb.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fedc_fail(FEDC_ERR_CONFIG, "%s %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break; /* shrank while read: take what is there */
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s %s: binary content (a NUL byte)", what, path);
out:
	close(fd);
	if (rc)
		free(buf);
	else
		*out = buf;
	return rc;
}
