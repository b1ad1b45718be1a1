/* test_encode_roundtrip.c — what hl_encode writes, report/trace_read reads
 * back identically; and the stack trie gives one id per distinct frame path.
 *
 * 1. round trip: a random stream of every record kind (ALLOC with every fn,
 *    FREE, REALLOC_FAIL, THREAD, TIME, INFO, MODULE_LOAD/UNLOAD, LOST, END)
 *    with random pointers (small and huge deltas in both directions, 0 and
 *    2^64-1), sizes up to 2^64-1, and random stacks, is encoded into blocks,
 *    wrapped into a trace file exactly as hl_writer.c does (16-byte header,
 *    then per block: magic, compressed length, raw length, a zstd frame with
 *    checksum), and read through hl_trace_open/hl_trace_read.  The visitor's
 *    log must equal the log of what was encoded, record for record.
 * 2. dedup: the same (parent, ip) twice is one id and one NODE record;
 *    different parents are different ids.
 * 3. 100k random stacks with shared prefixes: the node count equals the
 *    number of distinct prefixes (counted independently by sorting), and
 *    walking each stack's leaf back through the NODE records read from the
 *    file gives exactly that stack.
 * 4. sized records refuse (-ENOSPC, nothing written) when the block is full.
 */
#include <errno.h>
#include <inttypes.h>
#include <uthash.h>
#include <zstd.h>

#include "hl_encode.h"
#include "hl_format.h"
#include "hl_test.h"
#include "trace_read.h"

static char tmpdir[] = "/tmp/hl-test-encode.XXXXXX";
static uint64_t seed;

/* ---- a trace file, written as hl_writer.c writes it ------------------------- */

struct tw {
	FILE *f;
	ZSTD_CCtx *z;
	uint8_t *cbuf;
	size_t ccap;
	uint64_t blocks;
	uint64_t prefixed; /* blocks compressed with the one before as prefix */
};

static void tw_open(struct tw *w, const char *path)
{
	uint8_t hdr[HL_HEADER_LEN];
	w->f = fopen(path, "wb");
	w->z = ZSTD_createCCtx();
	w->ccap = ZSTD_compressBound(HL_BLOCK_MAX_RAW);
	w->cbuf = malloc(w->ccap);
	w->blocks = 0;
	w->prefixed = 0;
	if (!w->f || !w->z || !w->cbuf) {
		perror(path);
		exit(T_EXIT_FAIL);
	}
	ZSTD_CCtx_setParameter(w->z, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(w->z, ZSTD_c_checksumFlag, 1);
	memcpy(hdr, HL_MAGIC, HL_MAGIC_LEN);
	hl_put_u32le(hdr + 8, HL_VERSION);
	hl_put_u32le(hdr + 12, 0);
	fwrite(hdr, 1, sizeof(hdr), w->f);
}

/* Takes the encoder's block (if not empty) and appends it to the file. */
static void tw_flush(struct tw *w, struct hl_enc *e)
{
	size_t len;
	CHECK(e->len <= e->cap, "encoder overran its block: %zu of %zu", e->len, e->cap);
	/* As the writer does: the records kept before the block, if any, are
	 * its frame's prefix; compressed before the take, which may move them. */
	size_t c = 0;
	if (e->len) {
		if (e->prev_len)
			ZSTD_CCtx_refPrefix(w->z, e->prev, e->prev_len);
		w->prefixed += e->prev_len != 0;
		c = ZSTD_compress2(w->z, w->cbuf, w->ccap, e->buf, e->len);
	}
	const uint8_t *raw = hl_enc_take(e, &len);
	CHECK(e->len == 0, "hl_enc_take did not start an empty block");
	CHECK(!len || e->prev_len == 0 || raw + len == e->buf,
	      "the block taken is not the end of the records kept");
	if (!len)
		return;
	if (ZSTD_isError(c)) {
		fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(c));
		exit(T_EXIT_FAIL);
	}
	uint8_t bh[HL_BLOCK_HDR_LEN];
	hl_put_u32le(bh, HL_BLOCK_MAGIC);
	hl_put_u32le(bh + 4, (uint32_t)c);
	hl_put_u32le(bh + 8, (uint32_t)len);
	fwrite(bh, 1, sizeof(bh), w->f);
	fwrite(w->cbuf, 1, c, w->f);
	w->blocks++;
}

static void tw_close(struct tw *w)
{
	if (fclose(w->f)) {
		perror("fclose");
		exit(T_EXIT_FAIL);
	}
	ZSTD_freeCCtx(w->z);
	free(w->cbuf);
}

/* ---- the record log: what was encoded, what was read ------------------------ */

enum kind { K_NODE = 1, K_THREAD, K_TIME, K_ALLOC, K_FREE, K_RFAIL, K_INFO, K_MLOAD, K_MUNLOAD,
	    K_LOST, K_END };
