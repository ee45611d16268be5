/* Names of the SDK's error codes. */
#include "fedc/nn/err.h"

const char *fedc_nn_strerror(int code)
{
	switch (code) {
	case FEDC_NN_OK: return "ok";
	case FEDC_NN_ERR_NOMEM: return "out of memory";
	case FEDC_NN_ERR_INVAL: return "invalid argument";
	case FEDC_NN_ERR_SHAPE: return "shape mismatch";
	case FEDC_NN_ERR_DATA: return "bad data";
	case FEDC_NN_ERR_DIVERGED: return "diverged";
	case FEDC_NN_ERR_FULL: return "table full";
	}
	return "unknown error";
}
