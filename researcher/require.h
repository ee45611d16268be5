/* [nodes] require: the capabilities a node must advertise to take part
 * (fedc/caps.h, docs/researcher-guide.md "Choosing nodes by what they can
 * do"). The text is a comma-separated list of terms, all of which must hold:
 *
 *   NAME OP NUMBER     cores >= 4, memory_mb >= 2048, abi >= 3, max_epsilon != 0
 *   dataset_kind OP KIND   dataset_kind = images (OP: = or !=)
 *   NAME               secure_aggregation: the capability is advertised and not 0
 *
 * OP is one of >= <= > < = == !=. NAME is a capability of fedc/caps.h;
 * dataset_kind is the kind of the dataset the node offers (its search
 * reply's first dataset). A node that does not advertise a capability a
 * term names (one of an older version) does not meet the term. */
#ifndef FEDC_RESEARCHER_REQUIRE_H
#define FEDC_RESEARCHER_REQUIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "fedc/err.h"
#include "fedc/limits.h"
#include "fedc/message.h"

#define REQUIRE_MAX_TERMS 16
#define REQUIRE_MAX_TEXT 1024
#define REQUIRE_DATASET_KIND "dataset_kind"

enum require_op { REQUIRE_TRUE, REQUIRE_GE, REQUIRE_LE, REQUIRE_GT, REQUIRE_LT, REQUIRE_EQ, REQUIRE_NE };

struct require_term {
	char name[FEDC_MAX_NAME_LEN + 1];  /* a capability, or REQUIRE_DATASET_KIND */
	enum require_op op;
	double value;                      /* numeric terms */
	char kind[FEDC_SHORT_BUF];         /* dataset_kind terms */
};

struct require {
	size_t n_terms; /* 0: every node qualifies */
	struct require_term terms[REQUIRE_MAX_TERMS];
};

/* Parses `text` (NULL or blank: no terms) into *out. FEDC_ERR_CONFIG with a
 * detail naming the term and what to write instead: an unknown capability,
 * a missing or unknown operator, a value that is not a number (or not a
 * kind), an operator a kind does not take, an empty term, more than
 * REQUIRE_MAX_TERMS terms or more than REQUIRE_MAX_TEXT bytes. */
FEDC_NODISCARD
enum fedc_err require__parse(const char *text, struct require *out);

/* Whether the node whose search (or list) reply is `reply` meets every
 * term. When it does not, `why` (cap bytes) says which term failed and what
 * the node advertises: "cores is 2, needs cores >= 4". */
bool require__met(const struct require *req, const struct fedc_msg *reply, char *why, size_t cap);

/* Writes the terms back as text ("cores >= 4, dataset_kind = images"). */
void require__format(const struct require *req, char *out, size_t cap);

/* The capabilities a term may name, NULL-terminated (for docs and errors). */
extern const char *const require__names[];

#endif
