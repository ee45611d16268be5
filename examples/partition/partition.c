/* fedc-partition: splits a labelled dataset (an IDX image set such as
 * Fashion-MNIST, or a CSV file) among N parties, one file set per party that
 * `fedc-node dataset add` accepts, with the partition schemes of NIID-Bench
 * (scheme.h) and prints each party's class counts.
 *
 *   fedc-partition (--images FILE --labels FILE | --csv FILE [CSV options])
 *                  --parties N --out DIR [--split SCHEME] [scheme options]
 *                  [--seed S] [--samples M] [--prefix NAME] [--plain]
 *
 * The input is read (and checked) by the node's own dataset code
 * (node/dataset_idx.c, node/dataset_csv.c through fedc_node_core): a file
 * this tool accepts is one a node accepts, with the node's messages. The
 * schemes, the seed and the output names are in examples/partition/README.md;
 * keep the two in step.
 *
 * Randomness: one stream of fedc_rng seeded with --seed: first one
 * Fisher-Yates shuffle of all rows (its first M rows are the ones split, in
 * that order), then what the scheme draws (scheme.h). Same input, options and
 * seed, same files byte for byte.
 *
 * Exit status: 0 done, 1 the input or an output failed or the data cannot be
 * split so, 2 bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "dataset_idx.h"
#include "fedc/err.h"
#include "fedc/fs.h"
#include "fedc/num.h"
#include "fedc/rng.h"
#include "output.h"
#include "scheme.h"

struct options {
	const char *images, *labels, *csv, *out_dir, *prefix;
	struct dataset_options csv_opts;
	struct partition_spec spec;
	uint64_t seed;
	uint64_t samples; /* 0: all */
	bool plain;
};

/* The loaded input: the node's view (labels in y) plus what the writers need. */
struct input {
	struct node_dataset ds;
	struct fedc_data data;
	struct output_idx idx;
	struct output_csv csv;
	char *header;
};

static const char *prog = "fedc-partition";

static const struct {
	const char *name;
	enum partition_scheme scheme;
} schemes[] = {
	{ "iid", PARTITION_IID },           { "dirichlet", PARTITION_DIRICHLET }, { "classes", PARTITION_CLASSES },
	{ "quantity", PARTITION_QUANTITY }, { "major", PARTITION_MAJOR },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fedc-partition (--images FILE --labels FILE | --csv FILE) --parties N --out DIR\n"
		"                      [--split iid|dirichlet|classes|quantity|major] [--beta B]\n"
		"                      [--classes C] [--major-share P] [--min-size R] [--seed S]\n"
		"                      [--samples M] [--prefix NAME] [--plain]\n"
		"                      [--header MODE] [--label-column K] [--regression]\n"
		"\n"
		"Splits a dataset among N parties. IDX in (plain or gzip'd): writes\n"
		"DIR/NAME-<k>-images-idx<d>-ubyte.gz and DIR/NAME-<k>-labels-idx1-ubyte.gz\n"
		"(no .gz and uncompressed with --plain); CSV in: DIR/NAME-<k>.csv (k = 0 .. N-1,\n"
		"NAME defaults to \"party\"). Prints each party's class counts.\n"
		"\n"
		"  --split iid        seeded shuffle, equal shares (default)\n"
		"  --split dirichlet  label skew: each class shared out by a Dirichlet(B) draw\n"
		"                     (NIID-Bench's noniid-labeldir; --beta, default 0.5)\n"
		"  --split classes    each party holds C classes (NIID-Bench's #C=k; --classes, default 2)\n"
		"  --split quantity   IID labels, sizes from a Dirichlet(B) draw (NIID-Bench's\n"
		"                     iid-diff-quantity; --beta)\n"
		"  --split major      party k holds mostly classes 2k and 2k+1: a share P of its rows\n"
		"                     (--major-share, default 0.85) on a balanced set\n"
		"  --min-size R       dirichlet, quantity: redraw until every party has R rows (default 10)\n"
		"  --seed S           seeds every draw (default 0); same seed, same files\n"
		"  --samples M        use a seeded random subset of M rows (default all)\n"
		"  --header MODE, --label-column K, --regression: the CSV options of fedc-node dataset add\n"
		"\n"
		"See examples/partition/README.md.\n");
}

static int bad(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "%s: %s \"%s\": %s\n", prog, opt, arg, want);
	return 2;
}

static int parse_scheme(const char *arg, enum partition_scheme *out)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strcmp(arg, schemes[i].name) == 0) {
			*out = schemes[i].scheme;
			return 0;
		}
	}
	return bad("--split", arg, "give iid, dirichlet, classes, quantity or major");
}

