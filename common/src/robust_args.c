/* The robustness stage's arguments (fedc/robust_args.h): key = value lines from
 * the researcher, read like any outside input -- length capped first, every
 * key known, every number whole and in range, nothing given twice. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fedc/num.h"
#include "fedc/robust_args.h"

#define LIST_SEP ","

static const char *const attack_names[FEDC_ROBUST_N_ATTACKS] = { "fgsm", "pgd" };

/* Removes leading and trailing blanks in place; returns the trimmed start. */
static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static enum fedc_err parse_attacks(char *value, struct fedc_robust_args *a)
{
	char *save = NULL;
	size_t n = 0;

	memset(a->attack, 0, sizeof(a->attack));
	for (char *item = strtok_r(value, LIST_SEP, &save); item; item = strtok_r(NULL, LIST_SEP, &save)) {
		int k = -1;

		item = trim(item);
		for (int i = 0; i < FEDC_ROBUST_N_ATTACKS; i++)
			k = strcmp(item, attack_names[i]) == 0 ? i : k;
		if (k < 0)
			return fedc_fail(FEDC_ERR_INVAL, "robust: attacks: unknown attack \"%.32s\" (known: fgsm, pgd)",
					 item);
		if (a->attack[k])
			return fedc_fail(FEDC_ERR_INVAL, "robust: attacks: %s is listed twice", item);
		a->attack[k] = true;
		n++;
	}
	if (n == 0)
		return fedc_fail(FEDC_ERR_INVAL, "robust: attacks is empty: list fgsm, pgd or both");
	return FEDC_OK;
}

static enum fedc_err parse_epsilon(const char *item, double *eps)
{
	if (!fedc_parse_double(item, eps))
		return fedc_fail(FEDC_ERR_INVAL, "robust: epsilons: \"%.32s\" is not a number", item);
	if (*eps < 0.0 || *eps > FEDC_ROBUST_MAX_EPSILON)
		return fedc_fail(FEDC_ERR_INVAL, "robust: epsilons: %g must be from 0 to %g (an L-infinity radius)", *eps,
				 FEDC_ROBUST_MAX_EPSILON);
	return FEDC_OK;
}

/* Two epsilons that print the same would give two results of one name. */
static bool same_name(double a, double b)
{
	char x[32], y[32];

	snprintf(x, sizeof(x), "%g", a);
	snprintf(y, sizeof(y), "%g", b);
	return strcmp(x, y) == 0;
}

static enum fedc_err parse_epsilons(char *value, struct fedc_robust_args *a)
{
	char *save = NULL;
	enum fedc_err rc;

	a->n_epsilons = 0;
	for (char *item = strtok_r(value, LIST_SEP, &save); item; item = strtok_r(NULL, LIST_SEP, &save)) {
		double eps;

		if (a->n_epsilons == FEDC_ROBUST_MAX_EPSILONS)
			return fedc_fail(FEDC_ERR_INVAL, "robust: epsilons: at most %d values",
					 FEDC_ROBUST_MAX_EPSILONS);
		rc = parse_epsilon(trim(item), &eps);
		if (rc)
			return rc;
		for (size_t i = 0; i < a->n_epsilons; i++) {
			if (same_name(a->epsilons[i], eps))
				return fedc_fail(FEDC_ERR_INVAL, "robust: epsilons: %g is listed twice", eps);
		}
		a->epsilons[a->n_epsilons++] = eps;
	}
	if (a->n_epsilons == 0)
		return fedc_fail(FEDC_ERR_INVAL, "robust: epsilons is empty: give 1 to %d radii, e.g. 0.01, 0.1",
				 FEDC_ROBUST_MAX_EPSILONS);
	return FEDC_OK;
}

