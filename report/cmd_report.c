/* cmd_report.c — `heapline report`: runs each trace through the pipeline
 * read -> replay -> aggregate -> symbolize -> views, and prints the views
 * asked for as text or JSON.
 *
 * A view is one entry in views[] below: its names, the stages it needs,
 * and its two printers.  The stages run only when an enabled view needs
 * them (the peak snapshot, kept during the replay, only for views
 * that show bytes live at the peak).  Adding a view is a new entry and a
 * new printer; the loop here does not change.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aggregate.h"
#include "cli.h"
#include "commands.h"
#include "export_files.h"
#include "format.h"
#include "html.h"
#include "json.h"
#include "linetable.h"
#include "load.h"
#include "progress.h"
#include "replay.h"
#include "sites.h"
#include "stacks.h"
#include "summary.h"
#include "trace_read.h"
#include "views.h"

enum report_format { FMT_TEXT, FMT_JSON, FMT_NONE /* exports only */ };

#define MAX_FUNCTIONS 64

struct report_opts {
	enum report_format format;
	unsigned views;		 /* bit per views[] entry */
	struct hl_view_opts view;
	struct hl_linetable_opts lines;
	const char *functions[MAX_FUNCTIONS];
	struct hl_export_opts exports; /* --folded, --speedscope, --massif */
	const char *html;		/* --html FILE */
};

/* What a view needs built before it prints (load.h). */
#define NEED_AGG    HL_LOAD_AGG
#define NEED_SITES  HL_LOAD_SITES
#define NEED_PEAK   HL_LOAD_PEAK
#define NEED_LINES  HL_LOAD_LINES
#define NEED_STACKS HL_LOAD_STACKS

struct report_view {
	const char *option; /* its name for --view */
	const char *name;   /* its member name in the process's JSON object */
	unsigned needs;
	int on_by_default;
	void (*text)(FILE *f, const struct hl_view_ctx *c);
	void (*json)(struct hl_json *j, const struct hl_view_ctx *c);
};

/* ---- views ------------------------------------------------------------------ */

static void summary_text(FILE *f, const struct hl_view_ctx *c)
{
	hl_summary_print_text(f, c->summary, c->path);
}

static void summary_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	hl_summary_print_json(j, c->summary, c->path);
}

static void lines_text(FILE *f, const struct hl_view_ctx *c)
{
	hl_linetables_print_text(f, c->lines, c->o->columns, c->o->line_unit, c->o->precision);
}

static void lines_json(struct hl_json *j, const struct hl_view_ctx *c)
{
	hl_linetables_print_json(j, c->lines, hl_agg_has_peak(c->agg));
}

static const struct report_view views[] = {
	{ "summary", "summary", 0, 1, summary_text, summary_json },
	{ "top", "top_bytes", NEED_AGG | NEED_SITES, 1, hl_view_top_bytes_text,
	  hl_view_top_bytes_json },
	{ "top-calls", "top_calls", NEED_AGG | NEED_SITES, 0, hl_view_top_calls_text,
	  hl_view_top_calls_json },
	{ "top-peak", "top_peak", NEED_AGG | NEED_SITES | NEED_PEAK, 0, hl_view_top_peak_text,
	  hl_view_top_peak_json },
	{ "temp", "temporary", NEED_AGG | NEED_SITES, 0, hl_view_temp_text, hl_view_temp_json },
	{ "leaks", "leaks", NEED_AGG | NEED_SITES, 0, hl_view_leaks_text, hl_view_leaks_json },
	{ "hist", "histogram", NEED_AGG, 0, hl_view_hist_text, hl_view_hist_json },
	{ "chart", "memory_over_time", NEED_AGG, 0, hl_view_chart_text, hl_view_chart_json },
	{ "lines", "line_tables", NEED_AGG | NEED_LINES, 1, lines_text, lines_json },
};
#define NVIEWS (sizeof(views) / sizeof(views[0]))

/* ---- the pipeline ----------------------------------------------------------- */

static unsigned needs_of(const struct report_opts *o)
{
	unsigned needs = 0;

	for (size_t i = 0; i < NVIEWS; i++)
		if (o->views & (1u << i))
			needs |= views[i].needs;
	if ((needs & NEED_LINES) && (o->view.columns & HL_COL_PEAK))
		needs |= NEED_PEAK;
	if (hl_exports_wanted(&o->exports))
		needs |= NEED_AGG | NEED_STACKS |
			 (o->exports.metric == HL_METRIC_PEAK ? NEED_PEAK : 0);
	if (o->html) /* the page shows every stage's data */
		needs |= NEED_AGG | NEED_SITES | NEED_PEAK | NEED_LINES;
	return needs;
}

