/* The researcher's live round view: plain lines throttled per node when
 * stdout is a file, one redrawn line cut to width on a terminal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "text_capture.h"

static const char *const nodes[] = { "hospital-a", "hospital-b", "hospital-c" };

static void test_plain_lines_throttled_per_node(void **state)
{
	FILE *f = tmpfile();
	struct progress *pg = NULL;
	const char *text;

	assert_int_equal(progress__new(f, false, &pg), FEDC_OK);
	assert_int_equal(progress__round_begin(pg, 3, 10, nodes, 3), FEDC_OK);
	progress__scalar(pg, 1000, "hospital-a", "loss", 0.5, 10, 1);
	progress__scalar(pg, 1400, "hospital-a", "loss", 0.4, 20, 1);  /* within a second: held back */
	progress__scalar(pg, 1450, "hospital-b", "loss", 0.7, 5, 1);   /* another node: shown */
	progress__scalar(pg, 2100, "hospital-a", "loss", 0.3, 30, 2);  /* a second later: shown */
	progress__scalar(pg, 2200, "intruder", "loss", 9.0, 1, 1);     /* not in the round: ignored */
	progress__answered(pg, 2300, "hospital-a");
	progress__round_end(pg);
	text = capture_contents(f);
	assert_int_equal(capture_count(text, "\n"), 3);
	assert_non_null(strstr(text, "  live  round 3  node hospital-a  loss 0.5000  epoch 1  iteration 10\n"));
	assert_null(strstr(text, "0.4000"));
	assert_non_null(strstr(text, "node hospital-b  loss 0.7000"));
	assert_non_null(strstr(text, "node hospital-a  loss 0.3000  epoch 2  iteration 30"));
	assert_null(strstr(text, "intruder"));
	assert_null(strstr(text, "\r"));
	progress__free(pg);
	fclose(f);
}

static void test_terminal_line_redrawn_and_cleared(void **state)
{
	FILE *f = tmpfile();
	struct progress *pg = NULL;
	const char *text, *last;

	assert_int_equal(progress__new(f, true, &pg), FEDC_OK);
	assert_int_equal(progress__round_begin(pg, 1, 5, nodes, 3), FEDC_OK);
	progress__scalar(pg, 1000, "hospital-a", "loss", 0.5, 10, 1);
	progress__scalar(pg, 1050, "hospital-b", "loss", 0.6, 10, 1); /* redraws are throttled... */
	progress__failed(pg, 1060, "hospital-c");                      /* ...but outcomes always show */
	progress__answered(pg, 1070, "hospital-a");
	progress__round_end(pg);
	text = capture_contents(f);
	assert_int_equal(capture_count(text, "\r\033[K"), 4); /* 3 draws and the final clear */
	assert_null(strstr(text, "\n"));
	last = strstr(text, "round 1/5  training 1  answered 1  failed 1 |");
	assert_non_null(last);
	/* Only nodes still training are listed with their value. */
	assert_non_null(strstr(last, "hospital-b loss 0.6000 e1 i10"));
	assert_null(strstr(last, "hospital-a loss"));
	progress__free(pg);
	fclose(f);
}

static void test_terminal_line_cut_to_width(void **state)
{
	FILE *f = tmpfile();
	struct progress *pg = NULL;
	const char *ids[64];
	char names[64][32];
	const char *text;

	for (size_t i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "node-with-a-long-name-%02zu", i);
		ids[i] = names[i];
	}
	assert_int_equal(progress__new(f, true, &pg), FEDC_OK);
	assert_int_equal(progress__round_begin(pg, 1, 1, ids, 64), FEDC_OK);
	for (size_t i = 0; i < 64; i++)
		progress__scalar(pg, 1000 + 200 * (int64_t)i, ids[i], "loss", 0.25, 1, 1);
	text = capture_contents(f);
	/* A tmpfile has no width: the 100-column default holds for every line. */
	for (const char *line = strstr(text, "\r\033[K"); line; line = strstr(line + 1, "\r\033[K")) {
		const char *next = strstr(line + 1, "\r\033[K");
		size_t len = (next ? (size_t)(next - line) : strlen(line)) - 4;

		assert_true(len <= 99);
	}
	progress__free(pg);
	fclose(f);
}

/* The round after the last is the final evaluation: labelled so, on a
 * terminal and in plain lines, never "round 4/3". */
static void test_final_evaluation_labelled(void **state)
{
	for (int tty = 0; tty <= 1; tty++) {
		FILE *f = tmpfile();
		struct progress *pg = NULL;
		const char *text;

		assert_int_equal(progress__new(f, tty, &pg), FEDC_OK);
		assert_int_equal(progress__round_begin(pg, 4, 3, nodes, 3), FEDC_OK);
		progress__scalar(pg, 1000, "hospital-a", "loss", 0.5, 10, 1);
		progress__answered(pg, 1100, "hospital-b");
		progress__round_end(pg);
		text = capture_contents(f);
		assert_null(strstr(text, "round 4"));
		assert_non_null(strstr(text, tty ? "final evaluation  training 2  answered 1  failed 0 |"
					       : "  live  final evaluation  node hospital-a  loss 0.5000"));
		progress__free(pg);
		fclose(f);
	}
}

/* Node-level DP: the experiment's epsilon beside the round, on a terminal
 * and in plain lines; none without DP or at the final evaluation. */
static void test_epsilon_shown_with_dp(void **state)
{
	for (int tty = 0; tty <= 1; tty++) {
		FILE *f = tmpfile();
		struct progress *pg = NULL;
		const char *text;

		assert_int_equal(progress__new(f, tty, &pg), FEDC_OK);
		progress__set_epsilon(pg, 1.23456);
		assert_int_equal(progress__round_begin(pg, 2, 5, nodes, 3), FEDC_OK);
		progress__scalar(pg, 1000, "hospital-a", "loss", 0.5, 10, 1);
		progress__round_end(pg);
		assert_int_equal(progress__round_begin(pg, 6, 5, nodes, 3), FEDC_OK);
		progress__scalar(pg, 5000, "hospital-a", "loss", 0.5, 10, 1);
		progress__round_end(pg);
		text = capture_contents(f);
		assert_non_null(strstr(text, tty ? "round 2/5 (epsilon 1.235)  training 3"
					       : "  live  round 2 (epsilon 1.235)  node hospital-a  loss 0.5000"));
		assert_int_equal(capture_count(text, "epsilon"), 1); /* not at the final evaluation */
		progress__free(pg);
		fclose(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_lines_throttled_per_node),
		cmocka_unit_test(test_terminal_line_redrawn_and_cleared),
		cmocka_unit_test(test_terminal_line_cut_to_width),
		cmocka_unit_test(test_final_evaluation_labelled),
		cmocka_unit_test(test_epsilon_shown_with_dp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
