/* summary.c — prints a trace's summary: the text "Summary" section people
 * read, and the JSON object whose member names SPEC fixes (README and
 * docs/report-json.md list them); also the totals over several processes.
 * Pure formatting: every number comes from replay.c. */
#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include "format.h"
#include "hl_format.h"
#include "summary.h"

const char *hl_summary_end_name(const struct hl_summary *s)
{
	static const char *const names[] = { "exit", "exec", "_exit", "abort", "signal",
						     "quick_exit", "crash" };

	if (!s->ended)
		return NULL;
	if (s->end_reason < sizeof(names) / sizeof(names[0]))
		return names[s->end_reason];
	return "unknown";
}

/* "168.000 MiB (176160768 bytes)": a readable size beside the exact one. */
static const char *fmt_bytes(char *buf, size_t len, uint64_t b)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = -1;

	if (b < 1024) {
		snprintf(buf, len, "%" PRIu64 " bytes", b);
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.3f %s (%" PRIu64 " bytes)", v, units[u], b);
	return buf;
}

static const char *fmt_ms(char *buf, size_t len, uint64_t ms)
{
	snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 " s", ms / 1000, ms % 1000);
	return buf;
}

static void title(FILE *f, const char *text, const char *path)
{
	int n = path ? fprintf(f, "%s: %s\n", text, path) : fprintf(f, "%s\n", text);
	for (int i = 1; i < n; i++)
		fputc('=', f);
	fputc('\n', f);
}

void hl_summary_print_text(FILE *f, const struct hl_summary *s, const char *path)
{
	char a[64], b[64];
	const char *end = hl_summary_end_name(s);

	title(f, "Summary", path);
	fprintf(f, "%-17s", "Command");
	hl_fput_visible(f, s->command);
	fputc('\n', f);
	fprintf(f, "%-17s%" PRIu64 " (parent %" PRIu64 ")\n", "Process", s->pid, s->ppid);
	fprintf(f, "%-17s%" PRIu64 "\n", "Allocations", s->allocations);
	fprintf(f, "%-17s%" PRIu64, "Frees", s->frees);
	if (s->unknown_frees)
		fprintf(f, " (%" PRIu64 " of blocks the trace never saw allocated)", s->unknown_frees);
	fputc('\n', f);
	fprintf(f, "%-17s%s\n", "Bytes allocated", fmt_bytes(a, sizeof(a), s->bytes_allocated));
	fprintf(f, "%-17s%s at %s\n", "Peak heap", fmt_bytes(a, sizeof(a), s->peak_bytes),
		fmt_ms(b, sizeof(b), s->peak_time_ms));
	fprintf(f, "%-17s%s in %" PRIu64 " block%s\n", "Leaked", fmt_bytes(a, sizeof(a), s->leaked_bytes),
		s->leaked_blocks, s->leaked_blocks == 1 ? "" : "s");
	if (s->peak_rss_kib)
		fprintf(f, "%-17s%s\n", "Peak RSS", fmt_bytes(a, sizeof(a), s->peak_rss_kib * 1024));
	fprintf(f, "%-17s%s\n", "Duration", fmt_ms(a, sizeof(a), s->duration_ms));
	fprintf(f, "%-17s%" PRIu64 "%s\n", "Lost events", s->lost_events,
		s->lost_events ? " (lossy mode: totals are lower bounds)" : "");
	if (end && hl_end_has_signal(s->end_reason) && s->end_signal) {
		fprintf(f, "%-17s%s%s %s%s\n", "Ended by", end,
			s->end_reason == HL_END_CRASH ? ": signal" : "",
			hl_fmt_signal(a, sizeof(a), (int)s->end_signal),
			s->end_reason == HL_END_SIGNAL ? " (sent by the process to itself)" : "");
	} else if (end)
		fprintf(f, "%-17s%s\n", "Ended by", end);
	else
		fprintf(f, "%-17s%s\n", "Ended by", "unknown: no end record (killed or crashed?)");
	if (s->truncated_bytes)
		fprintf(f, "warning: trace truncated, last %" PRIu64
			" bytes lost (the program was probably killed)\n", s->truncated_bytes);
	if (s->own_malloc)
		fprintf(f, "warning: %s\n", HL_OWN_MALLOC_TEXT);
}

