/* `fedc-researcher plot`: SVG curves from the history files, and clear
 * errors for a directory that is not an experiment's output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedc/err.h"
#include "plot.h"
#include "file_check.h"

#define ROUNDS_HEADER "round,kind,selected,answered,train_loss,global_loss,global_accuracy,seconds,params_digest\n"
#define NODES_HEADER                                                                                            \
	"round,kind,node_id,dataset_id,status,n_samples,n_test,train_loss,test_loss,test_accuracy,global_loss,"   \
	"global_accuracy,download_s,train_s,upload_s,reason\n"

static char dir[64];
static char svg[8192];

static void write_file(const char *name, const char *text)
{
	assert_int_equal(file_put_text(dir, name, text), 0);
}

static const char *read_svg(void)
{
	char path[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/curves.svg", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(svg, 1, sizeof(svg) - 1, f);
	svg[n] = '\0';
	fclose(f);
	return svg;
}

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/fedc-plot-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static enum fedc_err render(void)
{
	char out[128];

	snprintf(out, sizeof(out), "%s/curves.svg", dir);
	return plot__render(dir, out);
}

static void test_curves_of_three_rounds(void **state)
{
	write_file("rounds.csv", ROUNDS_HEADER "1,train,2,2,0.6,0.69,0.5,0.1,aa\n2,train,2,2,0.4,0.3,0.9,0.1,bb\n"
					       "3,train,2,1,0.3,0.2,0.95,0.1,cc\n4,evaluate,2,2,nan,0.19,0.96,0.1,\n");
	write_file("nodes.csv", NODES_HEADER "1,train,h-a,d1,answered,10,2,0.5,0.4,1,0.6,0.5,0,0,0,\"\"\n"
					     "1,train,h-b,d2,answered,10,2,0.7,0.4,1,0.6,0.5,0,0,0,\"\"\n"
					     "2,train,h-a,d1,answered,10,2,0.3,0.4,1,0.6,0.5,0,0,0,\"\"\n"
					     "2,train,h-b,d2,timeout,,,,,,,,,,,\"no reply, within 60 s\"\n");
	assert_int_equal(render(), FEDC_OK);
	read_svg();
	assert_non_null(strstr(svg, "<svg xmlns='http://www.w3.org/2000/svg'"));
	assert_non_null(strstr(svg, "</svg>"));
	/* 3 round curves + 2 node curves */
	assert_int_equal(count(svg, "<path d='M"), 5);
	assert_non_null(strstr(svg, "training loss of each node"));
	assert_non_null(strstr(svg, "accuracy of the model sent"));
	/* the final evaluation row is not a round: the x axis ends at 3 */
	assert_null(strstr(svg, ">4</text>"));
}

static void test_missing_value_is_a_gap(void **state)
{
	write_file("rounds.csv", ROUNDS_HEADER "1,train,1,1,0.6,0.69,0.5,0.1,aa\n2,train,1,0,nan,nan,nan,0.1,\n"
					       "3,train,1,1,0.3,0.2,0.95,0.1,cc\n");
	write_file("nodes.csv", NODES_HEADER);
	assert_int_equal(render(), FEDC_OK);
	read_svg();
	/* each round curve is two one-point segments: M x,y M x,y */
	assert_int_equal(count(svg, " M"), 3);
	assert_int_equal(count(svg, " L"), 0);
}

static void test_not_a_history_dir(void **state)
{
	char out[128];

	snprintf(out, sizeof(out), "%s/curves.svg", dir);
	assert_int_equal(plot__render("/nonexistent-dir", out), FEDC_ERR_IO);
	assert_non_null(strstr(fedc_last_error(), "/nonexistent-dir/rounds.csv"));

	write_file("rounds.csv", "hello,world\n1,2\n");
	assert_int_equal(render(), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "rounds.csv:1: not a fedc history file"));

	write_file("rounds.csv", ROUNDS_HEADER "1,train,1,1,0.6,0.69,0.5,0.1,aa\n2,train,1,1,zero,0.3,0.9,0.1,bb\n");
	write_file("nodes.csv", NODES_HEADER);
	assert_int_equal(render(), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "rounds.csv:3: train_loss: not a number"));

	write_file("rounds.csv", ROUNDS_HEADER "1,train,1\n");
	assert_int_equal(render(), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "rounds.csv:2: 3 columns"));

	write_file("rounds.csv", ROUNDS_HEADER);
	assert_int_equal(render(), FEDC_ERR_NOT_FOUND);
	assert_non_null(strstr(fedc_last_error(), "no training round"));

	write_file("rounds.csv", "");
	assert_int_equal(render(), FEDC_ERR_MALFORMED);
}