static const char *kind_name[] = {"?", "NODE", "THREAD", "TIME", "ALLOC", "FREE", "REALLOC_FAIL",
				  "INFO", "MODULE_LOAD", "MODULE_UNLOAD", "LOST", "END"};

struct rec {
	int kind;
	unsigned fn;
	uint64_t a, b, c, d;
	uint8_t *blob; /* strings, each as u32 length + bytes */
	size_t blob_len;
};

struct log {
	struct rec *r;
	size_t n, cap;
};

static struct rec *log_add(struct log *l, int kind, unsigned fn, uint64_t a, uint64_t b,
			   uint64_t c, uint64_t d)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		l->r = realloc(l->r, l->cap * sizeof(*l->r));
		if (!l->r) {
			perror("realloc");
			exit(T_EXIT_FAIL);
		}
	}
	struct rec *r = &l->r[l->n++];
	*r = (struct rec){kind, fn, a, b, c, d, NULL, 0};
	return r;
}

static void blob_add(struct rec *r, const void *p, size_t n)
{
	uint32_t n32 = (uint32_t)n;
	r->blob = realloc(r->blob, r->blob_len + 4 + n);
	memcpy(r->blob + r->blob_len, &n32, 4);
	memcpy(r->blob + r->blob_len + 4, p, n);
	r->blob_len += 4 + n;
}

static void log_free(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->r[i].blob);
	free(l->r);
	memset(l, 0, sizeof(*l));
}

static int rec_eq(const struct rec *x, const struct rec *y)
{
	return x->kind == y->kind && x->fn == y->fn && x->a == y->a && x->b == y->b &&
	       x->c == y->c && x->d == y->d && x->blob_len == y->blob_len &&
	       (!x->blob_len || !memcmp(x->blob, y->blob, x->blob_len));
}

static void rec_print(const char *what, size_t i, const struct rec *r)
{
	fprintf(stderr, "  %s[%zu] = %s fn %u a %#" PRIx64 " b %#" PRIx64 " c %#" PRIx64
		" d %#" PRIx64 " blob %zu bytes\n",
		what, i, r->kind > 0 && r->kind <= K_END ? kind_name[r->kind] : "?", r->fn, r->a,
		r->b, r->c, r->d, r->blob_len);
}

static void log_compare(const struct log *want, const struct log *got)
{
	int shown = 0;
	CHECK(want->n == got->n, "encoded %zu records, read %zu", want->n, got->n);
	size_t n = want->n < got->n ? want->n : got->n;
	for (size_t i = 0; i < n && shown < 5; i++) {
		if (rec_eq(&want->r[i], &got->r[i]))
			continue;
		CHECK(0, "record %zu differs", i);
		rec_print("encoded", i, &want->r[i]);
		rec_print("read   ", i, &got->r[i]);
		shown++;
	}
}

/* The visitor: appends what the reader decoded. */
static int v_info(void *ctx, const struct hl_info *in)
{
	struct rec *r = log_add(ctx, K_INFO, 0, in->pid, in->ppid, in->start_unix_ms,
				in->max_depth * 1000003 + in->flags);
	blob_add(r, in->exe, strlen(in->exe));
	blob_add(r, &in->argc, sizeof(in->argc));
	for (uint64_t i = 0; i < in->argc; i++)
		blob_add(r, in->argv[i], strlen(in->argv[i]));
	blob_add(r, in->version, strlen(in->version));
	return 0;
}
static int v_node(void *ctx, uint64_t id, uint64_t parent, uint64_t ip)
{
	log_add(ctx, K_NODE, 0, id, parent, ip, 0);
	return 0;
}
static int v_thread(void *ctx, uint64_t tid)
{
	log_add(ctx, K_THREAD, 0, tid, 0, 0, 0);
	return 0;
}
static int v_time(void *ctx, uint64_t ms, uint64_t rss)
{
	log_add(ctx, K_TIME, 0, ms, rss, 0, 0);
	return 0;
}
/* Version 3 hands blocks named by ordinal over as HL_SEQ_KEY(ordinal):
 * the test knows each ordinal's address (what hl_enc_alloc got). */
static uint64_t *alloc_ptr;
static size_t nalloc_ptr, alloc_cap;

static void note_alloc(uint64_t ptr)
{
	if (nalloc_ptr == alloc_cap) {
		alloc_cap = alloc_cap ? 2 * alloc_cap : 4096;
		alloc_ptr = realloc(alloc_ptr, alloc_cap * sizeof(*alloc_ptr));
		if (!alloc_ptr) {
			perror("realloc");
			exit(T_EXIT_FAIL);
		}
	}
	alloc_ptr[nalloc_ptr++] = ptr;
}

static uint64_t nkeyed; /* events read with a key: the window was used */

static uint64_t unkey(uint64_t p)
{
	uint64_t o = p & ~(1ull << 63);

	if (p >> 63 && o >= 1 && o <= nalloc_ptr) {
		nkeyed++;
		return alloc_ptr[o - 1];
	}
	return p;
}

