/* Running a training plan in a child process, so that a plan that crashes,
 * hangs, exhausts memory or exits costs one error reply, not the daemon.
 *
 * The child (the plan process) is a fresh exec of the node binary
 * (`fedc-node __run-plan`), started for one job, plan and dataset and kept,
 * stopped (SIGSTOP), between that job's rounds: loading the data and the
 * plan, and the exec itself, happen once per job rather than once per round.
 * Any failure ends it, as does another job, plan or dataset, or
 * [limits] plan_process_idle_s without a round. It is a fresh exec, so
 * it holds none of the daemon's memory: no repository token, no broker
 * credentials for a hostile plan to copy into its parameters. It gets
 * resource limits (CPU seconds, an address-space cap, open files, no core
 * dumps), no_new_privs and, before the plan is loaded, a seccomp filter
 * (seccomp_policy.h); it loads the dataset itself (checking its digest), and
 * sends back the new parameters in a memfd (parameter file format; in a round
 * that assesses the model, the assessment's output: assess.h) and, over
 * a pipe, a short line protocol: metrics, sample counts, streamed scalars, or
 * an error. The parent reads the pipe with the round's deadline, watches the
 * child's resident memory, and kills the child when either limit passes.
 * docs/security.md says what this does and does not protect against. */
#ifndef FEDC_NODE_SANDBOX_H
#define FEDC_NODE_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "fedc/err.h"
#include "fedc/plan.h"
#include "db.h"

struct sandbox_job {
	const char *plan_path;      /* approved shared object */
	int params_fd;              /* global parameters from the researcher (read from offset 0) */
	const struct node_dataset *dataset; /* registered dataset; the child loads and splits it */
	/* A dataset registered as its test set (`dataset add --test-of`), or
	 * NULL: then test_ratio of the rows are held out, at random or
	 * stratified by class (split.h). */
	const struct node_dataset *test_dataset;
	bool stratified;
	double test_ratio;          /* share held out for evaluation */
	uint64_t split_seed;        /* from the seed and the data digest: the same test rows every round */
	const struct fedc_args *model_args;
	struct fedc_train_args train_args;
	bool evaluate_only;
	/* An assessment (node/assess.h) of the evaluate-only round: kind "" for
	 * none. The plan process writes its output into the update memfd. */
	const char *assess_kind;
	uint32_t assess_repeats;
	const char *assess_metric;
	uint64_t assess_seed;
	const char *assess_args;    /* robust: its checked key = value lines, or NULL */
	bool skip_test_global, skip_test_local; /* the researcher's test_on_* set to false */
	const char *scaffold_state;             /* the job's SCAFFOLD c_i file (may not exist yet) */
	const char *session;        /* who the plan process serves (job and researcher): another session gets another process */
	bool keep_process;          /* keep the plan process for the session's next round */
	int64_t timeout_s;          /* wall clock */
	int64_t cpu_seconds;        /* CPU time of this round, all threads, watched by the parent */
	int64_t memory_mb;          /* resident memory, watched by the parent; RLIMIT_AS is 2x + 256 MiB */
	/* Called in the parent for each scalar the plan reports (may be NULL). */
	void (*on_scalar)(void *ctx, const char *name, double value, uint64_t iteration, uint32_t epoch);
	void *ctx;
};

struct sandbox_result {
	int params_fd;              /* memfd holding the new parameters (read with pread), -1 if none */
	uint64_t n_train, n_test;
	struct fedc_metrics global_metrics; /* the received parameters on the test rows */
	struct fedc_metrics local_metrics;  /* after training, on the test rows */
	char error[512];            /* why it failed, for the error reply */
};

/* One per round worker: holds the plan process kept between rounds. */
struct sandbox;

struct sandbox *sandbox__new(void);
/* Ends the plan process, if any, and frees the sandbox. */
void sandbox__free(struct sandbox *sb);

/* The memfd to write this round's global parameters into (then cut it with
 * fedc_fd_cut_here and pass it as the job's params_fd), rewound to offset 0.
 * The sandbox keeps it, and the memfd the plan writes its update into,
 * while it keeps a plan process: both are rewritten in place round after
 * round rather than allocated afresh. Borrowed: do not close. -1 with
 * fedc_fail() when it cannot be made. */
int sandbox__global_memfd(struct sandbox *sb);

/* Runs one round. FEDC_OK with result filled (caller closes params_fd, which
 * stays valid until the next round of this sandbox), or
 * FEDC_ERR_PLAN / FEDC_ERR_TIMEOUT / FEDC_ERR_INTERRUPTED / FEDC_ERR_IO with
 * result->error saying what happened, or FEDC_ERR_INVAL when the plan
 * refused what the job asked (a newer ABI, its [model] arguments, the
 * parameters' layout: the report's `refused` line), which the same round
 * would meet again. `cancel` (may be NULL) is polled: when
 * it becomes true the child is killed and FEDC_ERR_INTERRUPTED returned. */
FEDC_NODISCARD
enum fedc_err sandbox__run(struct sandbox *sb, const struct sandbox_job *job, volatile int *cancel,
			   struct sandbox_result *result);

/* Ends the plan process if it has waited for a round for `idle_ms` or more;
 * returns the milliseconds until it would be, or -1 when there is none. */
int64_t sandbox__retire_idle(struct sandbox *sb, int64_t idle_ms);

/* The child's side (plan_runner.c), entered from main() for `fedc-node
 * __run-plan ARGS`: parses the job's fixed part from argv, loads the data
 * and the plan, then serves round requests from SANDBOX_CONTROL_FD, writing
 * report lines to SANDBOX_REPORT_FD. Returns the process exit code. */
#define SANDBOX_CONTROL_FD 3
#define SANDBOX_REPORT_FD 4
#define SANDBOX_REQUEST_MAX 16384 /* bytes of one round request */
int plan_runner__main(int argc, char **argv);

#endif
