/* fedc-repository: the content-addressed blob store of a federation
 * (docs/repository.md). Reads its settings, opens the store, serves until
 * SIGINT or SIGTERM, then stops cleanly.
 *
 * Exit status: 0 after a signal, 1 when it cannot run (store, bind), 2 on a
 * bad command line or configuration. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedc/err.h"
#include "fedc/log.h"
#include "server.h"
#include "server_config.h"
#include "store.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Writes the bound port to `path` through a temp file and a rename, so that
 * a test polling for the file never reads half of it. */
static enum fedc_err write_port_file(const char *path, uint16_t port)
{
	char tmp[PATH_MAX + 16], text[16];
	enum fedc_err rc = FEDC_OK;
	int len = snprintf(text, sizeof(text), "%u\n", (unsigned)port);
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return fedc_fail(FEDC_ERR_INVAL, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (write(fd, text, (size_t)len) != len || close(fd) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
	if (!rc && rename(tmp, path) != 0)
		rc = fedc_fail(FEDC_ERR_IO, "%s: %s", path, strerror(errno));
	if (rc)
		(void)unlink(tmp);
	return rc;
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

/* Blocks SIGINT and SIGTERM in every thread (MHD's workers inherit the mask)
 * so that the main thread alone takes them, in sigwait(). */
static void block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN); /* a client that hangs up is an error code, not a death */
}

static int serve(const struct server_config *cfg)
{
	struct store *store = NULL;
	struct server *srv = NULL;
	sigset_t stop_signals;
	int status = EXIT_RUNTIME;
	int sig = 0;

	block_stop_signals(&stop_signals);
	if (store__open(cfg->store_dir, &store) != FEDC_OK) {
		fedc_error("store: %s", fedc_last_error());
		goto out;
	}
	if (server__start(cfg, store, &srv) != FEDC_OK) {
		fedc_error("%s", fedc_last_error());
		goto out;
	}
	if (cfg->port_file[0] && write_port_file(cfg->port_file, server__port(srv)) != FEDC_OK) {
		fedc_error("--port-file: %s", fedc_last_error());
		goto out;
	}
	fedc_info("listening on %s port %u, store %s, max blob %lld MiB, %s", cfg->listen,
		  (unsigned)server__port(srv), cfg->store_dir, (long long)cfg->max_blob_mb,
		  cfg->token[0] ? "bearer token required" : "no authentication");
	while (sigwait(&stop_signals, &sig) != 0)
		;
	fedc_info("signal %d: stopping", sig);
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
	status = serve(&cfg);
	if (log_fd != 2)
		close(log_fd);
	return status;
}
