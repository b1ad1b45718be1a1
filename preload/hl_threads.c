/* hl_threads.c — PLACEHOLDER being written (thread stack registry). */
#include "hl_leak.h"
void hl_threads_add_self(void) {}
void hl_threads_remove_self(void) {}
void hl_threads_forget(void) {}
