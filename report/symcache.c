/* symcache.c — the symbolizer's answers on disk, per build-id (symcache.h).
 *
 * File layout, little-endian:
 *   "HLSYMC\0\3"                        magic and version (2: libiberty's names; 3:
 *                                       scopes in namespaces and across units)
 *   u32 nstamps, nfuncs, nentries, nframes, strings_bytes
 *   nstamps  x { u32 path; u64 dev, ino, size, mtime_ns }
 *   strings_bytes of NUL-terminated strings; a string is named by its
 *                                       offset + 1 (0: none)
 *   nfuncs   x { u32 name, file, first, last }
 *   nentries x { u64 offset; u32 first, n }
 *   nframes  x { u32 function, file, line, column, flags; i32 func;
 *                u64 symbol_offset }
 *   u64 FNV-1a of everything before it
 * Every count and reference is checked on load, and the sum: a damaged
 * file is no file. */
#define _GNU_SOURCE 1
#include "symcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

static const char magic[8] = {'H', 'L', 'S', 'Y', 'M', 'C', 0, 3};

#define MAX_FILE  (256u << 20)
#define DIR_MAX	  (256ull << 20) /* the directory is trimmed to DIR_KEEP past this */
#define DIR_KEEP  (192ull << 20)
#define MAX_CHAIN 64 /* frames an entry: the symbolizer's own limit */
#define HDR_LEN	  (8 + 5 * 4)
#define STAMP_LEN (4 + 4 * 8)
#define FUNC_LEN  (4 * 4)
#define ENTRY_LEN (8 + 2 * 4)
#define FRAME_LEN (6 * 4 + 8)

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

const char *hl_symcache_dir(void)
{
	static char dir[4096];
	static int done;
	const char *env, *base;

	if (done)
		return dir[0] ? dir : NULL;
	done = 1;
	env = getenv("HEAPLINE_SYMBOL_CACHE");
	if (env) {
		if (env[0] && strcmp(env, "off") != 0 && strcmp(env, "0") != 0 &&
		    strlen(env) < sizeof(dir))
			strcpy(dir, env);
	} else if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/') {
		snprintf(dir, sizeof(dir), "%s/heapline/symbols", base);
	} else if ((base = getenv("HOME")) && base[0] == '/') {
		snprintf(dir, sizeof(dir), "%s/.cache/heapline/symbols", base);
	}
	return dir[0] ? dir : NULL;
}

static int file_name(const uint8_t *id, size_t len, char *out, size_t cap)
{
	const char *dir = hl_symcache_dir();
	int n;

	if (!dir || len == 0 || len > 64)
		return -1;
	n = snprintf(out, cap, "%s/", dir);
	for (size_t i = 0; i < len && n > 0 && (size_t)n < cap; i++)
		n += snprintf(out + n, cap - n, "%02x", id[i]);
	if (n <= 0 || (size_t)n + 5 >= cap)
		return -1;
	strcpy(out + n, ".sym");
	return 0;
}

