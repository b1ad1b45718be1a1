/* view_top.c — the top allocation sites by bytes allocated, by calls and by
 * bytes live at the global peak (views "top", "top-calls", "top-peak"), and
 * the site table and site JSON the other site views (temporaries, leaks)
 * print with.  A site is a frame of the program's own code with up to
 * --stack-depth callers (sites.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "stacks.h"
#include "summary.h"
#include "views.h"

#define SITE_INDENT "from "

static uint64_t col_value(const struct hl_site *s, enum hl_site_col col)
{
	switch (col) {
	case HL_SCOL_BYTES:
		return s->s.alloc_bytes;
	case HL_SCOL_CALLS:
		return s->s.allocs;
	case HL_SCOL_PEAK:
		return s->s.peak_bytes;
	case HL_SCOL_PEAK_BLOCKS:
		return s->s.peak_blocks;
	case HL_SCOL_LEAKED:
		return s->s.leaked_bytes;
	case HL_SCOL_LEAKED_BLOCKS:
		return s->s.leaked_blocks;
	case HL_SCOL_TEMPS:
		return s->s.temps;
	case HL_SCOL_PERCENT:
		break;
	}
	return 0;
}

static bool col_is_size(enum hl_site_col col)
{
	return col == HL_SCOL_BYTES || col == HL_SCOL_PEAK || col == HL_SCOL_LEAKED;
}

static const char *col_name(enum hl_site_col col)
{
	static const char *const names[] = {
	    [HL_SCOL_BYTES] = "Allocated", [HL_SCOL_CALLS] = "Calls",
	    [HL_SCOL_PEAK] = "At peak",	   [HL_SCOL_PEAK_BLOCKS] = "Blocks",
	    [HL_SCOL_LEAKED] = "Leaked",   [HL_SCOL_LEAKED_BLOCKS] = "Blocks",
	    [HL_SCOL_TEMPS] = "Temporary", [HL_SCOL_PERCENT] = "%",
	};
	return names[col];
}

static int col_width(enum hl_site_col col)
{
	return col_is_size(col) ? 14 : col == HL_SCOL_PERCENT ? 7 : 10;
}

void hl_sites_print_table(FILE *f, const struct hl_view_ctx *c, const struct hl_site **v, size_t n,
			  const enum hl_site_col *cols, size_t ncols, uint64_t total)
{
	enum hl_unit unit[16];
	char buf[64];
	int indent = 4;

	if (ncols > 16)
		ncols = 16;
	/* auto: one unit per column, so a column's values line up */
	for (size_t k = 0; k < ncols; k++) {
		uint64_t max = 0;
		for (size_t i = 0; i < n; i++)
			if (col_value(v[i], cols[k]) > max)
				max = col_value(v[i], cols[k]);
		unit[k] = hl_unit_pick(c->o->unit, max);
	}

	fprintf(f, "%4s", "#");
	for (size_t k = 0; k < ncols; k++) {
		fprintf(f, " %*s", col_width(cols[k]), col_name(cols[k]));
		indent += 1 + col_width(cols[k]);
	}
	fprintf(f, "   %s\n", "Site");
	indent += 3;

	for (size_t i = 0; i < n; i++) {
		const struct hl_site *s = v[i];

		fprintf(f, "%4zu", i + 1);
		for (size_t k = 0; k < ncols; k++) {
			uint64_t x = col_value(s, cols[k]);
			int w = col_width(cols[k]);

			if (cols[k] == HL_SCOL_PERCENT) {
				double pct =
				    total ? 100.0 * (double)col_value(s, cols[0]) / (double)total
					  : 0;
				snprintf(buf, sizeof(buf), "%.1f%%", pct);
				fprintf(f, " %*s", w, buf);
			} else if (col_is_size(cols[k])) {
				fprintf(f, " %*s", w,
					hl_fmt_size(buf, sizeof(buf), (int64_t)x, unit[k],
						    c->o->precision));
			} else {
				fprintf(f, " %*" PRIu64, w, x);
			}
		}
		fputs("   ", f);
		for (unsigned fr = 0; fr < s->nframes; fr++) {
			if (fr)
				fprintf(f, "%*s" SITE_INDENT, indent, "");
			hl_frame_print(f, s->frames[fr]);
			fputc('\n', f);
		}
		if (!s->nframes)
			fputs("??\n", f);
	}
}

