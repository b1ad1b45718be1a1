/* check_print.c — the verdict of `heapline check` (hl_check_decide) and its
 * four printers: text, JSON, SARIF 2.1.0 and GitHub annotations
 * (check_print.h).  Pure formatting over check_judge.c's results. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_print.h"
#include "hl_format.h"
#include "format.h"
#include "json.h"
#include "summary.h"

#define HL_EXIT_USAGE 2

/* ---- the verdict ------------------------------------------------------------- */

void hl_check_decide(struct hl_check *c)
{
	memset(c->bytes, 0, sizeof(c->bytes));
	memset(c->blocks, 0, sizeof(c->blocks));
	c->supp_bytes = c->supp_blocks = c->error_bytes = c->error_blocks = 0;
	c->peak_bytes = 0;
	c->peak_trace = NULL;
	for (size_t t = 0; t < c->ntraces; t++) {
		const struct hl_judged *j = &c->traces[t];
		for (int k = 0; k < HL_KIND_COUNT; k++) {
			c->bytes[k] += j->bytes[k];
			c->blocks[k] += j->blocks[k];
			if (c->errors_for & HL_KIND_BIT(k)) {
				c->error_bytes += j->bytes[k];
				c->error_blocks += j->blocks[k];
			}
		}
		c->supp_bytes += j->supp_bytes;
		c->supp_blocks += j->supp_blocks;
		if (!c->peak_trace || j->sum.peak_bytes > c->peak_bytes) {
			c->peak_bytes = j->sum.peak_bytes;
			c->peak_trace = j;
		}
	}
	/* With the default 0, any block fails, even malloc(0)'s. */
	c->leak_failed = c->error_blocks && (c->error_bytes > c->max_leaked || c->max_leaked == 0);
	c->peak_failed = c->max_peak && c->peak_bytes > c->max_peak;
	c->prog_failed = c->ran && c->prog_exit != 0;
	if (c->prog_failed)
		c->exit = c->prog_exit;
	else if (c->unreadable)
		c->exit = HL_EXIT_USAGE;
	else if (c->leak_failed || c->peak_failed)
		c->exit = c->exit_code;
	else
		c->exit = 0;
}

/* "1,234,567" as memcheck writes numbers */
static const char *commas(char *buf, size_t len, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v), o = 0;

	for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

static const char *human(char *buf, size_t len, uint64_t b)
{
	if (b < 1024) {
		snprintf(buf, len, "%" PRIu64 " bytes", b);
	} else {
		const char *p = hl_fmt_size(buf, len, (int64_t)b, HL_UNIT_AUTO, 1);
		while (*p == ' ') /* the table width memory_profiler pads to */
			p++;
		memmove(buf, p, strlen(p) + 1);
	}
	return buf;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* "definitely or indirectly lost" for a set of kinds */
static void kinds_phrase(char *buf, size_t len, unsigned kinds)
{
	static const char *const adv[] = {"definitely", "indirectly", "possibly"};
	unsigned lost = 0, seen = 0;
	size_t o = 0;

	buf[0] = '\0';
	for (int k = 0; k < HL_KIND_REACHABLE; k++)
		lost += !!(kinds & HL_KIND_BIT(k));
	for (int k = 0; k < HL_KIND_REACHABLE && o < len; k++) {
		if (!(kinds & HL_KIND_BIT(k)))
			continue;
		seen++;
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
				      seen == 1	     ? ""
				      : seen == lost ? " or "
						     : ", ",
				      adv[k]);
	}
	if (lost && o < len)
		o += (size_t)snprintf(buf + o, len - o, " lost");
	if ((kinds & HL_KIND_BIT(HL_KIND_REACHABLE)) && o < len)
		snprintf(buf + o, len - o, "%sstill reachable", lost ? " or " : "");
}

