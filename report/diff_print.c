/* diff_print.c — `heapline diff` as text and JSON (diff_print.h). */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "diff_print.h"
#include "stacks.h"

uint64_t hl_diff_summary_value(const struct hl_summary *s, enum hl_metric m)
{
	switch (m) {
	case HL_METRIC_ALLOCATED:
		return s->bytes_allocated;
	case HL_METRIC_PEAK:
		return s->peak_bytes;
	case HL_METRIC_LEAKED:
		return s->leaked_bytes;
	case HL_METRIC_CALLS:
		return s->allocations;
	}
	return 0;
}

double hl_diff_percent(uint64_t old, uint64_t new_)
{
	if (!old)
		return new_ ? INFINITY : 0;
	return 100.0 * ((double)new_ - (double)old) / (double)old;
}

static const char *metric_title(enum hl_metric m)
{
	switch (m) {
	case HL_METRIC_ALLOCATED:
		return "bytes allocated";
	case HL_METRIC_PEAK:
		return "bytes live at the peak";
	case HL_METRIC_LEAKED:
		return "bytes leaked";
	case HL_METRIC_CALLS:
		return "allocation calls";
	}
	return "?";
}

/* ---- text ----------------------------------------------------------------------- */

#define W_VALUE 14
#define W_PCT	9

static uint64_t uabs(int64_t d)
{
	return d < 0 ? -(uint64_t)d : (uint64_t)d;
}

/* A value: a size in the table's unit, or a count. */
static const char *fmt_value(char *buf, size_t len, uint64_t v, bool bytes, enum hl_unit u,
			     int precision)
{
	if (!bytes) {
		snprintf(buf, len, "%" PRIu64, v);
		return buf;
	}
	return hl_fmt_size(buf, len, (int64_t)v, u, precision);
}

/* A change: signed ("+2.000 MiB", "-12", "0"). */
static const char *fmt_delta(char *buf, size_t len, int64_t d, bool bytes, enum hl_unit u,
			     int precision)
{
	char tmp[64];
	const char *s = tmp;

	if (!bytes)
		snprintf(tmp, sizeof(tmp), "%" PRIu64, uabs(d));
	else
		hl_fmt_size(tmp, sizeof(tmp), (int64_t)uabs(d), u, precision);
	while (*s == ' ')
		s++;
	snprintf(buf, len, "%s%.60s", d > 0 ? "+" : d < 0 ? "-" : "", s);
	return buf;
}

static const char *fmt_pct(char *buf, size_t len, uint64_t old, uint64_t new_)
{
	double p = hl_diff_percent(old, new_);

	if (isinf(p))
		snprintf(buf, len, "new");
	else if (!old && !new_)
		snprintf(buf, len, "-");
	else if (old == new_)
		snprintf(buf, len, "0.0%%");
	else
		snprintf(buf, len, "%+.1f%%", p);
	return buf;
}

static void print_cells(FILE *f, uint64_t old, uint64_t new_, bool has_old, bool has_new,
			bool bytes, enum hl_unit u, int precision)
{
	char a[64], b[64], c[64], d[64];

	fprintf(f, " %*s %*s %*s %*s", W_VALUE,
		has_old ? fmt_value(a, sizeof(a), old, bytes, u, precision) : "-", W_VALUE,
		has_new ? fmt_value(b, sizeof(b), new_, bytes, u, precision) : "-", W_VALUE,
		fmt_delta(c, sizeof(c), (int64_t)(new_ - old), bytes, u, precision), W_PCT,
		fmt_pct(d, sizeof(d), old, new_));
}

static void print_summary(FILE *f, const struct hl_diff_result *d)
{
	static const struct {
		const char *label;
		size_t off;
		bool bytes;
	} rows[] = {
	    {"Allocations", offsetof(struct hl_summary, allocations), false},
	    {"Frees", offsetof(struct hl_summary, frees), false},
	    {"Bytes allocated", offsetof(struct hl_summary, bytes_allocated), true},
	    {"Peak heap", offsetof(struct hl_summary, peak_bytes), true},
	    {"Leaked", offsetof(struct hl_summary, leaked_bytes), true},
	    {"Leaked blocks", offsetof(struct hl_summary, leaked_blocks), false},
	};
	const struct hl_summary *so = &d->side[HL_DIFF_OLD]->summary;
	const struct hl_summary *sn = &d->side[HL_DIFF_NEW]->summary;

	hl_fmt_title(f, "Diff: %s -> %s", d->side[HL_DIFF_OLD]->path, d->side[HL_DIFF_NEW]->path);
	fprintf(f, "Old  pid %" PRIu64 ": ", so->pid);
	hl_fput_visible(f, so->command);
	fprintf(f, "\nNew  pid %" PRIu64 ": ", sn->pid);
	hl_fput_visible(f, sn->command);
	fputs("\n\n", f);
	fprintf(f, "%-16s %*s %*s %*s %*s\n", "", W_VALUE, "Old", W_VALUE, "New", W_VALUE, "Delta",
		W_PCT, "%");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t o = *(const uint64_t *)((const char *)so + rows[i].off);
		uint64_t n = *(const uint64_t *)((const char *)sn + rows[i].off);
		uint64_t max = o > n ? o : n;

		fprintf(f, "%-16s", rows[i].label);
		print_cells(f, o, n, true, true, rows[i].bytes, hl_unit_pick(d->unit, max),
			    d->precision);
		fputc('\n', f);
	}
}

