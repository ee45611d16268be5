/* Random UUIDs (libuuid) and their validation. */
#include "fedc/uuid.h"

#include <ctype.h>
#include <string.h>
#include <uuid/uuid.h>

void fedc_uuid_new(char out[FEDC_UUID_STRLEN + 1])
{
	uuid_t id;

	uuid_generate_random(id);
	uuid_unparse_lower(id, out);
}

bool fedc_uuid_valid(const char *s)
{
	if (!s || strlen(s) != FEDC_UUID_STRLEN)
		return false;
	for (size_t i = 0; i < FEDC_UUID_STRLEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}
