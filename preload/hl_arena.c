/* hl_arena.c — the profiler's own allocator: size-classed free lists carved
 * from 1 MiB mmap chunks, and a private mmap for anything of 64 KiB or more.
 * Exports hl_arena_*.  Never calls malloc (it is what the hooks would see)
 * and takes no lock: its only user is the writer thread, or init before the
 * writer exists. */
#include "hl_arena.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK      (1u << 20)
#define LARGE      (64u << 10)
#define MIN_SHIFT  4 /* 16-byte smallest class */
#define NCLASSES   13 /* 16 B .. 32 KiB */

struct free_block {
	struct free_block *next;
};

static struct free_block *free_lists[NCLASSES];
static uint8_t *chunk_cur, *chunk_end;
static size_t mapped;

static unsigned size_class(size_t n)
{
	unsigned c = 0;
	size_t sz = (size_t)1 << MIN_SHIFT;
	while (sz < n) {
		sz <<= 1;
		c++;
	}
	return c;
}

static void *map_pages(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	mapped += n;
	return p;
}

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

void *hl_arena_alloc(size_t n)
{
	if (n == 0)
		n = 1;
	if (n >= LARGE)
		return map_pages(page_round(n)); /* mmap memory is already zeroed */
	unsigned c = size_class(n);
	size_t sz = (size_t)1 << (c + MIN_SHIFT);
	struct free_block *b = free_lists[c];
	if (b) {
		free_lists[c] = b->next;
		memset(b, 0, sz);
		return b;
	}
	if (chunk_cur == NULL || (size_t)(chunk_end - chunk_cur) < sz) {
		/* The tail of the old chunk is abandoned: at most 32 KiB a chunk. */
		chunk_cur = map_pages(CHUNK);
		if (!chunk_cur) {
			chunk_end = NULL;
			return NULL;
		}
		chunk_end = chunk_cur + CHUNK;
	}
	void *p = chunk_cur;
	chunk_cur += sz;
	return p;
}

void hl_arena_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n == 0)
		n = 1;
	if (n >= LARGE) {
		munmap(p, page_round(n));
		mapped -= page_round(n);
		return;
	}
	unsigned c = size_class(n);
	struct free_block *b = p;
	b->next = free_lists[c];
	free_lists[c] = b;
}

void *hl_arena_grow(void *p, size_t old_n, size_t new_n)
{
	void *q = hl_arena_alloc(new_n);
	if (!q)
		return NULL;
	if (p) {
		memcpy(q, p, old_n < new_n ? old_n : new_n);
		hl_arena_free(p, old_n);
	}
	return q;
}

void hl_arena_forget(void)
{
	memset(free_lists, 0, sizeof(free_lists));
	chunk_cur = chunk_end = NULL;
	mapped = 0;
}

size_t hl_arena_mapped(void)
{
	return mapped;
}
