/* The one rule for identifiers: see fedc/id.h. */
#include "fedc/id.h"

#include <string.h>

#include "fedc/limits.h"

bool fedc_id_valid(const char *id)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	size_t len = id ? strnlen(id, FEDC_MAX_ID_LEN + 1) : 0;

	if (len == 0 || len > FEDC_MAX_ID_LEN || id[0] == '.' || id[0] == '-')
		return false;
	return strspn(id, allowed) == len;
}
