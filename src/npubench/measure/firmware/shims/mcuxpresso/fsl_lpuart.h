#ifndef SHIM_FSL_LPUART_H
#define SHIM_FSL_LPUART_H
#include <stddef.h>
#include <stdint.h>
typedef struct { volatile uint32_t reg[16]; } LPUART_Type;
#define LPUART4 ((LPUART_Type *)0x400B4000u)
enum { kLPUART_RxDataRegFullFlag = (1u << 21) };
typedef int32_t status_t;
status_t LPUART_WriteBlocking(LPUART_Type *base, const uint8_t *data, size_t length);
uint32_t LPUART_GetStatusFlags(LPUART_Type *base);
uint8_t LPUART_ReadByte(LPUART_Type *base);
#endif
