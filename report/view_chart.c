/* view_chart.c — memory over time (view "chart"): the live heap and the
 * resident set as a 72 x 16 character chart, the peak marked, axes labelled
 * with time and size; in JSON, the aggregator's samples.
 *
 * The aggregator keeps, per time slot, the most heap live in it, the heap
 * live at its end and the largest RSS sample; a slot with no event holds
 * what the slot before it ended with.  A column shows the most of the slots
 * it covers, so the peak is never lost to downsampling. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "summary.h"
#include "views.h"

#define CHART_W 72
#define CHART_H 16
#define LABEL_W 13

/* Slot values with the gaps filled from the slot before. */
struct filled {
	uint64_t live[HL_TIMELINE_SLOTS], rss[HL_TIMELINE_SLOTS];
	bool has_rss[HL_TIMELINE_SLOTS];
	size_t n; /* slots up to the end of the trace */
	uint64_t end_ms;
};

static void fill(struct filled *fl, const struct hl_view_ctx *c)
{
	const struct hl_timeline *tl = hl_agg_timeline(c->agg);
	uint64_t live = 0, rss = 0;
	bool has_rss = false;

	fl->end_ms = c->summary->duration_ms > tl->end_ms ? c->summary->duration_ms : tl->end_ms;
	fl->n = fl->end_ms / tl->slot_ms + 1;
	if (fl->n > HL_TIMELINE_SLOTS)
		fl->n = HL_TIMELINE_SLOTS;
	for (size_t i = 0; i < fl->n; i++) {
		const struct hl_timeline_slot *s = &tl->slot[i];

		fl->live[i] = s->has_live ? s->max_live : live;
		if (s->has_live)
			live = s->last_live;
		if (s->has_rss) {
			rss = s->max_rss_kib * 1024;
			has_rss = true;
		}
		fl->rss[i] = rss;
		fl->has_rss[i] = has_rss;
	}
}

static void put_label(char *row, const char *s)
{
	size_t n = strlen(s);

	memset(row, ' ', LABEL_W);
	if (n > LABEL_W - 1)
		n = LABEL_W - 1;
	memcpy(row + LABEL_W - 1 - n, s, n);
}

static void put_row(FILE *f, char *row, size_t len)
{
	while (len && row[len - 1] == ' ')
		len--;
	fwrite(row, 1, len, f);
	fputc('\n', f);
}

