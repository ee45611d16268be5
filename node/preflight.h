/* What `fedc-node start` checks before it connects anywhere: the mistakes an
 * operator can make in the files the config names are reported at start,
 * naming the file and the fix, instead of showing up as silent connection
 * retries or as a node that is online but refuses every command.
 * docs/node-admin.md ("Checks at start") lists them. */
#ifndef FEDC_NODE_PREFLIGHT_H
#define FEDC_NODE_PREFLIGHT_H

#include "node_config.h"

/* TLS files: [broker] ca_file, cert_file, key_file and [repository]
 * ca_file, when set, must be readable PEM (CA files: at least one
 * certificate; cert_file: a certificate; key_file: a private key that
 * matches cert_file). An ssl:// broker needs ca_file, an https repository
 * with its own CA needs ca_file. Private keys (key_file and [security]
 * signing_key) must not be readable by group or others: refused, since any
 * local user could then act as this node. The signing key must be the node's
 * own: when the public key fedc-admin registered for it sits beside it
 * (signing.pub next to signing.key, as in a bundle), they must match.
 * A client certificate issued to another participant (its CN is not the
 * node id) is warned about. FEDC_ERR_CONFIG or FEDC_ERR_IO with a detail
 * naming the file and the key. */
FEDC_NODISCARD
enum fedc_err preflight__files(const struct node_config *cfg);

/* The database must be writable and sound: a read-only file (or directory)
 * or a corrupt one (PRAGMA quick_check) is refused with FEDC_ERR_DB naming
 * the file; a missing one is fine (it is created). */
FEDC_NODISCARD
enum fedc_err preflight__database(const char *db_path);

#endif