/* One option's argument; 0 or 2 (usage, message printed). */
static int take_option(int c, const char *arg, struct options *o)
{
	uint64_t v;
	double d;

	switch (c) {
	case 'i': o->images = arg; return 0;
	case 'l': o->labels = arg; return 0;
	case 'c': o->csv = arg; return 0;
	case 'o': o->out_dir = arg; return 0;
	case 'P': o->prefix = arg; return 0;
	case 'r': o->plain = true; return 0;
	case 'H': o->csv_opts.header = arg; return 0;
	case 'g': o->csv_opts.regression = true; return 0;
	case 's': return parse_scheme(arg, &o->spec.scheme);
	case 'n':
		if (fedc_num_parse_u64(arg, 0, PARTITION_MAX_PARTIES, &v) != FEDC_OK || v == 0)
			return bad("--parties", arg, "give a whole number from 1 to 1024");
		o->spec.n_parties = (uint32_t)v;
		return 0;
	case 'C':
		if (fedc_num_parse_u64(arg, 0, PARTITION_MAX_CLASSES, &v) != FEDC_OK || v == 0)
			return bad("--classes", arg, "give a whole number of classes per party, 1 or more");
		o->spec.classes = (uint32_t)v;
		return 0;
	case 'z':
		if (fedc_num_parse_u64(arg, 0, UINT32_MAX, &v) != FEDC_OK)
			return bad("--min-size", arg, "give a whole number of rows");
		o->spec.min_size = (uint32_t)v;
		return 0;
	case 'b':
		if (!fedc_parse_double(arg, &d) || !(d > 0 && d <= 1e6))
			return bad("--beta", arg, "give a number above 0 (0.5 is NIID-Bench's; large is near IID)");
		o->spec.beta = d;
		return 0;
	case 'p':
		if (!fedc_parse_double(arg, &d) || !(d > 0 && d <= 1))
			return bad("--major-share", arg, "give a number in (0, 1]");
		o->spec.major_share = d;
		return 0;
	case 'S':
		if (fedc_num_parse_u64(arg, 0, UINT64_MAX, &o->seed) != FEDC_OK)
			return bad("--seed", arg, "give a whole number from 0 to 2^64-1");
		return 0;
	case 'm':
		if (fedc_num_parse_u64(arg, 0, UINT32_MAX, &o->samples) != FEDC_OK || o->samples == 0)
			return bad("--samples", arg, "give a whole number from 1 to 4294967295");
		return 0;
	case 'L': {
		char *end = NULL;
		long k;

		errno = 0;
		k = strtol(arg, &end, 10);
		if (errno || end == arg || *end || k < -1 || k > INT32_MAX)
			return bad("--label-column", arg, "give a column number from 0, or -1 for the last");
		o->csv_opts.label_column = (int)k;
		return 0;
	}
	default: usage(stderr); return 2;
	}
}

static int check_args(const struct options *o)
{
	if (!!o->csv == !!(o->images || o->labels) || (!o->csv && (!o->images || !o->labels))) {
		fprintf(stderr, "%s: give either --images and --labels (IDX) or --csv\n", prog);
		return 2;
	}
	if (!o->out_dir || !o->spec.n_parties) {
		fprintf(stderr, "%s: --parties and --out are required\n", prog);
		usage(stderr);
		return 2;
	}
	/* The prefix becomes part of a file name in DIR: no directories, no dot files. */
	if (!o->prefix[0] || strchr(o->prefix, '/') || o->prefix[0] == '.' || strlen(o->prefix) > 100) {
		fprintf(stderr, "%s: --prefix \"%s\": give a plain file-name prefix (no '/', not starting with '.')\n",
			prog, o->prefix);
		return 2;
	}
	return 0;
}

/* 0 on success, 1 for --help, 2 (usage) with a message on stderr otherwise. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "images", required_argument, NULL, 'i' },  { "labels", required_argument, NULL, 'l' },
		{ "csv", required_argument, NULL, 'c' },     { "parties", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },     { "split", required_argument, NULL, 's' },
		{ "beta", required_argument, NULL, 'b' },    { "classes", required_argument, NULL, 'C' },
		{ "major-share", required_argument, NULL, 'p' }, { "min-size", required_argument, NULL, 'z' },
		{ "seed", required_argument, NULL, 'S' },    { "samples", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'P' },  { "plain", no_argument, NULL, 'r' },
		{ "header", required_argument, NULL, 'H' },  { "label-column", required_argument, NULL, 'L' },
		{ "regression", no_argument, NULL, 'g' },    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	*o = (struct options){ .prefix = "party" };
	o->csv_opts = (struct dataset_options){ .type = "csv", .header = "auto", .label_column = -1 };
	o->spec = (struct partition_spec){ .scheme = PARTITION_IID, .beta = 0.5, .classes = 2, .major_share = 0.85,
					   .min_size = 10 };
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		rc = take_option(c, optarg, o);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
		usage(stderr);
		return 2;
	}
	return check_args(o);
}

/* ---- input ---- */

