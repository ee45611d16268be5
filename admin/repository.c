/* The repository server's configuration (docs/repository.md). Its paths are
 * relative: the server takes them relative to the ini's directory, so the
 * directory can be moved as a whole. */
#include "admin.h"

#include "fedc/fs.h"

enum fedc_err admin__repository_write_ini(const struct admin_fed *fed)
{
	struct fedc_buf b = FEDC_BUF_SECRET_INIT(ADMIN_MAX_LIST_BYTES);
	char path[PATH_MAX];
	enum fedc_err rc;

	rc = fedc_buf_printf(&b,
			       "; fedc-repository of federation %s, written by fedc-admin init.\n"
			       "; Start: fedc-repository --config %s/repository/repository.ini\n"
			       "; After fedc-admin add-node/add-researcher, send SIGHUP to reload tokens.\n"
			       "[repository]\n"
			       "listen = %s\n"
			       "port = %d\n"
			       "store_dir = store\n"
			       "tls_cert_file = server.pem\n"
			       "tls_key_file = server.key\n"
			       "tokens_file = tokens\n",
			       fed->name, fed->dir, fed->host, fed->repository_port);
	if (!rc)
		rc = admin__path(path, fed->dir, "repository/repository.ini");
	if (!rc)
		rc = fedc_write_atomic(path, b.data, b.len);
	fedc_buf_free(&b);
	return rc;
}
