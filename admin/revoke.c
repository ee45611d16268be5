/* Revocation (docs/provisioning.md, "Rotating, revoking and removing"):
 * the CRL the broker checks, the list it is made from, and the record of
 * revoked participants.
 *
 *   DIR/ca/revoked  "SERIALHEX ID UNIXTIME" per revoked certificate; it only
 *                   grows (a removed participant's certificates stay revoked)
 *   DIR/ca/crl.pem  the CRL made from it, signed by the CA (mosquitto's crlfile)
 *   DIR/revoked     "ROLE ID UNIXTIME" per revoked participant still on record
 *
 * Crash safety: as for add, repository/tokens is the commit record of revoke
 * and remove and is written after everything else; every step before it can
 * be redone, so a run that died can be run again. */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fedc/fs.h"
#include "fedc/num.h"

/* One line of a three-field list file, pointing into its text. */
struct triple {
	const char *f[3];
	unsigned lineno;
};

/* Reads the three-field lines of `path` (an absent file has none) into
 * *lines, an array of struct triple pointing into *text. '#' lines are
 * comments. FEDC_ERR_MALFORMED names the line. */
static enum fedc_err read_triples(const char *path, struct fedc_buf *text, struct fedc_buf *lines)
{
	enum fedc_err rc = admin__read_file(path, ADMIN_MAX_LIST_BYTES, text);
	unsigned lineno = 0;
	char *p, *nl;

	if (rc == FEDC_ERR_NOT_FOUND) {
		fedc_clear_error();
		return FEDC_OK;
	}
	for (p = text->data; !rc && p && *p; p = nl ? nl + 1 : p + strlen(p)) {
		char *save = NULL, *extra;
		struct triple *t;
		void *slot;

		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		if (*p == '#' || *p == '\0')
			continue;
		rc = fedc_buf_extend(lines, sizeof(*t), &slot);
		if (rc)
			break;
		t = slot;
		t->lineno = lineno;
		t->f[0] = strtok_r(p, " \t", &save);
		t->f[1] = strtok_r(NULL, " \t", &save);
		t->f[2] = strtok_r(NULL, " \t", &save);
		extra = strtok_r(NULL, " \t", &save);
		if (!t->f[0] || !t->f[1] || !t->f[2] || extra || !fedc_id_valid(t->f[1]))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s:%u: expected three fields, the second an id", path,
				       lineno);
	}
	return rc;
}

/* A list file of DIR, loaded: n lines in v, pointing into text. */
struct list {
	struct fedc_buf text, lines;
	const struct triple *v;
	size_t n;
};

#define LIST_INIT { FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES), FEDC_BUF_INIT(ADMIN_MAX_LIST_BYTES), NULL, 0 }

/* Loads DIR/`rel` ("ca/revoked", "revoked") into *l (LIST_INIT); free with
 * list_free, also on failure. */
static enum fedc_err list_load(const struct admin_fed *fed, const char *rel, struct list *l)
{
	char path[PATH_MAX];
	enum fedc_err rc = admin__path(path, fed->dir, rel);

	if (!rc)
		rc = read_triples(path, &l->text, &l->lines);
	l->v = (const struct triple *)l->lines.data;
	l->n = l->lines.len / sizeof(*l->v);
	return rc;
}

static void list_free(struct list *l)
{
	fedc_buf_free(&l->text);
	fedc_buf_free(&l->lines);
}

/* Appends `line` (ending in '\n') to the list file `path`. */
static enum fedc_err append_line(const char *path, const char *line)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	enum fedc_err rc = admin__read_file(path, ADMIN_MAX_LIST_BYTES, &b);

	if (rc == FEDC_ERR_NOT_FOUND) {
		fedc_clear_error();
		rc = fedc_buf_append(&b, "", 0);
	}
	if (!rc)
		rc = fedc_buf_append(&b, line, strlen(line));
	if (!rc)
		rc = admin__write_secret(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}

static enum fedc_err serial_listed(const struct admin_fed *fed, const char *serial, bool *found)
{
	struct list l = LIST_INIT;
	enum fedc_err rc = list_load(fed, "ca/revoked", &l);

	*found = false;
	for (size_t i = 0; !rc && i < l.n; i++)
		if (!strcmp(l.v[i].f[0], serial))
			*found = true;
	list_free(&l);
	return rc;
}

