/* bench/round: federated rounds with a plan that returns its parameters
 * unchanged (tests/fixtures/plans/identity.c), N nodes x P float32
 * parameters, on a real stack (Mosquitto, fedc-repository, N fedc-node
 * daemons) on loopback. Prints the median round time (from the researcher's
 * rounds.csv), the central CPU per node-round (researcher, broker and
 * repository: what one researcher machine spends per node and round, which
 * says how many nodes it can drive; the round time on this 2-core machine
 * includes the nodes' work too) and the researcher's peak RSS (its
 * ru_maxrss, all threads: VmHWM), against the targets of issue 2 and issue
 * 19's researcher memory (N=32, P=1e7 under 100 MB; N=4, P=1e8 under 4 s a
 * round and 450 MB).
 *
 *   bench_round [--secagg[=VALUE_MAX[:K]]] [--upload] [--wan=SPEC] [ROUNDS] [N,...] [P,...]
 *                                                        defaults: 5  2,8,32  1e4,1e6,1e7
 *
 * N goes up to 1100 (issue #19: 1000 node daemons, docs/benchmarks.md, "A
 * thousand nodes"): the nodes are provisioned with one fedc-admin add-nodes
 * and started 50 at a time; the idle nodes' RSS and PSS and the time of
 * fedc-researcher nodes and search are printed before the rounds, and
 * whether every node answered every round after them. FEDC_BENCH_HOLD=S
 * keeps the stack up S seconds at the end.
 *
 * --upload gives the identity plan the model argument upload_step = 1e-6
 * (every node really uploads an update of its own). --breakpoint-every=K
 * sets the experiment's breakpoint_every (a breakpoint after every K-th
 * round; docs/benchmarks.md, "Central CPU per node-round"). --train-ms=MS
 * makes each node's training take MS milliseconds (the identity plan's
 * sleep_ms: idle repository connections between a round's GET and PUT).
 * --read-store sets [network] repository_store_dir: the researcher reads
 * the nodes' updates from the repository's store in place (docs/repository.md,
 * "Updates read in place").
 * --inline-max=BYTES sets [network] inline_params_max (parameter files up
 * to 8 MiB inline where the sockets allow: docs/deployment.md, "Models up
 * to 8 MiB inline"). --downloads-at-once=K starts the repository with
 * downloads_at_once = K (downloads of 1 MiB or more in turn:
 * docs/repository.md, "Downloads in turn"). --wan=SPEC is for
 * bench/wan.sh, which starts it inside the server's network namespace
 * (docs/benchmarks.md, "Across a WAN").
 *
 * With --secagg each case runs twice in the same stack, plain and with
 * secure aggregation ([privacy] secure_aggregation = on), and the ratio is
 * printed against the targets of the privacy issue (1.5x at N=8, P=1e6;
 * 2x at N=32, P=1e4). =VALUE_MAX sets secagg_value_max: the identity plan's
 * values lie in [0, 1), so --secagg=1 lets the researcher pick the 32-bit
 * ring where the scale allows it (docs/privacy.md, "Fixed point and ring");
 * :K sets secagg_neighbours (SecAgg+: each node masks with K others). */
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fedc/buf.h"
#include "harness.h"
#include "wan_stack.h"

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The "seconds" column of rounds.csv's train rows, up to `max` of them;
 * how many (0 when the file is not there yet). */
static size_t read_train_seconds(const char *csv_path, double *values, size_t max)
{
	FILE *f = fopen(csv_path, "r");
	char line[1024];
	size_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f) && n < max) {
		char *fields[16], *rest = line, *tok;
		size_t k = 0;

		/* strsep, not strtok: empty cells (unknown metrics) are fields too */
		while ((tok = strsep(&rest, ",")) && k < 16)
			fields[k++] = tok;
		if (k >= 8 && strcmp(fields[1], "train") == 0)
			values[n++] = atof(fields[7]);
	}
	fclose(f);
	return n;
}

