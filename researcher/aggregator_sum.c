/* The coordinate-wise methods' result, streamed to its file: FedAvg,
 * FedProx, the FedOpt family and SCAFFOLD. The aggregator's hot loop.
 *
 * The parameter writer asks for the result one block of a tensor at a time
 * (fedc_params_write_file_fill); each block's values are summed over the
 * updates, turned into result values by the method (compute_block) and
 * written before the next block is computed. Nothing of the size of the model
 * is allocated here: memory is a block of sums per thread and the block the
 * writer writes, whatever the model's size (a double accumulator over the
 * whole model was 8 bytes a value: 800 MB at 1e8 parameters).
 *
 * Determinism: each value is summed over the updates in node-id order,
 * starting from 0.0, in double, whatever thread does it and however the
 * blocks fall, so the result is bit-identical to a plain loop's on any
 * machine (the unit tests compare with one). Blocks of a writer's block are
 * shared out between threads; within one, each update's values are added to
 * the block of sums in turn and its pages released right after (the files
 * stay mapped, not resident). Built at -O3 (CMakeLists.txt): GCC vectorizes
 * the inner loop only there. */
#include "aggregator_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Values per block of sums: 64 Ki doubles (512 KiB, in L2) and 256 KiB of
 * each update, released as soon as they are added. */
#define SUM_BLOCK ((size_t)1 << 16)
#define SUM_MAX_THREADS 4

/* What every thread shares for one streamed write. */
struct stream {
	struct aggregator *agg;
	bool weighted;
	uintptr_t page;
	unsigned n_threads;
	double *sums[SUM_MAX_THREADS]; /* SUM_BLOCK each, one per thread */
};

/* One thread's part of a writer's block: tensor t, [first, first + n). */
struct part {
	struct stream *s;
	unsigned thread;
	size_t t;
	uint64_t first;
	size_t n;
	float *dst;
};

static void add_block(double *restrict a, const float *restrict x, double w, size_t n)
{
	for (size_t j = 0; j < n; j++)
		a[j] += w * (double)x[j];
}

/* A read fault maps more than its page: the kernel maps the pages around
 * it that are in the page cache, a whole large folio of the file (measured
 * here, Linux 6.18 on ext4: touching one page of a cached file mapped 1.1 MB).
 * Left mapped, what a block's faults mapped past its end would stay
 * resident for every update at once (70 MB at N=32), so a block releases
 * that much past its end too; the next block faults it in again. */
#define SUM_AHEAD ((size_t)2 << 20)

/* Drops the pages of [x, x + n) from the process, with the page that x
 * starts in (the block before left it, as it reached past its end) and what
 * the faults mapped ahead, up to `end`, the end of the tensor. */
static void release(const struct fedc_params *u, const float *x, size_t n, const float *end, uintptr_t page)
{
	uintptr_t start = (uintptr_t)x / page * page, stop = (uintptr_t)(x + n) + SUM_AHEAD;

	stop = stop < (uintptr_t)end ? stop : (uintptr_t)end;
	fedc_params_release_span(u, (const void *)start, stop - start);
}

/* The sums of values [first, first + n) of update tensor t. */
static void sum_block(const struct stream *s, size_t t, uint64_t first, size_t n, double *restrict sums)
{
	const struct aggregator *agg = s->agg;

	if (agg->secure_sum) { /* secure aggregation: already added up */
		memcpy(sums, agg->secure_sum + agg->update_layout.offsets[t] + first, n * sizeof(double));
		return;
	}
	memset(sums, 0, n * sizeof(double));
	for (size_t k = 0; k < agg->n_updates; k++) {
		const struct fedc_params *u = agg->updates[k].params;
		const struct fedc_tensor *ut = &fedc_params_tensors(u)[t];
		const float *x = (const float *)ut->data + first;

		add_block(sums, x, s->weighted ? agg->updates[k].share : 1.0, n);
		release(u, x, n, (const float *)ut->data + fedc_tensor_elements(ut), s->page);
	}
}

static void *run_part(void *arg)
{
	const struct part *p = arg;
	const struct stream *s = p->s;

	for (size_t j = 0; j < p->n; j += SUM_BLOCK) {
		size_t len = p->n - j < SUM_BLOCK ? p->n - j : SUM_BLOCK;

		sum_block(s, p->t, p->first + j, len, s->sums[p->thread]);
		s->agg->ops->compute_block(s->agg, p->t, p->first + j, len, s->sums[p->thread], p->dst + j);
	}
	return NULL;
}

/* The writer's callback: result values [first, first + n) of out tensor t,
 * the blocks of sums shared out between threads in whole SUM_BLOCKs, then
 * the values a BUFFER or LOCAL tensor takes instead (aggregator_roles.c). */
static enum fedc_err fill(void *ctx, size_t t, uint64_t first, size_t n, void *dst)
{
	struct stream *s = ctx;
	struct part parts[SUM_MAX_THREADS];
	pthread_t threads[SUM_MAX_THREADS];
	bool started[SUM_MAX_THREADS] = { false };
	size_t blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK, at = 0;
	unsigned used = blocks < s->n_threads ? (unsigned)blocks : s->n_threads;
	const float *fixed = aggregator__roles_values(s->agg, t);

	if (fixed) {
		memcpy(dst, fixed + first, n * sizeof(float));
		return FEDC_OK;
	}
	for (unsigned i = 0; i < used; i++) {
		size_t mine = (blocks / used + (i < blocks % used)) * SUM_BLOCK;

		mine = mine < n - at ? mine : n - at;
		parts[i] = (struct part){ s, i, t, first + at, mine, (float *)dst + at };
		at += mine;
	}
	/* Helpers take parts 1.., this thread part 0; a helper that does not
	 * start leaves its part to this thread. */
	for (unsigned i = 1; i < used; i++)
		started[i] = pthread_create(&threads[i], NULL, run_part, &parts[i]) == 0;
	run_part(&parts[0]);
	for (unsigned i = 1; i < used; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
		else
			run_part(&parts[i]);
	}
	return FEDC_OK;
}

static unsigned thread_count(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 2)
		return 1;
	return cpus > SUM_MAX_THREADS ? SUM_MAX_THREADS : (unsigned)cpus;
}

/* Result tensor t is computed from update tensor t, alike in size. */
static bool layouts_pair(const struct aggregator *agg)
{
	const struct agg_layout *u = &agg->update_layout, *o = &agg->out_layout;

	if (u->count != o->count)
		return false;
	for (size_t t = 0; t < u->count; t++) {
		if (fedc_tensor_elements(&u->tensors[t]) != fedc_tensor_elements(&o->tensors[t]))
			return false;
	}
	return true;
}

enum fedc_err aggregator__stream_result(struct aggregator *agg, const char *out_path)
{
	struct stream s = { agg, agg->ops->secure_sum == AGG_SUM_WEIGHTED, (uintptr_t)sysconf(_SC_PAGESIZE),
			    thread_count(), { NULL } };
	enum fedc_err rc = FEDC_OK;

	if (!layouts_pair(agg))
		return fedc_fail(FEDC_ERR_INVAL, "%s: internal error: result and update tensors differ",
				 agg->ops->name);
	for (unsigned i = 0; !rc && i < s.n_threads; i++)
		rc = aggregator__alloc(SUM_BLOCK, sizeof(double), &s.sums[i]);
	if (!rc)
		rc = fedc_params_write_file_fill(out_path, agg->out_layout.tensors, agg->out_layout.count, fill, &s);
	for (unsigned i = 0; i < s.n_threads; i++)
		free(s.sums[i]);
	return rc;
}
