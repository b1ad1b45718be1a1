/* hl_test.h — what the unit test programs share: a CHECK that counts
 * failures, a watchdog so a hang fails instead of stalling the suite, a
 * small deterministic PRNG, and payload patterns a consumer can verify byte
 * for byte.  Exit 0 pass, 1 fail, 77 skip (liburing's convention). */
#ifndef HL_TEST_H
#define HL_TEST_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

static _Atomic int t_failures; /* producers check too */

/* Counts a failure and prints where; at most 20 messages per program so a
 * systematic failure does not drown the log. */
#define CHECK(cond, ...)                                                                          \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			if (t_failures++ < 20) {                                                  \
				fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
				fprintf(stderr, __VA_ARGS__);                                     \
				fputc('\n', stderr);                                              \
			}                                                                         \
		}                                                                                 \
	} while (0)

static inline void t_on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: watchdog expired (hang?)\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	_exit(T_EXIT_FAIL);
}

/* A hang is a failure, reported before meson's own timeout kills us. */
static inline void t_watchdog(unsigned seconds)
{
	signal(SIGALRM, t_on_alarm);
	alarm(seconds);
}

static inline int t_result(const char *name)
{
	if (t_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, t_failures);
		return T_EXIT_FAIL;
	}
	printf("%s: pass\n", name);
	return T_EXIT_PASS;
}

/* splitmix64: good enough, tiny, and reproducible from a printed seed. */
static inline uint64_t t_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t t_range(uint64_t *s, uint64_t lo, uint64_t hi) /* [lo, hi] */
{
	return lo + t_rand(s) % (hi - lo + 1);
}

static inline double t_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void t_sleep_us(unsigned us)
{
	struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

/* Seed from HL_TEST_SEED if set (to replay a failure), else from the clock. */
static inline uint64_t t_seed(void)
{
	const char *e = getenv("HL_TEST_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	printf("seed %llu (HL_TEST_SEED to replay)\n", (unsigned long long)seed);
	return seed;
}

/* Payload bytes derived from a key: the consumer regenerates and compares. */
static inline void t_fill(uint8_t *p, size_t n, uint64_t key)
{
	uint64_t s = key;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = t_rand(&s);
		memcpy(p + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = t_rand(&s);
		memcpy(p + i, &v, n - i);
	}
}

/* Returns the offset of the first wrong byte, or n if all match. */
static inline size_t t_verify(const uint8_t *p, size_t n, uint64_t key)
{
	uint64_t s = key;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = t_rand(&s);
		size_t k = n - i < 8 ? n - i : 8;
		if (memcmp(p + i, &v, k)) {
			const uint8_t *vb = (const uint8_t *)&v;
			size_t j = 0;
			while (p[i + j] == vb[j])
				j++;
			return i + j;
		}
	}
	return n;
}

/* FNV-1a, the record's own checksum over its payload bytes. */
static inline uint64_t t_fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#endif