/* Reads one trace through every stage the enabled views need.  On failure
 * prints the one-line error and returns -1. */
static int trace_load(struct hl_loaded *rt, const char *path, const struct report_opts *o)
{
	const struct hl_load_opts lo = {
	    .needs = needs_of(o),
	    .stack_depth = o->view.stack_depth,
	    .lines = &o->lines,
	};
	char err[512] = "";

	if (!hl_load(rt, path, &lo, err, sizeof(err)))
		return 0;
	fprintf(stderr, "heapline: %s\n", err);
	return -1;
}

static void view_ctx(struct hl_view_ctx *c, const struct hl_loaded *rt,
		     const struct report_opts *o)
{
	*c = (struct hl_view_ctx){
		.path = rt->path,
		.o = &o->view,
		.summary = &rt->summary,
		.agg = rt->agg,
		.sites = rt->sites,
		.lines = rt->lines,
	};
}

static void trace_print_text(FILE *f, const struct hl_loaded *rt, const struct report_opts *o)
{
	struct hl_view_ctx c;
	int first = 1;

	view_ctx(&c, rt, o);
	for (size_t i = 0; i < NVIEWS; i++) {
		if (!(o->views & (1u << i)))
			continue;
		if (!first)
			fputc('\n', f);
		views[i].text(f, &c);
		first = 0;
	}
}

/* The process object: one member per view, the summary always. */
static void trace_print_json(struct hl_json *j, const struct hl_loaded *rt,
			     const struct report_opts *o)
{
	struct hl_view_ctx c;

	view_ctx(&c, rt, o);
	hl_json_begin_object(j);
	for (size_t i = 0; i < NVIEWS; i++) {
		/* "summary" is SPEC's contract: always there, whatever --view says */
		if (!(o->views & (1u << i)) && strcmp(views[i].name, "summary"))
			continue;
		hl_json_key(j, views[i].name);
		views[i].json(j, &c);
	}
	hl_json_end_object(j);
}

/* One process into the HTML page (html.h): the moments read the trace once
 * more, with the progress line.  0, or -1 after printing the error. */
static int html_add(struct hl_html *h, struct hl_loaded *rt, const struct report_opts *o)
{
	struct hl_progress progress;
	struct hl_replay_hooks ph;
	struct hl_view_ctx c;
	char err[512];
	int ret;

	view_ctx(&c, rt, o);
	hl_progress_begin(&progress, "sampling moments in", rt->path);
	ph = hl_progress_hooks(&progress);
	ret = hl_html_add(h, &c, rt->trace, rt->replay, rt->stacks, &ph, err, sizeof(err));
	hl_progress_end(&progress);
	if (ret)
		fprintf(stderr, "heapline report: %s\n", err);
	return ret;
}

/* ---- command line ------------------------------------------------------------ */

