#include "stm32_hal_shim.h"
