/* make_seeds.c — turns real traces into the seed corpus of fuzz_trace.c.
 * Usage: make_seeds OUTDIR TRACE...
 *
 * For each trace it writes, named after the trace:
 *   .hlt             the file as is
 *   .cut-*           the file truncated inside the header, a block header, a
 *                    zstd frame, and by its last byte
 *   .flip-*          the file with one bit flipped in the version, a block's
 *                    lengths, its frame header, its middle and its checksum
 *   .rec             its records (every block decompressed, joined by "HBLK":
 *                    fuzz_trace.c's record input), so mutations reach the
 *                    record decoder and the replay behind the zstd checksum
 *   .rec-cut, .rec-flip-*  the records cut in half, and with one bit flipped
 *                    at a few places (valid frames of odd records)
 * Exit 0, or 1 with a message if a trace cannot be read or a seed written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "hl_format.h"

static const char *outdir;

static int put(const char *name, const char *kind, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", outdir, name, kind);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

/* Writes the file with bit `bit` of byte `at` flipped (if the file has it). */
static int put_flip(const char *name, const char *kind, uint8_t *p, size_t n, size_t at,
		    unsigned bit)
{
	if (at >= n)
		return 0;
	p[at] ^= (uint8_t)(1u << bit);
	int ret = put(name, kind, p, n);
	p[at] ^= (uint8_t)(1u << bit);
	return ret;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *np = realloc(p, cap);
			if (!np) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = np;
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	*len = n;
	return p;
}

/* The records of every complete block, joined by "HBLK".  Returns the
 * length, or (size_t)-1 if the trace is not one. */
static size_t records_of(const uint8_t *f, size_t n, uint8_t **out)
{
	size_t off = HL_HEADER_LEN, len = 0, hstart = 0;
	uint8_t *rec = NULL, *hist;
	ZSTD_DCtx *dc;

	if (n < HL_HEADER_LEN || memcmp(f, HL_MAGIC, HL_MAGIC_LEN))
		return (size_t)-1;
	/* a block's frame may refer to the records before it (trace-format.md) */
	hist = malloc(HL_PREFIX_MAX + HL_BLOCK_MAX_RAW);
	if (!hist || !(dc = ZSTD_createDCtx())) {
		free(hist);
		return (size_t)-1;
	}
	while (off + HL_BLOCK_HDR_LEN <= n && hl_get_u32le(f + off) == HL_BLOCK_MAGIC) {
		uint32_t clen = hl_get_u32le(f + off + 4), rlen = hl_get_u32le(f + off + 8);
		if (rlen > HL_BLOCK_MAX_RAW || off + HL_BLOCK_HDR_LEN + clen > n)
			break;
		uint8_t *nr = realloc(rec, len + 4 + rlen + 1);
		if (!nr)
			break;
		rec = nr;
		if (len) {
			memcpy(rec + len, "HBLK", 4);
			len += 4;
		}
		if (hstart && ZSTD_isError(ZSTD_DCtx_refPrefix(dc, hist, hstart)))
			break;
		size_t got = ZSTD_decompressDCtx(dc, hist + hstart, rlen, f + off + HL_BLOCK_HDR_LEN, clen);
		if (ZSTD_isError(got) || got != rlen)
			break;
		memcpy(rec + len, hist + hstart, rlen);
		hstart += rlen;
		if (hstart > HL_PREFIX_MAX) {
			memmove(hist, hist + hstart - HL_PREFIX_MAX, HL_PREFIX_MAX);
			hstart = HL_PREFIX_MAX;
		}
		len += rlen;
		off += HL_BLOCK_HDR_LEN + clen;
	}
	ZSTD_freeDCtx(dc);
	free(hist);
	*out = rec;
	return len;
}

static int seeds_of(const char *path)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	uint8_t *f, *rec = NULL;
	size_t n, rn;
	int bad = 0;

	f = slurp(path, &n);
	if (!f) {
		perror(path);
		return -1;
	}
	rn = records_of(f, n, &rec);
	if (rn == (size_t)-1) {
		fprintf(stderr, "%s: not a heapline trace\n", path);
		free(f);
		return -1;
	}
	/* Where the first block's fields are (docs/trace-format.md). */
	size_t b = HL_HEADER_LEN, frame = b + HL_BLOCK_HDR_LEN;

	bad |= put(name, "hlt", f, n);
	bad |= put(name, "cut-header", f, n < 12 ? n : 12);
	bad |= put(name, "cut-blockhdr", f, n < b + 7 ? n : b + 7);
	bad |= put(name, "cut-frame", f, n < frame + 9 ? n : frame + 9);
	bad |= put(name, "cut-half", f, n / 2);
	bad |= put(name, "cut-last", f, n ? n - 1 : 0);
	bad |= put_flip(name, "flip-version", f, n, 8, 1);
	bad |= put_flip(name, "flip-clen", f, n, b + 4, 3);
	bad |= put_flip(name, "flip-rlen", f, n, b + 9, 0);
	bad |= put_flip(name, "flip-fhd", f, n, frame + 4, 2); /* the checksum flag */
	bad |= put_flip(name, "flip-mid", f, n, n / 2, 5);
	bad |= put_flip(name, "flip-end", f, n, n - 1, 7);
	if (rn) {
		bad |= put(name, "rec", rec, rn);
		bad |= put(name, "rec-cut", rec, rn / 2);
		for (unsigned i = 1; i <= 4; i++) {
			char kind[32];
			snprintf(kind, sizeof(kind), "rec-flip-%u", i);
			bad |= put_flip(name, kind, rec, rn, rn * i / 5, i);
		}
	}
	free(rec);
	free(f);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	int bad = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: make_seeds OUTDIR TRACE...\n");
		return 2;
	}
	outdir = argv[1];
	for (int i = 2; i < argc; i++)
		bad |= seeds_of(argv[i]) != 0;
	return bad;
}