void hl_site_json(struct hl_json *j, const struct hl_site *s, int with_peak)
{
	hl_json_begin_object(j);
	hl_json_kv_uint(j, "bytes_allocated", s->s.alloc_bytes);
	hl_json_kv_uint(j, "allocations", s->s.allocs);
	hl_json_kv_uint(j, "temporary", s->s.temps);
	hl_json_kv_uint(j, "temporary_bytes", s->s.temp_bytes);
	hl_json_kv_uint(j, "leaked_bytes", s->s.leaked_bytes);
	hl_json_kv_uint(j, "leaked_blocks", s->s.leaked_blocks);
	if (with_peak) {
		hl_json_kv_uint(j, "peak_bytes", s->s.peak_bytes);
		hl_json_kv_uint(j, "peak_blocks", s->s.peak_blocks);
	}
	hl_json_kv_uint(j, "stacks", s->stacks);
	hl_json_kv_bool(j, "own_code", s->own);
	hl_json_key(j, "frames");
	hl_json_begin_array(j);
	for (unsigned i = 0; i < s->nframes; i++)
		hl_frame_json(j, s->frames[i]);
	hl_json_end_array(j);
	hl_json_end_object(j);
}

/* ---- the three views ---------------------------------------------------------- */

#define MAX_TOP 100000

static size_t top_of(const struct hl_view_ctx *c, enum hl_site_key key, const struct hl_site ***out)
{
	size_t n = c->o->top < MAX_TOP ? c->o->top : MAX_TOP;
	const struct hl_site **v = calloc(n ? n : 1, sizeof(*v));

	*out = v;
	return v ? hl_sites_top(c->sites, key, v, n) : 0;
}

static void top_text(FILE *f, const struct hl_view_ctx *c, enum hl_site_key key, const char *what,
		     const enum hl_site_col *cols, size_t ncols, uint64_t total)
{
	const struct hl_site **v;
	size_t n = top_of(c, key, &v);

	hl_fmt_title(f, "Top allocation sites by %s: %s", what, c->path);
	if (n)
		hl_sites_print_table(f, c, v, n, cols, ncols, total);
	else
		fputs("none\n", f);
	free(v);
}

static void top_json(struct hl_json *j, const struct hl_view_ctx *c, enum hl_site_key key)
{
	const struct hl_site **v;
	size_t n = top_of(c, key, &v);

	hl_json_begin_array(j);
	for (size_t i = 0; i < n; i++)
		hl_site_json(j, v[i], hl_agg_has_peak(c->agg));
	hl_json_end_array(j);
	free(v);
}

void hl_view_top_bytes_text(FILE *f, const struct hl_view_ctx *c)
{
	static const enum hl_site_col cols[] = {HL_SCOL_BYTES, HL_SCOL_PERCENT, HL_SCOL_CALLS,
						HL_SCOL_LEAKED};
	top_text(f, c, HL_SITE_BYTES, "bytes allocated", cols, 4, c->summary->bytes_allocated);
}

void hl_view_top_bytes_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	top_json(j, c, HL_SITE_BYTES);
}

void hl_view_top_calls_text(FILE *f, const struct hl_view_ctx *c)
{
	static const enum hl_site_col cols[] = {HL_SCOL_CALLS, HL_SCOL_PERCENT, HL_SCOL_BYTES,
						HL_SCOL_TEMPS};
	top_text(f, c, HL_SITE_CALLS, "allocation calls", cols, 4, c->summary->allocations);
}

void hl_view_top_calls_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	top_json(j, c, HL_SITE_CALLS);
}

void hl_view_top_peak_text(FILE *f, const struct hl_view_ctx *c)
{
	static const enum hl_site_col cols[] = {HL_SCOL_PEAK, HL_SCOL_PERCENT, HL_SCOL_PEAK_BLOCKS,
						HL_SCOL_BYTES};
	char what[128], a[64], b[32];
	uint64_t ms, peak = hl_agg_peak(c->agg, &ms);

	hl_fmt_size(a, sizeof(a), (int64_t)peak, hl_unit_pick(c->o->unit, peak), c->o->precision);
	snprintf(what, sizeof(what), "bytes live at the peak (%s at %s)", a + strspn(a, " "),
		 hl_fmt_ms(b, sizeof(b), ms));
	top_text(f, c, HL_SITE_PEAK, what, cols, 4, peak);
}

void hl_view_top_peak_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	top_json(j, c, HL_SITE_PEAK);
}
