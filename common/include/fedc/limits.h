/* Every size cap of the protocol and the file formats, in one place.
 * Decoders check against these before allocating anything. */
#ifndef FEDC_LIMITS_H
#define FEDC_LIMITS_H

#define FEDC_PROTOCOL_VERSION 1

/* A parameter file carried inside a train or train-reply (docs/protocol.md,
 * "Parameters inline"); larger ones go through the repository. The
 * researcher's [network] inline_params_max is FEDC_DEFAULT_INLINE_PARAMS
 * unless set; up to FEDC_MAX_INLINE_PARAMS, for a wide-area link, a
 * message goes inline only where the sockets can take it in one write
 * (fedc_mqtt_max_payload) and the receive queues have room for a round's
 * worth (FEDC_MQTT_QUEUE_MAX_BYTES). */
#define FEDC_DEFAULT_INLINE_PARAMS (256u * 1024u)
#define FEDC_MAX_INLINE_PARAMS (8u * 1024u * 1024u)
/* One MQTT payload: an inline parameter file and 60 KiB for the rest of the
 * message. fedc-admin sets the broker's max_packet_size from this. */
#define FEDC_MESSAGE_OVERHEAD_BYTES (60u * 1024u)
#define FEDC_MAX_MESSAGE_BYTES (FEDC_MAX_INLINE_PARAMS + FEDC_MESSAGE_OVERHEAD_BYTES)
/* Bytes of the messages one MQTT client holds: arrived and not yet taken
 * (fedc_mqtt_next; more are dropped and logged), and queued for it by the
 * broker (fedc-admin's max_queued_bytes). */
#define FEDC_MQTT_QUEUE_MAX_BYTES (256u * 1024u * 1024u)
#define FEDC_MAX_ID_LEN 64                    /* node, researcher, dataset ids */
#define FEDC_MAX_NAME_LEN 128                 /* dataset, plan, tensor, metric names */
#define FEDC_MAX_TEXT_LEN 1024                /* descriptions, error messages */
#define FEDC_MAX_SECAGG_DATA (56u * 1024u)    /* a secure-aggregation step's bytes in one message */
#define FEDC_MAX_TAGS 16                      /* tags per dataset or search */
#define FEDC_MAX_TAG_LEN 64
#define FEDC_MAX_DATASETS 64                  /* datasets in one search/list reply */
#define FEDC_MAX_ARGS 32                      /* model arguments in one train request */
#define FEDC_MAX_METRICS 16                   /* metrics in one train reply */
#define FEDC_MAX_CAPS 16                      /* capability entries a node advertises (fedc/caps.h) */
#define FEDC_MAX_DATASET_KINDS 8              /* kinds of dataset a node advertises */
#define FEDC_MAX_FED_LEN 64                   /* federation name */
#define FEDC_MAX_TOPIC_LEN 256
#define FEDC_MSGPACK_MAX_DEPTH 8              /* nesting of arrays and maps in a message; the schema needs 4 */
#define FEDC_MAX_TRUSTED_KEYS 100000          /* keys in one trusted-keys directory */

#define FEDC_MAX_TENSORS 4096                 /* tensors in one parameter file */
#define FEDC_MAX_DIMS 8                       /* dimensions of one tensor */
#define FEDC_MAX_PARAMS_BYTES (8ull << 30)    /* one parameter file */

#endif
