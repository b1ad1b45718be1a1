/* symcache.h — what the symbolizer learnt of a module's DWARF, kept on disk
 * between reports: one file per build-id, under $HEAPLINE_SYMBOL_CACHE, else
 * $XDG_CACHE_HOME/heapline/symbols, else ~/.cache/heapline/symbols
 * (HEAPLINE_SYMBOL_CACHE=off: none).
 *
 * A file holds, for the return addresses already resolved in that module
 * (by offset from its load address), the frames the symbolizer gave them,
 * and the functions those frames name with their line ranges where known.
 * It also names the files the answers came from (the module's ELF and its
 * separate debug file) with their device, inode, size and modification
 * time: a file is used only while all of them are unchanged, so it answers
 * exactly as reading them again would.  Only modules whose DWARF answered
 * are cached (their symbols cost; an ELF symbol table does not), so a
 * debug file installed later is found.
 *
 * Files are written whole to a temporary name, then renamed: a reader sees
 * the old one or the new one.  Past 256 MiB of files, the least recently
 * used (a load touches its file) go, down to 192 MiB.  Anything unreadable, short, of another
 * version or stamp is ignored (and replaced at the next save). */
#ifndef HL_SYMCACHE_H
#define HL_SYMCACHE_H

#include <stddef.h>
#include <stdint.h>

#define HL_SYMCACHE_MAX_STAMPS 2

struct hl_symcache_stamp {
	const char *path;
	uint64_t dev, ino, size, mtime_ns;
};

struct hl_symcache_func {
	const char *name, *file;
	uint32_t first, last; /* last 0: not computed */
};

#define HL_SYMCACHE_INLINED 1u

struct hl_symcache_frame {
	const char *function, *file; /* NULL if unknown */
	uint32_t line, column, flags;
	int32_t func; /* index in funcs, -1: none */
	uint64_t symbol_offset;
};

struct hl_symcache_entry {
	uint64_t offset; /* ip - load bias */
	uint32_t first, n; /* frames[first .. first + n) */
};

struct hl_symcache {
	struct hl_symcache_stamp stamps[HL_SYMCACHE_MAX_STAMPS];
	uint32_t nstamps;
	struct hl_symcache_func *funcs;
	uint32_t nfuncs;
	struct hl_symcache_frame *frames;
	uint32_t nframes;
	struct hl_symcache_entry *entries;
	uint32_t nentries;
	char *blob; /* a loaded file's strings */
};

/* The directory, or NULL when caching is off or no home is known. */
const char *hl_symcache_dir(void);
/* Fills in a stamp of path (stat); 0 or -1. */
int hl_symcache_stamp(const char *path, struct hl_symcache_stamp *st);
/* Loads the file of build_id if its stamps still hold: 0, or -1 (none,
 * unreadable, stale: *c is then empty). */
int hl_symcache_load(const uint8_t *build_id, size_t len, struct hl_symcache *c);
/* Writes c as the file of build_id.  0, or -1 (nothing written). */
int hl_symcache_save(const uint8_t *build_id, size_t len, const struct hl_symcache *c);
/* What hl_symcache_load allocated. */
void hl_symcache_free(struct hl_symcache *c);

#endif
