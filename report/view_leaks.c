/* view_leaks.c — memory not freed at exit (view "leaks"): the blocks live
 * when the trace ended, grouped by the site that allocated them, most bytes
 * first.  (heapline check classifies them; this view only counts.) */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "views.h"

static size_t leak_sites(const struct hl_view_ctx *c, const struct hl_site ***out, size_t *all)
{
	size_t n = hl_sites_count(c->sites);
	const struct hl_site **v = calloc(n ? n : 1, sizeof(*v));

	*out = v;
	*all = v ? hl_sites_top(c->sites, HL_SITE_LEAKED, v, n) : 0;
	return *all < c->o->top ? *all : c->o->top;
}

void hl_view_leaks_text(FILE *f, const struct hl_view_ctx *c)
{
	static const enum hl_site_col cols[] = {HL_SCOL_LEAKED, HL_SCOL_PERCENT,
						HL_SCOL_LEAKED_BLOCKS, HL_SCOL_CALLS};
	const struct hl_summary *s = c->summary;
	const struct hl_site **v;
	size_t all, n = leak_sites(c, &v, &all);
	char a[64];

	hl_fmt_title(f, "Not freed at exit: %s", c->path);
	hl_fmt_size(a, sizeof(a), (int64_t)s->leaked_bytes,
		    hl_unit_pick(c->o->unit, s->leaked_bytes), c->o->precision);
	fprintf(f, "%s in %" PRIu64 " block%s from %zu site%s%s\n", a + strspn(a, " "),
		s->leaked_blocks, s->leaked_blocks == 1 ? "" : "s", all, all == 1 ? "" : "s",
		s->ended ? ""
			 : " (the trace has no end record: the process did not exit normally)");
	if (n) {
		fputc('\n', f);
		hl_sites_print_table(f, c, v, n, cols, 4, s->leaked_bytes);
	}
	if (all > n) {
		uint64_t rest = 0, blocks = 0;
		for (size_t i = n; i < all; i++) {
			rest += v[i]->s.leaked_bytes;
			blocks += v[i]->s.leaked_blocks;
		}
		hl_fmt_size(a, sizeof(a), (int64_t)rest, hl_unit_pick(c->o->unit, rest),
			    c->o->precision);
		fprintf(f,
			"... and %zu more site%s: %s in %" PRIu64 " block%s (--top to see more)\n",
			all - n, all - n == 1 ? "" : "s", a + strspn(a, " "), blocks,
			blocks == 1 ? "" : "s");
	}
	free(v);
}

void hl_view_leaks_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	const struct hl_site **v;
	size_t all, n = leak_sites(c, &v, &all);

	hl_json_begin_object(j);
	hl_json_kv_uint(j, "leaked_bytes", c->summary->leaked_bytes);
	hl_json_kv_uint(j, "leaked_blocks", c->summary->leaked_blocks);
	hl_json_kv_uint(j, "site_count", all);
	hl_json_key(j, "sites");
	hl_json_begin_array(j);
	for (size_t i = 0; i < n; i++)
		hl_site_json(j, v[i], hl_agg_has_peak(c->agg));
	hl_json_end_array(j);
	hl_json_end_object(j);
	free(v);
}