static const char usage[] =
	"usage: heapline report [OPTIONS] [TRACE...]\n"
	"\n"
	"Prints what each trace says.  Without --view: the summary, the top\n"
	"allocation sites by bytes, and line-by-line tables (memory_profiler's\n"
	"format) of the three functions of the program's own code that allocated\n"
	"the most.  Without TRACE, reads the newest heapline.*.hlt in the current\n"
	"directory.  Several traces: each process, then combined totals.\n"
	"\n"
	"options:\n"
	"  --view NAME[,NAME...]  sections to print (always in this order):\n"
	"                         summary     allocations, frees, peak, leaks, duration\n"
	"                         top         top allocation sites by bytes allocated\n"
	"                         top-calls   top allocation sites by allocation calls\n"
	"                         top-peak    top sites by bytes live at the global peak\n"
	"                                     (snapshot kept during the replay)\n"
	"                         temp        temporary allocations (freed before their\n"
	"                                     thread's next allocation)\n"
	"                         leaks       blocks not freed at exit, by site\n"
	"                         hist        allocation sizes, power-of-two buckets\n"
	"                         chart       live heap and RSS over time\n"
	"                         lines       line-by-line tables\n"
	"                         all         every one of them\n"
	"  --top N                rows per site table (default 10)\n"
	"  --stack-depth N        callers shown below each site (default 5); a site\n"
	"                         is the first frame in the program's own code\n"
	"  --unit B|KiB|MiB|GiB|auto  size unit (default: MiB in line tables, as\n"
	"                         memory_profiler; elsewhere auto, per table)\n"
	"  --precision N          decimals of sizes (default 3)\n"
	"  --function GLOB        line tables of the functions matching GLOB\n"
	"                         (repeatable; C++ and Rust names demangled)\n"
	"  --file PATH            line tables of every function defined in PATH\n"
	"                         (a glob; relative paths match any directory)\n"
	"                         that allocated or freed memory\n"
	"  --source-dir DIR       look for sources under DIR first (tries DIR plus\n"
	"                         each tail of the path the debug information names)\n"
	"  --columns LIST         extra line-table columns: leaked (allocated there,\n"
	"                         live at exit), peak (live at the global peak),\n"
	"                         frees (free calls)\n"
	"  --format text|json     text for people (default), json for machines:\n"
	"                         one member per view (docs/report-json.md);\n"
	"                         {\"processes\": [...], \"combined\": {...}} for several\n"
	"  --folded FILE          write folded stacks (flamegraph.pl, inferno,\n"
	"                         speedscope) to FILE; '-' is stdout\n"
	"  --speedscope FILE      write a speedscope JSON profile to FILE\n"
	"  --massif FILE          write valgrind massif's format (ms_print,\n"
	"                         massif-visualizer) to FILE; one trace only\n"
	"  --metric allocated|peak|leaked|calls  the weight of --folded and\n"
	"                         --speedscope stacks (default allocated: bytes).\n"
	"                         With an export and no --view, only the exports\n"
	"                         are written (docs/exports.md)\n"
	"  --html FILE            write one self-contained HTML page (no network):\n"
	"                         memory over time, flame graphs of bytes\n"
	"                         allocated, live at the peak and leaked, top\n"
	"                         sites, line tables; several traces: one page\n"
	"                         with a process selector; '-' is stdout\n"
	"                         (docs/html-report.md).  Without --view, only\n"
	"                         the page is written\n"
	"  -h, --help             show this help\n"
	"\n"
	"Line tables (SPEC): Increment = bytes allocated - bytes freed by calls made\n"
	"while the line ran, callees included; Mem usage = the largest live heap\n"
	"just after such a call; Occurrences = such allocator calls.\n"
	"\n"
	"Symbols resolved from DWARF are kept for later reports, per build-id, in\n"
	"$HEAPLINE_SYMBOL_CACHE (default ~/.cache/heapline/symbols; 'off': none),\n"
	"and used while the files they came from are unchanged.\n"
	"\n"
	"A truncated trace (the program was killed) is reported up to its last\n"
	"complete block, with a warning.  Exit status: 0, or 2 for a bad command\n"
	"line or a trace that is missing, not a trace, too new or corrupt.\n";

static int usage_error(const char *fmt, const char *arg)
{
	return hl_cli_usage("report", fmt, arg);
}

/* Comma-separated names of a table: 0, or -1 with the bad name in *bad
 * (overwritten into list). */
static int parse_views(char *list, unsigned *out, const char **bad)
{
	*out = 0;
	for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		if (!strcmp(tok, "all")) {
			*out = (1u << NVIEWS) - 1;
			continue;
		}
		for (i = 0; i < NVIEWS && strcmp(tok, views[i].option); i++)
			;
		if (i == NVIEWS) {
			*bad = tok;
			return -1;
		}
		*out |= 1u << i;
	}
	return *out ? 0 : -1;
}

static int parse_columns(char *list, unsigned *out, const char **bad)
{
	*out = 0;
	for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "leaked"))
			*out |= HL_COL_LEAKED;
		else if (!strcmp(tok, "peak"))
			*out |= HL_COL_PEAK;
		else if (!strcmp(tok, "frees"))
			*out |= HL_COL_FREES;
		else {
			*bad = tok;
			return -1;
		}
	}
	return 0;
}

/* `heapline run` then `heapline report`: the newest trace here. */
static char *newest_trace(void)
{
	glob_t g;
	char *best = NULL;
	struct timespec best_t = { 0 };

	if (glob("heapline.*.hlt", 0, NULL, &g))
		return NULL;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		if (stat(g.gl_pathv[i], &st) || !S_ISREG(st.st_mode))
			continue;
		if (!best || st.st_mtim.tv_sec > best_t.tv_sec ||
		    (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec)) {
			best = g.gl_pathv[i];
			best_t = st.st_mtim;
		}
	}
	best = best ? strdup(best) : NULL;
	globfree(&g);
	return best;
}

