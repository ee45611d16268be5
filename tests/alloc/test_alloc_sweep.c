/* Allocation-failure sweep over the decoders (docs/fuzzing.md, "Allocation
 * failures"): for every input of the decoder's fixtures and fuzz corpus,
 * the decoder runs once to count its allocations, then once more for each
 * n, with the n-th allocation failing (alloc_fail.h), until a run makes no
 * n-th allocation. Each failing run must return cleanly: FEDC_ERR_NOMEM,
 * the error the input draws anyway, or an error the decoder documents for
 * what it reads through libc or OpenSSL (whose own allocation failures
 * surface as FEDC_ERR_IO); no crash, and, under the sanitizer build, no
 * leak and no bad access. Decoders: the message codec, the parameter file
 * (from a buffer and from a file), the INI config parser (a string and a
 * file), the CSV reader and the IDX reader (inspection, then loading). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_fail.h"
#include "dataset.h"
#include "dataset_idx.h"
#include "fedc/config.h"
#include "fedc/log.h"
#include "fedc/message.h"
#include "fedc/params.h"

/* Above any decoder's allocation count: a sweep that reaches it is stuck. */
#define MAX_ALLOCATIONS 100000

struct input {
	const char *path;      /* the file the decoder reads (a copy in scratch for corpus formats) */
	const char *labels;    /* IDX: the labels file */
	unsigned char *data;   /* owned: read_input allocates it */
	size_t len;
};

typedef enum fedc_err (*decode_fn)(const struct input *in);

static char scratch[64];
static struct fedc_msg *msg; /* 100 KiB: allocated once, before any sweep */
static unsigned long runs, inputs;

/* ---- the decoders, each freeing all it got ---- */

static enum fedc_err decode_message(const struct input *in)
{
	enum fedc_err rc = fedc_msg_decode(in->data, in->len, msg);

	fedc_msg_clear(msg); /* a reply's datasets are allocated to their number */
	return rc;
}

static enum fedc_err decode_params_buffer(const struct input *in)
{
	struct fedc_params *p = NULL;
	enum fedc_err rc = fedc_params_from_buffer(in->data, in->len, &p);

	fedc_params_close(p);
	return rc;
}

static enum fedc_err decode_params_file(const struct input *in)
{
	struct fedc_params *p = NULL;
	enum fedc_err rc = fedc_params_open(in->path, &p);

	fedc_params_close(p);
	return rc;
}

static enum fedc_err decode_config_text(const struct input *in)
{
	struct fedc_config *cfg = NULL;
	enum fedc_err rc;

	/* data is NUL-terminated by read_input() */
	rc = fedc_config_parse((const char *)in->data, "sweep.ini", &cfg);
	fedc_config_free(cfg);
	return rc;
}

static enum fedc_err decode_config_file(const struct input *in)
{
	struct fedc_config *cfg = NULL;
	enum fedc_err rc = fedc_config_load(in->path, &cfg);

	fedc_config_free(cfg);
	return rc;
}

/* Registration, then a load against it, as fedc-node does. */
static enum fedc_err inspect_and_load(struct node_dataset *ds, const struct dataset_options *opts)
{
	struct fedc_data data;
	enum fedc_err rc = dataset__inspect(ds, opts);

	if (rc)
		return rc;
	memset(&data, 0, sizeof(data));
	rc = dataset__load(ds, &data);
	if (!rc)
		dataset__free_data(&data);
	return rc;
}

static enum fedc_err decode_csv(const struct input *in)
{
	static struct node_dataset ds; /* 12 KiB */
	static const struct dataset_options opts[] = {
		{ "csv", "auto", -1, false },
		{ "csv", "none", 0, true },
	};
	enum fedc_err rc = FEDC_OK;

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]) && !rc; i++) {
		memset(&ds, 0, sizeof(ds));
		snprintf(ds.name, sizeof(ds.name), "sweep");
		snprintf(ds.path, sizeof(ds.path), "%s", in->path);
		rc = inspect_and_load(&ds, &opts[i]);
	}
	return rc;
}

static enum fedc_err decode_idx(const struct input *in)
{
	static struct node_dataset ds;
	static const struct dataset_options opts = { "idx", NULL, -1, false };

	memset(&ds, 0, sizeof(ds));
	snprintf(ds.name, sizeof(ds.name), "sweep");
	snprintf(ds.path, sizeof(ds.path), "%s", in->path);
	snprintf(ds.labels_path, sizeof(ds.labels_path), "%s", in->labels);
	return inspect_and_load(&ds, &opts);
}