static int v_alloc(void *ctx, unsigned fn, uint64_t node, uint64_t ptr, uint64_t size)
{
	log_add(ctx, K_ALLOC, fn, node, unkey(ptr), size, 0);
	return 0;
}
static int v_free(void *ctx, unsigned fn, uint64_t node, uint64_t ptr)
{
	log_add(ctx, K_FREE, fn, node, unkey(ptr), 0, 0);
	return 0;
}
static int v_rfail(void *ctx, uint64_t ptr)
{
	log_add(ctx, K_RFAIL, 0, unkey(ptr), 0, 0, 0);
	return 0;
}
static int v_mload(void *ctx, const struct hl_module *m)
{
	struct rec *r = log_add(ctx, K_MLOAD, 0, m->id, m->bias, m->lo, m->hi);
	blob_add(r, m->path, strlen(m->path));
	blob_add(r, m->build_id, m->build_id_len);
	return 0;
}
static int v_munload(void *ctx, uint64_t id)
{
	log_add(ctx, K_MUNLOAD, 0, id, 0, 0, 0);
	return 0;
}
static int v_lost(void *ctx, uint64_t n)
{
	log_add(ctx, K_LOST, 0, n, 0, 0, 0);
	return 0;
}
static int v_end(void *ctx, unsigned reason, unsigned sig, uint64_t ms)
{
	log_add(ctx, K_END, reason, ms, sig, 0, 0);
	return 0;
}

static int read_trace(const char *path, struct log *got)
{
	struct hl_visitor v = {.ctx = got, .info = v_info, .node = v_node, .thread = v_thread,
			       .time = v_time, .alloc = v_alloc, .free = v_free,
			       .realloc_fail = v_rfail, .module_load = v_mload,
			       .module_unload = v_munload, .lost = v_lost, .end = v_end};
	struct hl_trace *t;
	char err[512];
	if (hl_trace_open(path, &t, err, sizeof(err))) {
		CHECK(0, "hl_trace_open: %s", err);
		return -1;
	}
	int ret = hl_trace_read(t, &v, err, sizeof(err));
	CHECK(ret == 0, "hl_trace_read: %s", ret == -1 ? err : "callback stopped it");
	CHECK(hl_trace_truncated_bytes(t) == 0, "reader says the trace is truncated");
	hl_trace_close(t);
	return ret;
}

/* ---- reference trie: (parent, ip) -> id, on malloc ---------------------------- */

struct ref_key {
	uint64_t parent, ip;
};
struct ref_node {
	struct ref_key key;
	uint32_t id;
	UT_hash_handle hh;
};

struct ref_trie {
	struct ref_node *map;
	uint32_t nodes;
};

static void ref_free(struct ref_trie *t)
{
	struct ref_node *n, *tmp;
	HASH_ITER(hh, t->map, n, tmp)
	{
		HASH_DEL(t->map, n);
		free(n);
	}
	t->nodes = 0;
}

/* Inserts a stack (outermost first) into encoder and reference; returns the
 * leaf id.  New nodes are appended to the expected log. */
static uint32_t put_stack(struct hl_enc *e, struct ref_trie *ref, struct log *want,
			  const uint64_t *ips, size_t depth)
{
	uint32_t parent = 0;
	for (size_t i = 0; i < depth; i++) {
		struct ref_key k = {parent, ips[i]};
		struct ref_node *n;
		HASH_FIND(hh, ref->map, &k, sizeof(k), n);
		if (!n) {
			n = calloc(1, sizeof(*n));
			n->key = k;
			n->id = ++ref->nodes;
			HASH_ADD(hh, ref->map, key, sizeof(k), n);
			if (want)
				log_add(want, K_NODE, 0, n->id, parent, ips[i], 0);
		}
		uint32_t id = hl_enc_node(e, parent, ips[i]);
		CHECK(id == n->id, "hl_enc_node(%u, %#" PRIx64 ") = %u, expected %u", parent, ips[i],
		      id, n->id);
		parent = n->id;
	}
	return parent;
}

/* ---- 1. round trip ------------------------------------------------------------ */

static uint64_t extreme(uint64_t *rng)
{
	static const uint64_t v[] = {0,
				     1,
				     UINT64_MAX,
				     UINT64_MAX - 1,
				     1ull << 63,
				     (1ull << 63) - 1,
				     0x00007fffffffffffull,
				     0xffff800000000000ull,
				     0x0000555555554000ull,
				     0x00007ff000000000ull};
	return v[t_rand(rng) % (sizeof(v) / sizeof(v[0]))];
}

static uint64_t rand_ptr(uint64_t *rng, uint64_t prev)
{
	switch (t_rand(rng) % 10) {
	case 0: case 1: case 2: case 3: /* near the previous: small delta either way */
		return prev + ((t_rand(rng) % 8192) - 4096) * 16;
	case 4: case 5: /* a typical heap or mmap address */
		return (t_rand(rng) & 0x00007ffffffffff0ull);
	case 6: case 7: /* anything */
		return t_rand(rng);
	default: /* edges: deltas up to +-2^64 */
		return extreme(rng);
	}
}