enum fedc_err admin__crl_write(const struct admin_fed *fed)
{
	struct fedc_buf serials = FEDC_BUF_INIT(ADMIN_MAX_LIST_BYTES), times = FEDC_BUF_INIT(ADMIN_MAX_LIST_BYTES),
			pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	struct list l = LIST_INIT;
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = list_load(fed, "ca/revoked", &l);
	for (size_t i = 0; !rc && i < l.n; i++) {
		int64_t when = 0;

		if (!fedc_parse_int(l.v[i].f[2], 0, INT64_MAX, &when))
			rc = fedc_fail(FEDC_ERR_MALFORMED, "%s/ca/revoked:%u: bad time \"%s\"", fed->dir, l.v[i].lineno,
				       l.v[i].f[2]);
		if (!rc)
			rc = fedc_buf_append(&serials, &l.v[i].f[0], sizeof(l.v[i].f[0]));
		if (!rc)
			rc = fedc_buf_append(&times, &(long){ (long)when }, sizeof(long));
	}
	if (!rc)
		rc = admin__pki_load_ca(fed, &ca_key, &ca_cert);
	if (!rc)
		rc = admin__pki_crl(ca_key, ca_cert, (const char *const *)serials.data, (const long *)times.data, l.n,
				    &pem);
	if (!rc)
		rc = admin__path(path, fed->dir, "ca/crl.pem");
	if (!rc)
		rc = fedc_write_atomic(path, pem.data, pem.len);
	if (!rc && fed->broker == ADMIN_BROKER_RABBITMQ)
		rc = admin__rabbit_write_crl(fed, ca_cert, &pem);
	EVP_PKEY_free(ca_key);
	X509_free(ca_cert);
	list_free(&l);
	fedc_buf_free(&serials);
	fedc_buf_free(&times);
	fedc_buf_free(&pem);
	return rc;
}

/* Puts the certificate in `cert_path` (if there is one) on ca/revoked. */
static enum fedc_err revoke_cert_file(const struct admin_fed *fed, const char *id, const char *cert_path,
				      bool *any)
{
	char serial[128], path[PATH_MAX], line[256];
	bool listed = false;
	enum fedc_err rc = admin__pki_serial_of(cert_path, serial, sizeof(serial));

	if (rc == FEDC_ERR_NOT_FOUND) {
		fedc_clear_error();
		return FEDC_OK;
	}
	*any = true;
	if (!rc)
		rc = serial_listed(fed, serial, &listed);
	if (!rc)
		rc = admin__path(path, fed->dir, "ca/revoked");
	if (rc || listed)
		return rc;
	snprintf(line, sizeof(line), "%s %s %lld\n", serial, id, (long long)time(NULL));
	return append_line(path, line);
}

enum fedc_err admin__crl_revoke_certs_of(const struct admin_fed *fed, enum admin_role role, const char *id)
{
	char kept[PATH_MAX], bundle[PATH_MAX], name[FEDC_MAX_ID_LEN + 16];
	bool any = false;
	enum fedc_err rc;

	snprintf(name, sizeof(name), "certs/%s.pem", id);
	rc = admin__path(kept, fed->dir, name);
	if (!rc)
		rc = admin__bundle_dir(fed, role, id, bundle);
	if (!rc)
		rc = admin__path(bundle, bundle, "client.pem");
	if (!rc)
		rc = revoke_cert_file(fed, id, kept, &any);
	if (!rc)
		rc = revoke_cert_file(fed, id, bundle, &any);
	if (!rc && !any)
		fprintf(stderr, "fedc-admin: warning: no certificate of \"%s\" found (%s, %s): none put on the CRL; "
				"without its password it still cannot log in\n",
			id, kept, bundle);
	if (!rc)
		rc = admin__crl_write(fed);
	return rc;
}

enum fedc_err admin__revoked_find(const struct admin_fed *fed, const char *id, bool *found, enum admin_role *role)
{
	struct list l = LIST_INIT;
	enum fedc_err rc = list_load(fed, "revoked", &l);

	*found = false;
	for (size_t i = 0; !rc && i < l.n; i++) {
		if (strcmp(l.v[i].f[1], id) != 0)
			continue;
		*found = true;
		*role = !strcmp(l.v[i].f[0], "node") ? ADMIN_ROLE_NODE : ADMIN_ROLE_RESEARCHER;
	}
	list_free(&l);
	return rc;
}

/* Rewrites DIR/revoked without the record of `id`. */
static enum fedc_err drop_record(const struct admin_fed *fed, const char *id)
{
	struct fedc_buf out = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	struct list l = LIST_INIT;
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = list_load(fed, "revoked", &l);
	if (!rc)
		rc = fedc_buf_printf(&out, "# Revoked participants of federation %s (fedc-admin revoke): ROLE ID "
					   "UNIXTIME.\n", fed->name);
	for (size_t i = 0; !rc && i < l.n; i++)
		if (strcmp(l.v[i].f[1], id) != 0)
			rc = fedc_buf_printf(&out, "%s %s %s\n", l.v[i].f[0], l.v[i].f[1], l.v[i].f[2]);
	if (!rc)
		rc = admin__path(path, fed->dir, "revoked");
	if (!rc && admin__exists(path))
		rc = admin__write_secret(path, out.data, out.len);
	list_free(&l);
	fedc_buf_free(&out);
	return rc;
}

