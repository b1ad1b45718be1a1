/* hl_unwind.h — the stack of every event: an exact incremental unwinder in
 * front of libunwind.  See hl_unwind.c for how it stays exact. */
#ifndef HL_UNWIND_H
#define HL_UNWIND_H

#include <stdint.h>

/* Once, from the library's init, before any thread records.  mode is
 * HEAPLINE_UNWIND: fast (default, or NULL), libunwind (libunwind's
 * unw_backtrace only), check (both on every event; differences are counted
 * and reported on stderr at exit — for tests). */
void hl_unwind_init(const char *mode, uint64_t self_lo, uint64_t self_hi);

/* Fills buf (room for max + 16) with the return addresses of the calling
 * thread's stack, innermost first, starting at the first frame outside
 * [self_lo, self_hi) (the caller of the hook), at most max of them: exactly
 * the frames libunwind's unw_backtrace gives after our own frames, which is
 * what a stack with a frame this walk does not handle (signal frames,
 * frames without simple CFI, JIT code...) gets.  Returns the count n.
 *
 * prev[0..prev_len): the thread's previous stack as the caller holds it,
 * outermost first (the last this returned on this thread, or less).  *same
 * is set to how many outermost frames this stack is known to share with it,
 * at most prev_len; those are not written: buf[n - *same .. n) is left as it
 * was.  (Check mode writes them and checks the claim against prev.)
 *
 * frame: __builtin_frame_address(0) of a function of this library on the
 * way here (the hook's or record's); the walk starts there, following frame
 * pointers out of the library.
 *
 * Called with the hook's re-entry guard held: a new return address may call
 * libdw, whose allocations pass through unrecorded. */
unsigned hl_unwind(uint64_t *buf, unsigned max, const uint64_t *prev, unsigned prev_len,
		   unsigned *same, const void *frame);

/* Work for the hook after hl_unwind, per thread; 0 nearly always.
 * HL_UW_STACK: the thread's stack bounds are not known yet (the hook sets
 * it for a new thread; hl_unwind_thread_stack clears it).  HL_UW_MODULE:
 * the walk met a module the unwinder had not seen before: the hook tells
 * the writer (a module snapshot) before the event, so the writer need not
 * take the loader's lock itself while this thread may hold it. */
enum { HL_UW_STACK = 1, HL_UW_MODULE = 2 };
extern __thread unsigned hl_unwind_pending __attribute__((tls_model("initial-exec")));

/* The calling thread's stack [lo, hi), from pthread_getattr_np, which the
 * unwinder needs before it re-reads saved frames.  a[0..na) and b[0..nb):
 * the thread's current stack (in two parts, any order), cut: it was cut at
 * --depth.  Returns 0 without asking while the thread is inside
 * pthread_getattr_np itself (which allocates holding a lock it would take
 * again): call again at a later event.  Returns 1 with lo = hi = 0 if glibc
 * cannot tell. */
int hl_unwind_thread_stack(const uint64_t *a, unsigned na, const uint64_t *b, unsigned nb,
			   int cut, uint64_t *lo, uint64_t *hi);
/* Every module's code may have changed (after dlclose). */
void hl_unwind_forget(void);
/* The calling thread ends: its state goes. */
void hl_unwind_thread_end(void);
/* In a fork child: locks held by other threads of the parent are reset. */
void hl_unwind_fork_child(void);
/* Check mode: prints the counts on stderr (at exit). */
void hl_unwind_report(void);

#endif
