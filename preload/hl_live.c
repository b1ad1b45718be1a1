/* hl_live.c — PLACEHOLDER being written (leak scan live set). */
#include "hl_leak.h"
void hl_live_alloc(uint64_t ptr, uint64_t size, uint32_t node) { (void)ptr; (void)size; (void)node; }
void hl_live_free(uint32_t tid, uint64_t ptr, int is_realloc) { (void)tid; (void)ptr; (void)is_realloc; }
void hl_live_realloc_fail(uint32_t tid, uint64_t ptr) { (void)tid; (void)ptr; }
void hl_live_forget(void) {}