void hl_check_verdict(const struct hl_check *c, char *buf, size_t len)
{
	char kinds[128], a[64], b[64], lim[64];
	size_t o = 0;

	kinds_phrase(kinds, sizeof(kinds), c->errors_for);
	if (c->prog_failed)
		o += (size_t)snprintf(buf + o, len - o,
				      "heapline check: %s failed (exit status %d), so check exits "
				      "with its status; ",
				      c->prog ? c->prog : "the program", c->prog_exit);
	else
		o += (size_t)snprintf(buf + o, len - o, "heapline check: ");
	if (o >= len)
		return;
	if (c->unreadable && !c->prog_failed) {
		o += (size_t)snprintf(buf + o, len - o, "FAILED: a trace could not be read%s",
				      c->leak_failed || c->peak_failed ? " " : "");
		if (o >= len || !(c->leak_failed || c->peak_failed)) {
			if (o < len)
				snprintf(buf + o, len - o, " [exit %d]", c->exit);
			return;
		}
	}
	if (c->leak_failed || c->peak_failed) {
		if (c->unreadable && !c->prog_failed)
			o += (size_t)snprintf(buf + o, len - o, "and");
		else
			o += (size_t)snprintf(buf + o, len - o,
					      "%sFAILED:", c->prog_failed ? "leak check " : "");
		if (c->leak_failed && o < len)
			o += (size_t)snprintf(buf + o, len - o, " %s in %s %s %s (allowed: %s)",
					      human(a, sizeof(a), c->error_bytes),
					      commas(b, sizeof(b), c->error_blocks),
					      plural(c->error_blocks, "block", "blocks"), kinds,
					      human(lim, sizeof(lim), c->max_leaked));
		if (c->peak_failed && o < len)
			o += (size_t)snprintf(
			    buf + o, len - o, "%s peak heap %s over the budget %s",
			    c->leak_failed ? ";" : "", human(a, sizeof(a), c->peak_bytes),
			    human(b, sizeof(b), c->max_peak));
	} else {
		o += (size_t)snprintf(
		    buf + o, len - o, "%spassed: %s %s", c->prog_failed ? "leak check " : "",
		    c->error_bytes ? human(a, sizeof(a), c->error_bytes) : "nothing", kinds);
		if (c->max_leaked && o < len)
			o += (size_t)snprintf(buf + o, len - o, " (allowed: %s)",
					      human(lim, sizeof(lim), c->max_leaked));
		if (c->max_peak && o < len)
			o += (size_t)snprintf(buf + o, len - o, ", peak heap %s within %s",
					      human(a, sizeof(a), c->peak_bytes),
					      human(b, sizeof(b), c->max_peak));
	}
	if (o < len && c->exit && !c->prog_failed)
		snprintf(buf + o, len - o, " [exit %d]", c->exit);
}

/* ---- text ----------------------------------------------------------------------- */

static const char *prog_name(const struct hl_judged *j)
{
	const char *cmd = j->sum.command && *j->sum.command ? j->sum.command : j->sum.exe;

	return cmd ? cmd : "";
}

static void summary_block(FILE *f, const char *title, const uint64_t *bytes, const uint64_t *blocks,
			  uint64_t sb, uint64_t sn)
{
	char a[32], b[32];

	fprintf(f, "%s\n", title);
	for (int k = 0; k < HL_KIND_COUNT; k++)
		fprintf(f, "   %15s: %s bytes in %s blocks\n", hl_kind_title((enum hl_kind)k),
			commas(a, sizeof(a), bytes[k]), commas(b, sizeof(b), blocks[k]));
	fprintf(f, "   %15s: %s bytes in %s blocks\n", "suppressed", commas(a, sizeof(a), sb),
		commas(b, sizeof(b), sn));
}

static void print_frames(FILE *f, const struct hl_leak *l)
{
	for (size_t i = 0; i < l->nframes; i++) {
		fprintf(f, "    #%zu ", i);
		hl_frame_print(f, l->frames[i]);
		fputc('\n', f);
	}
	if (!l->nframes)
		fprintf(f, "    (no stack recorded)\n");
}

static void scan_notes(FILE *f, const struct hl_judged *j)
{
	if (j->sum.truncated_bytes)
		fprintf(f,
			"warning: %s is truncated (%" PRIu64 " bytes at its end unreadable): "
			"judged up to its last complete block\n",
			j->path, j->sum.truncated_bytes);
	if (j->exec_ended)
		fprintf(f, "note: this process image was replaced by exec; nothing to judge\n");
	else if (!j->scanned)
		fprintf(f,
			"heapline check: %s: no leak scan in this trace (recorded without "
			"HEAPLINE_LEAK_SCAN=1, or the process ended in %s): every block live at "
			"exit counts as definitely lost\n",
			j->path,
			hl_summary_end_name(&j->sum) ? hl_summary_end_name(&j->sum) : "a crash");
	else if (j->scan_flags & HL_LEAKS_FAILED)
		fprintf(f,
			"heapline check: %s: the leak scan could not run; every block live at "
			"exit counts as definitely lost\n",
			j->path);
	if (j->scan_flags & HL_LEAKS_WHOLE_STACK)
		fprintf(f,
			"note: a thread was running at exit; its whole stack was scanned, so some "
			"leaks may show as reachable\n");
	if (j->late_blocks)
		fprintf(f,
			"note: %" PRIu64 " %s allocated after the leak scan (by code running "
			"after it) %s counted as still reachable\n",
			j->late_blocks, plural(j->late_blocks, "block", "blocks"),
			plural(j->late_blocks, "is", "are"));
}

