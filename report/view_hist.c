/* view_hist.c — the allocation size histogram (view "hist"): requested
 * sizes in power-of-two buckets, calls and bytes per bucket, with a bar. */
#include <inttypes.h>
#include <string.h>

#include "summary.h"
#include "views.h"

#define BAR_WIDTH 40

/* "0 B", "512 B", "8 KiB", ... : bucket bounds are powers of two. */
static const char *pow2_name(char *buf, size_t len, unsigned k)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

	snprintf(buf, len, "%llu %s", 1ull << (k % 10), units[k / 10]);
	return buf;
}

/* The range of buckets with anything in them: [lo, hi], or lo > hi. */
static void used_range(const struct hl_hist_bucket *h, unsigned *lo, unsigned *hi)
{
	*lo = HL_HIST_BUCKETS;
	*hi = 0;
	for (unsigned b = 0; b < HL_HIST_BUCKETS; b++) {
		if (!h[b].calls)
			continue;
		if (b < *lo)
			*lo = b;
		*hi = b;
	}
}

void hl_view_hist_text(FILE *f, const struct hl_view_ctx *c)
{
	const struct hl_hist_bucket *h = hl_agg_histogram(c->agg);
	uint64_t max_calls = 0, max_bytes = 0;
	unsigned lo, hi;
	enum hl_unit unit;
	char a[32], b[32], s[64];

	hl_fmt_title(f, "Allocation sizes: %s", c->path);
	used_range(h, &lo, &hi);
	if (lo > hi) {
		fputs("no allocations\n", f);
		return;
	}
	for (unsigned k = lo; k <= hi; k++) {
		max_calls = h[k].calls > max_calls ? h[k].calls : max_calls;
		max_bytes = h[k].bytes > max_bytes ? h[k].bytes : max_bytes;
	}
	unit = hl_unit_pick(c->o->unit, max_bytes);
	fprintf(f, "%21s %10s %14s\n", "Size", "Calls", "Bytes");
	for (unsigned k = lo; k <= hi; k++) {
		char range[80];
		int bar = 0;

		if (k == 0)
			snprintf(range, sizeof(range), "0 B");
		else
			snprintf(range, sizeof(range), "%s .. <%s", pow2_name(a, sizeof(a), k - 1),
				 k < 64 ? pow2_name(b, sizeof(b), k) : "16 EiB");
		if (h[k].calls)
			bar = 1 + (int)((double)(BAR_WIDTH - 1) * (double)h[k].calls /
					(double)max_calls);
		fprintf(f, "%21s %10" PRIu64 " %14s", range, h[k].calls,
			hl_fmt_size(s, sizeof(s), (int64_t)h[k].bytes, unit, c->o->precision));
		if (bar)
			fputs("   ", f);
		for (int i = 0; i < bar; i++)
			fputc('#', f);
		fputc('\n', f);
	}
}

void hl_view_hist_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	const struct hl_hist_bucket *h = hl_agg_histogram(c->agg);
	unsigned lo, hi;

	used_range(h, &lo, &hi);
	hl_json_begin_array(j);
	for (unsigned k = lo; k <= hi && lo <= hi; k++) {
		uint64_t min, max;

		hl_hist_bucket_range(k, &min, &max);
		hl_json_begin_object(j);
		hl_json_kv_uint(j, "min_bytes", min);
		hl_json_kv_uint(j, "max_bytes", max);
		hl_json_kv_uint(j, "calls", h[k].calls);
		hl_json_kv_uint(j, "bytes", h[k].bytes);
		hl_json_end_object(j);
	}
	hl_json_end_array(j);
}
