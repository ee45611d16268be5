/* Numbers from text (fedc/num.h). Integers: digits are read one by one with an
 * overflow check before each step, rather than through strtoll: strtoll skips
 * spaces, takes '+' and "0x" only with base 0, sets errno for overflow but
 * not for junk, and its unsigned twin silently negates "-1". */
#include "fedc/num.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* The magnitude of the digits of `s` (no sign) into *out: false if empty, if
 * any character is not a digit, or past UINT64_MAX. */
static bool parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

enum fedc_err fedc_num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (!s || !parse_digits(s, &v) || v < min || v > max)
		return FEDC_ERR_INVAL;
	*out = v;
	return FEDC_OK;
}

enum fedc_err fedc_num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool negative;
	uint64_t mag;
	int64_t v;

	if (!s)
		return FEDC_ERR_INVAL;
	negative = *s == '-';
	if (!parse_digits(s + negative, &mag))
		return FEDC_ERR_INVAL;
	if (negative) {
		/* |INT64_MIN| is INT64_MAX + 1. */
		if (mag > (uint64_t)INT64_MAX + 1)
			return FEDC_ERR_INVAL;
		v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return FEDC_ERR_INVAL;
		v = (int64_t)mag;
	}
	if (v < min || v > max)
		return FEDC_ERR_INVAL;
	*out = v;
	return FEDC_OK;
}

enum fedc_err fedc_num_arg_i64(const char *what, const char *s, int64_t min, int64_t max,
			       int64_t *out)
{
	if (fedc_num_parse_i64(s, min, max, out) == FEDC_OK)
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_INVAL, "%s: expected an integer in %lld..%lld, got \"%s\"", what,
			 (long long)min, (long long)max, s ? s : "");
}

enum fedc_err fedc_num_arg_u64(const char *what, const char *s, uint64_t min, uint64_t max,
			       uint64_t *out)
{
	if (fedc_num_parse_u64(s, min, max, out) == FEDC_OK)
		return FEDC_OK;
	return fedc_fail(FEDC_ERR_INVAL, "%s: expected an integer in %llu..%llu, got \"%s\"", what,
			 (unsigned long long)min, (unsigned long long)max, s ? s : "");
}

bool fedc_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	return fedc_num_parse_i64(s, min, max, out) == FEDC_OK;
}

bool fedc_parse_double(const char *s, double *out)
{
	char *end = NULL;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno == ERANGE || !isfinite(v))
		return false;
	*out = v;
	return true;
}
