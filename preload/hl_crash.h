/* hl_crash.h — finishing the trace on a crash (hl_crash.c). */
#ifndef HL_CRASH_H
#define HL_CRASH_H

/* Puts the one-shot crash handler on each fatal signal left at its default
 * action (hl_init, once per process image). */
void hl_crash_install(void);

#endif