/* Median of the "seconds" column of rounds.csv, train rows only. */
static double median_round(const char *csv_path)
{
	double values[1024];
	size_t n = read_train_seconds(csv_path, values, 1024);

	if (!n)
		return NAN;
	qsort(values, n, sizeof(values[0]), compare_double);
	return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static const char *secagg_value_max; /* --secagg=VALUE_MAX, or NULL */
static const char *secagg_neighbours; /* --secagg=VALUE_MAX:K, or NULL */
static const char *const plan_name = "fixtures/identity";
static bool upload; /* --upload: the identity plan with upload_step */
static bool read_store; /* --read-store: the researcher reads updates from the repository's store */
static const char *breakpoint_every = "1"; /* --breakpoint-every=K */
static const char *inline_max;              /* --inline-max=BYTES, or NULL: the default */
static const char *downloads_at_once;       /* --downloads-at-once=K (the repository's), or NULL */
static const char *train_ms; /* --train-ms=MS: the identity plan's sleep_ms (a round's training time), or NULL */
static struct wan_stack *wan; /* --wan=...: the nodes behind bench/wan.sh's link */
static volatile sig_atomic_t interrupted; /* SIGINT or SIGTERM: stop and clean up */

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Rows of kind "train" in rounds.csv so far (0 before the file exists). */
static unsigned train_rows(const char *csv_path)
{
	static double values[1024];

	return (unsigned)read_train_seconds(csv_path, values, 1024);
}

/* CPU seconds process `pid` has used so far, all its threads. The
 * process's CPU clock, not /proc/<pid>/stat: the same sum (utime + stime)
 * to the nanosecond, where /proc counts in 10 ms ticks, too coarse for a
 * few hundred microseconds per node-round. NAN if the process is gone. */
static double cpu_seconds(pid_t pid)
{
	clockid_t clock;
	struct timespec ts;

	if (pid <= 0 || clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &ts) != 0)
		return NAN;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A node's plan processes counted: one per job it runs at once. */
#define MAX_PLAN_PROCESSES 8

/* CPU seconds of the node daemons and their children (the plan processes,
 * kept from round to round of a job): what the nodes spend, beside the
 * central CPU, on the same cores here. A process that ended between two
 * samples is not counted (one job per case: no plan process ends before
 * its last round). */
static double nodes_cpu_seconds(const struct harness *h)
{
	double sum = 0;

	for (size_t i = 0; i < h->n_nodes; i++) {
		pid_t pids[1 + MAX_PLAN_PROCESSES] = { h->nodes[i].proc.pid };
		size_t n = 1 + harness_children_of(pids[0], pids + 1, MAX_PLAN_PROCESSES);

		for (size_t k = 0; k < n && k < 1 + MAX_PLAN_PROCESSES; k++) {
			double cpu = cpu_seconds(pids[k]);

			sum += isnan(cpu) ? 0 : cpu;
		}
	}
	return sum;
}

/* What is sampled at a round boundary: the central CPU (researcher, broker
 * and repository: what one researcher machine runs for the federation; the
 * bench's own status observer is not in it), the nodes' CPU and the link's
 * counters. */
struct sample {
	unsigned rounds;
	double cpu[3]; /* researcher, broker, repository */
	double nodes_cpu; /* nodes_cpu_seconds() */
	double link_cpu; /* bench_wan_link's (--wan) */
	struct wan_link_shared link;
};

static void take_sample(struct harness *h, pid_t researcher, unsigned rounds, struct sample *s)
{
	s->rounds = rounds;
	s->cpu[0] = cpu_seconds(researcher);
	s->cpu[1] = cpu_seconds(h->broker.pid);
	s->cpu[2] = cpu_seconds(h->repo.pid);
	s->nodes_cpu = nodes_cpu_seconds(h);
	if (wan) {
		wan_stack_sample(wan, &s->link);
		s->link_cpu = cpu_seconds((pid_t)s->link.pid);
	}
}

/* Waits for the researcher, sampling when its first train round is in
 * rounds.csv and when its last is: the measured rounds are those between
 * (the first carries the job's set-up: plan processes, connections). The
 * file is polled every millisecond (a stat; the bench's own CPU is not in
 * the figures), so a boundary is seen about a millisecond late, more on a
 * busy machine: over many rounds that error is small. 0 when the
 * researcher exited with 0. */
static int watch_rounds(struct harness *h, struct harness_proc *proc, const char *csv, unsigned rounds,
			struct sample *first, struct sample *last, struct rusage *usage)
{
	const struct timespec pause = { 0, 1000000 };
	off_t seen_size = -1;
	unsigned seen = 0;

	for (;;) {
		struct stat st;
		int status;
		pid_t w = wait4(proc->pid, &status, WNOHANG, usage);

		if (w == proc->pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
		if (w < 0 || interrupted)
			return -1;
		if (stat(csv, &st) == 0 && st.st_size != seen_size) {
			unsigned k = train_rows(csv);

			seen_size = st.st_size;
			if (k != seen && k > 0 && k < rounds && !first->rounds)
				take_sample(h, proc->pid, k, first);
			else if (k != seen && k >= rounds && first->rounds && !last->rounds)
				take_sample(h, proc->pid, k, last);
			seen = k;
		}
		nanosleep(&pause, NULL);
	}
}

struct result {
	double median, rss_mb;
	double first_round;      /* round 1's seconds: the nodes' first of the case (--wan prints it) */
	unsigned min_answered;   /* the fewest nodes that answered a train round (history.jsonl) */
	unsigned train_rounds;   /* train rounds in history.jsonl */
	double cpu_ms;           /* central CPU per node-round over the measured rounds, ms */
	double part_ms[3];       /* the same for the researcher, the broker, the repository */
	double nodes_ms;         /* the nodes' CPU (daemons and plan processes) per node-round, ms */
	double link_cpu_ms;      /* bench_wan_link's CPU per measured round (--wan) */
	unsigned measured;       /* rounds between the two samples */
	struct wan_link_shared link; /* the link's counters over them */
};

/* The integer after "key": in a line of JSON, or -1. */
static long json_long(const char *line, const char *key)
{
	char pattern[64];
	const char *p;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	p = strstr(line, pattern);
	return p ? atol(p + strlen(pattern)) : -1;
}

/* Every node accounted for: the fewest "answered" of the history's round
 * records, and how many there were. */
static void count_answers(const char *history, struct result *r)
{
	static char line[1 << 16];
	FILE *f = fopen(history, "r");

	r->min_answered = 0;
	r->train_rounds = 0;
	while (f && fgets(line, sizeof(line), f)) {
		long answered = json_long(line, "answered");

		if (!strstr(line, "\"type\":\"round\"") || answered < 0)
			continue;
		if (!r->train_rounds || (unsigned long)answered < r->min_answered)
			r->min_answered = (unsigned)answered;
		r->train_rounds++;
	}
	if (f)
		fclose(f);
}

static void subtract_link(const struct wan_link_shared *a, const struct wan_link_shared *b,
			  struct wan_link_shared *out)
{
	*out = *b;
	out->turnarounds = b->turnarounds - a->turnarounds;
	out->connections = b->connections - a->connections;
	for (int d = 0; d < 2; d++) {
		out->dir[d].packets = b->dir[d].packets - a->dir[d].packets;
		out->dir[d].bytes = b->dir[d].bytes - a->dir[d].bytes;
		out->dir[d].drops = b->dir[d].drops - a->dir[d].drops;
	}
}

/* The last lines of a log, to stderr: the directory goes when the bench ends. */
static void print_tail(const char *path, size_t lines)
{
	static char text[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = 0, seen = 0;
	long size;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(text) - 1 ? size - (long)sizeof(text) + 1 : 0, SEEK_SET);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	while (n > 0 && seen <= lines)
		seen += text[--n] == '\n';
	fprintf(stderr, "--- the end of %s:\n%s\n", path, text + n + (seen > lines));
}

/* The experiment file's lines beyond the harness's own, from the options. */
static enum fedc_err experiment_extra(const struct harness *h, bool secagg, struct fedc_buf *b)
{
	enum fedc_err rc = fedc_buf_printf(b, "final_evaluation = false\nbreakpoint_every = %s\n", breakpoint_every);

	if (!rc && secagg)
		rc = fedc_buf_printf(b, "[privacy]\nsecure_aggregation = on\n");
	if (!rc && secagg && secagg_value_max)
		rc = fedc_buf_printf(b, "secagg_value_max = %s\n", secagg_value_max);
	if (!rc && secagg && secagg_neighbours)
		rc = fedc_buf_printf(b, "secagg_neighbours = %s\n", secagg_neighbours);
	if (!rc && inline_max)
		rc = fedc_buf_printf(b, "[network]\ninline_params_max = %s\n", inline_max);
	if (!rc && read_store) /* the store fedc-admin's repository.conf names */
		rc = fedc_buf_printf(b, "[network]\nrepository_store_dir = %s/repository/store\n", h->fed_dir);
	return rc;
}

static int run_case(struct harness *h, unsigned rounds, unsigned n, double p, bool secagg, struct result *r)
{
	char exp[512], model[128], csv[600];
	const char *log_level = getenv("FEDC_BENCH_LOG") ? getenv("FEDC_BENCH_LOG") : "warn";
	const char *argv[] = { harness_bin("fedc-researcher"), "run", exp, "--log-level", log_level, NULL };
	struct fedc_buf extra = FEDC_BUF_INIT(4096);
	struct harness_proc proc = { 0 };
	struct rusage usage;
	struct sample first = { 0 }, last = { 0 };
	int written;

	snprintf(exp, sizeof(exp), "%s/bench-%u-%.0f%s.ini", h->dir, n, p, secagg ? "-secagg" : "");
	snprintf(model, sizeof(model), "n_params = %.0f%s%s%s", p, upload ? "\nupload_step = 1e-6" : "",
		 train_ms ? "\nsleep_ms = " : "", train_ms ? train_ms : "");
	if (experiment_extra(h, secagg, &extra) != FEDC_OK) {
		fprintf(stderr, "bench: the options' values are too long\n");
		fedc_buf_free(&extra);
		return -1;
	}
	written = harness_write_experiment(h, exp, harness_plan(plan_name), "bench", rounds, n, 300, model, extra.data);
	fedc_buf_free(&extra);
	if (written != 0)
		return -1;
	snprintf(csv, sizeof(csv), "%s-out/rounds.csv", exp);
	if (harness_spawn(h, &proc, "researcher-bench", argv) != 0)
		return -1;
	if (watch_rounds(h, &proc, csv, rounds, &first, &last, &usage) != 0) {
		fprintf(stderr, interrupted ? "bench: interrupted\n" : "researcher failed, see %s\n", proc.log);
		if (!interrupted)
			print_tail(proc.log, 20);
		return -1;
	}
	memset(r, 0, sizeof(*r));
	snprintf(csv, sizeof(csv), "%s-out/history.jsonl", exp);
	count_answers(csv, r);
	snprintf(csv, sizeof(csv), "%s-out/rounds.csv", exp);
	r->rss_mb = (double)usage.ru_maxrss / 1024.0;
	r->median = median_round(csv);
	r->first_round = read_train_seconds(csv, &r->first_round, 1) ? r->first_round : NAN;
	r->measured = last.rounds > first.rounds ? last.rounds - first.rounds : 0;
	r->cpu_ms = 0;
	for (int i = 0; i < 3; i++) {
		r->part_ms[i] = r->measured ? (last.cpu[i] - first.cpu[i]) * 1e3 / ((double)n * r->measured) : NAN;
		r->cpu_ms += r->part_ms[i];
	}
	r->nodes_ms = r->measured ? (last.nodes_cpu - first.nodes_cpu) * 1e3 / ((double)n * r->measured) : NAN;
	if (wan && r->measured) {
		subtract_link(&first.link, &last.link, &r->link);
		r->link_cpu_ms = (last.link_cpu - first.link_cpu) * 1e3 / r->measured;
	}
	return 0;
}

/* Nodes started and awaited together: the broker and the repository see
 * this many TLS handshakes at once at most. */
#define START_BATCH 50
#define START_BATCH_TIMEOUT_MS 120000

/* Provisions the nodes [h->n_nodes, n) in one fedc-admin add-nodes, then
 * starts them START_BATCH at a time, each batch online before the next. */
static int start_nodes(struct harness *h, unsigned n)
{
	size_t first = h->n_nodes;
	char csv[512];

	if (n <= first)
		return 0;
	snprintf(csv, sizeof(csv), "%s/bench.csv", h->dir);
	if (harness_split_csv(FEDC_SOURCE_DIR "/examples/data/breast_cancer.csv", csv, 0, 100) != 0) {
		fprintf(stderr, "bench: cannot write %s\n", csv);
		return -1;
	}
	if (n > HARNESS_MAX_NODES) {
		fprintf(stderr, "bench: at most %d nodes\n", HARNESS_MAX_NODES);
		return -1;
	}
	if (harness_add_nodes(h, "bench", n - first, csv, "bench", harness_plan(plan_name), "info", 4) != (int)first)
		return -1;
	/* --train-ms: the harness's 60 s plan limit would kill a longer training */
	for (size_t i = first; train_ms && i < n; i++) {
		if (harness_node_limits(h, i, "train_timeout_s = 600\n") != 0) {
			fprintf(stderr, "bench: cannot raise node %zu's train_timeout_s\n", i);
			return -1;
		}
	}
	for (size_t i = first; i < n; i += wan ? 1 : START_BATCH) {
		size_t batch = wan ? 1 : (n - i < START_BATCH ? n - i : START_BATCH);

		if (interrupted)
			return -1;
		if ((wan ? wan_stack_start_node(wan, h, i) : harness_start_nodes(h, i, batch, START_BATCH_TIMEOUT_MS)) != 0)
			return -1;
	}
	return 0;
}

/* Kilobytes of field `key` ("Rss:", "Pss:") in /proc/<pid>/smaps_rollup, or -1. */
static long smaps_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)) == 0) {
			kb = atol(line + strlen(key));
			break;
		}
	}
	if (f)
		fclose(f);
	return kb;
}