/* rand_ptr, but never just above 2^63, where the keys of blocks by
 * ordinal are (no user-space address is). */
static uint64_t rand_ptr_nokey(uint64_t *rng, uint64_t prev)
{
	uint64_t p = rand_ptr(rng, prev);

	return p >> 32 == 0x80000000ull && p != 1ull << 63 ? p & ~(1ull << 63) : p;
}

static uint64_t rand_bits(uint64_t *rng) /* uniform in bit length 0..64 */
{
	unsigned bits = (unsigned)(t_rand(rng) % 65);
	if (bits == 0)
		return 0;
	return t_rand(rng) >> (64 - bits);
}

static uint64_t rand_size(uint64_t *rng)
{
	uint64_t x = t_rand(rng) % 20;
	if (x == 0)
		return 1ull << 63;
	if (x == 1)
		return UINT64_MAX;
	if (x < 8)
		return t_range(rng, 0, 600);
	return rand_bits(rng);
}

static void rand_str(uint64_t *rng, char *s, size_t maxlen)
{
	size_t n = (size_t)t_range(rng, 0, maxlen);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)t_range(rng, 1, 255); /* any byte but NUL */
	s[n] = '\0';
}

#define RT_EVENTS  400000u
#define RT_STACKS  8
#define RT_MAXDEP  40
#define RT_IPS     3000

/* Each thread's pending realloc-free, as the reader keeps it. */
#define RT_LIVE 50000
static uint64_t live[RT_LIVE], freed[RT_LIVE];
static size_t nlive, nfreed;
static struct {
	uint64_t tid, ptr;
	int valid;
} pend[4096];
static size_t npend;

static void pend_set(uint64_t tid, int valid, uint64_t ptr)
{
	size_t i = 0;

	while (i < npend && pend[i].tid != tid)
		i++;
	if (i == npend) {
		if (!valid || npend == 4096)
			return;
		pend[npend++].tid = tid;
	}
	if (valid) { /* the reader's pending changes only at realloc frees */
		pend[i].ptr = ptr;
		pend[i].valid = 1;
	}
}

static int pend_take(uint64_t tid, uint64_t *ptr)
{
	for (size_t i = 0; i < npend; i++)
		if (pend[i].tid == tid && pend[i].valid) {
			pend[i].valid = 0;
			*ptr = pend[i].ptr;
			return 1;
		}
	return 0;
}

