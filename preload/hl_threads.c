/* hl_threads.c — the registry of thread stacks for the leak scan
 * (HEAPLINE_LEAK_SCAN=1): a fixed array of slots, each the stack mapping of
 * one thread that made an allocator call, live while the thread runs and
 * dead after it exited (glibc caches dead stacks for reuse; their stale
 * contents must not count as roots).  Exports hl_threads_* (hl_leak.h).
 *
 * Lock-free, because any thread registers from inside a malloc hook and
 * unregisters from its thread-exit destructor:
 * - a slot is claimed by CAS on its state (FREE or DEAD -> BUSY), filled,
 *   then published LIVE with a release store (pairs with the acquire load in
 *   hl_threads_foreach, so the scanner sees lo/hi/ktid filled);
 * - only the owning thread turns its LIVE slot DEAD;
 * - `used` (the high-water mark of claimed slots) only grows, so the scanner
 *   reads [0, used) and may at worst see a slot mid-claim (BUSY: skipped).
 * Never calls malloc itself.  The hook layer hands in the stack bounds
 * (hl_unwind_thread_stack: pthread_getattr_np, asked when it is safe). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hl_leak.h"

#define MAX_SLOTS 4096

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_LIVE, SLOT_DEAD };

struct slot {
	_Atomic int state;
	int ktid;
	uint64_t lo, hi;
};

static struct slot slots[MAX_SLOTS];
static _Atomic unsigned used;
static __thread unsigned my_slot; /* index + 1; 0 = not registered */

static int claim(unsigned i, int from)
{
	int expected = from;
	return atomic_compare_exchange_strong_explicit(&slots[i].state, &expected, SLOT_BUSY,
						       memory_order_acquire, memory_order_relaxed);
}

void hl_threads_add_self(uint64_t lo, uint64_t hi)
{
	if (my_slot)
		hl_threads_remove_self();

	/* Prefer the dead slot of the stack we are reusing, so one range is
	 * never listed both dead and live; then a free slot; then any dead. */
	unsigned n = atomic_load_explicit(&used, memory_order_acquire), i, found = MAX_SLOTS;
	for (i = 0; i < n && found == MAX_SLOTS; i++)
		if (atomic_load_explicit(&slots[i].state, memory_order_relaxed) == SLOT_DEAD &&
		    slots[i].lo == lo && slots[i].hi == hi && claim(i, SLOT_DEAD))
			found = i;
	for (i = 0; i < MAX_SLOTS && found == MAX_SLOTS; i++)
		if (claim(i, SLOT_FREE))
			found = i;
	for (i = 0; i < MAX_SLOTS && found == MAX_SLOTS; i++)
		if (claim(i, SLOT_DEAD))
			found = i;
	if (found == MAX_SLOTS)
		return; /* more threads than slots: their stacks count as plain memory */

	struct slot *s = &slots[found];
	s->lo = lo;
	s->hi = hi;
	s->ktid = (int)syscall(SYS_gettid);
	unsigned u = atomic_load_explicit(&used, memory_order_relaxed);
	while (u < found + 1 &&
	       !atomic_compare_exchange_weak_explicit(&used, &u, found + 1, memory_order_release,
						      memory_order_relaxed))
		;
	/* release: pairs with the acquire load of state in hl_threads_foreach */
	atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
	my_slot = found + 1;
}

void hl_threads_remove_self(void)
{
	if (!my_slot)
		return;
	atomic_store_explicit(&slots[my_slot - 1].state, SLOT_DEAD, memory_order_release);
	my_slot = 0;
}

void hl_threads_forget(void)
{
	/* In a fork child only the forking thread exists; the others' stacks
	 * are still mapped (glibc reclaims them for reuse): dead.  The forking
	 * thread registers again at its next event. */
	unsigned n = atomic_load(&used);
	for (unsigned i = 0; i < n; i++) {
		int st = SLOT_LIVE;
		atomic_compare_exchange_strong(&slots[i].state, &st, SLOT_DEAD);
	}
	my_slot = 0;
}

/* The writers' stacks: this process's and its fork ancestors' (their
 * mappings are inherited).  Written by the writer thread only. */
#define MAX_WRITERS 64
static struct {
	uint64_t lo, hi;
} writers[MAX_WRITERS];
static unsigned nwriters;

void hl_threads_note_writer(void)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	if (nwriters == MAX_WRITERS || pthread_getattr_np(pthread_self(), &attr))
		return;
	if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
		writers[nwriters].lo = (uint64_t)(uintptr_t)addr;
		writers[nwriters].hi = (uint64_t)(uintptr_t)addr + size;
		nwriters++;
	}
	pthread_attr_destroy(&attr);
}

void hl_threads_foreach_writer(void (*fn)(void *ctx, uint64_t lo, uint64_t hi), void *ctx)
{
	for (unsigned i = 0; i < nwriters; i++)
		fn(ctx, writers[i].lo, writers[i].hi);
}

void hl_threads_foreach(void (*fn)(void *ctx, int ktid, uint64_t lo, uint64_t hi, int live),
			void *ctx)
{
	unsigned n = atomic_load_explicit(&used, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		/* acquire: pairs with the release store publishing the slot */
		int st = atomic_load_explicit(&slots[i].state, memory_order_acquire);
		if (st != SLOT_LIVE && st != SLOT_DEAD)
			continue;
		int ktid = slots[i].ktid;
		uint64_t lo = slots[i].lo, hi = slots[i].hi;
		/* A thread may have reclaimed the slot while we read it. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&slots[i].state, memory_order_relaxed) != st)
			continue;
		fn(ctx, ktid, lo, hi, st == SLOT_LIVE);
	}
}
