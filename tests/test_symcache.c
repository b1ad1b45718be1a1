/* test_symcache.c — the symbol cache's file format (report/symcache.c): a
 * saved cache loads back field for field; every single-byte change, with
 * the file's checksum made right again so the parser sees it, and every
 * truncation, loads as nothing or as a cache whose every index and string
 * is in bounds (never a crash: run it under valgrind or ASan to see more);
 * a stamp that no longer holds (the file's mtime) and a change without the
 * checksum are refused.  Exit 0 pass, 1 fail.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "symcache.h"

static char dir[] = "/tmp/hl-test-symcache.XXXXXX";
static const uint8_t id[] = {0xab, 0xcd, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06};


static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void put_file(const char *path, const uint8_t *p, size_t n, int resum)
{
	uint8_t *b = malloc(n);
	int fd;

	memcpy(b, p, n);
	if (resum && n >= 8) {
		uint64_t h = fnv1a(b, n - 8);
		for (int i = 0; i < 8; i++)
			b[n - 8 + i] = (uint8_t)(h >> (8 * i));
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		perror(path);
	close(fd);
	free(b);
}

static int strings_in(const struct hl_symcache *c, const char *s)
{
	/* Strings live in the loaded file's blob, NUL-terminated there. */
	return s == NULL || (s >= c->blob && strlen(s) < 1u << 20);
}

