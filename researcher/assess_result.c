/* Decoding and combining the nodes' assessment results: assess_result.h. */
#include "assess_result.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/message.h"
#include "fedc/num.h"

static const char *const kind_names[] = { "count", "sum", "mean", "text" };

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > ASSESS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", s[i]) || !s[i])
			return false;
	return true;
}

static bool text_ok(const char *s, size_t n)
{
	if (n == 0 || n > ASSESS_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* Room for one more value: the array grows by doubling up to the line cap. */
static struct assess_value *append(struct assess_result *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 32;
		struct assess_value *v = realloc(r->values, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->values = v;
		r->cap = cap;
	}
	memset(&r->values[r->n], 0, sizeof(r->values[0]));
	return &r->values[r->n++];
}

static struct assess_value *find(const struct assess_result *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->values[i].name, name) == 0)
			return &r->values[i];
	return NULL;
}

const struct assess_value *assess_result__get(const struct assess_result *r, const char *name)
{
	return find(r, name);
}

static enum fedc_err parse_value(struct assess_value *v, const char *s, size_t n, size_t line_no)
{
	char num[64];

	if (v->kind == ASSESS_TEXT) {
		if (!text_ok(s, n))
			return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: text empty, too long or not printable",
					 line_no);
		v->text = strndup(s, n);
		return v->text ? FEDC_OK : FEDC_ERR_NOMEM;
	}
	if (n == 0 || n >= sizeof(num))
		return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: no number", line_no);
	memcpy(num, s, n);
	num[n] = '\0';
	if (v->kind == ASSESS_COUNT && fedc_num_parse_u64(num, 0, UINT64_MAX, &v->count) != FEDC_OK)
		return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: \"%s\" is not a whole number", line_no, num);
	if (v->kind != ASSESS_COUNT && !fedc_parse_double(num, &v->value))
		return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: \"%s\" is not a finite number", line_no, num);
	return FEDC_OK;
}

/* One line, `len` bytes without its '\n'. */
static enum fedc_err decode_line(const char *s, size_t len, size_t line_no, struct assess_result *out)
{
	const char *sp1 = memchr(s, ' ', len), *name, *sp2;
	struct assess_value v = { 0 }, *slot;
	enum fedc_err rc;
	size_t k;

	for (k = 0; sp1 && k < 4; k++)
		if ((size_t)(sp1 - s) == strlen(kind_names[k]) && memcmp(s, kind_names[k], (size_t)(sp1 - s)) == 0)
			break;
	if (!sp1 || k == 4)
		return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: unknown kind (count, sum, mean or text)",
				 line_no);
	v.kind = (enum assess_kind)k;
	name = sp1 + 1;
	sp2 = memchr(name, ' ', len - (size_t)(name - s));
	if (!sp2 || !name_ok(name, (size_t)(sp2 - name)))
		return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: bad or missing name", line_no);
	memcpy(v.name, name, (size_t)(sp2 - name));
	if (assess_result__get(out, v.name))
		return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu: \"%s\" given twice", line_no, v.name);
	rc = parse_value(&v, sp2 + 1, len - (size_t)(sp2 + 1 - s), line_no);
	if (rc)
		return rc;
	slot = append(out);
	if (!slot) {
		free(v.text);
		return FEDC_ERR_NOMEM;
	}
	*slot = v;
	return FEDC_OK;
}

enum fedc_err assess_result__decode(const void *data, size_t len, struct assess_result *out)
{
	const char *p = data, *end = p + len;
	size_t line_no = 0;
	enum fedc_err rc = FEDC_OK;

	memset(out, 0, sizeof(*out));
	if (len > FEDC_MAX_ASSESS_RESULT)
		return fedc_fail(FEDC_ERR_TOO_BIG, "assessment result of %zu bytes: at most %u", len,
				 FEDC_MAX_ASSESS_RESULT);
	while (!rc && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (++line_no > ASSESS_MAX_LINES)
			return fedc_fail(FEDC_ERR_MALFORMED, "assessment result of more than %d lines", ASSESS_MAX_LINES);
		if (!nl)
			return fedc_fail(FEDC_ERR_MALFORMED, "assessment line %zu is not ended by a newline", line_no);
		rc = decode_line(p, (size_t)(nl - p), line_no, out);
		p = nl + 1;
	}
	return rc;
}

enum fedc_err assess_result__add(struct assess_result *total, const struct assess_result *node, uint64_t n_test)
{
	for (size_t i = 0; i < node->n; i++) {
		const struct assess_value *v = &node->values[i];
		struct assess_value *t = find(total, v->name);

		if (t && t->kind != v->kind)
			return fedc_fail(FEDC_ERR_MALFORMED, "\"%s\" is a %s at one node and a %s at another", v->name,
					 kind_names[t->kind], kind_names[v->kind]);
		if (!t) {
			if (!(t = append(total)))
				return FEDC_ERR_NOMEM;
			memcpy(t->name, v->name, sizeof(t->name));
			t->kind = v->kind;
			if (v->kind == ASSESS_TEXT && !(t->text = strdup(v->text)))
				return FEDC_ERR_NOMEM;
		}
		if (v->kind == ASSESS_COUNT)
			t->count = t->count + v->count < t->count ? UINT64_MAX : t->count + v->count;
		else if (v->kind == ASSESS_SUM)
			t->value += v->value;
		else if (v->kind == ASSESS_MEAN) {
			t->value += v->value * (double)n_test;
			t->weight += (double)n_test;
		}
	}
	return FEDC_OK;
}

void assess_result__finish(struct assess_result *total)
{
	for (size_t i = 0; i < total->n; i++)
		if (total->values[i].kind == ASSESS_MEAN)
			total->values[i].value =
				total->values[i].weight > 0 ? total->values[i].value / total->values[i].weight : NAN;
}

uint64_t assess_result__count(const struct assess_result *r, const char *name)
{
	const struct assess_value *v = assess_result__get(r, name);

	return v && v->kind == ASSESS_COUNT ? v->count : 0;
}

double assess_result__real(const struct assess_result *r, const char *name, double otherwise)
{
	const struct assess_value *v = assess_result__get(r, name);

	return v && (v->kind == ASSESS_SUM || v->kind == ASSESS_MEAN) ? v->value : otherwise;
}

void assess_result__free(struct assess_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->values[i].text);
	free(r->values);
	memset(r, 0, sizeof(*r));
}
