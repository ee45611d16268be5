/* Error codes of the plan SDK.
 *
 * The SDK does not use libfedc's enum fedc_err: plans link nothing of fedc.
 * Codes are negative so that a plan entry point can return them as they are
 * (the ABI wants 0 on success, negative on failure). */
#ifndef FEDC_NN_ERR_H
#define FEDC_NN_ERR_H

enum fedc_nn_err {
	FEDC_NN_OK = 0,
	FEDC_NN_ERR_NOMEM = -1,    /* allocation failed */
	FEDC_NN_ERR_INVAL = -2,    /* bad argument (NULL, zero size, unknown name ...) */
	FEDC_NN_ERR_SHAPE = -3,    /* shapes, names or dtypes do not agree */
	FEDC_NN_ERR_DATA = -4,     /* data view unusable (label out of range, no targets ...) */
	FEDC_NN_ERR_DIVERGED = -5, /* the loss became NaN or infinite */
	FEDC_NN_ERR_FULL = -6,     /* a fixed-size table is full */
};

/* Short lower-case name of a code ("shape", "diverged" ...). Never NULL. */
const char *fedc_nn_strerror(int code);

#endif