void hl_check_print_text(FILE *f, const struct hl_check *c)
{
	char a[32], b[32], line[1024];

	for (size_t t = 0; t < c->ntraces; t++) {
		const struct hl_judged *j = &c->traces[t];
		size_t shown = 0;

		fprintf(f, "\n== heapline check: pid %" PRIu64 ": ", j->sum.pid);
		hl_fput_visible(f, prog_name(j));
		fputc('\n', f);
		for (size_t i = 0; i < j->nleaks; i++) {
			const struct hl_leak *l = &j->leaks[i];
			if (l->supp >= 0 || !(c->show & HL_KIND_BIT(l->kind)))
				continue;
			fprintf(f, "\n%s bytes in %s %s %s %s, allocated at:\n",
				commas(a, sizeof(a), l->bytes), commas(b, sizeof(b), l->blocks),
				plural(l->blocks, "block", "blocks"),
				plural(l->blocks, "is", "are"), hl_kind_title(l->kind));
			print_frames(f, l);
			shown++;
		}
		if (shown)
			fputc('\n', f);
		scan_notes(f, j);
		summary_block(f, "LEAK SUMMARY:", j->bytes, j->blocks, j->supp_bytes,
			      j->supp_blocks);
	}
	if (c->ntraces > 1) {
		snprintf(line, sizeof(line), "\nLEAK SUMMARY of all %zu processes:", c->ntraces);
		summary_block(f, line, c->bytes, c->blocks, c->supp_bytes, c->supp_blocks);
	}
	fprintf(f, "\nSuppressions used:\n");
	if (!c->supp.n) {
		fprintf(f, "  (no rules)\n");
	} else {
		fprintf(f, "  %7s %7s %12s  %s\n", "leaks", "blocks", "bytes", "rule");
		for (size_t r = 0; r < c->supp.n; r++) {
			const struct hl_supp_rule *rule = &c->supp.rules[r];
			fprintf(f, "  %7" PRIu64 " %7" PRIu64 " %12" PRIu64 "  leak:%s  (%s:%u)\n",
				rule->leaks, rule->blocks, rule->bytes, rule->templ, rule->file,
				rule->line);
		}
	}
	hl_check_verdict(c, line, sizeof(line));
	fprintf(f, "\n%s\n", line);
}

/* ---- JSON ------------------------------------------------------------------------ */

static void leak_summary_json(struct hl_json *j, const uint64_t *bytes, const uint64_t *blocks,
			      uint64_t sb, uint64_t sn)
{
	static const char *const names[] = {"definitely_lost", "indirectly_lost", "possibly_lost",
					    "still_reachable"};
	char key[64];

	hl_json_begin_object(j);
	for (int k = 0; k < HL_KIND_COUNT; k++) {
		snprintf(key, sizeof(key), "%s_bytes", names[k]);
		hl_json_kv_uint(j, key, bytes[k]);
		snprintf(key, sizeof(key), "%s_blocks", names[k]);
		hl_json_kv_uint(j, key, blocks[k]);
	}
	hl_json_kv_uint(j, "suppressed_bytes", sb);
	hl_json_kv_uint(j, "suppressed_blocks", sn);
	hl_json_end_object(j);
}

static void kinds_json(struct hl_json *j, unsigned kinds)
{
	hl_json_begin_array(j);
	for (int k = 0; k < HL_KIND_COUNT; k++)
		if (kinds & HL_KIND_BIT(k))
			hl_json_string(j, hl_kind_name((enum hl_kind)k));
	hl_json_end_array(j);
}

