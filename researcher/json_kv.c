/* Shared JSON shapes: json_kv.h. */
#include "json_kv.h"

#include <math.h>

json_t *json_kv__number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *json_kv__object(const struct fedc_msg_kv *list, uint32_t n)
{
	json_t *obj = json_object();

	for (uint32_t i = 0; obj && i < n; i++)
		json_object_set_new(obj, list[i].name, json_kv__number(list[i].value));
	return obj;
}

void json_kv__add_reply(json_t *obj, const struct fedc_msg *r)
{
	json_object_set_new(obj, "n_samples", json_integer((json_int_t)r->n_samples));
	json_object_set_new(obj, "n_test", json_integer((json_int_t)r->n_test));
	json_object_set_new(obj, "metrics", json_kv__object(r->metrics, r->n_metrics));
	json_object_set_new(obj, "global_metrics", json_kv__object(r->global_metrics, r->n_global_metrics));
	json_object_set_new(obj, "download_s", json_kv__number(r->download_s));
	json_object_set_new(obj, "train_s", json_kv__number(r->train_s));
	json_object_set_new(obj, "upload_s", json_kv__number(r->upload_s));
	if (fedc_msg_has(r, FEDC_F_PARAMS_DIGEST))
		json_object_set_new(obj, "params_digest", json_string(r->params_digest));
}