static void test_roundtrip(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/roundtrip.hlt", tmpdir);
	struct hl_enc e;
	struct ref_trie ref = {0};
	struct log want = {0}, got = {0};
	struct tw w;
	uint64_t rng = seed + 10, prev_ptr = 0, cur_tid = 0, last_ms = 0, records = 0;
	uint64_t stacks[RT_STACKS][RT_MAXDEP], ips[RT_IPS], next_mod = 1;
	size_t depth[RT_STACKS] = {0};
	char s1[400], s2[400], argvb[6][64];

	if (hl_enc_init(&e)) {
		CHECK(0, "hl_enc_init failed");
		return;
	}
	for (int i = 0; i < RT_IPS; i++)
		ips[i] = i < 20 ? extreme(&rng) + (uint64_t)i : t_rand(&rng);
	tw_open(&w, path);

	/* INFO first, as the writer does. */
	const char *argv0[] = {"prog", "", "--x=1"};
	CHECK(hl_enc_info(&e, 1234, 1, 1700000000000ull, 64, 1, "/usr/bin/prog", argv0, 3,
			  "0.1.0") == 0,
	      "INFO into an empty block");
	struct rec *r = log_add(&want, K_INFO, 0, 1234, 1, 1700000000000ull, 64 * 1000003 + 1);
	blob_add(r, "/usr/bin/prog", 13);
	uint64_t argc = 3;
	blob_add(r, &argc, sizeof(argc));
	for (int i = 0; i < 3; i++)
		blob_add(r, argv0[i], strlen(argv0[i]));
	blob_add(r, "0.1.0", 5);

	for (uint32_t ev = 0; ev < RT_EVENTS && t_failures < 20; ev++) {
		/* Keep room for the worst event: a whole new stack plus records. */
		if (hl_enc_room(&e) < RT_MAXDEP * 24 + 4 * HL_ENC_MAX_EVENT ||
		    t_rand(&rng) % 8000 == 0)
			tw_flush(&w, &e);

		uint64_t x = t_rand(&rng) % 1000;
		if (x < 20) { /* thread switch (not every call changes it) */
			uint64_t tid = t_rand(&rng) % 4 ? t_range(&rng, 1, 6) : rand_bits(&rng) | 1;
			hl_enc_thread(&e, tid);
			if (tid != cur_tid)
				log_add(&want, K_THREAD, 0, tid, 0, 0, 0);
			cur_tid = tid;
			continue;
		}
		if (x < 30) { /* clock tick; rarely a big jump */
			uint64_t ms = last_ms + (t_rand(&rng) % 50 ? t_range(&rng, 0, 100)
								   : rand_bits(&rng) >> 20);
			uint64_t rss = rand_bits(&rng) >> 16;
			hl_enc_time(&e, ms, rss);
			log_add(&want, K_TIME, 0, ms, rss, 0, 0);
			last_ms = ms;
			continue;
		}
		if (x < 32) {
			uint64_t n = rand_bits(&rng);
			hl_enc_lost(&e, n);
			log_add(&want, K_LOST, 0, n, 0, 0, 0);
			continue;
		}
		if (x < 34) { /* a module load, sometimes an unload */
			uint64_t id = next_mod++, bias = t_rand(&rng), lo = rand_bits(&rng),
				 hi = rand_bits(&rng);
			uint8_t bid[40];
			size_t blen = (size_t)t_range(&rng, 0, sizeof(bid));
			t_fill(bid, blen, t_rand(&rng)); /* raw bytes, zeros included */
			rand_str(&rng, s1, 300);
			int ret = hl_enc_module_load(&e, id, bias, lo, hi, s1, bid, blen);
			if (ret == -ENOSPC) {
				tw_flush(&w, &e);
				ret = hl_enc_module_load(&e, id, bias, lo, hi, s1, bid, blen);
			}
			CHECK(ret == 0, "hl_enc_module_load into an empty block: %d", ret);
			r = log_add(&want, K_MLOAD, 0, id, bias, lo, hi);
			blob_add(r, s1, strlen(s1));
			blob_add(r, bid, blen);
			if (t_rand(&rng) & 1) {
				uint64_t uid = t_range(&rng, 1, id);
				hl_enc_module_unload(&e, uid);
				log_add(&want, K_MUNLOAD, 0, uid, 0, 0, 0);
			}
			continue;
		}
		if (x < 35) { /* another INFO (an exec'd image would start a new file;
			       * the encoder does not care) */
			const char *av[6];
			size_t ac = (size_t)t_range(&rng, 0, 6);
			for (size_t i = 0; i < ac; i++) {
				rand_str(&rng, argvb[i], 60);
				av[i] = argvb[i];
			}
			rand_str(&rng, s1, 300);
			rand_str(&rng, s2, 20);
			uint64_t pid = rand_bits(&rng), ppid = rand_bits(&rng), st = rand_bits(&rng);
			unsigned dep = (unsigned)t_range(&rng, 0, 1000), fl = (unsigned)t_range(&rng, 0, 3);
			int ret = hl_enc_info(&e, pid, ppid, st, dep, fl, s1, av, ac, s2);
			if (ret == -ENOSPC) {
				tw_flush(&w, &e);
				ret = hl_enc_info(&e, pid, ppid, st, dep, fl, s1, av, ac, s2);
			}
			CHECK(ret == 0, "hl_enc_info into an empty block: %d", ret);
			r = log_add(&want, K_INFO, 0, pid, ppid, st, (uint64_t)dep * 1000003 + fl);
			blob_add(r, s1, strlen(s1));
			uint64_t ac64 = ac;
			blob_add(r, &ac64, sizeof(ac64));
			for (size_t i = 0; i < ac; i++)
				blob_add(r, av[i], strlen(av[i]));
			blob_add(r, s2, strlen(s2));
			continue;
		}

		/* An event with a stack: mutate one of a few stacks at its inner end
		 * now and then, as a program's call stack moves. */
		int si = (int)(t_rand(&rng) % RT_STACKS);
		if (t_rand(&rng) % 4 == 0) {
			size_t pop = (size_t)t_range(&rng, 0, 5), push = (size_t)t_range(&rng, 0, 5);
			depth[si] = pop > depth[si] ? 0 : depth[si] - pop;
			for (size_t i = 0; i < push && depth[si] < RT_MAXDEP; i++)
				stacks[si][depth[si]++] =
					t_rand(&rng) % 10 ? ips[t_rand(&rng) % RT_IPS] : t_rand(&rng);
		}
		uint32_t node = put_stack(&e, &ref, &want, stacks[si], depth[si]);
		uint64_t ptr = rand_ptr_nokey(&rng, prev_ptr);
		records++;
		if (x < 600) {
			unsigned fn = (unsigned)(t_rand(&rng) % HL_FN_COUNT);
			uint64_t size = rand_size(&rng);
			/* now and then an address freed earlier: malloc reuses them */
			if (t_rand(&rng) % 4 == 0 && nfreed)
				ptr = freed[t_rand(&rng) % nfreed];
			prev_ptr = ptr;
			hl_enc_alloc(&e, fn, node, ptr, size);
			note_alloc(ptr);
			if (nlive < RT_LIVE)
				live[nlive++] = ptr;
			else
				live[t_rand(&rng) % RT_LIVE] = ptr;
			log_add(&want, K_ALLOC, fn, node, ptr, size, 0);
		} else if (x < 980) {
			static const unsigned ffn[] = {HL_FN_FREE, HL_FN_REALLOC, HL_FN_REALLOCARRAY};
			unsigned fn = ffn[t_rand(&rng) % 3];
			/* mostly a live block, as programs free: recent or old */
			if (t_rand(&rng) % 4 && nlive) {
				size_t i = t_rand(&rng) % 2 ? nlive - 1 : t_rand(&rng) % nlive;
				ptr = live[i];
				live[i] = live[--nlive];
			}
			prev_ptr = ptr;
			hl_enc_free(&e, fn, node, ptr);
			log_add(&want, K_FREE, fn, node, ptr, 0, 0);
			freed[nfreed < RT_LIVE ? nfreed++ : t_rand(&rng) % RT_LIVE] = ptr;
			pend_set(cur_tid, fn == HL_FN_FREE ? 0 : 1, ptr);
		} else {
			/* A failed realloc revives its thread's realloc-free
			 * (any address when it made none: a broken trace). */
			uint64_t p;
			if (pend_take(cur_tid, &p))
				ptr = p;
			prev_ptr = ptr;
			hl_enc_realloc_fail(&e, ptr);
			log_add(&want, K_RFAIL, 0, ptr, 0, 0, 0);
		}
	}
	/* A clock going backwards is clamped: the reader must not see time
	 * run back (it would read a huge forward jump otherwise). */
	hl_enc_time(&e, last_ms / 2, 7);
	log_add(&want, K_TIME, 0, last_ms, 7, 0, 0);
	hl_enc_end(&e, HL_END_ABORT, last_ms, 0);
	log_add(&want, K_END, HL_END_ABORT, last_ms, 0, 0, 0);
	CHECK(e.records == records, "encoder counted %" PRIu64 " events, %" PRIu64 " were written",
	      e.records, records);
	CHECK(e.nodes == ref.nodes, "encoder has %zu nodes, reference %u", e.nodes, ref.nodes);
	tw_flush(&w, &e);
	tw_close(&w);

	read_trace(path, &got);
	log_compare(&want, &got);
	/* Blocks by ordinal were written (FREE_SEQ, BIND): a quarter of the
	 * frees are of recent blocks. */
	CHECK(nkeyed > records / 20, "only %" PRIu64 " events named a block by ordinal", nkeyed);
	CHECK(w.prefixed > 0 && w.prefixed < w.blocks,
	      "%" PRIu64 " of %" PRIu64 " blocks had a prefix: want some, not all", w.prefixed,
	      w.blocks);
	printf("round trip: %zu records (%" PRIu64 " events, %u stack nodes, %" PRIu64
	       " by ordinal) in %" PRIu64 " blocks (%" PRIu64 " with a prefix): %s\n",
	       want.n, records, ref.nodes, nkeyed, w.blocks, w.prefixed,
	       want.n == got.n ? "all read back" : "count differs");
	hl_enc_fini(&e);
	ref_free(&ref);
	log_free(&want);
	log_free(&got);
	unlink(path);
}

