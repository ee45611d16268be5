/* fedc/thread_set.h: the threads a library starts, found by snapshots, and
 * waited for until their thread-exit destructors have run. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "fedc/thread_set.h"

static int gate[2];
static pthread_key_t slow_key;
static atomic_int destructor_done;

/* Runs at thread exit, after the thread function returned: slow on purpose,
 * as OpenSSL's per-thread clean-up can be. */
static void slow_destructor(void *value)
{
	const struct timespec pause = {0, 50 * 1000000};

	(void)value;
	nanosleep(&pause, NULL);
	atomic_store(&destructor_done, 1);
}

static void *detached_worker(void *arg)
{
	char byte;

	(void)arg;
	pthread_setspecific(slow_key, &gate);
	(void)!read(gate[0], &byte, 1);
	return NULL;
}

static void start_detached(void)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	assert_int_equal(pthread_create(&t, &attr, detached_worker, NULL), 0);
	pthread_attr_destroy(&attr);
}

static void test_snapshot_has_this_thread(void **state)
{
	struct fedc_thread_set set = {0};
	bool found = false;

	(void)state;
	assert_int_equal(fedc_thread_set_snapshot(&set), FEDC_OK);
	for (size_t i = 0; i < set.n; i++)
		found |= set.tids[i] == gettid();
	assert_true(found);
	fedc_thread_set_free(&set);
	assert_null(set.tids);
	assert_int_equal(set.n, 0);
}

static void test_waits_for_destructors_of_a_detached_thread(void **state)
{
	struct fedc_thread_set before = {0}, started = {0};

	(void)state;
	assert_int_equal(pipe(gate), 0);
	assert_int_equal(pthread_key_create(&slow_key, slow_destructor), 0);
	assert_int_equal(fedc_thread_set_snapshot(&before), FEDC_OK);
	start_detached();
	assert_int_equal(fedc_thread_set_snapshot(&started), FEDC_OK);
	fedc_thread_set_subtract(&started, &before);
	assert_int_equal(started.n, 1);
	assert_int_not_equal(started.tids[0], gettid());

	/* Still blocked: not gone within 20 ms. */
	assert_false(fedc_thread_set_wait_gone(&started, 20));
	assert_int_equal(write(gate[1], "x", 1), 1);
	assert_true(fedc_thread_set_wait_gone(&started, 5000));
	/* Gone means its thread-exit destructor has finished. */
	assert_int_equal(atomic_load(&destructor_done), 1);

	fedc_thread_set_free(&before);
	fedc_thread_set_free(&started);
	close(gate[0]);
	close(gate[1]);
	pthread_key_delete(slow_key);
}

static void test_empty_set_is_gone_at_once(void **state)
{
	struct fedc_thread_set none = {0};

	(void)state;
	assert_true(fedc_thread_set_wait_gone(&none, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_has_this_thread),
		cmocka_unit_test(test_waits_for_destructors_of_a_detached_thread),
		cmocka_unit_test(test_empty_set_is_gone_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
