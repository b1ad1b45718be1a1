/* hl_modules.c — module snapshots and the writer's known-module table.
 * Exports hl_modules_*.  Never calls malloc: snapshots go into caller
 * buffers or mmap (hl_modules_snapshot_fit), the table into hl_arena memory.
 *
 * Snapshot entry layout (8-byte aligned):
 *   u64 bias, u64 lo, u64 hi, u16 path_len, u8 build_id_len, u8 pad[5],
 *   path bytes, build-id bytes, zero padding to 8. */
#include "hl_modules.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hl_arena.h"
#include "hl_encode.h"

struct snap_entry {
	uint64_t bias, lo, hi;
	uint16_t path_len;
	uint8_t build_id_len;
	uint8_t pad[5];
};

struct known {
	uint64_t id, bias, lo, hi;
	uint64_t path_hash;
	int seen; /* in the snapshot being applied */
};

static char exe_path[4096];
static struct known *known;
static size_t nknown, known_cap;
static uint64_t next_id = 1;

void hl_modules_init(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	exe_path[n > 0 ? n : 0] = '\0';
}

static const char *module_path(const struct dl_phdr_info *info)
{
	if (info->dlpi_name && info->dlpi_name[0])
		return info->dlpi_name;
	return exe_path;
}

/* The GNU build-id note, read from the loaded image itself. */
static size_t build_id(const struct dl_phdr_info *info, const uint8_t **out)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
			const uint8_t *d = p + sizeof(*nh) + name;
			if (d + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(p + sizeof(*nh), "GNU", 4) && nh->n_descsz <= 255) {
				*out = d;
				return nh->n_descsz;
			}
			p = d + desc;
		}
	}
	*out = NULL;
	return 0;
}

static void range(const struct dl_phdr_info *info, uint64_t *lo, uint64_t *hi)
{
	uint64_t l = ~0ull, h = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
		if (s < l)
			l = s;
		if (e > h)
			h = e;
	}
	*lo = l == ~0ull ? 0 : l;
	*hi = h;
}

struct snap_ctx {
	uint8_t *buf;
	size_t cap, need, written;
	int full;
};

static int snap_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct snap_ctx *c = arg;
	(void)size;
	const char *path = module_path(info);
	const uint8_t *bid;
	size_t blen = build_id(info, &bid);
	size_t plen = strlen(path);
	if (plen > 4096)
		plen = 4096;
	size_t len = (sizeof(struct snap_entry) + plen + blen + 7) & ~(size_t)7;
	if (!c->full && c->written + len > c->cap)
		c->full = 1;
	if (!c->full) {
		struct snap_entry *se = (struct snap_entry *)(c->buf + c->written);
		se->bias = info->dlpi_addr;
		range(info, &se->lo, &se->hi);
		se->path_len = (uint16_t)plen;
		se->build_id_len = (uint8_t)blen;
		memcpy(se + 1, path, plen);
		if (blen)
			memcpy((uint8_t *)(se + 1) + plen, bid, blen);
		c->written += len;
	}
	c->need += len;
	return 0;
}

size_t hl_modules_snapshot(void *buf, size_t cap, size_t *written)
{
	struct snap_ctx c = {buf, cap, 0, 0, 0};
	dl_iterate_phdr(snap_cb, &c);
	if (written)
		*written = c.written;
	return c.need;
}

/* A snapshot of the loaded modules into *buf (an mmap grown to fit).
 * Returns its length, 0 if memory ran out. */
size_t hl_modules_snapshot_fit(uint8_t **buf, size_t *cap)
{
	for (int tries = 0; tries < 4; tries++) {
		size_t need = hl_modules_snapshot(NULL, 0, NULL), written;
		if (need > *cap) {
			size_t ncap = (need + 4096 + 4095) & ~(size_t)4095;
			void *b = mmap(NULL, ncap, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (b == MAP_FAILED)
				return 0;
			if (*buf)
				munmap(*buf, *cap);
			*buf = b;
			*cap = ncap;
		}
		if (hl_modules_snapshot(*buf, *cap, &written) <= *cap)
			return written; /* all of it (a module may have come since) */
	}
	return 0;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

int hl_modules_apply(struct hl_enc *e, const void *snap, size_t len)
{
	const uint8_t *p = snap, *end = p + len;
	for (size_t i = 0; i < nknown; i++)
		known[i].seen = 0;
	while (p + sizeof(struct snap_entry) <= end) {
		const struct snap_entry *se = (const struct snap_entry *)p;
		const char *path = (const char *)(se + 1);
		size_t elen = (sizeof(*se) + se->path_len + se->build_id_len + 7) & ~(size_t)7;
		if (p + elen > end)
			break;
		uint64_t ph = hash_bytes(path, se->path_len);
		struct known *k = NULL;
		for (size_t i = 0; i < nknown; i++)
			if (known[i].bias == se->bias && known[i].lo == se->lo &&
			    known[i].path_hash == ph) {
				k = &known[i];
				break;
			}
		if (!k) {
			char pbuf[4097];
			memcpy(pbuf, path, se->path_len);
			pbuf[se->path_len] = '\0';
			if (hl_enc_room(e) < 128u + se->path_len + se->build_id_len)
				return -ENOSPC;
			if (nknown == known_cap) {
				size_t ncap = known_cap ? 2 * known_cap : 64;
				struct known *g = hl_arena_grow(known, known_cap * sizeof(*known),
								ncap * sizeof(*known));
				if (!g)
					return -ENOMEM;
				known = g;
				known_cap = ncap;
			}
			k = &known[nknown++];
			k->id = next_id++;
			k->bias = se->bias;
			k->lo = se->lo;
			k->hi = se->hi;
			k->path_hash = ph;
			hl_enc_module_load(e, k->id, se->bias, se->lo, se->hi, pbuf,
					   (const uint8_t *)path + se->path_len, se->build_id_len);
		}
		k->seen = 1;
		p += elen;
	}
	/* Modules absent from the snapshot were unloaded. */
	for (size_t i = 0; i < nknown;) {
		if (known[i].seen) {
			i++;
			continue;
		}
		if (hl_enc_room(e) < 32)
			return -ENOSPC;
		hl_enc_module_unload(e, known[i].id);
		known[i] = known[--nknown];
	}
	return 0;
}

int hl_modules_known_ip(uint64_t ip)
{
	for (size_t i = 0; i < nknown; i++)
		if (ip >= known[i].lo && ip < known[i].hi)
			return 1;
	return 0;
}

void hl_modules_forget(void)
{
	known = NULL;
	nknown = known_cap = 0;
	next_id = 1;
}

struct self_ctx {
	uint64_t addr, lo, hi;
};

static int self_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct self_ctx *c = arg;
	uint64_t lo, hi;
	range(info, &lo, &hi);
	if (c->addr >= lo && c->addr < hi) {
		c->lo = lo;
		c->hi = hi;
		return 1;
	}
	return 0;
}

void hl_modules_self_range(uint64_t *lo, uint64_t *hi)
{
	struct self_ctx c = {(uint64_t)(uintptr_t)&hl_modules_self_range, 0, 0};
	dl_iterate_phdr(self_cb, &c);
	*lo = c.lo;
	*hi = c.hi;
}
