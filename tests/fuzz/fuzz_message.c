/* Fuzz target: fedc_msg_decode(), the MQTT message codec (fedc/message.h).
 *
 * Beyond "no crash, no leak", whatever decodes must survive a round trip:
 * encode(decode(x)) succeeds, decodes to the same message, and encoding that
 * again gives the same bytes. A node that accepts a request it could not
 * have been sent, or a researcher that reads back another value than it
 * wrote, is a schema bug even when nothing crashes. */
#include <stdlib.h>
#include <string.h>

#include "fedc/message.h"
#include "fuzz.h"

/* Two messages, allocated once and kept (reachable, so no leak), rather
 * than one per input; each is cleared before it is decoded into again. */
static struct fedc_msg *first, *second;

static void init_once(void)
{
	if (first)
		return;
	fuzz_quiet_logs();
	first = calloc(1, sizeof(*first));
	second = calloc(1, sizeof(*second));
	fuzz_require(first && second, "out of memory at start");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *enc1 = NULL, *enc2 = NULL;
	size_t len1 = 0, len2 = 0;

	init_once();
	fedc_msg_clear(first);
	fedc_msg_clear(second);
	if (fedc_msg_decode(data, size, first) != FEDC_OK)
		return 0;
	fuzz_require(fedc_msg_encode(first, &enc1, &len1) == FEDC_OK, "a decoded message must encode");
	fuzz_require(fedc_msg_decode(enc1, len1, second) == FEDC_OK, "an encoded message must decode");
	/* decode zeroes the struct first and copies strings NUL-padded, so the
	 * bytes (padding included) are a fair comparison -- apart from where the
	 * datasets and the bin fields (secure-aggregation data, analytics and
	 * assessment results, inline parameters) were allocated, compared by
	 * content. */
	fuzz_require(first->n_datasets == second->n_datasets &&
			     (!first->n_datasets || memcmp(first->datasets, second->datasets,
							   first->n_datasets * sizeof(*first->datasets)) == 0),
		     "decode(encode(m)) must have the same datasets");
	fuzz_require(first->secagg_data_len == second->secagg_data_len &&
			     (!first->secagg_data_len ||
			      memcmp(first->secagg_data, second->secagg_data, first->secagg_data_len) == 0),
		     "decode(encode(m)) must have the same secagg data");
	fuzz_require(first->analytics_result_len == second->analytics_result_len &&
			     (!first->analytics_result_len ||
			      memcmp(first->analytics_result, second->analytics_result, first->analytics_result_len) == 0),
		     "decode(encode(m)) must have the same analytics result");
	fuzz_require(first->assess_result_len == second->assess_result_len &&
			     (!first->assess_result_len ||
			      memcmp(first->assess_result, second->assess_result, first->assess_result_len) == 0),
		     "decode(encode(m)) must have the same assessment result");
	fuzz_require(first->params_len == second->params_len &&
			     (!first->params_len || memcmp(first->params, second->params, first->params_len) == 0),
		     "decode(encode(m)) must have the same inline parameters");
	{
		struct fedc_msg_dataset *a = first->datasets, *b = second->datasets;
		uint8_t *sa = first->secagg_data, *sb = second->secagg_data;
		uint8_t *ra = first->analytics_result, *rb = second->analytics_result;
		uint8_t *xa = first->assess_result, *xb = second->assess_result;
		uint8_t *pa = first->params, *pb = second->params;
		int same;

		first->datasets = second->datasets = NULL;
		first->secagg_data = second->secagg_data = NULL;
		first->analytics_result = second->analytics_result = NULL;
		first->assess_result = second->assess_result = NULL;
		first->params = second->params = NULL;
		same = memcmp(first, second, sizeof(*first)) == 0;
		first->datasets = a;
		second->datasets = b;
		first->secagg_data = sa;
		second->secagg_data = sb;
		first->analytics_result = ra;
		second->analytics_result = rb;
		first->assess_result = xa;
		second->assess_result = xb;
		first->params = pa;
		second->params = pb;
		fuzz_require(same, "decode(encode(m)) must equal m");
	}
	fuzz_require(fedc_msg_encode(second, &enc2, &len2) == FEDC_OK, "a re-decoded message must encode");
	fuzz_require(len1 == len2 && memcmp(enc1, enc2, len1) == 0, "re-encoding must give the same bytes");
	free(enc1);
	free(enc2);
	return 0;
}
