/* QUERY.ini's [analytics] section (analytics.h). */
#include "analytics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedc/buf.h"
#include "fedc/config.h"

#define SECTION "analytics"

static const struct {
	const char *name;
	unsigned bit;
} stat_names[] = {
	{ "count", STAT_COUNT }, { "sum", STAT_SUM }, { "mean", STAT_MEAN }, { "variance", STAT_VAR },
	{ "var", STAT_VAR }, { "std", STAT_STD }, { "min", STAT_MIN }, { "max", STAT_MAX },
	{ "histogram", STAT_HISTOGRAM }, { "quantiles", STAT_QUANTILES },
};

static enum fedc_err bad(const struct fedc_config *cfg, const char *key, const char *value, const char *what)
{
	return fedc_fail(FEDC_ERR_CONFIG, "%s: [" SECTION "] %s = %s: %s", fedc_config_path(cfg), key, value, what);
}

/* Comma-separated finite numbers, at most `max`. */
static bool parse_numbers(const char *text, double *out, uint32_t max, uint32_t *n)
{
	const char *p = text;

	*n = 0;
	for (;;) {
		char *end = NULL;
		double v;

		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno == ERANGE || !isfinite(v) || *n >= max)
			return false;
		out[(*n)++] = v;
		while (*end == ' ')
			end++;
		if (!*end)
			return true;
		if (*end != ',')
			return false;
		p = end + 1;
	}
}

static enum fedc_err read_stats(const struct fedc_config *cfg, struct analytics_request *r)
{
	const char *value = NULL;
	char buf[512], *save = NULL;
	enum fedc_err rc = fedc_config_str(cfg, SECTION, "statistics", false, "count, mean, std, min, max", &value);

	if (rc)
		return rc;
	if (strlen(value) >= sizeof(buf))
		return bad(cfg, "statistics", value, "too long");
	strcpy(buf, value);
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		size_t i = 0;

		while (i < sizeof(stat_names) / sizeof(stat_names[0]) && strcmp(stat_names[i].name, t) != 0)
			i++;
		if (i == sizeof(stat_names) / sizeof(stat_names[0]))
			return bad(cfg, "statistics", value, "give some of count, sum, mean, variance, std, min, max, "
					 "histogram, quantiles");
		r->stats |= stat_names[i].bit;
	}
	if (!r->stats)
		return bad(cfg, "statistics", value, "name at least one statistic");
	return FEDC_OK;
}

static enum fedc_err read_columns(const struct fedc_config *cfg, struct analytics_request *r)
{
	const char *value = NULL;
	char buf[4096], *save = NULL;
	enum fedc_err rc = fedc_config_str(cfg, SECTION, "columns", true, NULL, &value);

	if (rc)
		return rc;
	if (strlen(value) >= sizeof(buf))
		return bad(cfg, "columns", value, "too long");
	strcpy(buf, value);
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (r->n_columns >= ANALYTICS_MAX_COLS || strlen(t) >= ANALYTICS_NAME_LEN - 1)
			return bad(cfg, "columns", value, "at most 32 columns, names under 128 characters");
		strcpy(r->columns[r->n_columns++].name, t);
	}
	return FEDC_OK;
}

static struct analytics_request_col *find_col(struct analytics_request *r, const char *name)
{
	for (uint32_t i = 0; i < r->n_columns; i++) {
		if (strcmp(r->columns[i].name, name) == 0)
			return &r->columns[i];
	}
	return NULL;
}

/* The keys passed on to the nodes as they are written (they check them
 * against their data); bins.COLUMN also kept here to label the histogram. */
static enum fedc_err read_passed_on(const struct fedc_config *cfg, struct analytics_request *r, struct fedc_buf *wire)
{
	static const char *const own[] = { "dataset_tags", "statistics", "columns", "quantiles", "output_dir",
					   "timeout_s", NULL };
	bool sum = r->stats & (STAT_SUM | STAT_MEAN | STAT_VAR | STAT_STD), sumsq = r->stats & (STAT_VAR | STAT_STD);
	const char *key, *value;
	/* Only the figures the statistics need: under noise each one left out
	 * leaves more of the epsilon to the others. */
	enum fedc_err rc = fedc_buf_printf(wire, "release=count%s%s\n", sum ? ",sum" : "", sumsq ? ",sumsq" : "");