/* ---- 2. dedup ------------------------------------------------------------------ */

static void test_dedup(void)
{
	struct hl_enc e;
	if (hl_enc_init(&e)) {
		CHECK(0, "hl_enc_init failed");
		return;
	}
	uint32_t a = hl_enc_node(&e, 0, 0x401000);
	size_t len = e.len;
	CHECK(a == 1, "first node id %u", a);
	CHECK(len > 0, "a new node wrote nothing");
	uint32_t a2 = hl_enc_node(&e, 0, 0x401000);
	CHECK(a2 == a, "same (parent, ip) gave ids %u and %u", a, a2);
	CHECK(e.len == len, "a known node wrote %zu more bytes", e.len - len);
	uint32_t b = hl_enc_node(&e, a, 0x401000); /* same ip, other parent */
	CHECK(b != a && b == 2, "same ip under another parent: id %u (parent %u)", b, a);
	uint32_t c = hl_enc_node(&e, 0, 0x402000); /* same parent, other ip */
	CHECK(c != a && c != b && c == 3, "other ip under the root: id %u", c);
	uint32_t d = hl_enc_node(&e, c, 0x401000);
	CHECK(d != b && d == 4, "ip 0x401000 under two different parents shares id %u", d);
	uint32_t z = hl_enc_node(&e, 0, 0); /* ip 0 under the root is a frame, not the root */
	CHECK(z == 5, "ip 0 under the root: id %u", z);
	len = e.len;
	CHECK(hl_enc_node(&e, a, 0x401000) == b && hl_enc_node(&e, c, 0x401000) == d &&
		      hl_enc_node(&e, 0, 0) == z && e.len == len,
	      "known nodes looked up again changed ids or wrote records");
	CHECK(e.nodes == 5, "%zu nodes", e.nodes);
	/* Lookups without insertion, and the id -> (parent, ip) tables. */
	CHECK(hl_enc_find(&e, a, 0x401000) == b && hl_enc_find(&e, 0, 0) == z,
	      "hl_enc_find misses existing nodes");
	CHECK(hl_enc_find(&e, b, 0x401000) == 0 && hl_enc_find(&e, 0, 0x403000) == 0,
	      "hl_enc_find invents nodes");
	CHECK(e.len == len && e.nodes == 5, "hl_enc_find wrote something");
	CHECK(hl_enc_node_ip(&e, d) == 0x401000 && hl_enc_node_parent(&e, d) == c &&
		      hl_enc_node_ip(&e, c) == 0x402000 && hl_enc_node_parent(&e, c) == 0,
	      "node tables: id %u -> (%u, %#" PRIx64 ")", d, hl_enc_node_parent(&e, d),
	      hl_enc_node_ip(&e, d));

	/* The NODE records: exactly five, in id order, decoded to the right ips. */
	char path[256];
	snprintf(path, sizeof(path), "%s/dedup.hlt", tmpdir);
	struct tw w;
	struct log got = {0};
	tw_open(&w, path);
	tw_flush(&w, &e);
	tw_close(&w);
	read_trace(path, &got);
	static const uint64_t want[][3] = {
		{1, 0, 0x401000}, {2, 1, 0x401000}, {3, 0, 0x402000}, {4, 3, 0x401000}, {5, 0, 0}};
	CHECK(got.n == 5, "%zu records read, want 5 NODE records", got.n);
	for (size_t i = 0; i < got.n && i < 5; i++)
		CHECK(got.r[i].kind == K_NODE && got.r[i].a == want[i][0] &&
			      got.r[i].b == want[i][1] && got.r[i].c == want[i][2],
		      "record %zu: %s %" PRIu64 " %" PRIu64 " %#" PRIx64, i,
		      kind_name[got.r[i].kind], got.r[i].a, got.r[i].b, got.r[i].c);
	log_free(&got);
	unlink(path);
	hl_enc_fini(&e);
	printf("dedup: pass\n");
}

