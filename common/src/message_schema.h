/* The message schema shared by the codec (message.c) and the protocol doc
 * writer (message_doc.c): private to libfedc. The tables themselves are in
 * message.c, the one place the protocol is written down. */
#ifndef FEDC_MESSAGE_SCHEMA_H
#define FEDC_MESSAGE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fedc/message.h"

enum ftype {
	FT_UINT,     /* msgpack uint; stored as uint32_t or uint64_t (by size) */
	FT_DOUBLE,   /* float64 on the wire; float32 and integers accepted */
	FT_BOOL,
	FT_STR,      /* char[size], NUL-terminated */
	FT_CMD,      /* the command name, stored as enum fedc_cmd */
	FT_TAGS,     /* array of str: char[max_items][size] + uint32_t count */
	FT_KVS,      /* map str -> number: struct fedc_msg_kv[] + uint32_t count */
	FT_DATASETS, /* array of dataset maps: struct fedc_msg_dataset * (allocated to the count) + count */
	FT_BIN,      /* msgpack bin: uint8_t * (allocated to its length) + uint32_t length; max_items bytes */
};

/* What a string must look like besides fitting its array. */
enum fcheck {
	CK_TEXT,   /* anything without NUL, may be empty */
	CK_NAME,   /* non-empty, no control characters */
	CK_ID,     /* fedc_id_valid(): it goes into MQTT topics and file names */
	CK_TOKEN,  /* non-empty, a-z 0-9 . _ - */
	CK_UUID,
	CK_SHA256, /* 64 lower-case hex digits */
	CK_DIGEST, /* 64 or 128 lower-case hex digits */
	CK_CHOICE, /* one of `choices` */
};

struct field_spec {
	const char *name;
	enum ftype type;
	enum fcheck check;       /* FT_STR, and the entries of FT_TAGS / names of FT_KVS */
	size_t off;              /* the value (or the first element) in its struct */
	size_t size;             /* FT_UINT: 4 or 8; FT_STR, FT_TAGS: bytes of one string */
	size_t count_off;        /* lists: their uint32_t count */
	uint32_t min_items, max_items;
	uint64_t umin, umax;
	double dmin, dmax;       /* FT_DOUBLE: finite, dmin <= v <= dmax (or < dmax) */
	bool dmax_open;
	const char *const *choices;
	const char *doc;
	bool optional;           /* a dataset entry's key that may be absent (FT_STR: then "") */
};

/* How a command uses a field: one byte per field and command, so the schema
 * takes any number of fields. */
enum field_use { USE_NONE = 0, USE_REQUIRED, USE_OPTIONAL };

struct cmd_spec {
	const char *name;
	const char *route;
	uint8_t use[FEDC_F__COUNT]; /* enum field_use, by enum fedc_field */
	const char *doc;
};

/* Indexed by enum fedc_field; this order is the order of the encoded map. */
extern const struct field_spec message__fields[FEDC_F__COUNT];
/* Indexed by enum fedc_cmd. */
extern const struct cmd_spec message__cmds[FEDC_CMD__COUNT];
/* The map inside `datasets`; every entry is required. */
extern const struct field_spec message__dataset_fields[];
extern const size_t message__n_dataset_fields;

#endif