static void scan_json(struct hl_json *j, const struct hl_judged *t)
{
	hl_json_begin_object(j);
	hl_json_kv_bool(j, "scanned", t->scanned && !(t->scan_flags & HL_LEAKS_FAILED));
	hl_json_kv_uint(j, "scan_us", t->scan_us);
	hl_json_kv_bool(j, "whole_stack_scanned", !!(t->scan_flags & HL_LEAKS_WHOLE_STACK));
	hl_json_kv_uint(j, "late_blocks", t->late_blocks);
	hl_json_end_object(j);
}

void hl_check_print_json(FILE *f, const struct hl_check *c)
{
	struct hl_json j;
	char verdict[1024];

	hl_json_init(&j, f, 1);
	hl_json_begin_object(&j);
	hl_json_key(&j, "leak_summary");
	leak_summary_json(&j, c->bytes, c->blocks, c->supp_bytes, c->supp_blocks);

	hl_json_key(&j, "leaks");
	hl_json_begin_array(&j);
	for (size_t t = 0; t < c->ntraces; t++) {
		const struct hl_judged *tr = &c->traces[t];
		for (size_t i = 0; i < tr->nleaks; i++) {
			const struct hl_leak *l = &tr->leaks[i];
			if (!l->detailed)
				continue; /* counted in leak_summary only */
			hl_json_begin_object(&j);
			hl_json_kv_string(&j, "kind", hl_kind_name(l->kind));
			hl_json_kv_uint(&j, "bytes", l->bytes);
			hl_json_kv_uint(&j, "blocks", l->blocks);
			hl_json_kv_uint(&j, "pid", tr->sum.pid);
			hl_json_kv_bool(&j, "error",
					l->supp < 0 && (c->errors_for & HL_KIND_BIT(l->kind)));
			if (l->supp >= 0) {
				char rule[1024];
				snprintf(rule, sizeof(rule), "leak:%s",
					 c->supp.rules[l->supp].templ);
				hl_json_kv_string(&j, "suppressed_by", rule);
			} else {
				hl_json_kv_null(&j, "suppressed_by");
			}
			hl_json_key(&j, "location");
			if (l->loc >= 0) {
				hl_json_begin_object(&j);
				hl_json_kv_string(&j, "file", l->frames[l->loc]->file);
				hl_json_kv_uint(&j, "line", l->frames[l->loc]->line);
				hl_json_kv_string(&j, "function", l->frames[l->loc]->function);
				hl_json_end_object(&j);
			} else {
				hl_json_null(&j);
			}
			hl_json_key(&j, "frames");
			hl_json_begin_array(&j);
			for (size_t k = 0; k < l->nframes; k++)
				hl_frame_json(&j, l->frames[k]);
			hl_json_end_array(&j);
			hl_json_end_object(&j);
		}
	}
	hl_json_end_array(&j);

	hl_json_key(&j, "summary");
	if (c->ntraces)
		hl_summary_print_json(&j, &c->traces[0].sum, c->traces[0].path);
	else
		hl_json_null(&j);

	hl_json_key(&j, "processes");
	hl_json_begin_array(&j);
	for (size_t t = 0; t < c->ntraces; t++) {
		const struct hl_judged *tr = &c->traces[t];
		hl_json_begin_object(&j);
		hl_json_key(&j, "summary");
		hl_summary_print_json(&j, &tr->sum, tr->path);
		hl_json_key(&j, "leak_summary");
		leak_summary_json(&j, tr->bytes, tr->blocks, tr->supp_bytes, tr->supp_blocks);
		hl_json_key(&j, "scan");
		scan_json(&j, tr);
		hl_json_end_object(&j);
	}
	hl_json_end_array(&j);

	hl_json_key(&j, "suppressions");
	hl_json_begin_array(&j);
	for (size_t r = 0; r < c->supp.n; r++) {
		const struct hl_supp_rule *rule = &c->supp.rules[r];
		char templ[1024];
		snprintf(templ, sizeof(templ), "leak:%s", rule->templ);
		hl_json_begin_object(&j);
		hl_json_kv_string(&j, "rule", templ);
		hl_json_kv_string(&j, "file", rule->file);
		hl_json_kv_uint(&j, "line", rule->line);
		hl_json_kv_uint(&j, "leaks", rule->leaks);
		hl_json_kv_uint(&j, "blocks", rule->blocks);
		hl_json_kv_uint(&j, "bytes", rule->bytes);
		hl_json_end_object(&j);
	}
	hl_json_end_array(&j);

	hl_json_key(&j, "verdict");
	hl_json_begin_object(&j);
	hl_json_kv_bool(&j, "passed", !c->leak_failed && !c->peak_failed && !c->unreadable);
	hl_json_kv_int(&j, "exit_code", c->exit);
	hl_json_key(&j, "errors_for");
	kinds_json(&j, c->errors_for);
	hl_json_kv_uint(&j, "error_bytes", c->error_bytes);
	hl_json_kv_uint(&j, "error_blocks", c->error_blocks);
	hl_json_kv_uint(&j, "max_leaked", c->max_leaked);
	hl_json_kv_bool(&j, "leak_failed", c->leak_failed);
	hl_json_kv_uint(&j, "peak_bytes", c->peak_bytes);
	if (c->max_peak)
		hl_json_kv_uint(&j, "max_peak", c->max_peak);
	else
		hl_json_kv_null(&j, "max_peak");
	hl_json_kv_bool(&j, "peak_failed", c->peak_failed);
	if (c->ran)
		hl_json_kv_int(&j, "program_exit", c->prog_exit);
	else
		hl_json_kv_null(&j, "program_exit");
	hl_json_kv_bool(&j, "program_failed", c->prog_failed);
	hl_check_verdict(c, verdict, sizeof(verdict));
	hl_json_kv_string(&j, "message", verdict);
	hl_json_end_object(&j);

	hl_json_end_object(&j);
	hl_json_finish(&j);
}