	for (unsigned i = 0; !rc && fedc_config_entry(cfg, SECTION, i, &key, &value); i++) {
		bool mine = false;
		struct analytics_request_col *col;

		for (size_t k = 0; own[k]; k++)
			mine |= strcmp(own[k], key) == 0;
		if (mine)
			continue;
		if (strchr(value, '\n'))
			return bad(cfg, key, value, "one line only");
		if (strncmp(key, "bins.", 5) == 0) {
			col = find_col(r, key + 5);
			if (!col)
				return bad(cfg, key, value, "the column is not in `columns`: list it there");
			if (!parse_numbers(value, col->edges, ANALYTICS_MAX_BIN_EDGES, &col->n_edges) || col->n_edges < 2)
				return bad(cfg, key, value, "give 2 to 65 increasing edges separated by commas");
			if (!(r->stats & (STAT_HISTOGRAM | STAT_QUANTILES))) {
				col->n_edges = 0; /* not asked for: the nodes spend nothing on it */
				continue;
			}
		} else if (strcmp(key, "filter") != 0 && strcmp(key, "group_by") != 0 && strcmp(key, "epsilon") != 0 &&
			   strncmp(key, "bounds.", 7) != 0) {
			return fedc_fail(FEDC_ERR_CONFIG, "%s: [" SECTION "] %s: unknown key: the keys are dataset_tags, "
					 "columns, statistics, filter, group_by, epsilon, bins.COLUMN, bounds.COLUMN, "
					 "quantiles, output_dir and timeout_s", fedc_config_path(cfg), key);
		}
		rc = fedc_buf_printf(wire, "%s=%s\n", key, value);
	}
	return rc;
}

static enum fedc_err read_quantiles(const struct fedc_config *cfg, struct analytics_request *r)
{
	const char *value = NULL;
	enum fedc_err rc = fedc_config_str(cfg, SECTION, "quantiles", false, "0.25, 0.5, 0.75", &value);

	if (!rc && !parse_numbers(value, r->quantiles, ANALYTICS_MAX_QUANTILES, &r->n_quantiles))
		rc = bad(cfg, "quantiles", value, "give up to 16 numbers between 0 and 1, separated by commas");
	for (uint32_t i = 0; !rc && i < r->n_quantiles; i++) {
		if (!(r->quantiles[i] >= 0 && r->quantiles[i] <= 1))
			rc = bad(cfg, "quantiles", value, "each must be between 0 and 1");
	}
	if (!rc && (r->stats & (STAT_HISTOGRAM | STAT_QUANTILES))) {
		bool some = false;

		for (uint32_t c = 0; c < r->n_columns; c++)
			some |= r->columns[c].n_edges > 0;
		if (!some)
			rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [" SECTION "] statistics asks for histograms or quantiles: "
				       "give the bins of a column (bins.%s = EDGE, EDGE, ...)", fedc_config_path(cfg),
				       r->columns[0].name);
	}
	return rc;
}

static enum fedc_err read_strings(const struct fedc_config *cfg, struct analytics_request *r)
{
	const char *tags = NULL, *output = NULL;
	enum fedc_err rc = fedc_config_str(cfg, SECTION, "dataset_tags", true, NULL, &tags);

	if (!rc)
		rc = fedc_config_str(cfg, SECTION, "output_dir", false, "analytics-results", &output);
	if (!rc && strlen(tags) >= sizeof(r->tags))
		rc = bad(cfg, "dataset_tags", tags, "too long");
	if (!rc)
		strcpy(r->tags, tags);
	if (!rc)
		rc = fedc_config_resolve(fedc_config_path(cfg), output, r->output_dir, sizeof(r->output_dir));
	r->output_dir_set = fedc_config_has(cfg, SECTION, "output_dir");
	if (!rc)
		rc = fedc_config_int(cfg, SECTION, "timeout_s", false, 10, 1, 3600, &r->timeout_s);
	return rc;
}

enum fedc_err analytics__read_request(const char *path, struct analytics_request *out)
{
	struct fedc_config *cfg = NULL;
	struct fedc_buf wire = FEDC_BUF_INIT(FEDC_MAX_ANALYTICS_QUERY);
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	rc = fedc_config_load(path, &cfg);
	if (!rc && !fedc_config_entry(cfg, SECTION, 0, &(const char *){ NULL }, &(const char *){ NULL }))
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: no [analytics] section: write one (docs/researcher-guide.md, "
			       "\"Federated analytics\")", path);
	if (!rc)
		rc = read_strings(cfg, out);
	if (!rc)
		rc = read_stats(cfg, out);
	if (!rc)
		rc = read_columns(cfg, out);
	if (!rc) {
		for (uint32_t c = 0; !rc && c < out->n_columns; c++)
			rc = fedc_buf_printf(&wire, "%s%s", c ? "," : "columns=", out->columns[c].name);
		if (!rc)
			rc = fedc_buf_printf(&wire, "\n");
	}
	if (!rc)
		rc = read_passed_on(cfg, out, &wire);
	if (rc == FEDC_ERR_TOO_BIG)
		rc = fedc_fail(FEDC_ERR_CONFIG, "%s: [" SECTION "]: the query passes %d bytes: shorten it", path,
			       FEDC_MAX_ANALYTICS_QUERY);
	if (!rc)
		rc = read_quantiles(cfg, out);
	if (!rc)
		memcpy(out->wire, wire.data, wire.len + 1);
	fedc_buf_free(&wire);
	fedc_config_free(cfg);
	return rc;
}