void hl_summary_print_json(struct hl_json *j, const struct hl_summary *s, const char *path)
{
	hl_json_begin_object(j);
	hl_json_kv_uint(j, "allocations", s->allocations);
	hl_json_kv_uint(j, "frees", s->frees);
	hl_json_kv_uint(j, "bytes_allocated", s->bytes_allocated);
	hl_json_kv_uint(j, "peak_bytes", s->peak_bytes);
	hl_json_kv_uint(j, "peak_time_ms", s->peak_time_ms);
	hl_json_kv_uint(j, "leaked_bytes", s->leaked_bytes);
	hl_json_kv_uint(j, "leaked_blocks", s->leaked_blocks);
	hl_json_kv_uint(j, "duration_ms", s->duration_ms);
	hl_json_kv_uint(j, "pid", s->pid);
	hl_json_kv_string(j, "command", s->command ? s->command : "");
	hl_json_kv_uint(j, "lost_events", s->lost_events);
	hl_json_kv_uint(j, "ppid", s->ppid);
	hl_json_kv_uint(j, "unknown_frees", s->unknown_frees);
	hl_json_kv_uint(j, "peak_rss_bytes", s->peak_rss_kib * 1024);
	hl_json_kv_uint(j, "truncated_bytes", s->truncated_bytes);
	hl_json_kv_bool(j, "own_malloc", s->own_malloc);
	hl_json_kv_string(j, "end", hl_summary_end_name(s)); /* NULL -> null */
	if (s->ended && hl_end_has_signal(s->end_reason))
		hl_json_kv_uint(j, "end_signal", s->end_signal);
	else
		hl_json_kv_null(j, "end_signal");
	hl_json_kv_string(j, "trace", path);
	hl_json_end_object(j);
}

void hl_summary_totals_add(struct hl_summary_totals *t, const struct hl_summary *s)
{
	t->processes++;
	t->allocations += s->allocations;
	t->frees += s->frees;
	t->bytes_allocated += s->bytes_allocated;
	t->leaked_bytes += s->leaked_bytes;
	t->leaked_blocks += s->leaked_blocks;
	t->lost_events += s->lost_events;
	t->unknown_frees += s->unknown_frees;
	t->truncated_bytes += s->truncated_bytes;
	t->sum_peak_bytes += s->peak_bytes;
	if (s->peak_bytes > t->max_peak_bytes)
		t->max_peak_bytes = s->peak_bytes;
}

void hl_summary_totals_print_text(FILE *f, const struct hl_summary_totals *t)
{
	char a[64];

	title(f, "Combined", NULL);
	fprintf(f, "%-17s%" PRIu64 "\n", "Processes", t->processes);
	fprintf(f, "%-17s%" PRIu64 "\n", "Allocations", t->allocations);
	fprintf(f, "%-17s%" PRIu64 "\n", "Frees", t->frees);
	fprintf(f, "%-17s%s\n", "Bytes allocated", fmt_bytes(a, sizeof(a), t->bytes_allocated));
	/* Processes' peaks need not coincide: show the largest, not a sum
	 * that may never have been live at once. */
	fprintf(f, "%-17s%s\n", "Largest peak", fmt_bytes(a, sizeof(a), t->max_peak_bytes));
	fprintf(f, "%-17s%s in %" PRIu64 " block%s\n", "Leaked", fmt_bytes(a, sizeof(a), t->leaked_bytes),
		t->leaked_blocks, t->leaked_blocks == 1 ? "" : "s");
	fprintf(f, "%-17s%" PRIu64 "\n", "Lost events", t->lost_events);
}

void hl_summary_totals_print_json(struct hl_json *j, const struct hl_summary_totals *t)
{
	hl_json_begin_object(j);
	hl_json_kv_uint(j, "processes", t->processes);
	hl_json_kv_uint(j, "allocations", t->allocations);
	hl_json_kv_uint(j, "frees", t->frees);
	hl_json_kv_uint(j, "bytes_allocated", t->bytes_allocated);
	hl_json_kv_uint(j, "max_peak_bytes", t->max_peak_bytes);
	hl_json_kv_uint(j, "sum_peak_bytes", t->sum_peak_bytes);
	hl_json_kv_uint(j, "leaked_bytes", t->leaked_bytes);
	hl_json_kv_uint(j, "leaked_blocks", t->leaked_blocks);
	hl_json_kv_uint(j, "lost_events", t->lost_events);
	hl_json_kv_uint(j, "unknown_frees", t->unknown_frees);
	hl_json_kv_uint(j, "truncated_bytes", t->truncated_bytes);
	hl_json_end_object(j);
}
