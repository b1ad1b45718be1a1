/* memo_unbounded.c — lesson: a memoization table that never evicts grows
 * with the number of distinct keys ever asked for, not with the keys that
 * are useful: every one-off key stays until exit.  Compare memo_lru.c, the
 * same workload through a cache bounded to 128 entries.
 *
 * The workload (identical in both): 8192 lookups; lookup i asks for key
 * i % 64, except every 8th (i % 8 == 7), which asks for a key never seen
 * again (1000000 + i).  So 56 hot keys (0..63 less those = 7 mod 8), reused
 * every 64 lookups, and 1024 one-off keys: 1080 distinct keys, 1080 misses
 * (computed results), 7112 hits.  A result is 200 bytes.
 *
 * The table: calloc(1024, 8) buckets, then one malloc of sizeof(struct
 * entry) = 216 bytes (key 8, next 8, value 200) per miss, never freed.
 *
 * Exact expected numbers (tests/lessons/expected/memo.txt):
 *   calloc line: +8192, 1 call.
 *   malloc line in memo_get: 1080 calls, +1080 * 216 = +233280, Mem usage
 *     8192 + 233280 = 241472 (after the last).
 *   memo_get call line in main: the same 1080 calls, +233280.
 *   allocations 1081, frees 0, bytes_allocated 241472, peak_bytes 241472,
 *   leaked_bytes 241472 in 1081 blocks (the table is held until exit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NBUCKETS 1024
#define LOOKUPS	 8192

struct entry {
	long key;
	struct entry *next; /* hash chain */
	unsigned char value[200];
};
_Static_assert(sizeof(struct entry) == 216, "the numbers above assume LP64");

static struct entry **table;
static long hits, misses;

static void compute(long key, unsigned char *value)
{
	for (int j = 0; j < 200; j++)
		value[j] = (unsigned char)(key * 31 + j);
}

static const unsigned char *memo_get(long key)
{
	struct entry **head = &table[key % NBUCKETS];
	for (struct entry *e = *head; e; e = e->next)
		if (e->key == key) {
			hits++;
			return e->value;
		}
	misses++;
	struct entry *e = malloc(sizeof *e);
	if (!e)
		abort();
	e->key = key;
	compute(key, e->value);
	e->next = *head;
	*head = e;
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
