/* hl_leak.h — leak classification at process end (HEAPLINE_LEAK_SCAN=1):
 * the live-block set the writer keeps, the registry of thread stacks, and
 * the conservative reachability scan (memcheck's four classes).
 * Nothing here calls malloc; all of it is idle unless hl_opt.leak_scan. */
#ifndef HL_LEAK_H
#define HL_LEAK_H

#include <stdint.h>

struct hl_enc;

/* Writer thread: the live set, updated for every ALLOC/FREE/REALLOC_FAIL
 * event in trace order (tid: the event's thread, for realloc undo). */
void hl_live_alloc(uint64_t ptr, uint64_t size, uint32_t node);
void hl_live_free(uint32_t tid, uint64_t ptr, int is_realloc);
void hl_live_realloc_fail(uint32_t tid, uint64_t ptr);
void hl_live_forget(void); /* fork child */

/* Any thread: registers / unregisters the calling thread's stack [lo, hi)
 * as a root (called from the hook layer when a thread first records, and
 * from its thread-exit destructor).  Lock-free. */
void hl_threads_add_self(uint64_t lo, uint64_t hi);
void hl_threads_remove_self(void);
void hl_threads_forget(void); /* fork child: only the forking thread remains */

/* Requester thread (the one running exit), before it pushes the
 * HL_EV_LEAK_SCAN event: finds the frame that called exit() and keeps the
 * callee-saved registers it had, which the scan adds as roots.  Returns the
 * stack pointer of that frame - the scan reads the requester's stack from
 * there up, past the exit machinery's frames and the stale values they
 * cover - or fallback_sp if no exit() frame is on the stack. */
uint64_t hl_leakscan_prepare(uint64_t fallback_sp);

/* Writer thread: scans roots and live blocks, classifies every live block
 * and writes HL_REC_LEAKS records.  `requester_sp`: stack pointer of the
 * thread that asked (its registers are spilled just above it).  `flush`
 * writes out the block being filled, so the result may span blocks. */
void hl_leakscan_run(struct hl_enc *e, uint64_t requester_sp, void (*flush)(void));

/* ---- between hl_live.c, hl_threads.c and hl_leakscan.c ------------------ */

/* Live blocks (the writer's view after the last event it applied).
 * hl_live_collect stores up to cap (ptr, size) pairs and returns how many
 * blocks are live (more than cap: call again with room). */
struct hl_live_block {
	uint64_t ptr, size;
};
uint64_t hl_live_count(void);
uint64_t hl_live_collect(struct hl_live_block *out, uint64_t cap);
/* 64 MiB-aligned windows (HL_LIVE_WINDOW_SHIFT) that ever held a block: where
 * glibc's per-thread arenas can be, whose free chunks hold stale pointers
 * and must not be roots.  Calls fn with each window's base address. */
#define HL_LIVE_WINDOW_SHIFT 26
void hl_live_foreach_window(void (*fn)(void *ctx, uint64_t base), void *ctx);

/* Registered thread stacks: live (a running thread: a root) or dead (an
 * exited thread's stack glibc keeps for reuse: stale, never a root). */
void hl_threads_foreach(void (*fn)(void *ctx, int ktid, uint64_t lo, uint64_t hi, int live),
			void *ctx);
/* Writer thread: remembers its own stack, which holds raw pointers and is
 * never a root - neither here nor in a fork child, where the parent's writer
 * is gone but its stack is still mapped.  Once per writer (hl_live_alloc). */
void hl_threads_note_writer(void);
void hl_threads_foreach_writer(void (*fn)(void *ctx, uint64_t lo, uint64_t hi), void *ctx);

#endif
