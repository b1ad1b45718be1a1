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

/* Any thread: registers / unregisters the calling thread's stack as a root
 * (called from the hook layer when a thread first records, and from its
 * thread-exit destructor).  Lock-free. */
void hl_threads_add_self(void);
void hl_threads_remove_self(void);
void hl_threads_forget(void); /* fork child: only the forking thread remains */

/* Writer thread: scans roots and live blocks, classifies every live block
 * and writes an HL_REC_LEAKS record.  `requester_sp`: stack pointer of the
 * thread that asked (its registers are spilled below it). */
void hl_leakscan_run(struct hl_enc *e, uint64_t requester_sp);

#endif