/* The metrics a row shows: the three byte numbers, and the calls when they
 * are what the rows are ordered by. */
static size_t row_metrics(const struct hl_diff_result *d, enum hl_metric *out)
{
	size_t n = 0;

	out[n++] = HL_METRIC_ALLOCATED;
	out[n++] = HL_METRIC_PEAK;
	out[n++] = HL_METRIC_LEAKED;
	if (d->metric == HL_METRIC_CALLS)
		out[n++] = HL_METRIC_CALLS;
	return n;
}

static void print_table(FILE *f, const struct hl_diff_result *d, const struct hl_diff_table *t,
			enum hl_diff_by by)
{
	enum hl_metric ms[HL_DIFF_NMETRICS];
	size_t nm = row_metrics(d, ms);
	size_t n = t->n < d->top ? t->n : d->top;
	uint64_t max = 0;
	enum hl_unit u;
	char buf[4096];

	hl_fmt_title(f, "%s, largest change in %s first", by == HL_DIFF_BY_SITE ? "Sites" : "Lines",
		     metric_title(d->metric));
	fprintf(f, "%zu changed, %zu unchanged%s\n", t->n, t->unchanged,
		by == HL_DIFF_BY_LINE ? " (a line: file:line of the site's first frame)" : "");
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < nm; k++) {
			const struct hl_diff_row *r = &t->v[i];
			if (!hl_metric_is_bytes(ms[k]))
				continue;
			if (r->v[0][ms[k]] > max)
				max = r->v[0][ms[k]];
			if (r->v[1][ms[k]] > max)
				max = r->v[1][ms[k]];
		}
	}
	u = hl_unit_pick(d->unit, max);
	fprintf(f, "\n%4s  %-9s %*s %*s %*s %*s   %s\n", "#", "Metric", W_VALUE, "Old", W_VALUE,
		"New", W_VALUE, "Delta", W_PCT, "%", by == HL_DIFF_BY_SITE ? "Site" : "Line");
	for (size_t i = 0; i < n; i++) {
		const struct hl_diff_row *r = &t->v[i];
		size_t lines = nm > r->nframes ? nm : r->nframes;

		for (size_t k = 0; k < lines; k++) {
			if (k == 0)
				fprintf(f, "%4zu", i + 1);
			else
				fprintf(f, "%4s", "");
			if (k < nm) {
				fprintf(f, "  %-9s", hl_metric_name(ms[k]));
				print_cells(f, r->v[0][ms[k]], r->v[1][ms[k]], r->present[0],
					    r->present[1], hl_metric_is_bytes(ms[k]), u,
					    d->precision);
			} else {
				fprintf(f, "  %-9s %*s %*s %*s %*s", "", W_VALUE, "", W_VALUE, "",
					W_VALUE, "", W_PCT, "");
			}
			if (k < r->nframes) {
				const struct hl_frame *fr = r->frames[k];
				fputs(k ? "   from " : "   ", f);
				if (by == HL_DIFF_BY_LINE && fr->file) {
					fprintf(f, "%s:%u", hl_fmt_path(buf, sizeof(buf), fr->file),
						fr->line);
					if (fr->function)
						fprintf(f, " (%s)", fr->function);
				} else {
					hl_frame_print(f, fr);
				}
			}
			fputc('\n', f);
		}
	}
	if (t->n > n)
		fprintf(f, "(%zu more; --top to see them)\n", t->n - n);
}

void hl_diff_print_text(FILE *f, const struct hl_diff_result *d)
{
	print_summary(f, d);
	fputc('\n', f);
	print_table(f, d, d->sites, HL_DIFF_BY_SITE);
	fputc('\n', f);
	print_table(f, d, d->lines, HL_DIFF_BY_LINE);
	if (d->gate) {
		const struct hl_summary *so = &d->side[HL_DIFF_OLD]->summary;
		const struct hl_summary *sn = &d->side[HL_DIFF_NEW]->summary;
		uint64_t o = hl_diff_summary_value(so, d->metric);
		uint64_t n = hl_diff_summary_value(sn, d->metric);
		char pct[32];

		fprintf(f, "\n%s: %s %s (limit +%g%%)\n", d->failed ? "FAIL" : "OK",
			metric_title(d->metric), fmt_pct(pct, sizeof(pct), o, n), d->gate_pct);
	}
}

/* ---- JSON ----------------------------------------------------------------------- */

/* Percentages to two decimals: 182.18, not 182.1818181818182. */
static double two_decimals(double p)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.2f", p);
	return strtod(buf, NULL);
}

