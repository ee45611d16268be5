/* Sets of this process's threads, by kernel thread id (Linux: /proc/self/task).
 *
 * For threads a library starts and never lets us join: Paho's MQTT threads
 * are detached, and MQTTAsync_destroy() returns once they have said they are
 * stopping, before their thread-exit destructors (OpenSSL's per-thread random
 * generators and error queues) have run. A process that exits in that moment
 * frees nothing wrong, but LeakSanitizer sees the half-freed state and fails
 * the run. Taking a snapshot before and after the library starts its threads
 * gives their ids; waiting until they are gone closes the gap. */
#ifndef FEDC_THREAD_SET_H
#define FEDC_THREAD_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fedc/err.h"

struct fedc_thread_set {
	pid_t *tids;
	size_t n;
};

/* The threads of this process now. *out is emptied first; free with
 * fedc_thread_set_free(). FEDC_ERR_IO if /proc/self/task cannot be read. */
enum fedc_err fedc_thread_set_snapshot(struct fedc_thread_set *out);

/* Removes from *set every thread also in *older: what remains started since. */
void fedc_thread_set_subtract(struct fedc_thread_set *set, const struct fedc_thread_set *older);

/* Waits until no thread of *set exists any more, polling every millisecond for at
 * most timeout_ms. Returns whether they are all gone. */
bool fedc_thread_set_wait_gone(const struct fedc_thread_set *set, int timeout_ms);

void fedc_thread_set_free(struct fedc_thread_set *set);

#endif