void hl_view_chart_text(FILE *f, const struct hl_view_ctx *c)
{
	struct filled *fl = malloc(sizeof(*fl)); /* 24 KiB: not on the stack */
	const struct hl_timeline *tl = hl_agg_timeline(c->agg);
	uint64_t live[CHART_W] = {0}, rss[CHART_W] = {0}, ymax = 0, peak_ms;
	uint64_t peak = hl_agg_peak(c->agg, &peak_ms);
	bool any_rss = false, both = false;
	enum hl_unit unit;
	char row[LABEL_W + 2 + CHART_W + 64], a[64], b[64];

	hl_fmt_title(f, "Memory over time: %s", c->path);
	if (!fl) {
		fputs("out of memory\n", f);
		return;
	}
	fill(fl, c);
	uint64_t end_ms = fl->end_ms;
	double span = (double)end_ms + 1; /* columns cover [0, end_ms] */
	for (int col = 0; col < CHART_W; col++) {
		double t0 = span * col / CHART_W, t1 = span * (col + 1) / CHART_W;
		size_t s0 = (size_t)(t0 / tl->slot_ms), s1 = (size_t)((t1 - 1e-9) / tl->slot_ms);

		if (s1 < s0)
			s1 = s0;
		for (size_t s = s0; s <= s1 && s < fl->n; s++) {
			live[col] = fl->live[s] > live[col] ? fl->live[s] : live[col];
			rss[col] = fl->rss[s] > rss[col] ? fl->rss[s] : rss[col];
			any_rss |= fl->has_rss[s];
		}
		ymax = live[col] > ymax ? live[col] : ymax;
		ymax = rss[col] > ymax ? rss[col] : ymax;
	}
	free(fl);
	if (!ymax) {
		fputs("no heap or RSS samples\n", f);
		return;
	}
	unit = hl_unit_pick(c->o->unit, ymax);

	for (int r = CHART_H; r >= 1; r--) {
		char *p = row + LABEL_W + 2;

		memset(row, ' ', sizeof(row));
		if (r == CHART_H)
			put_label(row,
				  hl_fmt_size(a, sizeof(a), (int64_t)ymax, unit, c->o->precision));
		else if (r == CHART_H / 2)
			put_label(row, hl_fmt_size(a, sizeof(a), (int64_t)(ymax / 2), unit,
						   c->o->precision));
		row[LABEL_W] = '|';
		for (int col = 0; col < CHART_W; col++) {
			/* Heights round up, so anything nonzero shows and the
			 * peak reaches the top row. */
			uint64_t h = (live[col] * CHART_H + ymax - 1) / ymax;
			uint64_t hr = (rss[col] * CHART_H + ymax - 1) / ymax;

			if (h >= (uint64_t)r)
				p[col] = '#';
			if (hr == (uint64_t)r) {
				both |= p[col] == '#';
				p[col] = p[col] == '#' ? '*' : 'o';
			}
		}
		put_row(f, row, LABEL_W + 2 + CHART_W);
	}
	memset(row, '-', sizeof(row));
	put_label(row, hl_fmt_size(a, sizeof(a), 0, unit, c->o->precision));
	row[LABEL_W] = '+';
	put_row(f, row, LABEL_W + 2 + CHART_W);

	/* Time axis: start, middle, end. */
	memset(row, ' ', sizeof(row));
	hl_fmt_ms(a, sizeof(a), 0);
	memcpy(row + LABEL_W + 2, a, strlen(a));
	hl_fmt_ms(a, sizeof(a), end_ms / 2);
	memcpy(row + LABEL_W + 2 + CHART_W / 2 - strlen(a) / 2, a, strlen(a));
	hl_fmt_ms(a, sizeof(a), end_ms);
	memcpy(row + LABEL_W + 2 + CHART_W - strlen(a), a, strlen(a));
	put_row(f, row, LABEL_W + 2 + CHART_W);

	/* The peak, under its column. */
	int pc = (int)((double)peak_ms * CHART_W / span);
	if (pc >= CHART_W)
		pc = CHART_W - 1;
	hl_fmt_size(a, sizeof(a), (int64_t)peak, unit, c->o->precision);
	snprintf(b, sizeof(b), "peak %s at ", a + strspn(a, " "));
	hl_fmt_ms(a, sizeof(a), peak_ms);
	memset(row, ' ', sizeof(row));
	if (pc < CHART_W / 2) {
		int n = snprintf(row + LABEL_W + 2 + pc, sizeof(row) - LABEL_W - 2 - pc, "^ %s%s",
				 b, a);
		put_row(f, row, LABEL_W + 2 + pc + n);
	} else {
		size_t n = strlen(b) + strlen(a) + 2;
		char *p = row + LABEL_W + 2 + pc - (n - 1);
		sprintf(p, "%s%s ^", b, a);
		put_row(f, row, LABEL_W + 2 + pc + 1);
	}
	fprintf(f, "%*s# live heap%s%s\n", LABEL_W + 2, "",
		any_rss ? "   o resident set (RSS)" : "", both ? "   * both" : "");
}

void hl_view_chart_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	struct filled *fl = malloc(sizeof(*fl));
	const struct hl_timeline *tl = hl_agg_timeline(c->agg);
	uint64_t peak_ms, peak = hl_agg_peak(c->agg, &peak_ms);

	if (!fl) {
		hl_json_null(j);
		return;
	}
	fill(fl, c);
	hl_json_begin_object(j);
	hl_json_kv_uint(j, "slot_ms", tl->slot_ms);
	hl_json_kv_uint(j, "duration_ms", fl->end_ms);
	hl_json_kv_uint(j, "peak_bytes", peak);
	hl_json_kv_uint(j, "peak_time_ms", peak_ms);
	hl_json_key(j, "samples");
	hl_json_begin_array(j);
	for (size_t i = 0; i < fl->n; i++) {
		hl_json_begin_object(j);
		hl_json_kv_uint(j, "time_ms", i * tl->slot_ms);
		hl_json_kv_uint(j, "live_bytes", fl->live[i]);
		if (fl->has_rss[i])
			hl_json_kv_uint(j, "rss_bytes", fl->rss[i]);
		else
			hl_json_kv_null(j, "rss_bytes");
		hl_json_end_object(j);
	}
	hl_json_end_array(j);
	hl_json_end_object(j);
	free(fl);
}