int hl_cmd_report(int argc, char **argv)
{
	enum { OPT_VIEW = 256, OPT_TOP, OPT_DEPTH, OPT_UNIT, OPT_PRECISION, OPT_FUNCTION,
	       OPT_FILE, OPT_SOURCE_DIR, OPT_COLUMNS, OPT_FOLDED, OPT_SPEEDSCOPE, OPT_MASSIF,
	       OPT_METRIC, OPT_HTML };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "stack-depth", required_argument, NULL, OPT_DEPTH },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ "precision", required_argument, NULL, OPT_PRECISION },
		{ "function", required_argument, NULL, OPT_FUNCTION },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "source-dir", required_argument, NULL, OPT_SOURCE_DIR },
		{ "columns", required_argument, NULL, OPT_COLUMNS },
		{ "folded", required_argument, NULL, OPT_FOLDED },
		{ "speedscope", required_argument, NULL, OPT_SPEEDSCOPE },
		{ "massif", required_argument, NULL, OPT_MASSIF },
		{ "metric", required_argument, NULL, OPT_METRIC },
		{ "html", required_argument, NULL, OPT_HTML },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct report_opts o = {
		.format = FMT_TEXT,
		.view = { .top = 10, .stack_depth = 5, .unit = HL_UNIT_AUTO, .line_unit = HL_UNIT_MIB,
			  .precision = 3 },
		.lines = { .ntop = 3 },
	};
	struct hl_summary_totals totals = { 0 };
	struct hl_json j;
	char *found = NULL;
	const char *bad = NULL;
	unsigned u;
	int c, status = 0, printed = 0, views_given = 0;
	struct hl_exports *exports = NULL;
	struct hl_html *html = NULL;
	char err[512];

	for (size_t i = 0; i < NVIEWS; i++)
		if (views[i].on_by_default)
			o.views |= 1u << i;
	o.lines.functions = o.functions;
	opterr = 0; /* our own one-line messages */
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				o.format = FMT_TEXT;
			else if (!strcmp(optarg, "json"))
				o.format = FMT_JSON;
			else
				return usage_error("unknown format '%s', expected text or json", optarg);
			break;
		case OPT_VIEW:
			if (parse_views(optarg, &o.views, &bad))
				return usage_error("unknown view '%s', expected summary, top, top-calls,"
						   " top-peak, temp, leaks, hist, chart, lines or all",
						   bad ? bad : "");
			views_given = 1;
			break;
		case OPT_TOP:
			if (hl_cli_uint(optarg, 1, 1000000, &o.view.top))
				return usage_error("--top wants a number from 1 up, not '%s'", optarg);
			break;
		case OPT_DEPTH:
			if (hl_cli_uint(optarg, 0, 1000, &o.view.stack_depth))
				return usage_error("--stack-depth wants a number from 0 to 1000, not '%s'",
						   optarg);
			break;
		case OPT_UNIT:
			if (hl_unit_parse(optarg, &o.view.unit))
				return usage_error("unknown unit '%s', expected B, KiB, MiB, GiB or auto",
						   optarg);
			o.view.line_unit = o.view.unit;
			break;
		case OPT_PRECISION:
			if (hl_cli_uint(optarg, 0, 9, &u))
				return usage_error("--precision wants a number from 0 to 9, not '%s'",
						   optarg);
			o.view.precision = (int)u;
			break;
		case OPT_FUNCTION:
			if (o.lines.nfunctions == MAX_FUNCTIONS)
				return usage_error("too many --function options (at most %s)", "64");
			o.functions[o.lines.nfunctions++] = optarg;
			break;
		case OPT_FILE:
			o.lines.file = optarg;
			break;
		case OPT_SOURCE_DIR:
			o.lines.source_dir = optarg;
			break;
		case OPT_COLUMNS:
			if (parse_columns(optarg, &o.view.columns, &bad))
				return usage_error("unknown column '%s', expected leaked, peak or frees",
						   bad);
			break;
		case OPT_FOLDED:
			o.exports.folded = optarg;
			break;
		case OPT_SPEEDSCOPE:
			o.exports.speedscope = optarg;
			break;
		case OPT_MASSIF:
			o.exports.massif = optarg;
			break;
		case OPT_METRIC:
			if (hl_metric_parse(optarg, &o.exports.metric))
				return usage_error("unknown metric '%s', expected allocated, peak, leaked"
						   " or calls", optarg);
			o.exports.metric_given = true;
			break;
		case OPT_HTML:
			o.html = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default: /* ':' or '?' */
			return hl_cli_bad_option("report", c, argv);
		}
	}

	char **paths = argv + optind;
	int npaths = argc - optind;
	if (npaths == 0) {
		found = newest_trace();
		if (!found) {
			fputs("heapline report: no TRACE given and no heapline.*.hlt in the current directory"
			      " (try 'heapline report --help')\n", stderr);
			return HL_EXIT_USAGE;
		}
		paths = &found;
		npaths = 1;
	}

	/* Exports: without --view, nothing else is printed; an export on
	 * stdout leaves it to that export alone. */
	const char *conflict = hl_exports_conflict(&o.exports, npaths);
	if (conflict)
		return free(found), usage_error("%s", conflict);
	if (hl_exports_wanted(&o.exports) && !views_given)
		o.views = 0;
	else if (hl_exports_to_stdout(&o.exports))
		return free(found), usage_error("%s", "an export on stdout ('-') and --view together");
	if (hl_exports_wanted(&o.exports) &&
	    hl_exports_open(&exports, &o.exports, npaths, err, sizeof(err))) {
		fprintf(stderr, "heapline report: %s\n", err);
		free(found);
		return HL_EXIT_USAGE;
	}

	/* --html: without --view, only the page (with more line tables). */
	if (o.html) {
		if (!strcmp(o.html, "-") && (views_given || hl_exports_to_stdout(&o.exports))) {
			free(found);
			return usage_error("%s", "--html - (stdout) with --view or another export"
						 " on stdout");
		}
		if (!views_given) {
			o.views = 0;
			o.lines.ntop = 10;
		}
		html = hl_html_new(o.html);
		if (!html) {
			fprintf(stderr, "heapline report: %s: out of memory\n", o.html);
			hl_exports_close(exports, err, sizeof(err));
			free(found);
			return HL_EXIT_USAGE;
		}
	}

	/* One trace: {"summary": ...}.  Several: {"processes": [...],
	 * "combined": ...}.  The shape follows the command line, not which
	 * traces turned out readable, so scripts can rely on it. */
	int multi = npaths > 1;
	if (!o.views) /* exports only */
		o.format = FMT_NONE;
	if (o.format == FMT_JSON) {
		hl_json_init(&j, stdout, 1);
		if (multi) {
			hl_json_begin_object(&j);
			hl_json_key(&j, "processes");
			hl_json_begin_array(&j);
		}
	}
	for (int i = 0; i < npaths; i++) {
		struct hl_loaded rt;
		if (trace_load(&rt, paths[i], &o)) {
			status = HL_EXIT_USAGE;
			continue;
		}
		if (exports) {
			struct hl_export_input in = {
				.path = rt.path, .summary = &rt.summary, .trace = rt.trace,
				.agg = rt.agg, .stacks = rt.stacks,
			};
			if (hl_exports_add(exports, &in, err, sizeof(err))) {
				fprintf(stderr, "heapline report: %s\n", err);
				status = HL_EXIT_USAGE;
			}
		}
		if (html && html_add(html, &rt, &o)) {
			hl_html_free(html);
			html = NULL;
			status = HL_EXIT_USAGE;
		}
		if (o.format == FMT_JSON) {
			trace_print_json(&j, &rt, &o);
		} else if (o.format == FMT_TEXT) {
			if (printed)
				fputc('\n', stdout);
			trace_print_text(stdout, &rt, &o);
		}
		hl_summary_totals_add(&totals, &rt.summary);
		printed++;
		hl_load_release(&rt);
		fflush(stdout); /* each process's report as soon as it is ready */
	}
	if (o.format == FMT_JSON) {
		if (multi) {
			hl_json_end_array(&j);
			hl_json_key(&j, "combined");
			hl_summary_totals_print_json(&j, &totals);
			hl_json_end_object(&j);
		}
		if (multi || printed)
			hl_json_finish(&j);
	} else if (o.format == FMT_TEXT && multi && printed) {
		fputc('\n', stdout);
		hl_summary_totals_print_text(stdout, &totals);
	}
	if (html && printed && hl_html_write(html, NULL, err, sizeof(err))) {
		fprintf(stderr, "heapline report: %s\n", err);
		status = HL_EXIT_USAGE;
	}
	hl_html_free(html);
	if (hl_exports_close(exports, err, sizeof(err))) {
		fprintf(stderr, "heapline report: %s\n", err);
		status = HL_EXIT_USAGE;
	}
	free(found);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "heapline report: cannot write the report: %s\n", strerror(errno));
		return HL_EXIT_USAGE;
	}
	return status;
}