/* "28x28" -> {28, 28}. The node wrote it, so it parses; checked anyway. */
static bool parse_shape(const char *shape, uint32_t *dims, uint32_t *ndim)
{
	const char *p = shape;
	uint64_t v;
	char *end;

	*ndim = 0;
	while (*p) {
		if (*ndim == OUTPUT_MAX_DIMS || *p < '0' || *p > '9')
			return false;
		v = strtoull(p, &end, 10);
		if (v == 0 || v > UINT32_MAX || (*end && *end != 'x'))
			return false;
		dims[(*ndim)++] = (uint32_t)v;
		p = *end ? end + 1 : end;
	}
	return *ndim > 0;
}

static enum fedc_err load_idx(const struct options *o, struct input *in)
{
	enum fedc_err rc = dataset_idx__read_files("input", o->images, o->labels, &in->ds, &in->data);

	if (rc)
		return rc;
	in->idx = (struct output_idx){ .data = &in->data, .plain = o->plain };
	if (!parse_shape(in->ds.shape, in->idx.dims, &in->idx.ndim))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: unexpected image shape \"%s\"", o->images, in->ds.shape);
	return 0;
}

/* Strips the line end (LF or CR LF) in place. */
static void chomp(char *line)
{
	size_t len = strlen(line);

	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
}

/* The CSV's lines as they are, once the node's reader has accepted the file:
 * the header line (unless the mode found is "none") and n_samples data lines
 * (the node allows empty lines only at the end). */
static enum fedc_err read_csv_lines(struct input *in)
{
	FILE *f = fopen(in->ds.path, "r");
	char *line = NULL;
	size_t cap = 0, want = in->ds.n_samples;
	bool first = true;
	enum fedc_err rc = 0;

	if (!f)
		return fedc_fail(FEDC_ERR_IO, "%s: %s", in->ds.path, strerror(errno));
	in->csv.lines = calloc(want ? want : 1, sizeof(*in->csv.lines));
	if (!in->csv.lines)
		rc = FEDC_ERR_NOMEM;
	while (!rc && in->csv.n_lines < want && getline(&line, &cap, f) >= 0) {
		char *text = line;

		chomp(line);
		if (first && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
			text += 3;
		if (first && strcmp(in->ds.header, "none") != 0) {
			if (!(in->header = strdup(text)))
				rc = FEDC_ERR_NOMEM;
		} else if (!(in->csv.lines[in->csv.n_lines++] = strdup(text))) {
			rc = FEDC_ERR_NOMEM;
		}
		first = false;
	}
	if (!rc && in->csv.n_lines < want)
		rc = fedc_fail(FEDC_ERR_IO, "%s: changed while read (%zu data lines, the check found %zu)", in->ds.path,
			       in->csv.n_lines, want);
	free(line);
	fclose(f);
	in->csv.header = in->header;
	in->csv.header_counts = strcmp(in->ds.header, "counts") == 0;
	return rc;
}

static enum fedc_err load_csv(const struct options *o, struct input *in)
{
	enum fedc_err rc;

