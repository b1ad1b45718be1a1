/* hl_arena.h — memory for the profiler's own data, straight from mmap.
 * Never calls malloc: the profiler's memory must not be seen by its hooks.
 * Single-threaded: only the writer thread (and init, before it runs) use it. */
#ifndef HL_ARENA_H
#define HL_ARENA_H

#include <stddef.h>
#include <stdint.h>

void *hl_arena_alloc(size_t n);	       /* zeroed, 16-byte aligned; NULL on failure */
void hl_arena_free(void *p, size_t n); /* n must be the size given to alloc */
void *hl_arena_grow(void *p, size_t old_n, size_t new_n); /* like realloc */
void hl_arena_forget(void);   /* fork child: drop all state (memory stays mapped) */
size_t hl_arena_mapped(void); /* bytes currently mapped, for statistics */
/* Calls fn for every range the arena has mapped, in no order (the leak scan
 * must not take the profiler's own memory for roots: it holds raw pointers).
 * Ranges mapped before a fork stay listed in the child, whose memory they
 * still are.  Returns 0, or -ENOSPC if some mappings could not be listed. */
int hl_arena_foreach_mapping(void (*fn)(void *ctx, uintptr_t lo, uintptr_t hi), void *ctx);

#endif
