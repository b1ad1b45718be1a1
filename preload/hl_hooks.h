/* hl_hooks.h — what other preload files need from the hook layer. */
#ifndef HL_HOOKS_H
#define HL_HOOKS_H

/* The writer thread calls this first: its own allocations pass through. */
void hl_hooks_enter_writer(void);

#endif
