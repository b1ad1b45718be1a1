/* hl_unwind.h — the stack of every event: an exact incremental unwinder in
 * front of libunwind.  See hl_unwind.c for how it stays exact. */
#ifndef HL_UNWIND_H
#define HL_UNWIND_H

#include <signal.h>
#include <stdint.h>

/* Once, from the library's init, before any thread records.  mode is
 * HEAPLINE_UNWIND: fast (default, or NULL), libunwind (libunwind's
 * unw_backtrace only), check (both on every event; differences are counted
 * and reported on stderr at exit — for tests). */
/* What the unwinder tells the hook layer, from inside hl_unwind (re-entry
 * guard held, no lock of ours held):
 * new_module: the calling thread met a module the unwinder had not seen;
 *   the writer should get a module snapshot before this thread's event,
 *   so that it need not take the loader's lock itself (this thread may
 *   hold it, allocating inside a dl_iterate_phdr callback).
 * stack_known: the calling thread's stack is [lo, hi) (0, 0: glibc could
 *   not tell), once per thread after hl_unwind_thread_new. */
struct hl_unwind_hooks {
	void (*new_module)(void);
	void (*stack_known)(uint64_t lo, uint64_t hi);
};
void hl_unwind_init(const char *mode, uint64_t self_lo, uint64_t self_hi,
		    const struct hl_unwind_hooks *hooks);

/* Around calls into glibc or libdw from a hook that may take malloc's
 * arena lock or the loader's, or reach a cancellation point: asynchronous
 * signals wait (faults do not) and the thread cannot be cancelled.  See
 * hl_unwind.c. */
struct hl_quiet {
	sigset_t mask;
	int cancel;
};
void hl_quiet_begin(struct hl_quiet *q);
void hl_quiet_end(const struct hl_quiet *q);

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

/* The calling thread is new to the hook layer (or its fork child): its
 * stack is learnt at its next walk (pthread_getattr_np, asked only at an
 * event whose stack is not inside pthread_getattr_np itself, which
 * allocates holding a lock it would take again), or by
 * hl_unwind_learn_stack now (at exit: the leak scan). */
void hl_unwind_thread_new(void);
void hl_unwind_learn_stack(void);
/* Opens the unwind tables of every loaded module now, from its file: the
 * program is about to chroot or give up the user that can read them, and
 * they are otherwise opened by path when a return address first needs them
 * (after a chroot the path resolves to nothing, and those stacks went to
 * libunwind, whose mincore killed sandboxed processes). */
void hl_unwind_open_modules(void);
/* Every module's code may have changed (after dlclose). */
void hl_unwind_forget(void);
/* The calling thread ends: its state goes. */
void hl_unwind_thread_end(void);
/* Gives back the file pages that computing rules read since the last call
 * (each module's .eh_frame_hdr and .eh_frame, through libelf's read-only
 * mapping of its file): they count in the process's RSS, and a rule is
 * computed once per return address.  A later read maps them again from the
 * page cache.  Writer thread; nothing if a rule is being computed. */
void hl_unwind_trim(void);
/* In a fork child: locks held by other threads of the parent are reset. */
void hl_unwind_fork_child(void);
/* Check mode: prints the counts on stderr (at exit). */
void hl_unwind_report(void);

#endif
