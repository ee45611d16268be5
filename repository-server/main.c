/* fedc-repository: the content-addressed blob store of a federation
 * (docs/repository.md). Reads its settings, opens the store, serves until
 * SIGINT or SIGTERM (SIGHUP re-reads the tokens file), then stops cleanly.
 *
 * Exit status: 0 after a signal, 1 when it cannot run (store, bind), 2 on a
 * bad command line, configuration, tokens file or TLS file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/err.h"
#include "fedc/fs.h"
#include "fedc/log.h"
#include "server.h"
#include "server_config.h"
#include "store.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Writes the bound port to `path` through a fedc_atomic_file, so that a test
 * polling for the file never reads half of it, and a failure leaves the old
 * file and no temporary one. */
static enum fedc_err write_port_file(const char *path, uint16_t port)
{
	char text[16];
	int len = snprintf(text, sizeof(text), "%u\n", (unsigned)port);

	return fedc_write_atomic(path, text, (size_t)len);
}

static enum fedc_err open_log(const struct server_config *cfg, int *fd)
{
	*fd = 2;
	if (cfg->log_file[0]) {
		*fd = open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (*fd < 0) {
			*fd = 2;
			return fedc_fail(FEDC_ERR_IO, "log_file %s: %s", cfg->log_file, strerror(errno));
		}
	}
	fedc_log_init("repository", cfg->log_level, *fd);
	return FEDC_OK;
}

/* Blocks SIGINT, SIGTERM and SIGHUP in every thread (MHD's workers inherit
 * the mask) so that the main thread alone takes them, in sigwait(). */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error code, not a death */
}

/* SIGHUP: new tokens take effect for the next requests; a broken file is
 * reported and changes nothing. */
static void reload(const struct server_config *cfg, struct server *srv)
{
	size_t principals = 0;

	if (!cfg->tokens_file[0]) {
		fedc_info("SIGHUP: no tokens_file to re-read");
		return;
	}
	if (server__reload(srv, &principals) != FEDC_OK)
		fedc_error("SIGHUP: %s; keeping the %zu principals in force", fedc_last_error(), principals);
	else
		fedc_info("SIGHUP: re-read %s: %zu principals", cfg->tokens_file, principals);
}

static const char *auth_mode(const struct server_config *cfg)
{
	if (cfg->tokens_file[0])
		return cfg->token[0] ? "tokens_file and token" : "tokens_file";
	return cfg->token[0] ? "token (researcher \"admin\")" : "none: open store";
}

/* Waits for signals: SIGHUP reloads, SIGINT or SIGTERM returns. */
static void wait_for_stop(const struct server_config *cfg, struct server *srv, const sigset_t *set)
{
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		reload(cfg, srv);
	}
	fedc_info("signal %d: stopping", sig);
}

static int serve(const struct server_config *cfg, int log_fd)
{
	struct store *store = NULL;
	struct server *srv = NULL;
	sigset_t signals;
	int status = EXIT_RUNTIME;
	enum fedc_err rc;

	block_signals(&signals);
	if (store__open(cfg->store_dir, &store) != FEDC_OK) {
		fedc_error("store: %s", fedc_last_error());
		goto out;
	}
	rc = server__start(cfg, store, &srv);
	if (rc) {
		fedc_error("%s", fedc_last_error());
		/* A bad tokens or TLS file is a configuration error: say it
		 * where the operator looks, even when logging to a file. */
		if (rc == FEDC_ERR_CONFIG && log_fd != 2)
			fprintf(stderr, "fedc-repository: %s\n", fedc_last_error());
		status = rc == FEDC_ERR_CONFIG ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}
	if (cfg->port_file[0] && write_port_file(cfg->port_file, server__port(srv)) != FEDC_OK) {
		fedc_error("--port-file: %s", fedc_last_error());
		goto out;
	}
	fedc_info("listening on %s port %u (%s), store %s, max blob %lld MiB, auth: %s", cfg->listen,
		  (unsigned)server__port(srv), cfg->tls_cert_file[0] ? "https" : "http", cfg->store_dir,
		  (long long)cfg->max_blob_mb, auth_mode(cfg));
	wait_for_stop(cfg, srv, &signals);
	status = EXIT_SUCCESS;
out:
	server__stop(srv);
	store__close(store);
	return status;
}

int main(int argc, char **argv)
{
	struct server_config cfg;
	bool help = false;
	int log_fd = 2;
	int status;

	if (server_config__parse(argc, argv, &cfg, &help) != FEDC_OK) {
		fprintf(stderr, "fedc-repository: %s\n", fedc_last_error());
		fprintf(stderr, "Try 'fedc-repository --help'.\n");
		return EXIT_USAGE;
	}
	if (help) {
		server_config__usage(stdout);
		return EXIT_SUCCESS;
	}
	if (open_log(&cfg, &log_fd) != FEDC_OK) {
		fprintf(stderr, "fedc-repository: %s\n", fedc_last_error());
		return EXIT_USAGE;
	}
	status = serve(&cfg, log_fd);
	if (log_fd != 2)
		close(log_fd);
	return status;
}
