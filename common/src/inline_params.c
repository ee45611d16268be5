/* Parameter files inside MQTT messages: checked against their digest, read
 * from and written to the scratch files and memfds that hold them. */
#include "fedc/inline_params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/limits.h"
#include "fedc/sign.h"

size_t fedc_inline_params_fit(size_t max_payload)
{
	size_t rest = FEDC_MESSAGE_OVERHEAD_BYTES + FEDC_ENVELOPE_OVERHEAD;

	if (max_payload <= rest)
		return 0;
	return max_payload - rest < FEDC_MAX_INLINE_PARAMS ? max_payload - rest : FEDC_MAX_INLINE_PARAMS;
}

enum fedc_err fedc_inline_params_check(const void *data, size_t len, const char *digest, const char *what)
{
	char hex[FEDC_SHA256_HEXLEN + 1];
	enum fedc_err rc = fedc_hash_buffer(FEDC_HASH_SHA256, data, len, hex);

	if (rc)
		return rc;
	if (strcmp(hex, digest) != 0)
		return fedc_fail(FEDC_ERR_DIGEST, "%s carried in the message (%zu bytes) hash to %s, not to the %s it names",
				 what, len, hex, digest);
	return FEDC_OK;
}

enum fedc_err fedc_inline_params_read_fd(int fd, size_t max, uint8_t **out, size_t *len, char *hex)
{
	struct stat st;
	uint8_t *buf = NULL;
	enum fedc_err rc;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0)
		return fedc_fail(FEDC_ERR_IO, "the parameters to send inline: %s", strerror(errno));
	if (st.st_size < 0 || (uint64_t)st.st_size > max)
		return FEDC_ERR_TOO_BIG; /* not a failure: the repository path */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return fedc_fail(FEDC_ERR_NOMEM, "out of memory for %lld bytes of parameters", (long long)st.st_size);
	rc = fedc_read_all_at_zero(fd, buf, (size_t)st.st_size, "the parameters to send inline");
	if (!rc)
		rc = fedc_hash_buffer(FEDC_HASH_SHA256, buf, (size_t)st.st_size, hex);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = (size_t)st.st_size;
	return FEDC_OK;
}

enum fedc_err fedc_inline_params_write_fd(int fd, const void *data, size_t len, const char *what)
{
	enum fedc_err rc = fedc_fd_rewind(fd, what);

	if (!rc)
		rc = fedc_write_all(fd, data, len, what);
	if (!rc)
		rc = fedc_fd_cut_here(fd, what);
	return rc;
}
