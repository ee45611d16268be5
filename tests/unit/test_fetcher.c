/* The fetcher's reads from a fedc-repository's store in place
 * ([network] repository_store_dir; docs/repository.md, "Updates read in
 * place"): an update its node's namespace marks is read from the store
 * without a download; bytes that do not hash to their name fail the fetch;
 * an update not marked (yet) is downloaded, and so is every update under
 * cross_site_validation. The repository URL points at a closed port, so a
 * fetch that tries to download fails: that is how the tests see which way
 * a fetch went. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "experiment.h"
#include "fedc/fs.h"
#include "fedc/hash.h"
#include "fedc/store_layout.h"
#include "fetcher.h"

struct fixture {
	char dir[64], store[96], scratch[128];
	struct experiment exp;
	char digest[FEDC_SHA256_HEXLEN + 1];
};

/* mkdir -p of the directory that holds `path`. */
static void make_parents(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	*strrchr(buf, '/') = '\0';
	assert_int_equal(fedc_mkdir_p(buf, 0700), FEDC_OK);
}

/* Stores a parameter file as the repository would: the blob under its
 * digest and, for `node`, the marker of its namespace. */
static void store_update(struct fixture *fx, const char *node, float value)
{
	float v[3] = { value, value + 1, value + 2 };
	struct fedc_tensor t = { "w", FEDC_DTYPE_F32, 1, { 3 }, v };
	char tmp[160], blob[512], marker[512];

	snprintf(tmp, sizeof(tmp), "%s/update.params", fx->dir);
	assert_int_equal(fedc_params_write_file(tmp, &t, 1), FEDC_OK);
	assert_int_equal(fedc_hash_file(FEDC_HASH_SHA256, tmp, fx->digest), FEDC_OK);
	assert_true(fedc_store_blob_path(fx->store, fx->digest, blob, sizeof(blob)));
	make_parents(blob);
	assert_int_equal(rename(tmp, blob), 0);
	if (node) {
		assert_true(fedc_store_marker_path(fx->store, node, fx->digest, marker, sizeof(marker)));
		make_parents(marker);
		fclose(fopen(marker, "w"));
	}
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char net[160], blobs[160];
	FILE *f;

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/fedc-fetch-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->store, sizeof(fx->store), "%s/store", fx->dir);
	snprintf(blobs, sizeof(blobs), "%s/" FEDC_STORE_BLOBS_DIR, fx->store);
	if (fedc_mkdir_p(blobs, 0700) != FEDC_OK)
		return -1;
	snprintf(blobs, sizeof(blobs), "%s/" FEDC_STORE_UPDATES_DIR, fx->store);
	if (fedc_mkdir_p(blobs, 0700) != FEDC_OK)
		return -1;
	snprintf(fx->scratch, sizeof(fx->scratch), "%s/node.params", fx->dir);
	snprintf(net, sizeof(net), "%s/network.ini", fx->dir);
	f = fopen(net, "w");
	if (!f)
		return -1;
	fprintf(f, "[network]\nresearcher_id = r1\nrepository_url = http://127.0.0.1:9\nrepository_timeout_s = 2\n"
		"repository_store_dir = %s\n", fx->store);
	fclose(f);
	if (experiment__load_network(net, &fx->exp) != FEDC_OK)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	int rc;

	experiment__free(&fx->exp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	rc = system(cmd);
	free(fx);
	return rc == 0 ? 0 : -1;
}

/* One fetch of node-a's update `digest` to completion. */
static struct fetch_result fetch_one(struct fixture *fx, const char *digest)
{
	struct fetcher *f = NULL;
	struct fetch_result r;

	assert_int_equal(fetcher__new(&fx->exp, 1, &f), FEDC_OK);
	assert_int_equal(fetcher__submit(f, 7, "node-a", digest, fx->scratch, NULL, NULL), FEDC_OK);
	assert_true(fetcher__next(f, &r));
	assert_int_equal(r.tag, 7);
	fetcher__free(f);
	return r;
}

