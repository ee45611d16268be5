/* The id list of add-nodes (see id_list.h). */
#include "id_list.h"

#include <stdlib.h>
#include <string.h>

#include "fedc/id.h"
#include "fedc/limits.h"

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Appends `id` to *ids, doubling the array as it fills. */
static enum fedc_err push(const char ***ids, size_t *n, size_t *cap, const char *id)
{
	if (*n == *cap) {
		size_t grown = *cap ? *cap * 2 : 64;
		const char **more = realloc(*ids, grown * sizeof(**ids));

		if (!more)
			return FEDC_ERR_NOMEM;
		*ids = more;
		*cap = grown;
	}
	(*ids)[(*n)++] = id;
	return FEDC_OK;
}

enum fedc_err admin__id_list_parse(char *text, const char *name, const char ***ids, size_t *n)
{
	size_t cap = 0, lineno = 0;
	enum fedc_err rc = FEDC_OK;
	char *line = text;

	*ids = NULL;
	*n = 0;
	while (!rc && line) {
		char *nl = strchr(line, '\n'), *id;

		if (nl)
			*nl = '\0';
		lineno++;
		id = trim(line);
		line = nl ? nl + 1 : NULL;
		if (!id[0] || id[0] == '#')
			continue;
		if (!fedc_id_valid(id))
			rc = fedc_fail(FEDC_ERR_INVAL, "%s line %zu: bad id \"%.64s\": 1 to %d of A-Z a-z 0-9 . _ -, not "
				       "starting with '.' or '-', one per line", name, lineno, id, FEDC_MAX_ID_LEN);
		else if (*n >= ADMIN_ID_LIST_MAX)
			rc = fedc_fail(FEDC_ERR_TOO_BIG, "%s: more than %d ids", name, ADMIN_ID_LIST_MAX);
		else
			rc = push(ids, n, &cap, id);
	}
	if (!rc && *n == 0)
		rc = fedc_fail(FEDC_ERR_INVAL, "%s holds no id (one per line; '#' starts a comment)", name);
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}
