/* node-console/upload.c: the parts of an uploaded CSV file, as
 * libmicrohttpd's post processor hands them over; the bad orders first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload.h"

struct fixture {
	struct sessions all;
	struct session *s;
	char dir[64];
	struct upload u;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	sessions__init(&f->all, 900);
	if (sessions__start(&f->all, "steward", 1000, &f->s) != FEDC_OK)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fedc-upload-test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	strcat(f->dir, "/uploads"); /* made by upload__begin */
	*state = f;
	return 0;
}

static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *slash = strrchr(f->dir, '/');

	upload__discard(&f->u);
	rmdir(f->dir);
	*slash = '\0';
	rmdir(f->dir);
	free(f);
	return 0;
}

static bool part(struct upload *u, const char *key, const char *filename, const char *data, uint64_t off)
{
	return upload__part(u, key, filename, data, off, strlen(data));
}

static void begin(struct fixture *f)
{
	assert_int_equal(upload__begin(&f->u, f->dir, f->s), FEDC_OK);
}

static void test_good_upload(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char back[64] = "";
	FILE *in;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_true(part(&f->u, "name", NULL, "coh", 0));
	assert_true(part(&f->u, "name", NULL, "ort-a", 3)); /* a value in two pieces */
	assert_true(part(&f->u, "tags", NULL, "", 0));        /* announced empty ... */
	assert_true(part(&f->u, "tags", NULL, "demo", 0));    /* ... then its bytes at 0 */
	assert_true(upload__part(&f->u, "file", "cohort a.csv", "", 0, 0));
	assert_true(part(&f->u, "file", "cohort a.csv", "x,y\n1,", 0));
	assert_true(part(&f->u, "file", "cohort a.csv", "0\n", 6));
	assert_true(upload__finish(&f->u));
	assert_string_equal(form__get(&f->u.fields, "name"), "cohort-a");
	assert_string_equal(form__get(&f->u.fields, "tags"), "demo");
	assert_string_equal(f->u.filename, "cohort a.csv");
	assert_int_equal(f->u.bytes, 8);
	assert_int_equal(strncmp(f->u.path, f->dir, strlen(f->dir)), 0);
	assert_int_equal(stat(f->u.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	in = fopen(f->u.path, "r");
	assert_non_null(in);
	assert_int_equal(fread(back, 1, sizeof(back) - 1, in), 8);
	fclose(in);
	assert_string_equal(back, "x,y\n1,0\n");
	upload__discard(&f->u);
	assert_int_equal(files_in(f->dir), 0);
}

static void test_file_before_csrf(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_false(part(&f->u, "file", "a.csv", "x,y\n", 0));
	assert_int_equal(f->u.status, 403);
	assert_int_equal(files_in(f->dir), 0); /* not a byte written */
	assert_false(part(&f->u, "csrf", NULL, f->s->csrf, 0)); /* and it stays refused */
	assert_false(upload__finish(&f->u));
}

static void test_wrong_csrf(void **state)
{
	struct fixture *f = *state;
	char other[SESSION_TOKEN_HEX + 1];

	memcpy(other, f->s->csrf, sizeof(other));
	other[0] = other[0] == 'a' ? 'b' : 'a';
	begin(f);
	assert_true(part(&f->u, "csrf", NULL, other, 0));
	assert_false(part(&f->u, "file", "a.csv", "x,y\n", 0));
	assert_int_equal(f->u.status, 403);
	assert_int_equal(files_in(f->dir), 0);
}

static void test_csrf_only(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_false(upload__finish(&f->u));
	assert_int_equal(f->u.status, 400); /* no file */
	assert_non_null(strstr(f->u.why, "Choose a CSV file"));
}

static void test_no_fields(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_false(upload__finish(&f->u));
	assert_int_equal(f->u.status, 403);
}

static void test_unknown_field(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_false(part(&f->u, "path", NULL, "/etc/shadow", 0));
	assert_int_equal(f->u.status, 400);
}

static void test_repeated_field(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_true(part(&f->u, "name", NULL, "a", 0));
	assert_true(part(&f->u, "tags", NULL, "t", 0));
	assert_false(part(&f->u, "name", NULL, "b", 0));
	assert_int_equal(f->u.status, 400);
}

static void test_two_files(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_true(part(&f->u, "file", "a.csv", "x\n", 0));
	assert_false(part(&f->u, "file", "b.csv", "y\n", 0));
	assert_int_equal(f->u.status, 400);
	upload__discard(&f->u);
	assert_int_equal(files_in(f->dir), 0);
}

static void test_text_as_file(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_false(part(&f->u, "name", "name.txt", "a", 0));
	assert_int_equal(f->u.status, 400);
}

static void test_text_too_long(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(FORM_VALUE_MAX + 2);

	assert_non_null(big);
	memset(big, 'a', FORM_VALUE_MAX);
	big[FORM_VALUE_MAX] = '\0';
	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_true(part(&f->u, "description", NULL, big, 0));
	assert_false(part(&f->u, "description", NULL, "a", FORM_VALUE_MAX));
	assert_int_equal(f->u.status, 400);
	free(big);
}

static void test_nul_in_text(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_false(upload__part(&f->u, "name", NULL, "a\0b", 0, 3));
	assert_int_equal(f->u.status, 400);
}

static void test_file_too_big(void **state)
{
	struct fixture *f = *state;
	static const char chunk[16] = "1,2\n";

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_true(upload__part(&f->u, "file", "a.csv", chunk, 0, 4));
	/* The size is checked before a byte is read: the chunk claimed is never touched. */
	assert_false(upload__part(&f->u, "file", "a.csv", chunk, 4, (size_t)UPLOAD_MAX_BYTES));
	assert_int_equal(f->u.status, 413);
	upload__discard(&f->u);
	assert_int_equal(files_in(f->dir), 0);
}

static void test_piece_of_unseen_part(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_false(part(&f->u, "name", NULL, "tail", 5)); /* offset 5 of a part never begun */
	assert_int_equal(f->u.status, 400);
}

static void test_nameless_field(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_false(part(&f->u, "", NULL, "a", 0));
	assert_false(upload__part(&f->u, NULL, NULL, "a", 0, 1));
	assert_int_equal(f->u.status, 400);
}

/* A body that never gets to a checked token (a preamble without end, a
 * forged form): refused once UPLOAD_UNVERIFIED_MAX bytes came, and nothing
 * written. */
static void test_unverified_body_capped(void **state)
{
	struct fixture *f = *state;
	uint64_t taken = 0;

	begin(f);
	while (upload__body(&f->u, 4096))
		taken += 4096;
	assert_int_equal(taken, UPLOAD_UNVERIFIED_MAX);
	assert_int_equal(f->u.status, 403);
	assert_non_null(strstr(f->u.why, "security token must come first"));
	assert_false(upload__body(&f->u, 1));
	assert_false(part(&f->u, "csrf", NULL, f->s->csrf, 0)); /* stays refused */
	assert_false(upload__finish(&f->u));
	assert_int_equal(files_in(f->dir), 0);
}

/* The same with the csrf part begun but never ended: its value is capped
 * anyway, and the token is checked only when the next part begins. */
static void test_unverified_csrf_part_capped(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(upload__body(&f->u, 200));
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	while (upload__body(&f->u, 32768))
		;
	assert_int_equal(f->u.status, 403);
	assert_true(f->u.unverified <= UPLOAD_UNVERIFIED_MAX + 32768);
	assert_false(part(&f->u, "file", "a.csv", "x,y\n", 0));
	assert_int_equal(files_in(f->dir), 0);
}

/* Once the token is checked the cap is off: a file may be large. */
static void test_verified_body_not_capped(void **state)
{
	struct fixture *f = *state;

	begin(f);
	assert_true(upload__body(&f->u, 300));
	assert_true(part(&f->u, "csrf", NULL, f->s->csrf, 0));
	assert_true(part(&f->u, "name", NULL, "a", 0));
	assert_true(f->u.csrf_ok);
	for (int i = 0; i < 64; i++)
		assert_true(upload__body(&f->u, 1 << 20));
	assert_int_equal(f->u.status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_upload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_before_csrf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_csrf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csrf_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_as_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_piece_of_unseen_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nameless_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unverified_body_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unverified_csrf_part_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verified_body_not_capped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