static void json_change(struct hl_json *j, const char *key, uint64_t old, uint64_t new_)
{
	double p = hl_diff_percent(old, new_);

	hl_json_key(j, key);
	hl_json_begin_object(j);
	hl_json_kv_uint(j, "old", old);
	hl_json_kv_uint(j, "new", new_);
	hl_json_kv_int(j, "delta", (int64_t)(new_ - old));
	if (!old)
		hl_json_kv_null(j, "percent");
	else
		hl_json_kv_double(j, "percent", two_decimals(p));
	hl_json_end_object(j);
}

static void json_side(struct hl_json *j, const char *key, const struct hl_loaded *t)
{
	hl_json_key(j, key);
	hl_json_begin_object(j);
	hl_json_kv_string(j, "trace", t->path);
	hl_json_kv_string(j, "command", t->summary.command ? t->summary.command : "");
	hl_json_kv_uint(j, "pid", t->summary.pid);
	hl_json_end_object(j);
}

static const char *const metric_keys[] = {
    [HL_METRIC_ALLOCATED] = "bytes_allocated",
    [HL_METRIC_PEAK] = "peak_bytes",
    [HL_METRIC_LEAKED] = "leaked_bytes",
    [HL_METRIC_CALLS] = "allocations",
};

static void json_row(struct hl_json *j, const struct hl_diff_row *r, enum hl_diff_by by)
{
	hl_json_begin_object(j);
	hl_json_kv_string(j, "status",
			  !r->present[HL_DIFF_OLD]   ? "new"
			  : !r->present[HL_DIFF_NEW] ? "gone"
						     : "changed");
	if (by == HL_DIFF_BY_LINE) {
		const struct hl_frame *fr = r->frames[0];
		hl_json_kv_string(j, "file", fr->file);
		if (fr->line)
			hl_json_kv_uint(j, "line", fr->line);
		else
			hl_json_kv_null(j, "line");
		hl_json_kv_string(j, "function", fr->function);
		hl_json_kv_string(j, "module", fr->module);
	} else {
		hl_json_key(j, "frames");
		hl_json_begin_array(j);
		for (unsigned i = 0; i < r->nframes; i++)
			hl_frame_json(j, r->frames[i]);
		hl_json_end_array(j);
	}
	for (int m = 0; m < HL_DIFF_NMETRICS; m++)
		json_change(j, metric_keys[m], r->v[HL_DIFF_OLD][m], r->v[HL_DIFF_NEW][m]);
	hl_json_end_object(j);
}

static void json_table(struct hl_json *j, const char *key, const struct hl_diff_table *t,
		       unsigned top, enum hl_diff_by by)
{
	char name[64];

	hl_json_key(j, key);
	hl_json_begin_array(j);
	for (size_t i = 0; i < t->n && i < top; i++)
		json_row(j, &t->v[i], by);
	hl_json_end_array(j);
	snprintf(name, sizeof(name), "%s_changed", key);
	hl_json_kv_uint(j, name, t->n);
	snprintf(name, sizeof(name), "%s_unchanged", key);
	hl_json_kv_uint(j, name, t->unchanged);
}

void hl_diff_print_json(struct hl_json *j, const struct hl_diff_result *d)
{
	const struct hl_summary *so = &d->side[HL_DIFF_OLD]->summary;
	const struct hl_summary *sn = &d->side[HL_DIFF_NEW]->summary;

	hl_json_begin_object(j);
	json_side(j, "old", d->side[HL_DIFF_OLD]);
	json_side(j, "new", d->side[HL_DIFF_NEW]);
	hl_json_kv_string(j, "metric", hl_metric_name(d->metric));
	hl_json_key(j, "summary");
	hl_json_begin_object(j);
	json_change(j, "allocations", so->allocations, sn->allocations);
	json_change(j, "frees", so->frees, sn->frees);
	json_change(j, "bytes_allocated", so->bytes_allocated, sn->bytes_allocated);
	json_change(j, "peak_bytes", so->peak_bytes, sn->peak_bytes);
	json_change(j, "leaked_bytes", so->leaked_bytes, sn->leaked_bytes);
	json_change(j, "leaked_blocks", so->leaked_blocks, sn->leaked_blocks);
	hl_json_end_object(j);
	json_table(j, "sites", d->sites, d->top, HL_DIFF_BY_SITE);
	json_table(j, "lines", d->lines, d->top, HL_DIFF_BY_LINE);
	if (d->gate) {
		uint64_t o = hl_diff_summary_value(so, d->metric);
		uint64_t n = hl_diff_summary_value(sn, d->metric);
		double p = hl_diff_percent(o, n);

		hl_json_key(j, "fail_on_increase");
		hl_json_begin_object(j);
		hl_json_kv_string(j, "metric", hl_metric_name(d->metric));
		hl_json_kv_double(j, "limit_percent", d->gate_pct);
		if (isinf(p))
			hl_json_kv_null(j, "percent");
		else
			hl_json_kv_double(j, "percent", two_decimals(p));
		hl_json_kv_bool(j, "exceeded", d->failed);
		hl_json_end_object(j);
	}
	hl_json_end_object(j);
}