/* ---- SARIF 2.1.0 ------------------------------------------------------------------- */

static const char *const rule_ids[] = {"heapline/definitely-lost", "heapline/indirectly-lost",
				       "heapline/possibly-lost", "heapline/still-reachable"};
static const char *const rule_text[] = {
    "Memory definitely lost: no pointer to the block remains anywhere.",
    "Memory indirectly lost: the block is reachable only from lost blocks.",
    "Memory possibly lost: the block is reachable only through pointers into its interior.",
    "Memory still reachable at exit: a pointer to the block remains but it was never freed.",
};

/* A path as a SARIF uri: relative to the current directory (the %SRCROOT%)
 * when below it, else a file:// uri. */
static void uri_json(struct hl_json *j, const char *path)
{
	char buf[4096];
	const char *p = hl_fmt_path(buf, sizeof(buf), path);

	hl_json_begin_object(j);
	if (p[0] == '/') {
		char uri[4200];
		snprintf(uri, sizeof(uri), "file://%s", p);
		hl_json_kv_string(j, "uri", uri);
	} else {
		hl_json_kv_string(j, "uri", p);
		hl_json_kv_string(j, "uriBaseId", "%SRCROOT%");
	}
	hl_json_end_object(j);
}

static void location_json(struct hl_json *j, const struct hl_frame *fr)
{
	hl_json_begin_object(j);
	if (fr->file || fr->module) {
		hl_json_key(j, "physicalLocation");
		hl_json_begin_object(j);
		hl_json_key(j, "artifactLocation");
		uri_json(j, fr->file ? fr->file : fr->module);
		if (fr->file && fr->line) {
			hl_json_key(j, "region");
			hl_json_begin_object(j);
			hl_json_kv_uint(j, "startLine", fr->line);
			hl_json_end_object(j);
		}
		hl_json_end_object(j);
	}
	if (fr->function) {
		hl_json_key(j, "logicalLocations");
		hl_json_begin_array(j);
		hl_json_begin_object(j);
		hl_json_kv_string(j, "fullyQualifiedName", fr->function);
		hl_json_kv_string(j, "kind", "function");
		hl_json_end_object(j);
		hl_json_end_array(j);
	}
	hl_json_end_object(j);
}

/* FNV-1a over the stack's function names: the same leak keeps its identity
 * across runs (addresses and line shifts aside). */
static uint64_t leak_fingerprint(const struct hl_leak *l)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)l->kind;

	for (size_t i = 0; i < l->nframes; i++) {
		const char *s = l->frames[i]->function ? l->frames[i]->function : "?";
		for (; *s; s++)
			h = (h ^ (uint8_t)*s) * 1099511628211ull;
		h = (h ^ '/') * 1099511628211ull;
	}
	return h;
}

