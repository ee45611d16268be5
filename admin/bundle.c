/* A participant's bundle: the directory the admin hands to a hospital (node)
 * or a researcher, holding everything its program needs to join
 * (docs/provisioning.md). It is built in a hidden staging directory and
 * renamed into place, so a crash never leaves half a bundle. */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fedc/fs.h"

static const char *role_dir(enum admin_role role)
{
	return role == ADMIN_ROLE_NODE ? "nodes" : "researchers";
}

enum fedc_err admin__bundle_dir(const struct admin_fed *fed, enum admin_role role, const char *id, char *out)
{
	char parent[PATH_MAX];
	enum fedc_err rc = admin__path(parent, fed->dir, role_dir(role));

	return rc ? rc : admin__path(out, parent, id);
}

/* "HOST:PORT", with brackets around an IPv6 address. */
static void host_port(const struct admin_fed *fed, int port, char *out, size_t cap)
{
	bool v6 = false;

	if (admin__host_is_ip(fed->host, &v6) && v6)
		snprintf(out, cap, "[%s]:%d", fed->host, port);
	else
		snprintf(out, cap, "%s:%d", fed->host, port);
}

static enum fedc_err node_ini(const struct admin_fed *fed, const char *id, struct fedc_buf *b)
{
	char broker[ADMIN_MAX_HOST_LEN + 16], repo[ADMIN_MAX_HOST_LEN + 16];

	host_port(fed, fed->broker_port, broker, sizeof(broker));
	host_port(fed, fed->repository_port, repo, sizeof(repo));
	return fedc_buf_printf(b,
				 "; Node %s of federation %s, written by fedc-admin add-node.\n"
				 "; Paths are relative to this file's directory.\n"
				 "[node]\nid = %s\nfederation = %s\ndata_dir = data\n\n"
				 "[broker]\nurl = ssl://%s\nca_file = ca.pem\ncert_file = client.pem\n"
				 "key_file = client.key\nusername = %s\npassword_file = broker.password\n\n"
				 "[repository]\nurl = https://%s\nca_file = ca.pem\ntoken_file = repository.token\n\n"
				 "[security]\nsigning_key = signing.key\ntrusted_keys_dir = trusted\npeer_keys_dir = peers\n",
				 id, fed->name, id, fed->name, broker, id, repo);
}

static enum fedc_err network_ini(const struct admin_fed *fed, const char *id, struct fedc_buf *b)
{
	char broker[ADMIN_MAX_HOST_LEN + 16], repo[ADMIN_MAX_HOST_LEN + 16];

	host_port(fed, fed->broker_port, broker, sizeof(broker));
	host_port(fed, fed->repository_port, repo, sizeof(repo));
	return fedc_buf_printf(b,
				 "; Researcher %s of federation %s, written by fedc-admin add-researcher.\n"
				 "; Paths are relative to this file's directory.\n"
				 "[network]\nfederation = %s\nresearcher_id = %s\n"
				 "broker_url = ssl://%s\nbroker_ca_file = ca.pem\nbroker_cert_file = client.pem\n"
				 "broker_key_file = client.key\nbroker_username = %s\n"
				 "broker_password_file = broker.password\n"
				 "repository_url = https://%s\nrepository_ca_file = ca.pem\n"
				 "repository_token_file = repository.token\n"
				 "signing_key = signing.key\ntrusted_keys_dir = trusted\n",
				 id, fed->name, fed->name, id, broker, id, repo);
}

/* Writes `b` as DIR/name, a secret (0600) or not (0644). */
/* Not durable on its own: add and rotate flush the file system
 * (admin__sync) before their commit, once, instead of two fsyncs per file
 * (1000 bundles of ten files took minutes that way). */
static enum fedc_err put(const char *dir, const char *name, const struct fedc_buf *b, bool secret)
{
	char path[PATH_MAX];
	enum fedc_err rc = admin__path(path, dir, name);

	if (rc)
		return rc;
	return admin__write_staged(path, b->data, b->len, secret ? 0600 : 0644);
}

/* client.pem and client.key, signed by the federation's CA. The certificate
 * is also kept as DIR/certs/ID.pem: rotate, revoke and remove put it on the
 * CRL even when the bundle has been deleted after it shipped. */