/* Deletes what fedc-admin kept of `id`: its bundle, key, certificate copy
 * and record. */
static enum fedc_err delete_traces(const struct admin_fed *fed, enum admin_role role, const char *id)
{
	char path[PATH_MAX], name[FEDC_MAX_ID_LEN + 16];
	enum fedc_err rc;

	rc = admin__bundle_dir(fed, role, id, path);
	if (!rc)
		admin__rmtree(path);
	snprintf(name, sizeof(name), "keys/%s.pub", id);
	if (!rc)
		rc = admin__path(path, fed->dir, name);
	if (!rc && unlink(path) != 0 && errno != ENOENT)
		rc = fedc_fail(FEDC_ERR_IO, "cannot delete %s: %s", path, strerror(errno));
	snprintf(name, sizeof(name), "certs/%s.pem", id);
	if (!rc)
		rc = admin__path(path, fed->dir, name);
	if (!rc && unlink(path) != 0 && errno != ENOENT)
		rc = fedc_fail(FEDC_ERR_IO, "cannot delete %s: %s", path, strerror(errno));
	if (!rc)
		rc = drop_record(fed, id);
	return rc;
}

/* Certificates, trusted keys, password, ACL, the record, then the
 * registry: the commit. */
static enum fedc_err withdraw(const struct admin_fed *fed, struct admin_registry *reg, enum admin_role role,
			      const char *id, bool remove)
{
	char path[PATH_MAX], line[FEDC_MAX_ID_LEN + 64];
	bool recorded = false;
	enum admin_role r;
	enum fedc_err rc;

	rc = admin__crl_revoke_certs_of(fed, role, id);
	if (!rc)
		rc = admin__bundle_unshare_key(fed, reg, role, id);
	if (!rc)
		rc = admin__broker_drop_password(fed, id);
	if (!rc) {
		admin__registry_remove(reg, id);
		rc = admin__broker_write_acl(fed, reg);
	}
	if (!rc && !remove)
		rc = admin__revoked_find(fed, id, &recorded, &r);
	if (!rc && !remove && !recorded) {
		snprintf(line, sizeof(line), "%s %s %lld\n", admin__role_name(role), id, (long long)time(NULL));
		rc = admin__path(path, fed->dir, "revoked");
		if (!rc)
			rc = append_line(path, line);
	}
	if (!rc)
		rc = admin__registry_save(fed, reg);
	if (!rc && remove)
		rc = delete_traces(fed, role, id);
	return rc;
}

enum fedc_err admin__revoke(const struct admin_fed *fed, const char *id, bool remove)
{
	struct admin_registry reg = { 0 };
	const struct admin_participant *p = NULL;
	enum admin_role role = ADMIN_ROLE_NODE;
	bool recorded = false;
	enum fedc_err rc;
	int lock = -1;

	if (!fedc_id_valid(id))
		return fedc_fail(FEDC_ERR_INVAL, "bad id \"%s\"", id);
	rc = admin__lock(fed->dir, &lock);
	if (!rc)
		rc = admin__registry_load(fed, &reg);
	if (!rc && !(p = admin__registry_find(&reg, id)))
		rc = admin__revoked_find(fed, id, &recorded, &role);
	if (rc)
		goto out;
	if (p) {
		role = p->role;
		rc = withdraw(fed, &reg, role, id, remove);
	} else if (recorded && remove) {
		rc = delete_traces(fed, role, id); /* revoked earlier: only its traces are left */
	} else if (recorded) {
		rc = fedc_fail(FEDC_ERR_EXISTS, "\"%s\" is already revoked; nothing changed", id);
	} else {
		rc = fedc_fail(FEDC_ERR_NOT_FOUND, "\"%s\" is not a participant of federation %s; nothing changed", id,
			       fed->name);
	}
out:
	admin__registry_free(&reg);
	if (lock >= 0)
		close(lock);
	return rc;
}

enum fedc_err admin__revoked_print(const struct admin_fed *fed, FILE *out)
{
	struct list l = LIST_INIT;
	enum fedc_err rc = list_load(fed, "revoked", &l);

	for (size_t i = 0; !rc && i < l.n; i++)
		fprintf(out, "%-10s %s (revoked)\n", l.v[i].f[0], l.v[i].f[1]);
	list_free(&l);
	return rc;
}
