/* The rate limit of a node's replies to refused requests
 * (node/refusal_limit.c): a token bucket per signer, a cap per second over
 * all signers, and a table that forgets the least recent signer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "refusal_limit.h"

/* A signer: a burst, then one reply per interval; others have their own. The
 * calls are spread over seconds so that the cap per second stays out of it. */
static void test_burst_then_one_per_interval(void **state)
{
	struct refusal_limit *rl = calloc(1, sizeof(*rl));
	int64_t t = 1000000;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < REFUSAL_SIGNER_BURST; i++)
		assert_true(refusal_limit__allow(rl, "rsch", t + i * 1000));
	t += REFUSAL_SIGNER_BURST * 1000;
	assert_false(refusal_limit__allow(rl, "rsch", t));
	assert_true(refusal_limit__allow(rl, "other", t)); /* another signer has its own bucket */
	/* the first token spent came back REFUSAL_SIGNER_INTERVAL_MS after it went */
	assert_false(refusal_limit__allow(rl, "rsch", 1000000 + REFUSAL_SIGNER_INTERVAL_MS - 1));
	assert_true(refusal_limit__allow(rl, "rsch", 1000000 + REFUSAL_SIGNER_INTERVAL_MS));
	assert_false(refusal_limit__allow(rl, "rsch", 1000000 + REFUSAL_SIGNER_INTERVAL_MS + 1000));
	/* a long silence refills the bucket, no more */
	t = 1000000 + 100 * REFUSAL_SIGNER_INTERVAL_MS;
	for (int i = 0; i < REFUSAL_SIGNER_BURST; i++)
		assert_true(refusal_limit__allow(rl, "rsch", t + i * 1000));
	assert_false(refusal_limit__allow(rl, "rsch", t + REFUSAL_SIGNER_BURST * 1000));
	/* unsigned requests share one bucket */
	for (int i = 0; i < REFUSAL_SIGNER_BURST; i++)
		assert_true(refusal_limit__allow(rl, "", t + 100000 + i * 1000));
	assert_false(refusal_limit__allow(rl, "", t + 100000 + REFUSAL_SIGNER_BURST * 1000));
	free(rl);
}

/* A flood under made-up names: at most REFUSAL_MAX_PER_SECOND a second. */
static void test_global_cap_per_second(void **state)
{
	struct refusal_limit *rl = calloc(1, sizeof(*rl));
	int64_t t = 5000000;
	unsigned allowed = 0;
	char name[32];

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "forged-%d", i);
		allowed += refusal_limit__allow(rl, name, t + i / 10); /* 1000 names within 100 ms */
	}
	assert_int_equal(allowed, REFUSAL_MAX_PER_SECOND);
	snprintf(name, sizeof(name), "forged-late");
	assert_true(refusal_limit__allow(rl, name, t + 1000)); /* the next second */
	free(rl);
}

/* More signers than the table holds: the least recent is forgotten (and
 * starts again with a full bucket); the recent ones keep theirs. */
static void test_table_forgets_least_recent(void **state)
{
	struct refusal_limit *rl = calloc(1, sizeof(*rl));
	int64_t t = 9000000;
	char name[32];

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < REFUSAL_SIGNERS; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		for (int k = 0; k < REFUSAL_SIGNER_BURST; k++) /* one a second: under the cap */
			assert_true(refusal_limit__allow(rl, name, t + (int64_t)(i * REFUSAL_SIGNER_BURST + k) * 1000));
	}
	t += (int64_t)REFUSAL_SIGNERS * REFUSAL_SIGNER_BURST * 1000;
	assert_true(refusal_limit__allow(rl, "newcomer", t)); /* takes r0's place */
	assert_true(refusal_limit__allow(rl, "r0", t + 1000)); /* forgotten: a full bucket again */
	snprintf(name, sizeof(name), "r%d", REFUSAL_SIGNERS - 1);
	assert_false(refusal_limit__allow(rl, name, t + 2000)); /* recent: its bucket is empty */
	free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_one_per_interval),
		cmocka_unit_test(test_global_cap_per_second),
		cmocka_unit_test(test_table_forgets_least_recent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