static void test_node_names_escaped(void **state)
{
	write_file("rounds.csv", ROUNDS_HEADER "1,train,1,1,0.6,0.69,0.5,0.1,aa\n");
	write_file("nodes.csv", NODES_HEADER "1,train,<b>&,d1,answered,10,2,0.5,0.4,1,0.6,0.5,0,0,0,\"\"\n");
	assert_int_equal(render(), FEDC_OK);
	read_svg();
	assert_null(strstr(svg, "<b>"));
}

/* The content of `dir/name` into svg; the number of bytes read. */
static size_t read_named(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return file_text(path, svg, sizeof(svg));
}

/* Entries of dir other than . and .. */
static int entries(void)
{
	return dir_entries(dir);
}

static void write_history(void)
{
	write_file("rounds.csv", ROUNDS_HEADER "1,train,1,1,0.6,0.69,0.5,0.1,aa\n2,train,1,1,0.4,0.3,0.9,0.1,bb\n");
	write_file("nodes.csv", NODES_HEADER "1,train,h-a,d1,answered,10,2,0.5,0.4,1,0.6,0.5,0,0,0,\"\"\n");
}

/* A "curves.svg.tmp" planted beside the output (a symlink to another file)
 * is neither followed nor needed: the picture is written through a
 * fedc_atomic_file, whose temporary file has a fresh name. */
static void test_planted_tmp_symlink_not_followed(void **state)
{
	char victim[128], link_path[128];

	write_history();
	write_file("victim", "precious");
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(link_path, sizeof(link_path), "%s/curves.svg.tmp", dir);
	assert_int_equal(symlink(victim, link_path), 0);
	assert_int_equal(render(), FEDC_OK);
	assert_int_equal(read_named("victim"), 8);
	assert_string_equal(svg, "precious");
	read_svg();
	assert_non_null(strstr(svg, "</svg>"));
	assert_int_equal(entries(), 5); /* 2 csv, victim, its link, curves.svg */
}

static void render_past_file_size_limit(void)
{
	struct rlimit lim = { 512, 512 }; /* the SVG is bigger: its write fails */

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		_exit(3);
	_exit(render() == FEDC_ERR_IO ? 0 : 1);
}

/* A failed write (the file size limit, as a full disk would) leaves the old
 * picture and no temporary file. */
static void test_write_fails_leaves_old_svg(void **state)
{
	int status = 0;
	pid_t pid;

	write_history();
	write_file("curves.svg", "old picture");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		render_past_file_size_limit();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	read_svg();
	assert_string_equal(svg, "old picture");
	assert_int_equal(entries(), 3);
}

/* An output name of 250 bytes: the file may exist, but a temporary name
 * beside it does not fit in a directory entry, so the commit fails -- and
 * leaves the old file and nothing else. */
static void test_name_too_long_leaves_old_svg(void **state)
{
	char name[256], out[512];

	memset(name, 'c', 250);
	name[250] = '\0';
	write_history();
	write_file(name, "old picture");
	snprintf(out, sizeof(out), "%s/%s", dir, name);
	assert_int_equal(plot__render(dir, out), FEDC_ERR_IO);
	read_named(name);
	assert_string_equal(svg, "old picture");
	assert_int_equal(entries(), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_curves_of_three_rounds, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_missing_value_is_a_gap, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_not_a_history_dir, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_node_names_escaped, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_planted_tmp_symlink_not_followed, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_write_fails_leaves_old_svg, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_name_too_long_leaves_old_svg, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
