/* What the harness's files share with each other (harness.c and the broker
 * they start, harness_rabbitmq.c); tests use harness.h. */
#ifndef FEDC_TEST_HARNESS_PRIVATE_H
#define FEDC_TEST_HARNESS_PRIVATE_H

#include "harness.h"

/* A loopback port that binds now, below the ephemeral range; -1 if none. */
int harness__free_port(void);
/* 0 once something accepts on loopback `port`, -1 after `timeout_ms`. */
int harness__wait_port(int port, int timeout_ms);
/* harness_spawn and harness_run with "NAME=VALUE" strings (NULL-terminated,
 * may be NULL) added to the child's environment. */
int harness__spawn_env(struct harness *h, struct harness_proc *p, const char *name, const char *const argv[],
		       char *const env[]);
int harness__run_env(struct harness *h, const char *const argv[], char *const env[], int timeout_s, char *out,
		     size_t cap);

/* RabbitMQ (harness_rabbitmq.c): starts epmd and the broker on the files
 * fedc-admin wrote, and waits for "Server startup complete" (definitions
 * loaded, listener up); 0 on success. */
int harness__rabbit_start(struct harness *h);
/* rabbitmqctl import_definitions DIR/broker/definitions.json; 0 on success. */
int harness__rabbit_import_definitions(struct harness *h);

#endif