/* ---- the sweep ---- */

static bool allowed(enum fedc_err rc, enum fedc_err baseline, const enum fedc_err *also)
{
	if (rc == FEDC_ERR_NOMEM || (rc != FEDC_OK && rc == baseline))
		return true;
	for (; also && *also != FEDC_OK; also++)
		if (rc == *also)
			return true;
	return false;
}

/* Runs `fn` on `in` with no failure, then with each allocation failing in turn. */
static void sweep(const char *decoder, decode_fn fn, const struct input *in, const enum fedc_err *also)
{
	enum fedc_err baseline, rc;
	unsigned long n;
	bool failed = true;

	alloc_fail_arm(0);
	baseline = fn(in);
	(void)alloc_fail_disarm(NULL);
	inputs++;
	for (n = 1; failed && n < MAX_ALLOCATIONS; n++) {
		alloc_fail_arm(n);
		rc = fn(in);
		(void)alloc_fail_disarm(&failed);
		runs++;
		if (!failed) {
			/* no n-th allocation: the run must be the baseline's */
			if (rc != baseline)
				fail_msg("%s %s: %s without a failed allocation, %s before", decoder, in->path,
					 fedc_strerror(rc), fedc_strerror(baseline));
			break;
		}
		if (rc == FEDC_OK && baseline != FEDC_OK)
			fail_msg("%s %s: allocation %lu failed and the input, refused before (%s), passed",
				 decoder, in->path, n, fedc_strerror(baseline));
		if (rc != FEDC_OK && !allowed(rc, baseline, also))
			fail_msg("%s %s: allocation %lu failed: %s (%s), not a clean error", decoder, in->path, n,
				 fedc_strerror(rc), fedc_last_error());
	}
	if (n >= MAX_ALLOCATIONS)
		fail_msg("%s %s: over %d allocations", decoder, in->path, MAX_ALLOCATIONS);
}

/* Reads `path` whole, NUL-terminated, into *in (before any sweep). */
static void read_input(const char *path, struct input *in)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	in->path = path;
	in->data = buf;
	in->len = (size_t)len;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Every regular file of FEDC_SOURCE_DIR/`dir` (skipping READMEs and the
 * fixture generators), sorted, passed to `each`. */
static void for_each_file(const char *dir, void (*each)(const char *path, void *arg), void *arg)
{
	char root[PATH_MAX], path[PATH_MAX + 258];
	struct dirent **names = NULL;
	int n;

	snprintf(root, sizeof(root), "%s/%s", FEDC_SOURCE_DIR, dir);
	n = scandir(root, &names, NULL, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", root, name);
		if (name[0] != '.' && strncmp(name, "README", 6) != 0 && strstr(name, ".py") == NULL &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode))
			each(path, arg);
		free(names[i]);
	}
	free(names);
}

struct plain {
	const char *decoder;
	decode_fn fn;
	const enum fedc_err *also;
};

static void sweep_plain(const char *path, void *arg)
{
	const struct plain *p = arg;
	struct input in = { 0 };

	read_input(path, &in);
	sweep(p->decoder, p->fn, &in, p->also);
	free(in.data);
}

static const enum fedc_err none[] = { FEDC_OK };
static const enum fedc_err io[] = { FEDC_ERR_IO, FEDC_OK };

static void test_message(void **state)
{
	struct plain p = { "message", decode_message, none };

	(void)state;
	for_each_file("tests/fixtures/messages", sweep_plain, &p);
	for_each_file("tests/fuzz/corpus/message", sweep_plain, &p);
}

static void test_params(void **state)
{
	struct plain buffer = { "params (buffer)", decode_params_buffer, none };
	struct plain file = { "params (file)", decode_params_file, io };

	(void)state;
	for_each_file("tests/fixtures/params", sweep_plain, &buffer);
	for_each_file("tests/fixtures/params/valid", sweep_plain, &buffer);
	for_each_file("tests/fuzz/corpus/params", sweep_plain, &buffer);
	for_each_file("tests/fixtures/params", sweep_plain, &file);
	for_each_file("tests/fixtures/params/valid", sweep_plain, &file);
}

static void test_config(void **state)
{
	struct plain text = { "config (text)", decode_config_text, none };
	struct plain file = { "config (file)", decode_config_file, io };

	(void)state;
	for_each_file("tests/fuzz/corpus/config", sweep_plain, &text);
	for_each_file("configs", sweep_plain, &file);
	for_each_file("examples/logreg", sweep_plain, &text);
}

