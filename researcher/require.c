/* [nodes] require: parsing and matching (see require.h). */
#include "require.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/caps.h"

const char *const require__names[] = {
	FEDC_CAP_ABI, FEDC_CAP_CORES, FEDC_CAP_MEMORY_MB, FEDC_CAP_MAX_RUNTIME_S, FEDC_CAP_MAX_CPU_S,
	FEDC_CAP_MAX_PLAN_MEMORY_MB, FEDC_CAP_SECURE_AGGREGATION, FEDC_CAP_DP, FEDC_CAP_REQUIRE_DP,
	FEDC_CAP_REQUIRE_SECURE_AGGREGATION, FEDC_CAP_MIN_NOISE_MULTIPLIER, FEDC_CAP_MAX_EPSILON,
	FEDC_CAP_MAX_DELTA, FEDC_CAP_MIN_SAMPLES, REQUIRE_DATASET_KIND, NULL,
};

/* Longest first, so that ">=" is not read as ">". */
static const struct {
	const char *text;
	enum require_op op;
} ops[] = {
	{ ">=", REQUIRE_GE }, { "<=", REQUIRE_LE }, { "==", REQUIRE_EQ }, { "!=", REQUIRE_NE },
	{ ">", REQUIRE_GT },  { "<", REQUIRE_LT },  { "=", REQUIRE_EQ },
};

#define HINT "write NAME OP VALUE (OP one of >= <= > < = !=) or NAME alone, terms separated by commas"

/* From the end, so that equality is written "=" (as the docs write it). */
static const char *op_text(enum require_op op)
{
	for (size_t i = sizeof(ops) / sizeof(ops[0]); i-- > 0;) {
		if (ops[i].op == op)
			return ops[i].text;
	}
	return "";
}