static enum fedc_err write_client_cert(const struct admin_fed *fed, enum admin_role role, const char *id,
				       const char *dir)
{
	struct admin_cert_req req = { .kind = ADMIN_CERT_CLIENT, .cn = id, .org = fed->name,
				      .unit = admin__role_name(role), .days = fed->days };
	struct fedc_buf pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES),
			key_pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca_cert = NULL, *cert = NULL;
	char certs[PATH_MAX], name[FEDC_MAX_ID_LEN + 8];
	enum fedc_err rc;

	snprintf(name, sizeof(name), "%s.pem", id);
	rc = admin__pki_load_ca(fed, &ca_key, &ca_cert);
	if (!rc)
		rc = admin__pki_issue(ca_key, ca_cert, &req, &key, &cert);
	if (!rc)
		rc = admin__pem_cert(cert, &pem);
	if (!rc)
		rc = admin__pem_key(key, &key_pem);
	if (!rc)
		rc = put(dir, "client.pem", &pem, false);
	if (!rc)
		rc = put(dir, "client.key", &key_pem, true);
	if (!rc)
		rc = admin__path(certs, fed->dir, "certs");
	if (!rc)
		rc = fedc_mkdir_p(certs, 0700);
	if (!rc)
		rc = put(certs, name, &pem, false);
	fedc_buf_free(&pem);
	fedc_buf_free(&key_pem);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca_cert);
	X509_free(cert);
	return rc;
}

/* signing.key and signing.pub (Ed25519), the public half also kept in
 * DIR/keys/ID.pub: the admin may delete a bundle once it has shipped, and
 * later participants still need the key. */
static enum fedc_err write_signing_key(const struct admin_fed *fed, const char *id, const char *dir)
{
	struct fedc_buf key_pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES),
			pub_pem = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char keys[PATH_MAX], name[FEDC_MAX_ID_LEN + 8];
	EVP_PKEY *key = NULL;
	enum fedc_err rc;

	rc = admin__pki_ed25519(&key);
	if (!rc)
		rc = admin__pem_key(key, &key_pem);
	if (!rc)
		rc = admin__pem_pub(key, &pub_pem);
	if (!rc)
		rc = put(dir, "signing.key", &key_pem, true);
	if (!rc)
		rc = put(dir, "signing.pub", &pub_pem, false);
	if (!rc)
		rc = admin__path(keys, fed->dir, "keys");
	if (!rc)
		rc = fedc_mkdir_p(keys, 0700);
	snprintf(name, sizeof(name), "%s.pub", id);
	if (!rc)
		rc = put(keys, name, &pub_pem, false);
	fedc_buf_free(&key_pem);
	fedc_buf_free(&pub_pem);
	EVP_PKEY_free(key);
	return rc;
}

/* broker.password and repository.token: 32 random bytes as 64 hex digits,
 * no newline (the programs read the file's whole content). */
static enum fedc_err write_secrets(const char *dir, struct admin_secrets *s)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	enum fedc_err rc;

	rc = admin__random_hex(s->broker_password, 32);
	if (!rc)
		rc = admin__random_hex(s->repository_token, 32);
	if (!rc)
		rc = fedc_buf_append(&b, s->broker_password, 64);
	if (!rc)
		rc = put(dir, "broker.password", &b, true);
	fedc_buf_free(&b);
	if (!rc)
		rc = fedc_buf_append(&b, s->repository_token, 64);
	if (!rc)
		rc = put(dir, "repository.token", &b, true);
	fedc_buf_free(&b);
	return rc;
}

/* Where a bundle of role `holder` keeps the public key of a participant of
 * role `owner`: "trusted" (the other role: a node obeys the researchers'
 * commands, a researcher believes the nodes' replies), "peers" (a node's
 * fellow nodes, whose key signatures secure aggregation checks), or NULL (a
 * researcher holds no other researcher's key). Peers are kept apart from
 * trusted/ so that a node never takes a command signed by another node. */
static const char *key_subdir(enum admin_role holder, enum admin_role owner)
{
	if (holder != owner)
		return "trusted";
	return holder == ADMIN_ROLE_NODE ? "peers" : NULL;
}

/* trusted/<P>.pub for every registered participant P of the other role and,
 * in a node's bundle, peers/<N>.pub for every other registered node N. */
static enum fedc_err write_trusted(const struct admin_fed *fed, const struct admin_registry *reg,
				   enum admin_role role, const char *id, const char *dir)
{
	char trusted[PATH_MAX], peers[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], name[FEDC_MAX_ID_LEN + 16];
	enum fedc_err rc = admin__path(trusted, dir, "trusted");