/* ---- 3. many stacks, shared prefixes ---------------------------------------------- */

#define MS_STACKS 100000u
#define MS_MAXDEP 16

static uint64_t ms_frames[MS_STACKS][MS_MAXDEP];
static uint8_t ms_depth[MS_STACKS];
static uint32_t ms_leaf[MS_STACKS];
static uint32_t ms_order[MS_STACKS];

static int cmp_stack(const void *x, const void *y)
{
	uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
	size_t n = ms_depth[i] < ms_depth[j] ? ms_depth[i] : ms_depth[j];
	for (size_t k = 0; k < n; k++)
		if (ms_frames[i][k] != ms_frames[j][k])
			return ms_frames[i][k] < ms_frames[j][k] ? -1 : 1;
	return (int)ms_depth[i] - (int)ms_depth[j];
}

/* Distinct non-empty prefixes of a set of sequences = the sum, over the
 * sequences in lexicographic order, of each one's length minus its longest
 * common prefix with the one before (a trie's node count, without a trie). */
static uint64_t distinct_prefixes(void)
{
	for (uint32_t i = 0; i < MS_STACKS; i++)
		ms_order[i] = i;
	qsort(ms_order, MS_STACKS, sizeof(ms_order[0]), cmp_stack);
	uint64_t total = 0;
	for (uint32_t k = 0; k < MS_STACKS; k++) {
		uint32_t i = ms_order[k];
		size_t lcp = 0;
		if (k) {
			uint32_t j = ms_order[k - 1];
			while (lcp < ms_depth[i] && lcp < ms_depth[j] &&
			       ms_frames[i][lcp] == ms_frames[j][lcp])
				lcp++;
		}
		total += ms_depth[i] - lcp;
	}
	return total;
}

struct node_table {
	uint64_t *parent, *ip;
	size_t n, cap;
	int bad;
};

static int nt_node(void *ctx, uint64_t id, uint64_t parent, uint64_t ip)
{
	struct node_table *t = ctx;
	if (id != t->n + 1)
		t->bad = 1;
	if (t->n + 2 > t->cap) {
		t->cap = t->cap ? 2 * t->cap : 65536;
		t->parent = realloc(t->parent, t->cap * sizeof(uint64_t));
		t->ip = realloc(t->ip, t->cap * sizeof(uint64_t));
	}
	t->n++;
	t->parent[id] = parent;
	t->ip[id] = ip;
	return 0;
}