static bool known_name(const char *name)
{
	for (size_t i = 0; require__names[i]; i++) {
		if (strcmp(require__names[i], name) == 0)
			return true;
	}
	return false;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool valid_kind(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len < FEDC_SHORT_BUF && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* The value after the operator: a finite number, or a kind for dataset_kind. */
static enum fedc_err parse_value(const char *term, struct require_term *t, const char *value)
{
	char *end = NULL;

	if (strcmp(t->name, REQUIRE_DATASET_KIND) == 0) {
		if (t->op != REQUIRE_EQ && t->op != REQUIRE_NE)
			return fedc_fail(FEDC_ERR_CONFIG, "\"%s\": a dataset kind is compared with = or != only", term);
		if (!valid_kind(value))
			return fedc_fail(FEDC_ERR_CONFIG,
					 "\"%s\": \"%s\" is not a dataset kind (csv, idx, images ...: lower-case "
					 "letters, digits, '.', '_', '-')",
					 term, value);
		snprintf(t->kind, sizeof(t->kind), "%s", value);
		return FEDC_OK;
	}
	t->value = strtod(value, &end);
	if (!value[0] || *end || !isfinite(t->value))
		return fedc_fail(FEDC_ERR_CONFIG, "\"%s\": \"%s\" is not a number", term, value);
	return FEDC_OK;
}

/* The name is what comes before the operator (or the whole term). */
static enum fedc_err parse_name(const char *term, struct require_term *t, char *name)
{
	name = trim(name);
	if (!name[0])
		return fedc_fail(FEDC_ERR_CONFIG, "\"%s\": no capability before the operator; " HINT, term);
	if (!known_name(name) || strlen(name) >= sizeof(t->name))
		return fedc_fail(FEDC_ERR_CONFIG,
				 "\"%s\": unknown capability \"%s\" (known: abi, cores, memory_mb, max_runtime_s, "
				 "max_cpu_s, max_plan_memory_mb, secure_aggregation, dp, require_dp, "
				 "require_secure_aggregation, min_noise_multiplier, max_epsilon, max_delta, "
				 "min_samples, dataset_kind)",
				 term, name);
	snprintf(t->name, sizeof(t->name), "%s", name);
	return FEDC_OK;
}

static enum fedc_err parse_term(char *term, struct require_term *t)
{
	char shown[REQUIRE_MAX_TEXT];
	size_t at = strcspn(term, "<>=!");

	snprintf(shown, sizeof(shown), "%s", term);
	memset(t, 0, sizeof(*t));
	if (!term[at]) {
		enum fedc_err rc = parse_name(shown, t, term);

		if (!rc && strcmp(t->name, REQUIRE_DATASET_KIND) == 0)
			return fedc_fail(FEDC_ERR_CONFIG, "\"%s\": give the kind: dataset_kind = images", shown);
		t->op = REQUIRE_TRUE;
		return rc;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t len = strlen(ops[i].text);

		if (strncmp(term + at, ops[i].text, len) == 0) {
			char *value = trim(term + at + len);
			enum fedc_err rc;

			term[at] = '\0';
			rc = parse_name(shown, t, term);
			t->op = ops[i].op;
			if (!rc && strcspn(value, "<>=!") != strlen(value))
				rc = fedc_fail(FEDC_ERR_CONFIG, "\"%s\": one operator per term; " HINT, shown);
			return rc ? rc : parse_value(shown, t, value);
		}
	}
	return fedc_fail(FEDC_ERR_CONFIG, "\"%s\": unknown operator; " HINT, shown);
}

enum fedc_err require__parse(const char *text, struct require *out)
{
	char buf[REQUIRE_MAX_TEXT + 1];
	size_t len = text ? strlen(text) : 0;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	if (len > REQUIRE_MAX_TEXT)
		return fedc_fail(FEDC_ERR_CONFIG, "longer than %d bytes", REQUIRE_MAX_TEXT);
	if (!text || !trim(memcpy(buf, text, len + 1))[0])
		return FEDC_OK;
	/* strtok_r would skip empty terms ("a,,b"): a stray comma is an error. */
	for (char *term = buf, *next; term && !rc; term = next) {
		next = strchr(term, ',');
		if (next)
			*next++ = '\0';
		term = trim(term);
		if (!term[0])
			rc = fedc_fail(FEDC_ERR_CONFIG, "an empty term (two commas, or a comma at an end); " HINT);
		else if (out->n_terms >= REQUIRE_MAX_TERMS)
			rc = fedc_fail(FEDC_ERR_CONFIG, "more than %d terms", REQUIRE_MAX_TERMS);
		else
			rc = parse_term(term, &out->terms[out->n_terms++]);
	}
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

static bool compare(enum require_op op, double have, double want)
{
	switch (op) {
	case REQUIRE_TRUE: return have != 0;
	case REQUIRE_GE: return have >= want;
	case REQUIRE_LE: return have <= want;
	case REQUIRE_GT: return have > want;
	case REQUIRE_LT: return have < want;
	case REQUIRE_EQ: return have == want;
	case REQUIRE_NE: return have != want;
	}
	return false;
}

static void format_term(const struct require_term *t, char *out, size_t cap)
{
	if (t->op == REQUIRE_TRUE)
		snprintf(out, cap, "%s", t->name);
	else if (strcmp(t->name, REQUIRE_DATASET_KIND) == 0)
		snprintf(out, cap, "%s %s %s", t->name, op_text(t->op), t->kind);
	else
		snprintf(out, cap, "%s %s %.15g", t->name, op_text(t->op), t->value);
}

/* The kind of the dataset the node offers: its reply's first (the one a
 * job uses). */
static bool kind_met(const struct require_term *t, const struct fedc_msg *reply, char *why, size_t cap)
{
	const char *kind = reply->n_datasets > 0 ? reply->datasets[0].type : "";
	bool equal = strcmp(kind, t->kind) == 0;

	if (t->op == REQUIRE_EQ ? equal : !equal)
		return true;
	if (!kind[0])
		snprintf(why, cap, "offers no dataset, needs %s %s %s", t->name, op_text(t->op), t->kind);
	else
		snprintf(why, cap, "its dataset is of kind %s, needs %s %s %s", kind, t->name, op_text(t->op), t->kind);
	return false;
}

static bool term_met(const struct require_term *t, const struct fedc_msg *reply, char *why, size_t cap)
{
	char want[FEDC_MAX_NAME_LEN + FEDC_SHORT_BUF + 40];
	double have;

	if (strcmp(t->name, REQUIRE_DATASET_KIND) == 0)
		return kind_met(t, reply, why, cap);
	format_term(t, want, sizeof(want));
	if (!fedc_msg_has(reply, FEDC_F_CAPABILITIES) ||
	    !fedc_msg_kv_get(reply->capabilities, reply->n_capabilities, t->name, &have)) {
		snprintf(why, cap, "does not advertise %s (an older fedc-node?), needs %s", t->name, want);
		return false;
	}
	if (compare(t->op, have, t->value))
		return true;
	snprintf(why, cap, "%s is %.15g, needs %s", t->name, have, want);
	return false;
}

bool require__met(const struct require *req, const struct fedc_msg *reply, char *why, size_t cap)
{
	for (size_t i = 0; i < req->n_terms; i++) {
		if (!term_met(&req->terms[i], reply, why, cap))
			return false;
	}
	if (cap)
		why[0] = '\0';
	return true;
}

void require__format(const struct require *req, char *out, size_t cap)
{
	size_t used = 0;

	if (cap)
		out[0] = '\0';
	for (size_t i = 0; i < req->n_terms && used + 1 < cap; i++) {
		char term[FEDC_MAX_NAME_LEN + FEDC_SHORT_BUF + 40];

		format_term(&req->terms[i], term, sizeof(term));
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", term);
	}
}
