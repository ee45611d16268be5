/* The researcher session's record of refusals: the `error` replies nodes
 * send, told once per reason with the nodes sorted, and a hint where the
 * reason is known. Fed with `error` messages as the session decodes them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"
#include "text_capture.h"

/* An `error` reply of `node` saying `message`. */
static void refuse(struct session *s, const char *node, const char *code, const char *message)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_ERROR);

	assert_non_null(m);
	snprintf(m->node_id, sizeof(m->node_id), "%s", node);
	snprintf(m->error_code, sizeof(m->error_code), "%s", code);
	snprintf(m->message, sizeof(m->message), "%s", message);
	session__note_refusal(s, m);
	fedc_msg_free(m);
}

static struct session *new_session(struct experiment *exp)
{
	struct session *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	memset(exp, 0, sizeof(*exp));
	snprintf(exp->researcher_id, sizeof(exp->researcher_id), "rsch");
	s->exp = exp;
	return s;
}

static void test_refusals_once_per_reason_nodes_sorted(void **state)
{
	static const char untrusted[] = "refused request: signed by \"rsch\", whose key is not trusted here";
	struct experiment *exp = calloc(1, sizeof(*exp));
	struct session *s = new_session(exp);
	FILE *f = tmpfile();
	const char *text;

	refuse(s, "hospital-c", "auth", untrusted);
	refuse(s, "hospital-a", "auth", untrusted);
	refuse(s, "hospital-b", "plan-not-approved", "plan abc is not approved here");
	refuse(s, "hospital-b2", "auth", untrusted);
	refuse(s, "hospital-a", "auth", untrusted); /* again, as in a retried round: told once */
	assert_int_equal(s->n_refused, 5);
	session__print_refusals(s, f);
	text = capture_contents(f);
	assert_non_null(strstr(text, "nodes hospital-a, hospital-b2, hospital-c refused: signed by \"rsch\", whose key "
				     "is not trusted here\n"));
	assert_non_null(strstr(text, "node hospital-b failed: plan abc is not approved here\n"));
	assert_int_equal(capture_count(text, "not trusted here"), 1);
	/* the untrusted key: what to do, naming this researcher */
	assert_non_null(strstr(text, "DIR/keys/rsch.pub"));
	assert_int_equal(capture_count(text, "DIR/keys/"), 1);
	/* told, then forgotten */
	assert_int_equal(s->n_refused, 0);
	rewind(f);
	assert_int_equal(ftruncate(fileno(f), 0), 0);
	session__print_refusals(s, f);
	assert_string_equal(capture_contents(f), "");
	fclose(f);
	free(s);
	free(exp);
}

/* Many nodes: the list is cut with " ..." and the count stays right; more
 * distinct reasons than kept: the rest are counted. */
static void test_refusals_bounded(void **state)
{
	struct experiment *exp = calloc(1, sizeof(*exp));
	struct session *s = new_session(exp);
	FILE *f = tmpfile();
	char node[32], why[64];
	const char *text, *line;

	for (int i = 99; i >= 0; i--) {
		snprintf(node, sizeof(node), "node-%02d", i);
		refuse(s, node, "auth", "refused request: bad signature");
	}
	for (int i = 0; i < SESSION_MAX_REASONS + 3; i++) {
		snprintf(why, sizeof(why), "reason %d", i);
		refuse(s, "other", "io", why);
	}
	session__print_refusals(s, f);
	text = capture_contents(f);
	line = strstr(text, "nodes node-");
	assert_non_null(line);
	assert_true(strchr(line, '\n') - line < SESSION_NODE_LIST + 64);
	assert_non_null(strstr(line, " ... refused: bad signature\n"));
	/* the kept part is sorted, though the replies came in reverse order */
	for (const char *a = line + strlen("nodes "), *b; (b = strstr(a, ", ")) != NULL && b[2] != '.'; a = b + 2)
		assert_true(strncmp(a, b + 2, 7) < 0);
	/* one line for the signature, SESSION_MAX_REASONS - 1 for the others, the rest counted */
	assert_int_equal(capture_count(text, " refused: ") + capture_count(text, " failed: "), SESSION_MAX_REASONS);
	assert_non_null(strstr(text, "4 more error(s) from nodes for other reasons"));
	fclose(f);
	free(s);
	free(exp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals_once_per_reason_nodes_sorted),
		cmocka_unit_test(test_refusals_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