/* The idle nodes' mean RSS and PSS (PSS shares the pages they have in
 * common, such as libraries, among them: what each one costs the machine). */
static void print_idle_nodes(const struct harness *h)
{
	double rss = 0, pss = 0;
	size_t counted = 0;

	for (size_t i = 0; i < h->n_nodes; i++) {
		long r = smaps_kb(h->nodes[i].proc.pid, "Rss:"), p = smaps_kb(h->nodes[i].proc.pid, "Pss:");

		if (r < 0 || p < 0)
			continue;
		rss += (double)r;
		pss += (double)p;
		counted++;
	}
	if (counted)
		printf("%6zu idle nodes: mean RSS %.2f MB, mean PSS %.2f MB (/proc/PID/smaps_rollup)\n", counted,
		       rss / (double)counted / 1024.0, pss / (double)counted / 1024.0);
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs `fedc-researcher COMMAND ... --network` on the researcher's bundle
 * and prints its wall time and how many nodes answered (lines holding
 * `answer_mark` in its output): issue #19 asks for nodes and search in
 * under 2 s with 1000 nodes. */
static void time_discovery(struct harness *h, const char *name, const char *const *args, const char *answer_mark)
{
	char network[512], log[sizeof(((struct harness_proc *)0)->log)];
	const char *argv[12] = { harness_bin("fedc-researcher") };
	struct stat st;
	long log_from = 0;
	struct harness_proc proc = { 0 };
	size_t k = 1;
	int status = -1;
	double t0;

	snprintf(network, sizeof(network), "%s/network.ini", h->researcher_dir);
	for (; args[k - 1] && k < 8; k++)
		argv[k] = args[k - 1];
	argv[k++] = "--network";
	argv[k++] = network;
	argv[k] = NULL;
	/* harness_spawn appends to NAME.log: a run of an earlier case is there. */
	snprintf(log, sizeof(log), "%s/%s.log", h->dir, name);
	if (stat(log, &st) == 0)
		log_from = (long)st.st_size;
	t0 = now_s();
	if (harness_spawn(h, &proc, name, argv) != 0 || waitpid(proc.pid, &status, 0) != proc.pid) {
		fprintf(stderr, "bench: cannot run fedc-researcher %s\n", args[0]);
		return;
	}
	printf("%6zu nodes: fedc-researcher %s: %.2f s, %zu answered%s\n", h->n_nodes, args[0], now_s() - t0,
	       harness_lines_containing(proc.log, log_from, answer_mark),
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "" : " (FAILED)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		print_tail(proc.log, 10);
	fflush(stdout);
}

/* FEDC_BENCH_HOLD=SECONDS keeps the stack and its nodes up after the
 * cases, for running fedc-researcher (or a profiler) against it by hand. */
static void hold_stack(const struct harness *h)
{
	const char *hold = getenv("FEDC_BENCH_HOLD");
	unsigned seconds = hold ? (unsigned)atoi(hold) : 0;

	if (!seconds)
		return;
	printf("holding the stack for %u s (Ctrl-C ends it): fedc-researcher nodes --network %s/network.ini\n",
	       seconds, h->researcher_dir);
	fflush(stdout);
	for (unsigned i = 0; i < seconds && !interrupted; i++)
		sleep(1);
}

static void time_nodes_and_search(struct harness *h)
{
	static const char *const nodes[] = { "nodes", NULL }, *const search[] = { "search", "--tags", "bench", NULL };

	time_discovery(h, "researcher-nodes", nodes, " dataset(s)");
	time_discovery(h, "researcher-search", search, " dataset(s)");
}

/* Each node holds a TLS connection to the broker and one to the
 * repository, and the servers inherit this limit: the soft limit (often
 * 1024) up to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			perror("bench: setrlimit(RLIMIT_NOFILE)");
	}
}

static const char *target(unsigned n, double p, double median, double rss)
{
	static char text[64];

	if (n == 32 && p == 1e4)
		snprintf(text, sizeof(text), "round < 0.010 s: %s (%.1fx)", median < 0.010 ? "met" : "MISSED", median / 0.010);
	else if (n == 8 && p == 1e6)
		snprintf(text, sizeof(text), "round < 0.100 s: %s (%.1fx)", median < 0.100 ? "met" : "MISSED", median / 0.100);
	else if (n == 32 && p == 1e7)
		snprintf(text, sizeof(text), "RSS < 100 MB: %s (%.2fx)", rss < 100 ? "met" : "MISSED", rss / 100);
	else if (n == 4 && p == 1e8)
		snprintf(text, sizeof(text), "round < 4 s, RSS < 450 MB: %s, %s", median < 4 ? "met" : "MISSED",
			 rss < 450 ? "met" : "MISSED");
	else
		text[0] = '\0';
	return text;
}

/* The privacy issue's targets for the cost of secure aggregation. */
static const char *secagg_target(unsigned n, double p, double ratio)
{
	static char text[64];
	double limit = n == 8 && p == 1e6 ? 1.5 : n == 32 && p == 1e4 ? 2.0 : 0;

	if (limit > 0)
		snprintf(text, sizeof(text), "ratio < %.1f: %s", limit, ratio < limit ? "met" : "MISSED");
	else
		text[0] = '\0';
	return text;
}

static size_t parse_list(const char *s, double *out, size_t max)
{
	char buf[256];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok(buf, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = atof(tok);
	return n;
}

/* "--secagg[=VALUE_MAX[:K]]" */
static void parse_secagg(const char *arg)
{
	static char spec[64];
	char *colon;

	if (arg[8] != '=')
		return;
	snprintf(spec, sizeof(spec), "%s", arg + 9);
	colon = strchr(spec, ':');
	if (colon) {
		*colon = '\0';
		secagg_neighbours = colon + 1;
	}
	secagg_value_max = spec;
}

/* The leading options; returns how many arguments they took, or -1. */
static int parse_options(int argc, char **argv, bool *secagg, const char **wan_spec)
{
	int i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strncmp(argv[i], "--secagg", 8) == 0 && (argv[i][8] == '\0' || argv[i][8] == '=')) {
			*secagg = true;
			parse_secagg(argv[i]);
		} else if (strncmp(argv[i], "--wan=", 6) == 0) {
			*wan_spec = argv[i] + 6;
		} else if (strcmp(argv[i], "--upload") == 0) {
			upload = true;
		} else if (strcmp(argv[i], "--read-store") == 0) {
			read_store = true;
		} else if (strncmp(argv[i], "--breakpoint-every=", 19) == 0) {
			breakpoint_every = argv[i] + 19; /* the researcher checks it */
		} else if (strncmp(argv[i], "--inline-max=", 13) == 0) {
			inline_max = argv[i] + 13; /* the researcher checks it */
		} else if (strncmp(argv[i], "--downloads-at-once=", 20) == 0) {
			downloads_at_once = argv[i] + 20;
		} else if (strncmp(argv[i], "--train-ms=", 11) == 0 && strspn(argv[i] + 11, "0123456789") == strlen(argv[i] + 11) &&
			   argv[i][11] && strlen(argv[i] + 11) <= 9) {
			train_ms = argv[i] + 11;
		} else {
			fprintf(stderr, "bench: unknown option %s\nusage: bench_round [--secagg[=VALUE_MAX[:K]]] "
					"[--upload] [--read-store] [--breakpoint-every=K] [--inline-max=BYTES] [--downloads-at-once=K] [--train-ms=MS] [--wan=NODES_NETNS,SERVER_IPV4,COUNTERS_FILE] [ROUNDS] [N,...] [P,...]\n",
				argv[i]);
			return -1;
		}
	}
	return i - 1;
}

static void print_header(bool secagg)
{
	if (wan)
		printf("%6s %8s %7s %9s %12s %8s %10s %9s %9s %9s %10s %10s\n", "nodes", "params", "RTT", "rate",
		       "median round", "/RTT", "exch/n-r", "conn/rnd", "MB down", "MB up", "CPU/n-r", "peak RSS");
	else if (secagg)
		printf("%6s %10s %14s %14s %8s %12s %12s %12s   %s\n", "nodes", "params", "plain round", "secagg round",
		       "ratio", "plain CPU/n-r", "secagg CPU/n-r", "peak RSS", "target");
	else
		printf("%6s %10s %14s %16s %12s   %s\n", "nodes", "params", "median round", "central CPU/n-r",
		       "peak RSS", "target");
}

/* One line of the WAN table: per measured round, the link's figures. */
static void print_wan(unsigned n, double p, const struct result *r)
{
	const struct wan_link_shared *l = &r->link;
	double rtt = (double)l->delay_us * 2e-6, per = r->measured ? 1.0 / r->measured : NAN;
	char rate[32];

	if (l->rate_bps)
		snprintf(rate, sizeof(rate), "%.0f Mb/s", (double)l->rate_bps / 1e6);
	else
		snprintf(rate, sizeof(rate), "-");
	printf("%6u %8.0e %4.0f ms %9s %10.4f s %8.2f %10.2f %9.2f %9.2f %9.2f %7.3f ms %7.1f MB\n", n, p, rtt * 1e3,
	       rate, r->median, rtt > 0 ? r->median / rtt : NAN, (double)l->turnarounds / 2 * per / n,
	       (double)l->connections * per, (double)l->dir[WAN_DOWN].bytes * per / 1e6,
	       (double)l->dir[WAN_UP].bytes * per / 1e6, r->cpu_ms, r->rss_mb);
	if (l->dir[WAN_UP].drops || l->dir[WAN_DOWN].drops)
		printf("       (the link dropped %llu packets up, %llu down: its queue was full)\n",
		       (unsigned long long)l->dir[WAN_UP].drops, (unsigned long long)l->dir[WAN_DOWN].drops);
}

static int start_stack(struct harness *h)
{
	if (harness_init(h) != 0)
		return -1;
	if (downloads_at_once) {
		h->repository_flags[0] = "--downloads-at-once";
		h->repository_flags[1] = downloads_at_once; /* the repository checks it */
	}
	if (wan)
		return wan_stack_start(wan, h);
	return harness_start_broker(h) || harness_start_repository(h) || harness_connect_status_observer(h) ? -1 : 0;
}

int main(int argc, char **argv)
{
	bool secagg = false;
	const char *wan_spec = NULL;
	static struct wan_stack wan_stack;
	int used = parse_options(argc, argv, &secagg, &wan_spec);

	if (used < 0)
		return 2;
	argv += used;
	argc -= used;
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 5;
	double ns[8] = { 2, 8, 32 }, ps[8] = { 1e4, 1e6, 1e7 };
	size_t n_ns = argc > 2 ? parse_list(argv[2], ns, 8) : 3, n_ps = argc > 3 ? parse_list(argv[3], ps, 8) : 3;
	struct harness h = { 0 };
	int rc = 1;

	if (wan_spec && secagg) {
		fprintf(stderr, "bench: --wan and --secagg do not go together (yet)\n");
		return 2;
	}
	if (wan_spec) {
		if (wan_stack_open(&wan_stack, wan_spec) != 0)
			return 2;
		wan = &wan_stack;
	}
	struct sigaction stop = { .sa_handler = on_interrupt };

	/* The servers and nodes die with the bench anyway (PDEATHSIG); the
	 * handler lets it remove its directory too. */
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	raise_fd_limit();
	if (start_stack(&h) != 0) {
		fprintf(stderr, "bench: cannot start the stack\n");
		goto out;
	}
	printf("bench/round: %s plan%s, %u rounds per case, median round time, central CPU (researcher, broker,\n"
	       "repository) per node-round over rounds 2-%u, researcher peak RSS%s\n",
	       plan_name, upload ? " (upload_step: every node uploads)" : "", rounds, rounds,
	       wan ? ";\nper measured round: round time / RTT, exchanges per node-round counted on the link,\n"
		     "connections opened, megabytes down and up the link"
		   : "");
	print_header(secagg);
	for (size_t i = 0; i < n_ns; i++) {
		if (start_nodes(&h, (unsigned)ns[i]) != 0) {
			fprintf(stderr, "bench: cannot start %u nodes (the lines above say why; logs in %s, kept with "
					"FEDC_KEEP_TEST_DIR=1)\n",
				(unsigned)ns[i], h.dir);
			goto out;
		}
		print_idle_nodes(&h);
		time_nodes_and_search(&h);
		for (size_t k = 0; k < n_ps && !interrupted; k++) {
			struct result plain, masked;
			unsigned n = (unsigned)ns[i];

			if (run_case(&h, rounds, n, ps[k], false, &plain) != 0)
				goto out;
			if (secagg) {
				if (run_case(&h, rounds, n, ps[k], true, &masked) != 0)
					goto out;
				printf("%6u %10.0e %12.4f s %12.4f s %7.2fx %10.3f ms %11.3f ms %9.1f MB   %s\n", n, ps[k],
				       plain.median, masked.median, masked.median / plain.median, plain.cpu_ms, masked.cpu_ms,
				       masked.rss_mb, secagg_target(n, ps[k], masked.median / plain.median));
			} else if (wan) {
				print_wan(n, ps[k], &plain);
			} else {
				printf("%6u %10.0e %12.4f s %13.3f ms %9.1f MB   %s\n", n, ps[k], plain.median, plain.cpu_ms,
				       plain.rss_mb, target(n, ps[k], plain.median, plain.rss_mb));
			}
			printf("%6s %10s   central CPU per node-round%s: researcher %.3f ms, broker %.3f ms, repository %.3f ms\n",
			       "", "", secagg ? " (plain)" : "", plain.part_ms[0], plain.part_ms[1], plain.part_ms[2]);
			if (!isnan(plain.nodes_ms) && plain.nodes_ms > 0)
				printf("%6s %10s   node CPU per node-round (daemon and plan process): %.3f ms\n", "", "",
				       plain.nodes_ms);
			printf("%6s %10s   answered: at least %u of %u nodes in each of %u rounds%s\n", "", "",
			       plain.min_answered, n, plain.train_rounds,
			       plain.min_answered == n ? "" : " (NOT every node)");
			if (wan) {
				printf("%6s %10s   the link's relay (bench_wan_link): %.1f ms of CPU per round\n", "", "",
				       plain.link_cpu_ms);
				/* In the first case a node's first round: new repository
				 * connections (TCP, TLS) and the plan's download. */
				printf("%6s %10s   round 1: %.4f s, %.2f RTT more than the median\n", "", "", plain.first_round,
				       plain.link.delay_us ? (plain.first_round - plain.median) / ((double)plain.link.delay_us * 2e-6)
							   : NAN);
			}
			fflush(stdout);
		}
	}
	rc = interrupted ? 1 : 0;
	hold_stack(&h);
out:
	/* Interrupted: no graceful stop (Ctrl-C reached the broker too, and a
	 * node would wait for it, up to 5 s each before the harness kills it). */
	for (size_t i = 0; interrupted && i < h.n_nodes; i++) {
		if (h.nodes[i].proc.pid > 0)
			kill(h.nodes[i].proc.pid, SIGKILL);
	}
	harness_cleanup(&h);
	if (wan)
		wan_stack_close(wan);
	return rc;
}
