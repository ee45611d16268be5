/* Private to common/src: links nodelay.c (the connect() wrapper) into every
 * executable that uses the MQTT transport. */
#ifndef FEDC_TRANSPORT_INTERNAL_H
#define FEDC_TRANSPORT_INTERNAL_H

#include <stdbool.h>

bool fedc__nodelay_linked(void);

#endif
