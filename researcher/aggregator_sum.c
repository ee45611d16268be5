/* The weighted sum of the updates that FedAvg, FedProx, the FedOpt family
 * and SCAFFOLD start from: the aggregator's hot loop.
 *
 * Each value is summed over the updates in node-id order, whatever thread
 * does it, so the result is bit-identical to a plain loop's on any machine.
 * The values are cut into chunks that the threads share out, and chunks into
 * blocks: a block of the sums stays in cache while every update's block is
 * added to it, and each update's pages are released once their chunk is
 * added (the files stay mapped, not resident: memory stays O(model)).
 * Built at -O3 (CMakeLists.txt): GCC vectorizes the inner loop only there. */
#include "aggregator_internal.h"

#include <pthread.h>
#include <unistd.h>

/* Values per block: 64 Ki sums (512 KiB) and 64 Ki floats of each update.
 * Threads share out chunks of 4 blocks (1 MiB of each update). */
#define SUM_BLOCK (1u << 16)
#define SUM_CHUNK (4u * SUM_BLOCK)
/* Below this many values one thread is quicker than starting others. */
#define SUM_PARALLEL_MIN (1u << 18)
#define SUM_MAX_THREADS 4

struct sum_job {
	const struct aggregator *agg;
	bool weighted;
	double *acc;
	unsigned thread, n_threads;
};

static void add_block(double *restrict a, const float *restrict x, double w, size_t n)
{
	for (size_t j = 0; j < n; j++)
		a[j] += w * (double)x[j];
}

/* Chunk c of tensor i: its blocks, then every update's pages of it released
 * (one madvise per update and chunk: each costs the other threads of the
 * process a TLB flush). */
static void sum_chunk(const struct sum_job *job, size_t i, uint64_t c0, uint64_t c1)
{
	const struct aggregator *agg = job->agg;
	const struct agg_layout *l = &agg->update_layout;

	for (uint64_t j0 = c0; j0 < c1; j0 += SUM_BLOCK) {
		size_t len = (size_t)(c1 - j0 < SUM_BLOCK ? c1 - j0 : SUM_BLOCK);

		for (size_t k = 0; k < agg->n_updates; k++) {
			const float *x = (const float *)fedc_params_tensors(agg->updates[k].params)[i].data + j0;

			add_block(job->acc + l->offsets[i] + j0, x, job->weighted ? agg->updates[k].share : 1.0,
				  len);
		}
	}
	for (size_t k = 0; k < agg->n_updates; k++) {
		const struct fedc_params *u = agg->updates[k].params;

		fedc_params_release_span(u, (const float *)fedc_params_tensors(u)[i].data + c0,
					 (size_t)(c1 - c0) * sizeof(float));
	}
}

/* The chunks c with c % n_threads == thread, tensor by tensor. */
static void *sum_chunks(void *arg)
{
	const struct sum_job *job = arg;
	const struct agg_layout *l = &job->agg->update_layout;
	uint64_t chunk = 0;

	for (size_t i = 0; i < l->count; i++) {
		uint64_t n = fedc_tensor_elements(&l->tensors[i]);

		for (uint64_t c0 = 0; c0 < n; c0 += SUM_CHUNK, chunk++) {
			if (chunk % job->n_threads == job->thread)
				sum_chunk(job, i, c0, n - c0 < SUM_CHUNK ? n : c0 + SUM_CHUNK);
		}
	}
	return NULL;
}

static unsigned thread_count(uint64_t n_elements)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (n_elements < SUM_PARALLEL_MIN || cpus < 2)
		return 1;
	return cpus > SUM_MAX_THREADS ? SUM_MAX_THREADS : (unsigned)cpus;
}

enum fedc_err aggregator__sum_updates(struct aggregator *agg, bool weighted, double **out)
{
	const struct agg_layout *l = &agg->update_layout;
	struct sum_job jobs[SUM_MAX_THREADS];
	pthread_t threads[SUM_MAX_THREADS];
	bool started[SUM_MAX_THREADS] = { false };
	unsigned n_threads = thread_count(l->n_elements);
	double *acc = NULL;
	enum fedc_err rc;

	if (agg->secure_sum) { /* the secure aggregation's sum: already added up */
		*out = agg->secure_sum;
		agg->secure_sum = NULL;
		return FEDC_OK;
	}
	rc = aggregator__alloc(l->n_elements, sizeof(double), &acc);
	if (rc)
		return rc;
	for (unsigned t = 0; t < n_threads; t++)
		jobs[t] = (struct sum_job){ agg, weighted, acc, t, n_threads };
	/* Helpers take chunks 1.., this thread chunk 0..; a helper that does not
	 * start leaves its chunks to this thread, done after the others. */
	for (unsigned t = 1; t < n_threads; t++)
		started[t] = pthread_create(&threads[t], NULL, sum_chunks, &jobs[t]) == 0;
	sum_chunks(&jobs[0]);
	for (unsigned t = 1; t < n_threads; t++) {
		if (started[t])
			pthread_join(threads[t], NULL);
		else
			sum_chunks(&jobs[t]);
	}
	*out = acc;
	return FEDC_OK;
}