static void test_many_stacks(void)
{
	uint64_t rng = seed + 20;
	struct hl_enc e;
	if (hl_enc_init(&e)) {
		CHECK(0, "hl_enc_init failed");
		return;
	}
	/* Stacks grow from a few roots through a few callees per level; half
	 * of them copy a random earlier stack's prefix and diverge. */
	for (uint32_t s = 0; s < MS_STACKS; s++) {
		size_t d = (size_t)t_range(&rng, 1, MS_MAXDEP), k = 0;
		if (s && (t_rand(&rng) & 1)) {
			uint32_t o = (uint32_t)(t_rand(&rng) % s);
			size_t keep = (size_t)t_range(&rng, 0, ms_depth[o]);
			memcpy(ms_frames[s], ms_frames[o], keep * sizeof(uint64_t));
			k = keep;
		}
		for (; k < d; k++)
			ms_frames[s][k] = 0x400000 + k * 0x1000 + (t_rand(&rng) % 4) * 0x10;
		ms_depth[s] = (uint8_t)(d > k ? d : k);
	}

	char path[256];
	snprintf(path, sizeof(path), "%s/stacks.hlt", tmpdir);
	struct tw w;
	tw_open(&w, path);
	for (uint32_t s = 0; s < MS_STACKS; s++) {
		if (hl_enc_room(&e) < MS_MAXDEP * 24)
			tw_flush(&w, &e);
		uint32_t parent = 0;
		for (size_t k = 0; k < ms_depth[s]; k++)
			parent = hl_enc_node(&e, parent, ms_frames[s][k]);
		ms_leaf[s] = parent;
		/* the encoder's own tables walk back to the same frames */
		uint32_t id = parent;
		for (size_t k = ms_depth[s]; k-- > 0 && id; id = hl_enc_node_parent(&e, id))
			CHECK(hl_enc_node_ip(&e, id) == ms_frames[s][k], "stack %u frame %zu", s, k);
		CHECK(id == 0, "stack %u: parent chain longer than the stack", s);
		/* the same stack again: same leaf, nothing written */
		if (s % 7 == 0) {
			size_t len = e.len;
			uint32_t p2 = 0;
			for (size_t k = 0; k < ms_depth[s]; k++)
				p2 = hl_enc_node(&e, p2, ms_frames[s][k]);
			CHECK(p2 == parent && e.len == len, "stack %u inserted twice: %u then %u", s,
			      parent, p2);
		}
	}
	tw_flush(&w, &e);
	tw_close(&w);

	uint64_t want = distinct_prefixes();
	CHECK(e.nodes == want, "%zu nodes for %" PRIu64 " distinct prefixes", e.nodes, want);

	struct node_table nt = {0};
	struct hl_visitor v = {.ctx = &nt, .node = nt_node};
	struct hl_trace *t;
	char err[512];
	if (hl_trace_open(path, &t, err, sizeof(err)) == 0) {
		CHECK(hl_trace_read(t, &v, err, sizeof(err)) == 0, "hl_trace_read: %s", err);
		hl_trace_close(t);
	} else {
		CHECK(0, "hl_trace_open: %s", err);
	}
	CHECK(nt.n == want && !nt.bad, "%zu NODE records in the file for %" PRIu64 " prefixes", nt.n,
	      want);
	/* Every stack is its leaf's path in the file's NODE records. */
	uint32_t wrong = 0;
	for (uint32_t s = 0; s < MS_STACKS && nt.n == want; s++) {
		uint64_t id = ms_leaf[s];
		for (size_t k = ms_depth[s]; k-- > 0;) {
			if (id == 0 || id > nt.n || nt.ip[id] != ms_frames[s][k]) {
				wrong++;
				break;
			}
			id = nt.parent[id];
		}
		if (id != 0)
			wrong++;
	}
	CHECK(wrong == 0, "%u stacks do not walk back to their frames", wrong);
	printf("many stacks: %u stacks, %" PRIu64 " distinct prefixes, %zu nodes, %" PRIu64
	       " blocks\n",
	       MS_STACKS, want, e.nodes, w.blocks);
	free(nt.parent);
	free(nt.ip);
	unlink(path);
	hl_enc_fini(&e);
}

/* ---- 4. sized records in a full block ----------------------------------------------- */

static void test_enospc(void)
{
	struct hl_enc e;
	if (hl_enc_init(&e)) {
		CHECK(0, "hl_enc_init failed");
		return;
	}
	while (hl_enc_room(&e) >= HL_ENC_MAX_EVENT)
		hl_enc_alloc(&e, 0, 0, UINT64_MAX, UINT64_MAX);
	size_t len = e.len;
	char path[600];
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	const char *av[] = {path};
	CHECK(hl_enc_module_load(&e, 1, 2, 3, 4, path, (const uint8_t *)"id", 2) == -ENOSPC,
	      "MODULE_LOAD into a full block not refused");
	CHECK(hl_enc_info(&e, 1, 1, 1, 1, 0, "x", av, 1, "v") == -ENOSPC,
	      "INFO into a full block not refused");
	CHECK(e.len == len, "a refused record wrote %zu bytes", e.len - len);
	CHECK(e.len <= e.cap, "block overrun");
	hl_enc_fini(&e);
	printf("enospc: pass\n");
}

int main(void)
{
	t_watchdog(100);
	seed = t_seed();
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return T_EXIT_FAIL;
	}
	test_dedup();
	test_enospc();
	test_roundtrip();
	test_many_stacks();
	rmdir(tmpdir);
	return t_result("encode_roundtrip");
}