static void test_csv(void **state)
{
	struct plain p = { "csv", decode_csv, io };

	(void)state;
	for_each_file("tests/fixtures/csv", sweep_plain, &p);
}

/* The CSV corpus holds raw file contents: each is copied to scratch first. */
static void sweep_csv_corpus(const char *path, void *arg)
{
	char copy[PATH_MAX];
	struct input in = { 0 };

	(void)arg;
	read_input(path, &in);
	snprintf(copy, sizeof(copy), "%s/data.csv", scratch);
	write_file(copy, in.data, in.len);
	in.path = copy;
	sweep("csv", decode_csv, &in, io);
	in.path = path;
	free(in.data);
}

static void test_csv_corpus(void **state)
{
	(void)state;
	for_each_file("tests/fuzz/corpus/csv", sweep_csv_corpus, NULL);
}

static void sweep_idx_pair(const char *images, const char *labels)
{
	struct input in = { .path = images, .labels = labels };

	sweep("idx", decode_idx, &in, io);
}

static void test_idx_fixtures(void **state)
{
	static const char *const pairs[][2] = {
		{ "tiny-images-idx3-ubyte", "tiny-labels-idx1-ubyte" },
		{ "tiny-images-idx3-ubyte.gz", "tiny-labels-idx1-ubyte.gz" },
		{ "tiny-images-idx3-ubyte", "four-labels-idx1-ubyte" },
		{ "truncated-images-idx3-ubyte.gz", "tiny-labels-idx1-ubyte" },
		{ "corrupt-images-idx3-ubyte.gz", "tiny-labels-idx1-ubyte" },
		{ "zero-images-idx3-ubyte.gz", "zero-labels-idx1-ubyte" },
		{ "bad-magic-images", "tiny-labels-idx1-ubyte" },
		{ "empty.gz", "tiny-labels-idx1-ubyte" },
	};
	char images[PATH_MAX], labels[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		snprintf(images, sizeof(images), "%s/tests/fixtures/idx/%s", FEDC_SOURCE_DIR, pairs[i][0]);
		snprintf(labels, sizeof(labels), "%s/tests/fixtures/idx/%s", FEDC_SOURCE_DIR, pairs[i][1]);
		sweep_idx_pair(images, labels);
	}
}

/* The IDX corpus: two bytes giving the images file's length, then the
 * images file, then the labels file (tests/fuzz/fuzz_idx.c). */
static void sweep_idx_corpus(const char *path, void *arg)
{
	char images[PATH_MAX], labels[PATH_MAX];
	struct input in = { 0 };
	size_t split;

	(void)arg;
	read_input(path, &in);
	if (in.len >= 2) {
		split = (size_t)in.data[0] << 8 | in.data[1];
		if (split > in.len - 2)
			split = in.len - 2;
		snprintf(images, sizeof(images), "%s/images", scratch);
		snprintf(labels, sizeof(labels), "%s/labels", scratch);
		write_file(images, in.data + 2, split);
		write_file(labels, in.data + 2 + split, in.len - 2 - split);
		sweep_idx_pair(images, labels);
	}
	free(in.data);
}

static void test_idx_corpus(void **state)
{
	(void)state;
	for_each_file("tests/fuzz/corpus/idx", sweep_idx_corpus, NULL);
}

static int setup(void **state)
{
	(void)state;
	fedc_log_init("alloc-sweep", FEDC_LOG_ERROR, 2);
	snprintf(scratch, sizeof(scratch), "/tmp/fedc-alloc-sweep-XXXXXX");
	msg = calloc(1, sizeof(*msg));
	return mkdtemp(scratch) && msg ? 0 : -1;
}

static int teardown(void **state)
{
	char path[PATH_MAX];

	(void)state;
	printf("alloc sweep: %lu inputs, %lu runs with one allocation failing\n", inputs, runs);
	free(msg);
	snprintf(path, sizeof(path), "%s/data.csv", scratch);
	unlink(path);
	snprintf(path, sizeof(path), "%s/images", scratch);
	unlink(path);
	snprintf(path, sizeof(path), "%s/labels", scratch);
	unlink(path);
	return rmdir(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_csv_corpus),
		cmocka_unit_test(test_idx_fixtures),
		cmocka_unit_test(test_idx_corpus),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