static void test_marked_update_read_in_place(void **state)
{
	struct fixture *fx = *state;
	struct fetch_result r;

	store_update(fx, "node-a", 1.5f);
	r = fetch_one(fx, fx->digest);
	if (r.rc != FEDC_OK)
		fail_msg("%s", r.error);
	assert_int_equal(fedc_params_count(r.update), 1);
	assert_true(((const float *)fedc_params_tensors(r.update)[0].data)[2] == 3.5f);
	assert_int_equal(access(fx->scratch, F_OK), -1); /* no copy was made */
	fedc_params_close(r.update);
}

/* The store's file does not hash to the name it has: the fetch fails naming
 * the file, as a transfer failure (not the node's refusal). */
static void test_bytes_unlike_their_name_fail(void **state)
{
	struct fixture *fx = *state;
	char blob[512], want[FEDC_SHA256_HEXLEN + 1];
	struct fetch_result r;
	FILE *f;

	store_update(fx, "node-a", 2.0f);
	snprintf(want, sizeof(want), "%s", fx->digest);
	assert_true(fedc_store_blob_path(fx->store, want, blob, sizeof(blob)));
	f = fopen(blob, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, -1, SEEK_END), 0);
	fputc('X', f);
	fclose(f);
	r = fetch_one(fx, want);
	assert_int_equal(r.rc, FEDC_ERR_DIGEST);
	assert_false(r.refused);
	assert_non_null(strstr(r.error, blob));
	assert_non_null(strstr(r.error, "not the"));
	assert_null(r.update);
}

/* Stored, but not in node-a's namespace (another node's, or the published
 * blobs'): downloaded, as the repository would only serve node-a's own. And
 * not stored at all: downloaded. Here the download fails: no repository. */
static void test_unmarked_update_downloaded(void **state)
{
	struct fixture *fx = *state;
	struct fetch_result r;

	store_update(fx, "node-b", 3.0f);
	r = fetch_one(fx, fx->digest);
	assert_int_not_equal(r.rc, FEDC_OK);
	assert_int_not_equal(r.rc, FEDC_ERR_DIGEST);
	assert_non_null(strstr(r.error, "127.0.0.1:9"));
	r = fetch_one(fx, "00000000000000000000000000000000000000000000000000000000000000aa");
	assert_int_not_equal(r.rc, FEDC_OK);
	assert_non_null(strstr(r.error, "127.0.0.1:9"));
}

/* cross_site_validation keeps the updates in the run's directory: they are
 * downloaded there even when the store has them. */
static void test_cross_site_downloads(void **state)
{
	struct fixture *fx = *state;
	struct fetch_result r;

	store_update(fx, "node-a", 4.0f);
	fx->exp.cross_site = true;
	r = fetch_one(fx, fx->digest);
	fx->exp.cross_site = false;
	assert_int_not_equal(r.rc, FEDC_OK);
	assert_non_null(strstr(r.error, "127.0.0.1:9"));
}

/* A store this user cannot read (here: none there) stops the run before its
 * first round, naming the key; commands that only load [network] (nodes,
 * search) do not look at it. */
static void test_unreadable_store_refused_at_start(void **state)
{
	struct fixture *fx = *state;
	struct fetcher *f = NULL;
	char updates[160];

	snprintf(updates, sizeof(updates), "%s/" FEDC_STORE_UPDATES_DIR, fx->store);
	assert_int_equal(rmdir(updates), 0);
	assert_int_equal(fetcher__new(&fx->exp, 1, &f), FEDC_ERR_CONFIG);
	assert_null(f);
	assert_non_null(strstr(fedc_last_error(), "repository_store_dir"));
	assert_non_null(strstr(fedc_last_error(), updates));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_marked_update_read_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bytes_unlike_their_name_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmarked_update_downloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cross_site_downloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_store_refused_at_start, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
