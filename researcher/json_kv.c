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
