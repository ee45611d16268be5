/* A Mosquitto 2.0 plugin that binds each connection to its credentials
 * (docs/security.md, "The broker").
 *
 * Mosquitto's password file and ACL say who may connect and which topics a
 * user may read and write. They do not say which client id a user may take,
 * nor which topics may hold retained messages. Without this plugin a
 * participant that connects with its own password as client id "B" takes
 * over node B's session: B is disconnected and its genuine last will
 * ("offline") is published. And a node could leave large retained messages
 * on any researcher's topic, which the broker keeps and hands to every later
 * subscriber.
 *
 * The rules, checked before the password file and the ACL (which still
 * decide everything else; this plugin only ever refuses or defers):
 *   - a client id is the user name itself, or the user name followed by ':'
 *     and anything (ids never contain ':', so one user cannot take a client
 *     id of another: "a:x" belongs to user "a" only);
 *   - a retained message may be published only on "fedc/<fed>/status/<user>",
 *     the publisher's own status topic (the only retained topic of
 *     docs/protocol.md, and the topic of a node's last will).
 * The size of every message is capped by max_packet_size in the
 * configuration fedc-admin writes. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define PLUGIN_API_VERSION 5

static mosquitto_plugin_id_t *plugin_id;

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions);
int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
			  int option_count);
int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count);

/* True if `client_id` is `user` or "user:...". */
static bool client_id_belongs_to(const char *client_id, const char *user)
{
	size_t n = strlen(user);

	if (!client_id || n == 0 || strncmp(client_id, user, n) != 0)
		return false;
	return client_id[n] == '\0' || client_id[n] == ':';
}

/* True if `topic` is "fedc/<one level>/status/<user>". */
static bool is_own_status_topic(const char *topic, const char *user)
{
	static const char prefix[] = "fedc/", middle[] = "/status/";
	const char *fed = topic, *slash;

	if (!topic || !user || strncmp(fed, prefix, sizeof(prefix) - 1) != 0)
		return false;
	fed += sizeof(prefix) - 1;
	slash = strchr(fed, '/');
	if (!slash || slash == fed || strncmp(slash, middle, sizeof(middle) - 1) != 0)
		return false;
	return strcmp(slash + sizeof(middle) - 1, user) == 0;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ev = event_data;
	const char *client_id = mosquitto_client_id(ev->client);

	(void)event;
	(void)userdata;
	if (!ev->username || !client_id_belongs_to(client_id, ev->username)) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE,
				     "fedc: refused client id \"%s\" for user \"%s\": a client id is the user "
				     "name, or the user name and ':'",
				     client_id ? client_id : "", ev->username ? ev->username : "");
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ev = event_data;
	const char *user = mosquitto_client_username(ev->client);

	(void)event;
	(void)userdata;
	if (ev->access == MOSQ_ACL_WRITE && ev->retain && !is_own_status_topic(ev->topic, user)) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "fedc: refused a retained message from \"%s\" on \"%s\"",
				     user ? user : "", ev->topic ? ev->topic : "");
		return MOSQ_ERR_ACL_DENIED;
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == PLUGIN_API_VERSION)
			return PLUGIN_API_VERSION;
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options,
			  int option_count)
{
	int rc;

	(void)userdata;
	(void)options;
	(void)option_count;
	plugin_id = identifier;
	rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
	return rc;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	return MOSQ_ERR_SUCCESS;
}
