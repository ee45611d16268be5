/* The list of participants is the repository's tokens file itself: one
 * "ROLE ID SHA256HEX" line each. Keeping no second list means the broker's
 * ACL, the repository and `fedc-admin list` can never disagree. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/hash.h"

const char *admin__role_name(enum admin_role role)
{
	return role == ADMIN_ROLE_NODE ? "node" : "researcher";
}

void admin__registry_free(struct admin_registry *reg)
{
	fedc_buf_free(&reg->mem);
	reg->v = NULL;
	reg->n = 0;
}

/* The index of `id`, or reg->n. */
static size_t find_index(const struct admin_registry *reg, const char *id)
{
	size_t i = 0;

	while (i < reg->n && strcmp(reg->v[i].id, id) != 0)
		i++;
	return i;
}

const struct admin_participant *admin__registry_find(const struct admin_registry *reg, const char *id)
{
	size_t i = find_index(reg, id);

	return i < reg->n ? &reg->v[i] : NULL;
}

struct admin_participant *admin__registry_find_mut(struct admin_registry *reg, const char *id)
{
	size_t i = find_index(reg, id);

	return i < reg->n ? &reg->v[i] : NULL;
}

enum fedc_err admin__registry_add(struct admin_registry *reg, enum admin_role role, const char *id,
				  const char *digest)
{
	struct admin_participant *v;
	void *slot = NULL;
	enum fedc_err rc = fedc_buf_extend(&reg->mem, sizeof(*v), &slot);

	if (rc == FEDC_ERR_TOO_BIG)
		return fedc_fail(FEDC_ERR_TOO_BIG, "more than %d participants", ADMIN_MAX_PARTICIPANTS);
	if (rc)
		return rc;
	v = slot;
	v->role = role;
	snprintf(v->id, sizeof(v->id), "%s", id);
	snprintf(v->digest, sizeof(v->digest), "%s", digest);
	reg->v = (struct admin_participant *)reg->mem.data;
	reg->n++;
	return FEDC_OK;
}

void admin__registry_remove(struct admin_registry *reg, const char *id)
{
	for (size_t i = 0; i < reg->n; i++) {
		if (strcmp(reg->v[i].id, id) != 0)
			continue;
		memmove(&reg->v[i], &reg->v[i + 1], (reg->n - i - 1) * sizeof(reg->v[0]));
		reg->n--;
		reg->mem.len -= sizeof(reg->v[0]);
		return;
	}
}

/* One "ROLE ID HEX" line (NUL-terminated, comments already skipped). */
static enum fedc_err parse_line(struct admin_registry *reg, char *line, const char *path, unsigned lineno)
{
	char *save = NULL, *role = strtok_r(line, " \t", &save), *id = strtok_r(NULL, " \t", &save),
	     *hex = strtok_r(NULL, " \t", &save), *extra = strtok_r(NULL, " \t", &save);
	enum admin_role r;

	if (!role || !id || !hex || extra)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: expected \"ROLE ID SHA256HEX\"", path, lineno);
	if (!strcmp(role, "node"))
		r = ADMIN_ROLE_NODE;
	else if (!strcmp(role, "researcher"))
		r = ADMIN_ROLE_RESEARCHER;
	else
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: unknown role \"%s\"", path, lineno, role);
	if (!fedc_id_valid(id) || !fedc_hex_valid(hex, FEDC_SHA256_HEXLEN))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: bad id or digest", path, lineno);
	if (admin__registry_find(reg, id))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: \"%s\" listed twice", path, lineno, id);
	return admin__registry_add(reg, r, id, hex);
}

enum fedc_err admin__registry_load(const struct admin_fed *fed, struct admin_registry *reg)
{
	struct fedc_buf text = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX], *p, *nl;
	enum fedc_err rc;
	unsigned lineno = 0;

	reg->v = NULL;
	reg->n = 0;
	fedc_buf_init(&reg->mem, ADMIN_MAX_PARTICIPANTS * sizeof(*reg->v));
	rc = admin__path(path, fed->dir, "repository/tokens");
	if (!rc)
		rc = admin__read_file(path, ADMIN_MAX_LIST_BYTES, &text);
	if (rc == FEDC_ERR_NOT_FOUND) {
		fedc_clear_error();
		return FEDC_OK;
	}
	for (p = text.data; !rc && p && *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		if (*p == '#' || *p == '\0')
			continue;
		rc = parse_line(reg, p, path, lineno);
	}
	fedc_buf_free(&text);
	if (rc)
		admin__registry_free(reg);
	return rc;
}

enum fedc_err admin__registry_save(const struct admin_fed *fed, const struct admin_registry *reg)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = fedc_buf_printf(&b,
			       "# Repository tokens of federation %s, written by fedc-admin.\n"
			       "# ROLE ID SHA256HEX: the SHA-256 of the participant's token; the token\n"
			       "# itself is only in its bundle. Send SIGHUP to fedc-repository to reload.\n",
			       fed->name);
	for (size_t i = 0; !rc && i < reg->n; i++)
		rc = fedc_buf_printf(&b, "%s %s %s\n", admin__role_name(reg->v[i].role), reg->v[i].id,
				       reg->v[i].digest);
	if (!rc)
		rc = admin__path(path, fed->dir, "repository/tokens");
	/* Digests, not tokens, yet still 0600: no need to show who is enrolled. */
	if (!rc)
		rc = admin__write_secret(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}