	if (!rc)
		rc = fedc_mkdir_p(trusted, 0700);
	if (!rc && role == ADMIN_ROLE_NODE)
		rc = admin__path(peers, dir, "peers");
	if (!rc && role == ADMIN_ROLE_NODE)
		rc = fedc_mkdir_p(peers, 0700);
	for (size_t i = 0; !rc && i < reg->n; i++) {
		const char *sub = key_subdir(role, reg->v[i].role);

		if (!sub || !strcmp(reg->v[i].id, id)) /* rotate: the registry holds `id` itself */
			continue;
		snprintf(name, sizeof(name), "keys/%s.pub", reg->v[i].id);
		rc = admin__path(src, fed->dir, name);
		if (!rc)
			rc = admin__path(dst, !strcmp(sub, "peers") ? peers : trusted, name + strlen("keys/"));
		if (!rc) /* made durable before the commit (admin__sync) */
			rc = admin__link_public(src, dst);
	}
	return rc;
}

/* The bundle's ca.pem is a copy, never a link: a link would share its inode
 * with the federation's own CA certificate, and a bundle file edited in
 * place (truncated by a shell redirect, say) would change that certificate
 * and every other bundle's. Written without an fsync, as the bundle's other
 * files: the caller's one syncfs covers it. */
static enum fedc_err copy_ca(const char *ca, const char *dst)
{
	struct fedc_buf b = FEDC_BUF_INIT(1u << 20);
	enum fedc_err rc = admin__read_file(ca, 1u << 20, &b);

	if (!rc)
		rc = admin__write_staged(dst, b.data, b.len, 0644);
	fedc_buf_free(&b);
	return rc;
}

static enum fedc_err fill_bundle(const struct admin_fed *fed, const struct admin_registry *reg,
				 enum admin_role role, const char *id, const char *dir, struct admin_secrets *s)
{
	struct fedc_buf ini = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char ca[PATH_MAX], dst[PATH_MAX];
	enum fedc_err rc;

	rc = admin__path(ca, fed->dir, "ca/ca.pem");
	if (!rc)
		rc = admin__path(dst, dir, "ca.pem");
	if (!rc)
		rc = copy_ca(ca, dst);
	if (!rc)
		rc = write_client_cert(fed, role, id, dir);
	if (!rc)
		rc = write_secrets(dir, s);
	if (!rc)
		rc = write_signing_key(fed, id, dir);
	if (!rc)
		rc = write_trusted(fed, reg, role, id, dir);
	if (!rc)
		rc = role == ADMIN_ROLE_NODE ? node_ini(fed, id, &ini) : network_ini(fed, id, &ini);
	if (!rc)
		rc = put(dir, role == ADMIN_ROLE_NODE ? "node.ini" : "network.ini", &ini, false);
	fedc_buf_free(&ini);
	return rc;
}

/* Builds the bundle of `id` in a fresh hidden directory beside its final
 * place; *stage names it. */
static enum fedc_err stage_bundle(const struct admin_fed *fed, const struct admin_registry *reg,
				  enum admin_role role, const char *id, struct admin_secrets *secrets, char *stage)
{
	char parent[PATH_MAX];
	enum fedc_err rc;

	rc = admin__path(parent, fed->dir, role_dir(role));
	if (!rc)
		rc = fedc_mkdir_p(parent, 0700);
	/* Ids never start with '.': the staging name cannot be a participant's. */
	if (!rc && (size_t)snprintf(stage, PATH_MAX, "%s/.%s.XXXXXX", parent, id) >= PATH_MAX)
		rc = fedc_fail(FEDC_ERR_INVAL, "path too long: %s", parent);
	if (rc)
		return rc;
	if (!mkdtemp(stage))
		return fedc_fail(FEDC_ERR_IO, "cannot create %s: %s", stage, strerror(errno));
	rc = fill_bundle(fed, reg, role, id, stage, secrets);
	if (rc)
		admin__rmtree(stage);
	return rc;
}

/* What rotate replaces in a bundle; everything else (its ini, perhaps edited
 * by its owner, trusted/, a node's peers/ and data) stays. */
static const char *const credential_files[] = { "client.pem", "client.key", "broker.password", "repository.token",
						 "signing.key", "signing.pub" };

/* Moves the staged bundle to `final`: in one rename if `final` is absent,
 * else file by file (renew). */
