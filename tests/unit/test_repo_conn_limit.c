/* The repository's connection and descriptor limits (conn_limit.h): a
 * limit the process cannot reach must never be given to libmicrohttpd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "conn_limit.h"

#define NEED(n) (CONN_LIMIT_RESERVED_FDS + (uint64_t)(n) * CONN_LIMIT_FDS_PER_CONNECTION)

/* The common case: soft 1024, hard much higher: the soft limit goes up to
 * what the connections need, the limit stays. */
static void test_soft_raised_to_fit(void **state)
{
	struct conn_limit_plan p = conn_limit__plan(4096, 1024, 1048576);

	(void)state;
	assert_int_equal(p.fd_soft, NEED(4096));
	assert_int_equal(p.connections, 4096);
	assert_false(p.lowered);
}

/* Enough already: nothing changes, and the soft limit is never lowered. */
static void test_soft_never_lowered(void **state)
{
	struct conn_limit_plan p = conn_limit__plan(100, 65536, 65536);

	(void)state;
	assert_int_equal(p.fd_soft, 65536);
	assert_int_equal(p.connections, 100);
	assert_false(p.lowered);
}

/* A hard limit of 1024 (a container's, say) cannot hold 4096 connections:
 * the soft limit goes to the hard one and the connections to what fits. */
static void test_hard_limit_lowers_connections(void **state)
{
	struct conn_limit_plan p = conn_limit__plan(4096, 1024, 1024);

	(void)state;
	assert_int_equal(p.fd_soft, 1024);
	assert_int_equal(p.connections, (1024 - CONN_LIMIT_RESERVED_FDS) / CONN_LIMIT_FDS_PER_CONNECTION);
	assert_true(p.lowered);
	assert_true(NEED(p.connections) <= 1024);
}

/* Not even the reserve fits: one connection, said to be lowered. */
static void test_tiny_hard_limit_keeps_one(void **state)
{
	struct conn_limit_plan p = conn_limit__plan(4096, 16, 32);

	(void)state;
	assert_int_equal(p.fd_soft, 32);
	assert_int_equal(p.connections, 1);
	assert_true(p.lowered);
}

/* RLIM_INFINITY (UINT64_MAX here) and huge asks do not overflow. */
static void test_infinity_and_overflow(void **state)
{
	struct conn_limit_plan p = conn_limit__plan(4096, 1024, UINT64_MAX);
	struct conn_limit_plan q = conn_limit__plan(UINT64_MAX, 1024, 1u << 20);

	(void)state;
	assert_int_equal(p.fd_soft, NEED(4096));
	assert_false(p.lowered);
	assert_int_equal(q.fd_soft, 1u << 20);
	assert_true(q.lowered);
	assert_int_equal(q.connections, ((1u << 20) - CONN_LIMIT_RESERVED_FDS) / CONN_LIMIT_FDS_PER_CONNECTION);
}

/* Zero asked is one. */
static void test_zero_is_one(void **state)
{
	struct conn_limit_plan p = conn_limit__plan(0, 1024, 1024);

	(void)state;
	assert_int_equal(p.connections, 1);
	assert_false(p.lowered);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soft_raised_to_fit),
		cmocka_unit_test(test_soft_never_lowered),
		cmocka_unit_test(test_hard_limit_lowers_connections),
		cmocka_unit_test(test_tiny_hard_limit_keeps_one),
		cmocka_unit_test(test_infinity_and_overflow),
		cmocka_unit_test(test_zero_is_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
