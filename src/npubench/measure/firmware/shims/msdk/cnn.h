/* Shape of an ai8x-synthesis cnn.h: the functions the model port calls. */
#ifndef SHIM_CNN_H
#define SHIM_CNN_H
#include <stdint.h>
#define CNN_NUM_OUTPUTS 10
extern volatile uint32_t cnn_time;
int cnn_enable(uint32_t clock_source, uint32_t clock_divider);
int cnn_disable(void);
int cnn_init(void);
int cnn_load_weights(void);
int cnn_load_bias(void);
int cnn_configure(void);
int cnn_start(void);
int cnn_unload(uint32_t *out_buf);
#endif
