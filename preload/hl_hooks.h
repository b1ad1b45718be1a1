/* hl_hooks.h — what other preload files need from the hook layer. */
#ifndef HL_HOOKS_H
#define HL_HOOKS_H

/* The writer thread calls this first: its own allocations pass through. */
void hl_hooks_enter_writer(void);
/* A seccomp filter (strict: strict mode) is about to go in on the calling
 * thread (hl_sandbox.c): do now what it may forbid later.  Keeps errno. */
void hl_hooks_before_sandbox(int strict);
/* The calling thread is about to make a call that needs the process
 * single-threaded (hl_sandbox.c: unshare or setns of a user namespace):
 * the writer thread is stopped, and the next event starts it again.
 * Returns 1 if it was running.  Keeps errno. */
int hl_hooks_before_single_thread(void);
/* A fatal signal no hook saw coming reached hl_crash.c's handler on this
 * thread: the trace is finished (END "crash"), unless this thread is inside
 * heapline's own code or is not the process's.  Keeps errno. */
void hl_hooks_on_crash(int sig);
/* The next definition of name (libc's, for an interposed function), looked
 * up once into *slot; NULL if there is none. */
void *hl_next_fn(void *_Atomic *slot, const char *name);

#endif