static enum fedc_err parse_real(const char *key, const char *value, bool positive, double *out)
{
	if (!fedc_parse_double(value, out))
		return fedc_fail(FEDC_ERR_INVAL, "robust: %s: \"%.32s\" is not a number", key, value);
	if (positive && !(*out > 0.0 && *out <= FEDC_ROBUST_MAX_EPSILON))
		return fedc_fail(FEDC_ERR_INVAL, "robust: %s = %g: must be above 0 and at most %g", key, *out,
				 FEDC_ROBUST_MAX_EPSILON);
	return FEDC_OK;
}

/* One key = value; `seen` marks the keys met, in the order of keys[]. */
static enum fedc_err parse_pair(const char *key, char *value, bool *seen, struct fedc_robust_args *a)
{
	static const char *const keys[] = { "attacks", "epsilons", "pgd_steps", "pgd_step_size", "clip_min",
					    "clip_max" };
	size_t k = 0;
	uint64_t steps;

	while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[k]) != 0)
		k++;
	if (k == sizeof(keys) / sizeof(keys[0]))
		return fedc_fail(FEDC_ERR_INVAL,
				 "robust: unknown key \"%.32s\" (known: attacks, epsilons, pgd_steps, pgd_step_size, "
				 "clip_min, clip_max)",
				 key);
	if (seen[k])
		return fedc_fail(FEDC_ERR_INVAL, "robust: %s is given twice", key);
	seen[k] = true;
	switch (k) {
	case 0: return parse_attacks(value, a);
	case 1: return parse_epsilons(value, a);
	case 2:
		if (fedc_num_arg_u64("robust: pgd_steps", value, 1, FEDC_ROBUST_MAX_STEPS, &steps))
			return FEDC_ERR_INVAL;
		a->pgd_steps = (uint32_t)steps;
		return FEDC_OK;
	case 3: return parse_real(key, value, true, &a->pgd_step_size);
	case 4: a->has_clip_min = true; return parse_real(key, value, false, &a->clip_min);
	default: a->has_clip_max = true; return parse_real(key, value, false, &a->clip_max);
	}
}

static enum fedc_err parse_line(char *line, size_t number, bool *seen, struct fedc_robust_args *a)
{
	char *eq = strchr(line, '='), *key;

	line = trim(line);
	if (!*line)
		return FEDC_OK;
	if (!eq)
		return fedc_fail(FEDC_ERR_INVAL, "robust: line %zu: \"%.32s\" is not key = value", number, line);
	*eq = '\0';
	key = trim(line);
	return parse_pair(key, trim(eq + 1), seen, a);
}

static void set_defaults(struct fedc_robust_args *a)
{
	memset(a, 0, sizeof(*a));
	a->attack[FEDC_ROBUST_FGSM] = a->attack[FEDC_ROBUST_PGD] = true;
	a->n_epsilons = 3;
	a->epsilons[0] = 0.01;
	a->epsilons[1] = 0.05;
	a->epsilons[2] = 0.1;
	a->pgd_steps = 10;
}

enum fedc_err fedc_robust_args_parse(const char *text, struct fedc_robust_args *out)
{
	char copy[FEDC_ROBUST_MAX_ARGS_LEN + 1], *save = NULL;
	bool seen[6] = { false };
	size_t len = text ? strnlen(text, sizeof(copy)) : 0, number = 0;
	struct fedc_robust_args a;
	enum fedc_err rc = FEDC_OK;

	set_defaults(&a);
	if (len > FEDC_ROBUST_MAX_ARGS_LEN)
		return fedc_fail(FEDC_ERR_INVAL, "robust: the arguments exceed %d bytes", FEDC_ROBUST_MAX_ARGS_LEN);
	memcpy(copy, text ? text : "", len);
	copy[len] = '\0';
	/* strtok_r would skip empty lines silently and misnumber the rest. */
	for (char *line = copy; !rc && line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		rc = parse_line(line, ++number, seen, &a);
	}
	if (!rc && a.has_clip_min && a.has_clip_max && !(a.clip_min < a.clip_max))
		rc = fedc_fail(FEDC_ERR_INVAL, "robust: clip_min %g must be below clip_max %g", a.clip_min, a.clip_max);
	if (!rc)
		*out = a;
	return rc;
}
