/* hl_unwind.h — the stack of every event: an exact incremental unwinder in
 * front of libunwind.  See hl_unwind.c for how it stays exact. */
#ifndef HL_UNWIND_H
#define HL_UNWIND_H

#include <stdint.h>

/* HEAPLINE_UNWIND: fast (default), libunwind (libunwind's unw_backtrace
 * only), check (both on every event; differences are counted and reported
 * on stderr at exit — for tests). */
enum hl_unwind_mode { HL_UNWIND_FAST, HL_UNWIND_LIBUNWIND, HL_UNWIND_CHECK };

/* Once, from the library's init, before any thread records. */
void hl_unwind_init(const char *mode, uint64_t self_lo, uint64_t self_hi);
enum hl_unwind_mode hl_unwind_mode(void);

/* Fills out[] with the return addresses of the calling thread's stack,
 * innermost first, starting at the first frame outside [self_lo, self_hi)
 * (the caller of the hook), at most max of them: exactly the frames libunwind's
 * unw_backtrace gives after our own frames.  Returns the count, or -1 when a
 * frame is one it does not handle (signal frames, frames without simple CFI,
 * JIT code...): the caller then asks libunwind.  Called with the hook's
 * re-entry guard held: a new return address may call libdw, whose
 * allocations pass through unrecorded. */
int hl_unwind(uint64_t *out, unsigned max);

/* Every module's code may have changed (after dlclose). */
void hl_unwind_forget(void);
/* The calling thread ends: its state goes. */
void hl_unwind_thread_end(void);
/* In a fork child: locks held by other threads of the parent are reset. */
void hl_unwind_fork_child(void);
/* Check mode: compares out/n with libunwind's frames (after our own) and
 * counts the event; returns 1 if they differ. */
int hl_unwind_check(const uint64_t *ours, int n, const uint64_t *theirs, int m);
/* Check mode: prints the counts on stderr (at exit). */
void hl_unwind_report(void);

#endif