static void leak_message(char *buf, size_t len, const struct hl_leak *l)
{
	char a[32], b[32];
	const struct hl_frame *site = l->nframes ? l->frames[0] : NULL;

	snprintf(buf, len, "%s bytes in %s %s %s %s, allocated in %s (pid %" PRIu64 ")",
		 commas(a, sizeof(a), l->bytes), commas(b, sizeof(b), l->blocks),
		 plural(l->blocks, "block", "blocks"), plural(l->blocks, "is", "are"),
		 hl_kind_title(l->kind), site && site->function ? site->function : "??",
		 l->trace->sum.pid);
}

void hl_check_print_sarif(FILE *f, const struct hl_check *c)
{
	struct hl_json j;
	char cwd[4096], buf[1024];

	hl_json_init(&j, f, 1);
	hl_json_begin_object(&j);
	hl_json_kv_string(&j, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
	hl_json_kv_string(&j, "version", "2.1.0");
	hl_json_key(&j, "runs");
	hl_json_begin_array(&j);
	hl_json_begin_object(&j);

	hl_json_key(&j, "tool");
	hl_json_begin_object(&j);
	hl_json_key(&j, "driver");
	hl_json_begin_object(&j);
	hl_json_kv_string(&j, "name", "heapline");
	hl_json_kv_string(&j, "version", HEAPLINE_VERSION);
	hl_json_key(&j, "rules");
	hl_json_begin_array(&j);
	for (int k = 0; k < HL_KIND_COUNT; k++) {
		hl_json_begin_object(&j);
		hl_json_kv_string(&j, "id", rule_ids[k]);
		hl_json_key(&j, "shortDescription");
		hl_json_begin_object(&j);
		snprintf(buf, sizeof(buf), "Memory %s", hl_kind_title((enum hl_kind)k));
		hl_json_kv_string(&j, "text", buf);
		hl_json_end_object(&j);
		hl_json_key(&j, "fullDescription");
		hl_json_begin_object(&j);
		hl_json_kv_string(&j, "text", rule_text[k]);
		hl_json_end_object(&j);
		hl_json_key(&j, "defaultConfiguration");
		hl_json_begin_object(&j);
		hl_json_kv_string(&j, "level", (c->errors_for & HL_KIND_BIT(k)) ? "error" : "note");
		hl_json_end_object(&j);
		hl_json_end_object(&j);
	}
	hl_json_end_array(&j);
	hl_json_end_object(&j);
	hl_json_end_object(&j);

	if (getcwd(cwd, sizeof(cwd))) {
		char uri[4200];
		snprintf(uri, sizeof(uri), "file://%s/", strcmp(cwd, "/") ? cwd : "");
		hl_json_key(&j, "originalUriBaseIds");
		hl_json_begin_object(&j);
		hl_json_key(&j, "%SRCROOT%");
		hl_json_begin_object(&j);
		hl_json_kv_string(&j, "uri", uri);
		hl_json_end_object(&j);
		hl_json_end_object(&j);
	}

	hl_json_key(&j, "results");
	hl_json_begin_array(&j);
	for (size_t t = 0; t < c->ntraces; t++) {
		const struct hl_judged *tr = &c->traces[t];
		for (size_t i = 0; i < tr->nleaks; i++) {
			const struct hl_leak *l = &tr->leaks[i];
			bool err = c->errors_for & HL_KIND_BIT(l->kind);
			if (l->supp >= 0 || (!err && !(c->show & HL_KIND_BIT(l->kind))))
				continue;
			hl_json_begin_object(&j);
			hl_json_kv_string(&j, "ruleId", rule_ids[l->kind]);
			hl_json_kv_uint(&j, "ruleIndex", (uint64_t)l->kind);
			hl_json_kv_string(&j, "level", err ? "error" : "note");
			hl_json_key(&j, "message");
			hl_json_begin_object(&j);
			leak_message(buf, sizeof(buf), l);
			hl_json_kv_string(&j, "text", buf);
			hl_json_end_object(&j);
			/* located at the first frame of the program's own code */
			hl_json_key(&j, "locations");
			hl_json_begin_array(&j);
			if (l->loc >= 0)
				location_json(&j, l->frames[l->loc]);
			else if (l->nframes)
				location_json(&j, l->frames[0]);
			else {
				struct hl_frame none = {.module = tr->sum.exe};
				location_json(&j, &none);
			}
			hl_json_end_array(&j);
			hl_json_key(&j, "stacks");
			hl_json_begin_array(&j);
			hl_json_begin_object(&j);
			hl_json_key(&j, "message");
			hl_json_begin_object(&j);
			hl_json_kv_string(&j, "text", "allocation stack");
			hl_json_end_object(&j);
			hl_json_key(&j, "frames");
			hl_json_begin_array(&j);
			for (size_t k = 0; k < l->nframes; k++) {
				hl_json_begin_object(&j);
				hl_json_key(&j, "location");
				location_json(&j, l->frames[k]);
				hl_json_end_object(&j);
			}
			hl_json_end_array(&j);
			hl_json_end_object(&j);
			hl_json_end_array(&j);
			hl_json_key(&j, "partialFingerprints");
			hl_json_begin_object(&j);
			snprintf(buf, sizeof(buf), "%016" PRIx64, leak_fingerprint(l));
			hl_json_kv_string(&j, "heaplineStack/v1", buf);
			hl_json_end_object(&j);
			hl_json_key(&j, "properties");
			hl_json_begin_object(&j);
			hl_json_kv_uint(&j, "bytes", l->bytes);
			hl_json_kv_uint(&j, "blocks", l->blocks);
			hl_json_kv_uint(&j, "pid", tr->sum.pid);
			hl_json_end_object(&j);
			hl_json_end_object(&j);
		}
	}
	hl_json_end_array(&j);

	hl_json_end_object(&j);
	hl_json_end_array(&j);
	hl_json_end_object(&j);
	hl_json_finish(&j);
}

/* ---- GitHub annotations ------------------------------------------------------------ */

/* Workflow-command escaping: data escapes %, CR, LF; properties also : and ,. */
static void gh_escape(FILE *f, const char *s, bool property)
{
	for (; *s; s++) {
		switch (*s) {
		case '%':
			fputs("%25", f);
			break;
		case '\r':
			fputs("%0D", f);
			break;
		case '\n':
			fputs("%0A", f);
			break;
		case ':':
			fputs(property ? "%3A" : ":", f);
			break;
		case ',':
			fputs(property ? "%2C" : ",", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static int by_bytes_desc(const void *a, const void *b)
{
	const struct hl_leak *x = *(const struct hl_leak *const *)a;
	const struct hl_leak *y = *(const struct hl_leak *const *)b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->kind < y->kind ? -1 : x->kind > y->kind;
}

void hl_check_print_github(FILE *f, const struct hl_check *c)
{
	const struct hl_leak **top = NULL;
	size_t n = 0, cap = 0;
	char buf[1024], path[4096];

	for (size_t t = 0; t < c->ntraces; t++)
		for (size_t i = 0; i < c->traces[t].nleaks; i++) {
			const struct hl_leak *l = &c->traces[t].leaks[i];
			if (l->supp >= 0 || !(c->errors_for & HL_KIND_BIT(l->kind)))
				continue;
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 64;
				const struct hl_leak **v = realloc(top, nc * sizeof(*v));
				if (!v)
					break;
				top = v;
				cap = nc;
			}
			top[n++] = l;
		}
	if (n)
		qsort(top, n, sizeof(*top), by_bytes_desc);
	for (size_t i = 0; i < n && i < HL_GITHUB_MAX; i++) {
		const struct hl_leak *l = top[i];
		fputs("::error ", f);
		if (l->loc >= 0) {
			fputs("file=", f);
			gh_escape(f, hl_fmt_path(path, sizeof(path), l->frames[l->loc]->file),
				  true);
			fprintf(f, ",line=%u,", l->frames[l->loc]->line);
		}
		fputs("title=", f);
		snprintf(buf, sizeof(buf), "heapline: memory %s", hl_kind_title(l->kind));
		gh_escape(f, buf, true);
		fputs("::", f);
		leak_message(buf, sizeof(buf), l);
		gh_escape(f, buf, false);
		fputc('\n', f);
	}
	hl_check_verdict(c, buf, sizeof(buf));
	if (n > HL_GITHUB_MAX) {
		size_t len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, " (%zu more leak stacks not annotated)",
			 n - HL_GITHUB_MAX);
	}
	fputs(c->exit ? "::error title=heapline check::" : "::notice title=heapline check::", f);
	gh_escape(f, buf, false);
	fputc('\n', f);
	free(top);
}
