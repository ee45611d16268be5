/* node-console/session.c: sessions, CSRF tokens, login rate limiting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static struct sessions *all;

static int setup(void **state)
{
	(void)state;
	all = malloc(sizeof(*all));
	sessions__init(all, 900);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(all);
	return 0;
}

static void test_start_and_find(void **state)
{
	struct session *s;

	(void)state;
	assert_int_equal(sessions__start(all, "steward", 1000, &s), FEDC_OK);
	assert_int_equal(strlen(s->id), SESSION_TOKEN_HEX);
	assert_int_equal(strlen(s->csrf), SESSION_TOKEN_HEX);
	assert_string_not_equal(s->id, s->csrf);
	assert_ptr_equal(sessions__find(all, s->id, 1500), s);
	assert_string_equal(s->user, "steward");
}

static void test_unknown_and_malformed_ids(void **state)
{
	struct session *s;
	char other[SESSION_TOKEN_HEX + 1];

	(void)state;
	assert_int_equal(sessions__start(all, "steward", 1000, &s), FEDC_OK);
	memcpy(other, s->id, sizeof(other));
	other[0] = other[0] == 'a' ? 'b' : 'a';
	assert_null(sessions__find(all, other, 1000));
	assert_null(sessions__find(all, "", 1000));
	assert_null(sessions__find(all, NULL, 1000));
	other[0] = 'A'; /* upper case: not an id this module makes */
	assert_null(sessions__find(all, other, 1000));
	other[SESSION_TOKEN_HEX - 1] = '\0';
	assert_null(sessions__find(all, other, 1000));
}

static void test_idle_session_expires(void **state)
{
	struct session *s;
	char id[SESSION_TOKEN_HEX + 1];

	(void)state;
	assert_int_equal(sessions__start(all, "steward", 1000, &s), FEDC_OK);
	memcpy(id, s->id, sizeof(id));
	assert_non_null(sessions__find(all, id, 1900)); /* 900 s idle: still alive, refreshed */
	assert_non_null(sessions__find(all, id, 2800));
	assert_null(sessions__find(all, id, 3701));      /* 901 s idle */
	assert_null(sessions__find(all, id, 3702));      /* and forgotten */
}

/* The metrics' gauge: logged-in sessions only, not idle past idle_s. */
static void test_count_logged_in(void **state)
{
	struct session *anon, *a, *b;

	(void)state;
	assert_int_equal(sessions__count_logged_in(all, 1000), 0);
	assert_int_equal(sessions__start(all, "", 1000, &anon), FEDC_OK);
	assert_int_equal(sessions__start(all, "steward", 1000, &a), FEDC_OK);
	assert_int_equal(sessions__start(all, "other", 1500, &b), FEDC_OK);
	assert_int_equal(sessions__count_logged_in(all, 1500), 2); /* not the anonymous one */
	assert_int_equal(sessions__count_logged_in(all, 1901), 1); /* steward idle 901 s */
	sessions__end(b);
	assert_int_equal(sessions__count_logged_in(all, 1500), 1);
}

static void test_end_forgets(void **state)
{
	struct session *s;
	char id[SESSION_TOKEN_HEX + 1];

	(void)state;
	assert_int_equal(sessions__start(all, "steward", 1000, &s), FEDC_OK);
	memcpy(id, s->id, sizeof(id));
	sessions__end(s);
	assert_null(sessions__find(all, id, 1000));
}

static void test_csrf(void **state)
{
	struct session *a, *b;

	(void)state;
	assert_int_equal(sessions__start(all, "", 1000, &a), FEDC_OK);
	assert_int_equal(sessions__start(all, "steward", 1000, &b), FEDC_OK);
	assert_true(sessions__csrf_ok(a, a->csrf));
	assert_false(sessions__csrf_ok(a, b->csrf)); /* another session's token */
	assert_false(sessions__csrf_ok(a, NULL));
	assert_false(sessions__csrf_ok(a, ""));
	assert_false(sessions__csrf_ok(NULL, a->csrf));
	assert_false(sessions__csrf_ok(a, a->id));
}

static void test_full_table_drops_least_recent(void **state)
{
	struct session *s, *first;
	char first_id[SESSION_TOKEN_HEX + 1];

	(void)state;
	assert_int_equal(sessions__start(all, "u0", 1, &first), FEDC_OK);
	memcpy(first_id, first->id, sizeof(first_id));
	for (int i = 1; i < SESSIONS_MAX; i++)
		assert_int_equal(sessions__start(all, "u", 100 + i, &s), FEDC_OK);
	assert_int_equal(sessions__start(all, "new", 500, &s), FEDC_OK);
	assert_null(sessions__find(all, first_id, 500));
	assert_non_null(sessions__find(all, s->id, 500));
}

static void test_login_rate_limit(void **state)
{
	(void)state;
	for (int i = 0; i < LOGIN_FAILURES_MAX; i++) {
		assert_true(sessions__login_allowed(all, "10.0.0.7", 1000 + i));
		sessions__login_failed(all, "10.0.0.7", 1000 + i);
	}
	assert_false(sessions__login_allowed(all, "10.0.0.7", 1010));
	assert_true(sessions__login_allowed(all, "10.0.0.8", 1010)); /* per address */
	assert_false(sessions__login_allowed(all, "10.0.0.7", 1000 + LOGIN_WINDOW_S));
	assert_true(sessions__login_allowed(all, "10.0.0.7", 1001 + LOGIN_WINDOW_S));
}

static void test_success_resets_failures(void **state)
{
	(void)state;
	for (int i = 0; i < LOGIN_FAILURES_MAX - 1; i++)
		sessions__login_failed(all, "::1", 1000);
	sessions__login_succeeded(all, "::1");
	for (int i = 0; i < LOGIN_FAILURES_MAX - 1; i++)
		sessions__login_failed(all, "::1", 1001);
	assert_true(sessions__login_allowed(all, "::1", 1002));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_malformed_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_session_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_forgets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_logged_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csrf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_table_drops_least_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_resets_failures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