/* What a successful load promises. */
static void check_sane(const struct hl_symcache *c, const char *what)
{
	CHECK(c->nstamps >= 1 && c->nstamps <= HL_SYMCACHE_MAX_STAMPS, "%s", what);
	for (uint32_t i = 0; i < c->nstamps; i++)
		CHECK(c->stamps[i].path && strings_in(c, c->stamps[i].path), "%s", what);
	for (uint32_t i = 0; i < c->nfuncs; i++)
		CHECK(c->funcs[i].name && c->funcs[i].file && strings_in(c, c->funcs[i].name) &&
			  strings_in(c, c->funcs[i].file),
		      "%s", what);
	for (uint32_t i = 0; i < c->nentries; i++)
		CHECK(c->entries[i].n >= 1 && c->entries[i].n <= 64 &&
			  c->entries[i].first <= c->nframes &&
			  c->entries[i].n <= c->nframes - c->entries[i].first,
		      "%s: entry %u", what, i);
	for (uint32_t i = 0; i < c->nframes; i++)
		CHECK(c->frames[i].func >= -1 && c->frames[i].func < (int32_t)c->nfuncs &&
			  strings_in(c, c->frames[i].function) && strings_in(c, c->frames[i].file),
		      "%s: frame %u", what, i);
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int main(void)
{
	char self[4096], path[4300];
	struct hl_symcache c, back;
	struct hl_symcache_func funcs[] = {
	    {"main", "/src/prog.c", 10, 20}, {"helper", "/src/util.h", 3, 0}, {"näive", "x.c", 1, 1}};
	struct hl_symcache_frame frames[] = {
	    {"helper", "/src/util.h", 5, 2, HL_SYMCACHE_INLINED, 1, 0},
	    {"main", "/src/prog.c", 12, 7, 0, 0, 0},
	    {"memcpy", NULL, 0, 0, 0, -1, 0x1234},
	    {NULL, NULL, 0, 0, 0, -1, 0},
	    {"näive", "x.c", 1, 0, 0, 2, 0},
	};
	struct hl_symcache_entry entries[] = {
	    {0x1000, 0, 2}, {0x2000, 2, 1}, {0x3000, 3, 1}, {0x40000000000, 4, 1}};
	uint8_t *file;
	size_t len;
	struct stat st;
	FILE *f;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	setenv("HEAPLINE_SYMBOL_CACHE", dir, 1);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';

	memset(&c, 0, sizeof(c));
	CHECK(hl_symcache_stamp(self, &c.stamps[0]) == 0, "stamp of %s", self);
	CHECK(hl_symcache_stamp(dir, &c.stamps[1]) != 0, "a directory has no stamp");
	c.nstamps = 1;
	c.funcs = funcs;
	c.nfuncs = 3;
	c.frames = frames;
	c.nframes = 5;
	c.entries = entries;
	c.nentries = 4;
	CHECK(hl_symcache_save(id, sizeof(id), &c) == 0, "save");

	/* Round trip. */
	CHECK(hl_symcache_load(id, sizeof(id), &back) == 0, "load");
	CHECK(back.nstamps == 1 && back.nfuncs == 3 && back.nframes == 5 && back.nentries == 4,
	      "counts %u %u %u %u", back.nstamps, back.nfuncs, back.nframes, back.nentries);
	if (back.nfuncs == 3 && back.nframes == 5 && back.nentries == 4) {
		CHECK(!strcmp(back.stamps[0].path, self) &&
			  back.stamps[0].mtime_ns == c.stamps[0].mtime_ns,
		      "stamp");
		for (int i = 0; i < 3; i++)
			CHECK(same_str(back.funcs[i].name, funcs[i].name) &&
				  same_str(back.funcs[i].file, funcs[i].file) &&
				  back.funcs[i].first == funcs[i].first &&
				  back.funcs[i].last == funcs[i].last,
			      "func %d", i);
		for (int i = 0; i < 5; i++)
			CHECK(same_str(back.frames[i].function, frames[i].function) &&
				  same_str(back.frames[i].file, frames[i].file) &&
				  back.frames[i].line == frames[i].line &&
				  back.frames[i].column == frames[i].column &&
				  back.frames[i].flags == frames[i].flags &&
				  back.frames[i].func == frames[i].func &&
				  back.frames[i].symbol_offset == frames[i].symbol_offset,
			      "frame %d", i);
		for (int i = 0; i < 4; i++)
			CHECK(back.entries[i].offset == entries[i].offset &&
				  back.entries[i].first == entries[i].first &&
				  back.entries[i].n == entries[i].n,
			      "entry %d", i);
	}
	hl_symcache_free(&back);

	/* The file, to damage. */
	snprintf(path, sizeof(path), "%s/abcd010203040506.sym", dir);
	f = fopen(path, "rb");
	CHECK(f && stat(path, &st) == 0, "the file is %s", path);
	if (!f)
		return 1;
	len = (size_t)st.st_size;
	file = malloc(len);
	CHECK(fread(file, 1, len, f) == len, "read");
	fclose(f);

	/* Every byte, three ways, the sum made right: nothing or sane. */
	unsigned loaded = 0, refused = 0;
	for (size_t i = 0; i + 8 < len; i++) {
		static const uint8_t flips[] = {0x01, 0x80, 0xff};
		for (int k = 0; k < 3; k++) {
			char what[64];
			file[i] ^= flips[k];
			put_file(path, file, len, 1);
			snprintf(what, sizeof(what), "byte %zu ^ %#x", i, flips[k]);
			if (hl_symcache_load(id, sizeof(id), &back) == 0) {
				loaded++;
				check_sane(&back, what);
				hl_symcache_free(&back);
			} else {
				refused++;
			}
			file[i] ^= flips[k];
		}
	}
	CHECK(refused > 0 && loaded > 0, "loaded %u, refused %u", loaded, refused);
	/* The same without the sum: all refused. */
	for (size_t i = 0; i < len; i += 7) {
		file[i] ^= 0x10;
		put_file(path, file, len, 0);
		CHECK(hl_symcache_load(id, sizeof(id), &back) != 0, "byte %zu, sum not redone", i);
		file[i] ^= 0x10;
	}
	/* Every truncation, with and without a sum: refused. */
	for (size_t cut = 0; cut < len; cut++) {
		put_file(path, file, cut, 0);
		CHECK(hl_symcache_load(id, sizeof(id), &back) != 0, "cut at %zu", cut);
		put_file(path, file, cut, 1);
		CHECK(hl_symcache_load(id, sizeof(id), &back) != 0, "cut at %zu, sum redone", cut);
	}
	/* Intact again: loads; then a stamp that no longer holds: refused. */
	put_file(path, file, len, 0);
	CHECK(hl_symcache_load(id, sizeof(id), &back) == 0, "intact");
	hl_symcache_free(&back);
	c.stamps[0].mtime_ns++;
	CHECK(hl_symcache_save(id, sizeof(id), &c) == 0, "save with a stale stamp");
	CHECK(hl_symcache_load(id, sizeof(id), &back) != 0, "a stale stamp is refused");
	/* Nothing to load for another build-id. */
	CHECK(hl_symcache_load(id, 4, &back) != 0, "another build-id");

	free(file);
	unlink(path);
	rmdir(dir);
	printf("%s: %u damaged files loaded sane, %u refused\n", failures ? "FAIL" : "ok", loaded,
	       refused);
	return failures ? 1 : 0;
}
