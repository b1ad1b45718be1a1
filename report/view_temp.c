/* view_temp.c — temporary allocations (view "temp"): how many allocations
 * were freed before their thread allocated anything else (heaptrack's
 * definition, see aggregate.c), and the sites that made the most. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "views.h"

static size_t temp_sites(const struct hl_view_ctx *c, const struct hl_site ***out)
{
	size_t n = c->o->top ? c->o->top : 1;
	const struct hl_site **v = calloc(n, sizeof(*v));

	*out = v;
	return v ? hl_sites_top(c->sites, HL_SITE_TEMPS, v, c->o->top) : 0;
}

void hl_view_temp_text(FILE *f, const struct hl_view_ctx *c)
{
	static const enum hl_site_col cols[] = {HL_SCOL_TEMPS, HL_SCOL_PERCENT, HL_SCOL_CALLS,
						HL_SCOL_BYTES};
	uint64_t bytes, temps = hl_agg_temporaries(c->agg, &bytes);
	uint64_t allocs = c->summary->allocations;
	const struct hl_site **v;
	size_t n = temp_sites(c, &v);
	char a[64];

	hl_fmt_title(f, "Temporary allocations: %s", c->path);
	hl_fmt_size(a, sizeof(a), (int64_t)bytes, hl_unit_pick(c->o->unit, bytes), c->o->precision);
	fprintf(f,
		"%" PRIu64 " of %" PRIu64 " allocations (%.1f%%) were freed before their thread "
		"allocated again, %s in all\n",
		temps, allocs, allocs ? 100.0 * (double)temps / (double)allocs : 0.0,
		a + strspn(a, " "));
	if (n) {
		fputc('\n', f);
		hl_sites_print_table(f, c, v, n, cols, 4, temps);
	}
	free(v);
}

void hl_view_temp_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	uint64_t bytes, temps = hl_agg_temporaries(c->agg, &bytes);
	const struct hl_site **v;
	size_t n = temp_sites(c, &v);

	hl_json_begin_object(j);
	hl_json_kv_uint(j, "temporary", temps);
	hl_json_kv_uint(j, "temporary_bytes", bytes);
	hl_json_kv_uint(j, "allocations", c->summary->allocations);
	hl_json_key(j, "sites");
	hl_json_begin_array(j);
	for (size_t i = 0; i < n; i++)
		hl_site_json(j, v[i], hl_agg_has_peak(c->agg));
	hl_json_end_array(j);
	hl_json_end_object(j);
	free(v);
}
