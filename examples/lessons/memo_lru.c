/* memo_lru.c — lesson: a memoization cache bounded to N entries, evicting
 * the least recently used, keeps what is reused and lets one-off results go:
 * its memory is bounded by N whatever the workload.  Compare
 * memo_unbounded.c: same workload, same hits and misses, same results.
 *
 * The workload (identical in both): 8192 lookups; lookup i asks for key
 * i % 64, except every 8th (i % 8 == 7), which asks for a key never seen
 * again (1000000 + i).  So 56 hot keys, reused every 64 lookups, and 1024
 * one-off keys.  Between two uses of a hot key at most 64 distinct keys are
 * touched, fewer than N = 128, so a hot key is never evicted: as in the
 * unbounded table, 1080 misses and 7112 hits.
 *
 * The cache: calloc(1024, 8) buckets and one malloc of sizeof(struct entry)
 * = 232 bytes (key 8, hash next 8, LRU prev and next 16, value 200) per
 * miss.  A miss with 128 entries cached first frees the least recently used
 * (evict_oldest), then allocates: 1080 - 128 = 952 evictions.
 *
 * Exact expected numbers (tests/lessons/expected/memo.txt):
 *   calloc line: +8192, 1 call.
 *   evict_oldest() line in memo_get: 952 frees, -952 * 232 = -220864, Mem
 *     usage 8192 + 127 * 232 = 37656 (after each eviction).
 *   malloc line in memo_get: 1080 calls, +1080 * 232 = +250560, Mem usage
 *     8192 + 128 * 232 = 37888.
 *   memo_get call line in main: 2032 calls, +250560 - 220864 = +29696.
 *   allocations 1081, frees 952, bytes_allocated 8192 + 250560 = 258752,
 *   peak_bytes 37888 (unbounded: 241472), leaked_bytes 37888 in 129 blocks
 *   (the cache, held until exit: buckets and 128 entries).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NBUCKETS 1024
#define LOOKUPS	 8192
#define CAPACITY 128

struct entry {
	long key;
	struct entry *hnext;	   /* hash chain */
	struct entry *prev, *next; /* LRU list, most recent first */
	unsigned char value[200];
};
_Static_assert(sizeof(struct entry) == 232, "the numbers above assume LP64");

static struct entry **table;
static struct entry lru = {.prev = &lru, .next = &lru}; /* list head */
static long cached, hits, misses;

static void compute(long key, unsigned char *value)
{
	for (int j = 0; j < 200; j++)
		value[j] = (unsigned char)(key * 31 + j);
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push_front(struct entry *e)
{
	e->next = lru.next;
	e->prev = &lru;
	lru.next->prev = e;
	lru.next = e;
}

static void evict_oldest(void)
{
	struct entry *old = lru.prev;
	struct entry **p = &table[old->key % NBUCKETS];
	while (*p != old)
		p = &(*p)->hnext;
	*p = old->hnext;
	lru_unlink(old);
	free(old);
	cached--;
}

static const unsigned char *memo_get(long key)
{
	struct entry **head = &table[key % NBUCKETS];
	for (struct entry *e = *head; e; e = e->hnext)
		if (e->key == key) {
			hits++;
			lru_unlink(e);
			lru_push_front(e);
			return e->value;
		}
	misses++;
	if (cached == CAPACITY)
		evict_oldest();
	struct entry *e = malloc(sizeof *e);
	if (!e)
		abort();
	e->key = key;
	compute(key, e->value);
	e->hnext = *head;
	*head = e;
	lru_push_front(e);
	cached++;
	return e->value;
}

int main(void)
{
	unsigned long sum = 0;
	char msg[80];

	table = calloc(NBUCKETS, sizeof *table);
	if (!table)
		return 1;
	for (long i = 0; i < LOOKUPS; i++)
		sum += memo_get(i % 8 == 7 ? 1000000 + i : i % 64)[i % 200];
	int n = snprintf(msg, sizeof msg, "hits %ld misses %ld sum %lu\n", hits, misses, sum);
	return write(1, msg, (size_t)n) == n ? 0 : 1;
}