int hl_symcache_stamp(const char *path, struct hl_symcache_stamp *st)
{
	struct stat sb;

	if (!path || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return -1;
	st->path = path;
	st->dev = (uint64_t)sb.st_dev;
	st->ino = (uint64_t)sb.st_ino;
	st->size = (uint64_t)sb.st_size;
	st->mtime_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get(struct rd *r, int bytes)
{
	uint64_t v = 0;

	if (r->bad || r->end - r->p < bytes) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	return v;
}

/* A string reference: offset + 1 into the strings, 0 for none. */
static const char *str_at(struct rd *r, const char *strs, uint32_t n, bool may_be_null)
{
	uint32_t ref = (uint32_t)get(r, 4);

	if (ref == 0 && may_be_null)
		return NULL;
	if (ref == 0 || ref > n) {
		r->bad = true;
		return NULL;
	}
	return strs + ref - 1;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < HDR_LEN ||
	    (uint64_t)st.st_size > MAX_FILE || !(buf = malloc((size_t)st.st_size)))
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	*len = got;
out:
	close(fd);
	return buf;
}

static bool stamp_holds(const struct hl_symcache_stamp *want)
{
	struct hl_symcache_stamp now;

	return hl_symcache_stamp(want->path, &now) == 0 && now.dev == want->dev &&
	       now.ino == want->ino && now.size == want->size && now.mtime_ns == want->mtime_ns;
}

int hl_symcache_load(const uint8_t *build_id, size_t len, struct hl_symcache *c)
{
	char path[4200];
	uint8_t *file;
	size_t flen;
	struct rd r;
	uint32_t nstrings_bytes;
	const char *strs;

	memset(c, 0, sizeof(*c));
	if (file_name(build_id, len, path, sizeof(path)) || !(file = read_whole(path, &flen)))
		return -1;
	r = (struct rd){file, file + flen - 8, false};
	if (flen < HDR_LEN + 8 || memcmp(file, magic, sizeof(magic)) != 0)
		goto bad;
	struct rd sum = {file + flen - 8, file + flen, false};
	if (get(&sum, 8) != fnv1a(FNV_INIT, file, flen - 8))
		goto bad;
	r.p += sizeof(magic);
	c->nstamps = (uint32_t)get(&r, 4);
	c->nfuncs = (uint32_t)get(&r, 4);
	c->nentries = (uint32_t)get(&r, 4);
	c->nframes = (uint32_t)get(&r, 4);
	nstrings_bytes = (uint32_t)get(&r, 4);
	/* Sizes first, so that no count can make an allocation huge. */
	if (r.bad || c->nstamps == 0 || c->nstamps > HL_SYMCACHE_MAX_STAMPS ||
	    (uint64_t)c->nstamps * STAMP_LEN + nstrings_bytes + (uint64_t)c->nfuncs * FUNC_LEN +
		    (uint64_t)c->nentries * ENTRY_LEN + (uint64_t)c->nframes * FRAME_LEN !=
		(uint64_t)(r.end - r.p))
		goto bad;
	/* The strings sit after the stamps, which name them. */
	strs = (const char *)r.p + c->nstamps * STAMP_LEN;
	if (nstrings_bytes == 0 || strs[nstrings_bytes - 1] != '\0')
		goto bad;
	c->blob = (char *)file; /* the strings stay where they are */
	for (uint32_t i = 0; i < c->nstamps; i++) {
		struct hl_symcache_stamp *s = &c->stamps[i];
		s->path = str_at(&r, strs, nstrings_bytes, false);
		s->dev = get(&r, 8);
		s->ino = get(&r, 8);
		s->size = get(&r, 8);
		s->mtime_ns = get(&r, 8);
		if (r.bad || !stamp_holds(s))
			goto bad;
	}
	r.p += nstrings_bytes;
	c->funcs = calloc(c->nfuncs ? c->nfuncs : 1, sizeof(*c->funcs));
	c->entries = calloc(c->nentries ? c->nentries : 1, sizeof(*c->entries));
	c->frames = calloc(c->nframes ? c->nframes : 1, sizeof(*c->frames));
	if (!c->funcs || !c->entries || !c->frames)
		goto bad;
	for (uint32_t i = 0; i < c->nfuncs; i++) {
		struct hl_symcache_func *f = &c->funcs[i];
		f->name = str_at(&r, strs, nstrings_bytes, false);
		f->file = str_at(&r, strs, nstrings_bytes, false);
		f->first = (uint32_t)get(&r, 4);
		f->last = (uint32_t)get(&r, 4);
	}
	for (uint32_t i = 0; i < c->nentries; i++) {
		struct hl_symcache_entry *e = &c->entries[i];
		e->offset = get(&r, 8);
		e->first = (uint32_t)get(&r, 4);
		e->n = (uint32_t)get(&r, 4);
		if (e->n == 0 || e->n > MAX_CHAIN || e->first > c->nframes ||
		    e->n > c->nframes - e->first)
			goto bad;
	}
	for (uint32_t i = 0; i < c->nframes; i++) {
		struct hl_symcache_frame *f = &c->frames[i];
		f->function = str_at(&r, strs, nstrings_bytes, true);
		f->file = str_at(&r, strs, nstrings_bytes, true);
		f->line = (uint32_t)get(&r, 4);
		f->column = (uint32_t)get(&r, 4);
		f->flags = (uint32_t)get(&r, 4);
		f->func = (int32_t)(uint32_t)get(&r, 4);
		f->symbol_offset = get(&r, 8);
		if (f->func < -1 || (f->func >= 0 && (uint32_t)f->func >= c->nfuncs) ||
		    f->line >= 1u << 30 || f->column >= 1u << 30)
			goto bad;
	}
	if (r.bad || r.p != r.end)
		goto bad;
	utimensat(AT_FDCWD, path, NULL, 0); /* used: the last to go (trim_dir) */
	return 0;
bad:
	if (!c->blob)
		free(file);
	hl_symcache_free(c);
	return -1;
}

void hl_symcache_free(struct hl_symcache *c)
{
	free(c->funcs);
	free(c->entries);
	free(c->frames);
	free(c->blob);
	memset(c, 0, sizeof(*c));
}

/* ---- writing ------------------------------------------------------------ */

/* Strings by address: the symbolizer interns them, so one address is one
 * string. */
struct str_ref {
	const char *s;
	uint32_t ref;
	UT_hash_handle hh;
};

struct wr {
	uint8_t *buf;
	size_t len, cap;
	bool bad;
	struct str_ref *refs;
	char *strs;
	size_t slen, scap;
};

static void put(struct wr *w, uint64_t v, int bytes)
{
	if (w->bad)
		return;
	if (w->len + 8 > w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 65536;
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->bad = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	for (int i = 0; i < bytes; i++)
		w->buf[w->len++] = (uint8_t)(v >> (8 * i));
}

static uint32_t ref_of(struct wr *w, const char *s)
{
	struct str_ref *e;
	size_t n;

	if (!s || w->bad)
		return 0;
	HASH_FIND_PTR(w->refs, &s, e);
	if (e)
		return e->ref;
	n = strlen(s) + 1;
	if (w->slen + n > UINT32_MAX - 1 || !(e = malloc(sizeof(*e)))) {
		w->bad = true;
		return 0;
	}
	if (w->slen + n > w->scap) {
		size_t cap = w->scap ? 2 * w->scap : 65536;
		char *b;
		while (cap < w->slen + n)
			cap *= 2;
		if (!(b = realloc(w->strs, cap))) {
			free(e);
			w->bad = true;
			return 0;
		}
		w->strs = b;
		w->scap = cap;
	}
	memcpy(w->strs + w->slen, s, n);
	e->s = s;
	e->ref = (uint32_t)w->slen + 1;
	w->slen += n;
	HASH_ADD_PTR(w->refs, s, e);
	return e->ref;
}

static int write_file(const char *path, const uint8_t *a, size_t alen, const char *b, size_t blen,
		      const uint8_t *c, size_t clen)
{
	char tmp[4300];
	int fd, ok = 1;
	uint8_t sum[8];
	uint64_t h = fnv1a(fnv1a(fnv1a(FNV_INIT, a, alen), b, blen), c, clen);
	const void *parts[4] = {a, b, c, sum};
	size_t lens[4] = {alen, blen, clen, sizeof(sum)};

	for (int i = 0; i < 8; i++)
		sum[i] = (uint8_t)(h >> (8 * i));

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	for (int i = 0; i < 4 && ok; i++) {
		const uint8_t *p = parts[i];
		size_t left = lens[i];
		while (left && ok) {
			ssize_t n = write(fd, p, left);
			if (n <= 0)
				ok = 0;
			else {
				p += n;
				left -= (size_t)n;
			}
		}
	}
	if (close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* mkdir -p, private. */
static int make_dir(const char *dir)
{
	char p[4096];
	size_t n = strlen(dir);

	if (n >= sizeof(p))
		return -1;
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return -1;
		p[i] = c;
	}
	return 0;
}

struct old_file {
	char name[80];
	uint64_t mtime_ns, bytes;
};

static int cmp_mtime(const void *a, const void *b)
{
	const struct old_file *x = a, *y = b;

	return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

/* Past DIR_MAX bytes of cache files, the least recently used go until
 * DIR_KEEP remain (as ccache keeps its size).  Files in use are never
 * harmed: a reader has read its file whole, and a writer renames a new one
 * into place. */
static void trim_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct old_file *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		size_t len = strlen(de->d_name);

		if (len < 5 || len >= sizeof(v->name) || strcmp(de->d_name + len - 4, ".sym") != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 256;
			struct old_file *nv = realloc(v, nc * sizeof(*v));
			if (!nv)
				break;
			v = nv;
			cap = nc;
		}
		memcpy(v[n].name, de->d_name, len + 1);
		v[n].mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
		v[n].bytes = (uint64_t)st.st_size;
		total += v[n].bytes;
		n++;
	}
	if (total > DIR_MAX) {
		qsort(v, n, sizeof(*v), cmp_mtime);
		for (size_t i = 0; i < n && total > DIR_KEEP; i++)
			if (unlinkat(dirfd(d), v[i].name, 0) == 0)
				total -= v[i].bytes;
	}
	closedir(d);
	free(v);
}

int hl_symcache_save(const uint8_t *build_id, size_t len, const struct hl_symcache *c)
{
	char path[4200];
	struct wr head = {0}, body = {0};
	struct str_ref *e, *et;
	int ret = -1;

	if (c->nstamps == 0 || c->nstamps > HL_SYMCACHE_MAX_STAMPS ||
	    file_name(build_id, len, path, sizeof(path)) || make_dir(hl_symcache_dir()))
		return -1;
	/* The strings are named as the records go; the records after the
	 * strings in the file, so they go to a buffer of their own. */
	body.refs = NULL;
	for (uint32_t i = 0; i < c->nfuncs; i++) {
		put(&body, ref_of(&head, c->funcs[i].name), 4);
		put(&body, ref_of(&head, c->funcs[i].file), 4);
		put(&body, c->funcs[i].first, 4);
		put(&body, c->funcs[i].last, 4);
	}
	for (uint32_t i = 0; i < c->nentries; i++) {
		put(&body, c->entries[i].offset, 8);
		put(&body, c->entries[i].first, 4);
		put(&body, c->entries[i].n, 4);
	}
	for (uint32_t i = 0; i < c->nframes; i++) {
		const struct hl_symcache_frame *f = &c->frames[i];
		put(&body, ref_of(&head, f->function), 4);
		put(&body, ref_of(&head, f->file), 4);
		put(&body, f->line, 4);
		put(&body, f->column, 4);
		put(&body, f->flags, 4);
		put(&body, (uint32_t)f->func, 4);
		put(&body, f->symbol_offset, 8);
	}
	for (int i = 0; i < 8; i++)
		put(&head, (uint8_t)magic[i], 1);
	put(&head, c->nstamps, 4);
	put(&head, c->nfuncs, 4);
	put(&head, c->nentries, 4);
	put(&head, c->nframes, 4);
	size_t slen_at = head.len;
	put(&head, 0, 4); /* strings_bytes, once the stamps' paths are in */
	for (uint32_t i = 0; i < c->nstamps; i++) {
		put(&head, ref_of(&head, c->stamps[i].path), 4);
		put(&head, c->stamps[i].dev, 8);
		put(&head, c->stamps[i].ino, 8);
		put(&head, c->stamps[i].size, 8);
		put(&head, c->stamps[i].mtime_ns, 8);
	}
	if (!head.bad && !body.bad && head.slen > 0) {
		for (int i = 0; i < 4; i++)
			head.buf[slen_at + i] = (uint8_t)(head.slen >> (8 * i));
		ret = write_file(path, head.buf, head.len, head.strs, head.slen, body.buf,
				 body.len);
		if (ret == 0)
			trim_dir(hl_symcache_dir());
	}
	HASH_ITER(hh, head.refs, e, et)
	{
		HASH_DEL(head.refs, e);
		free(e);
	}
	free(head.buf);
	free(head.strs);
	free(body.buf);
	return ret;
}