	if (!realpath(o->csv, in->ds.path))
		return fedc_fail(FEDC_ERR_IO, "%s: %s", o->csv, strerror(errno));
	snprintf(in->ds.name, sizeof(in->ds.name), "input");
	rc = dataset__inspect(&in->ds, &o->csv_opts);
	if (!rc)
		rc = dataset__load(&in->ds, &in->data);
	if (!rc)
		rc = read_csv_lines(in);
	return rc;
}

static void free_input(struct input *in)
{
	for (size_t i = 0; i < in->csv.n_lines; i++)
		free(in->csv.lines[i]);
	free(in->csv.lines);
	free(in->header);
	dataset__free_data(&in->data);
}

/* ---- the split ---- */

/* "party-0  6000 rows  top-2 classes 85.0%  classes 0=5100 1=5100 2=225 ..." */
static void summary(const struct options *o, const struct input *in, const struct partition_party *party,
		    uint32_t k)
{
	uint32_t n_classes = in->data.n_classes;
	uint64_t *counts = calloc(n_classes ? n_classes : 1, sizeof(*counts)), top1 = 0, top2 = 0;
	uint32_t held = 0;

	printf("%s-%" PRIu32 "  %zu rows", o->prefix, k, party->n);
	if (!counts || !n_classes) {
		printf("\n");
		free(counts);
		return;
	}
	for (size_t r = 0; r < party->n; r++)
		counts[(uint32_t)in->data.y[party->rows[r]]]++;
	for (uint32_t c = 0; c < n_classes; c++) {
		held += counts[c] > 0;
		if (counts[c] > top1) {
			top2 = top1;
			top1 = counts[c];
		} else if (counts[c] > top2) {
			top2 = counts[c];
		}
	}
	printf("  %" PRIu32 " classes  top-2 %.1f%%  counts", held,
	       party->n ? 100.0 * (double)(top1 + top2) / (double)party->n : 0.0);
	for (uint32_t c = 0; c < n_classes; c++)
		printf(" %" PRIu32 "=%" PRIu64, c, counts[c]);
	printf("\n");
	free(counts);
}

static enum fedc_err write_party(const struct options *o, const struct input *in, const struct partition_party *party,
				 uint32_t k)
{
	char name[160];

	snprintf(name, sizeof(name), "%s-%" PRIu32, o->prefix, k);
	if (o->csv)
		return output__csv(&in->csv, o->out_dir, name, party->rows, party->n);
	return output__idx(&in->idx, o->out_dir, name, party->rows, party->n);
}

/* Shuffles all rows, splits the first m, and maps the parties' positions
 * back to rows of the input. */
static enum fedc_err split(const struct options *o, const struct input *in, size_t m, struct partition *p)
{
	size_t n = in->data.n_samples;
	uint32_t *perm = malloc((n ? n : 1) * sizeof(*perm)), *labels = malloc((m ? m : 1) * sizeof(*labels));
	struct fedc_rng rng;
	enum fedc_err rc = FEDC_ERR_NOMEM;

	if (!perm || !labels)
		goto out;
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	fedc_rng_seed(&rng, o->seed);
	fedc_rng_shuffle(&rng, perm, n);
	for (size_t i = 0; i < m; i++)
		labels[i] = in->data.n_classes ? (uint32_t)in->data.y[perm[i]] : 0;
	rc = partition__split(&o->spec, labels, m, in->data.n_classes, &rng, p);
	for (uint32_t k = 0; !rc && k < p->n_parties; k++)
		for (size_t j = 0; j < p->parties[k].n; j++)
			p->parties[k].rows[j] = perm[p->parties[k].rows[j]];
out:
	free(perm);
	free(labels);
	return rc;
}

static enum fedc_err run(const struct options *o, struct input *in)
{
	struct partition p = { 0 };
	size_t m;
	enum fedc_err rc = o->csv ? load_csv(o, in) : load_idx(o, in);

	if (rc)
		return rc;
	if (in->data.n_samples > UINT32_MAX)
		return fedc_fail(FEDC_ERR_TOO_BIG, "the input has more than 2^32-1 rows");
	m = o->samples ? (size_t)o->samples : in->data.n_samples;
	if (m > in->data.n_samples)
		return fedc_fail(FEDC_ERR_INVAL, "--samples %zu: the input holds only %zu rows", m, in->data.n_samples);
	if (o->spec.n_parties > m)
		return fedc_fail(FEDC_ERR_INVAL, "--parties %" PRIu32 ": more parties than the %zu rows to split",
				 o->spec.n_parties, m);
	rc = split(o, in, m, &p);
	for (uint32_t k = 0; !rc && k < p.n_parties; k++)
		if (p.parties[k].n == 0)
			rc = fedc_fail(FEDC_ERR_INVAL,
				       "party %" PRIu32 " would be empty: too few rows (%zu) for %" PRIu32
				       " parties with this split",
				       k, m, p.n_parties);
	if (!rc)
		rc = fedc_mkdir_p(o->out_dir, 0755);
	for (uint32_t k = 0; !rc && k < p.n_parties; k++) {
		rc = write_party(o, in, &p.parties[k], k);
		if (!rc)
			summary(o, in, &p.parties[k], k);
	}
	if (!rc && p.n_unused)
		printf("%zu rows of classes no party drew are left out\n", p.n_unused);
	partition__free(&p);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct input *in = NULL;
	enum fedc_err err;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	in = calloc(1, sizeof(*in));
	if (!in) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	err = run(&o, in);
	if (err)
		fprintf(stderr, "%s: %s\n", prog, fedc_last_error()[0] ? fedc_last_error() : fedc_strerror(err));
	free_input(in);
	free(in);
	return err ? 1 : 0;
}