static enum fedc_err install(const char *stage, const char *final, bool renew)
{
	char parent[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	enum fedc_err rc = admin__path(parent, final, "..");

	if (rc)
		return rc;
	if (!renew || !admin__exists(final)) {
		if (rename(stage, final) != 0)
			return fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", stage, final, strerror(errno));
		return fedc_fsync_dir(parent);
	}
	for (size_t i = 0; !rc && i < sizeof(credential_files) / sizeof(credential_files[0]); i++) {
		rc = admin__path(src, stage, credential_files[i]);
		if (!rc)
			rc = admin__path(dst, final, credential_files[i]);
		if (!rc && rename(src, dst) != 0)
			rc = fedc_fail(FEDC_ERR_IO, "cannot rename %s to %s: %s", src, dst, strerror(errno));
	}
	if (!rc)
		rc = fedc_fsync_dir(final);
	admin__rmtree(stage);
	return rc;
}

static enum fedc_err create_or_renew(const struct admin_fed *fed, const struct admin_registry *reg,
				     enum admin_role role, const char *id, struct admin_secrets *secrets, bool renew)
{
	char final[PATH_MAX], stage[PATH_MAX];
	enum fedc_err rc;

	rc = admin__bundle_dir(fed, role, id, final);
	if (!rc && !renew && admin__exists(final))
		return fedc_fail(FEDC_ERR_EXISTS,
				 "%s exists but \"%s\" is not registered (left by an interrupted add?); "
				 "remove it and retry",
				 final, id);
	if (!rc)
		rc = stage_bundle(fed, reg, role, id, secrets, stage);
	if (!rc) {
		rc = install(stage, final, renew);
		if (rc)
			admin__rmtree(stage);
	}
	if (rc)
		OPENSSL_cleanse(secrets, sizeof(*secrets));
	return rc;
}

enum fedc_err admin__bundle_create(const struct admin_fed *fed, const struct admin_registry *reg,
				   enum admin_role role, const char *id, struct admin_secrets *secrets)
{
	return create_or_renew(fed, reg, role, id, secrets, false);
}

enum fedc_err admin__bundle_renew(const struct admin_fed *fed, const struct admin_registry *reg,
				  enum admin_role role, const char *id, struct admin_secrets *secrets)
{
	return create_or_renew(fed, reg, role, id, secrets, true);
}

enum fedc_err admin__bundle_share_key(const struct admin_fed *fed, const struct admin_registry *reg,
				      enum admin_role role, const char *id)
{
	char src[PATH_MAX], other[PATH_MAX], subdir[PATH_MAX], dst[PATH_MAX], name[FEDC_MAX_ID_LEN + 16];
	enum fedc_err rc;

	snprintf(name, sizeof(name), "keys/%s.pub", id);
	rc = admin__path(src, fed->dir, name);
	for (size_t i = 0; !rc && i < reg->n; i++) {
		const char *sub = key_subdir(reg->v[i].role, role);

		if (!sub || !strcmp(reg->v[i].id, id))
			continue;
		rc = admin__bundle_dir(fed, reg->v[i].role, reg->v[i].id, other);
		if (rc)
			break;
		if (!admin__exists(other)) {
			fprintf(stderr, "fedc-admin: warning: %s is gone: give %s the key %s as %s/%s.pub by hand\n",
				other, reg->v[i].id, src, sub, id);
			continue;
		}
		rc = admin__path(subdir, other, sub);
		if (!rc)
			rc = fedc_mkdir_p(subdir, 0700);
		if (!rc)
			rc = admin__path(dst, subdir, name + strlen("keys/"));
		if (!rc) /* made durable before the commit (admin__sync) */
			rc = admin__link_public(src, dst);
	}
	return rc;
}

enum fedc_err admin__bundle_unshare_key(const struct admin_fed *fed, const struct admin_registry *reg,
					enum admin_role role, const char *id)
{
	char other[PATH_MAX], subdir[PATH_MAX], dst[PATH_MAX], name[FEDC_MAX_ID_LEN + 8];
	enum fedc_err rc = FEDC_OK;

	snprintf(name, sizeof(name), "%s.pub", id);
	for (size_t i = 0; !rc && i < reg->n; i++) {
		const char *sub = key_subdir(reg->v[i].role, role);

		if (!sub || !strcmp(reg->v[i].id, id))
			continue;
		rc = admin__bundle_dir(fed, reg->v[i].role, reg->v[i].id, other);
		if (!rc)
			rc = admin__path(subdir, other, sub);
		if (!rc)
			rc = admin__path(dst, subdir, name);
		if (rc)
			break;
		if (!admin__exists(other)) {
			fprintf(stderr, "fedc-admin: warning: %s is gone: delete %s/%s from %s's copy by hand\n", other,
				sub, name, reg->v[i].id);
			continue;
		}
		if (unlink(dst) == 0)
			rc = fedc_fsync_dir(subdir);
		else if (errno != ENOENT)
			rc = fedc_fail(FEDC_ERR_IO, "cannot delete %s: %s", dst, strerror(errno));
	}
	return rc;
}
