/* cmd_report.c — `heapline report`: runs each trace through the pipeline
 * (read -> replay -> views) and prints its views as text or JSON.
 *
 * A view is one entry in views[] below: it may hook into the replay before
 * the trace is read (attach), then prints itself as text and as one member of
 * the process's JSON object.  Adding a view (top sites, line tables, ...) is a
 * new entry and its functions; the loop here does not change.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "json.h"
#include "replay.h"
#include "summary.h"
#include "trace_read.h"

enum report_format { FMT_TEXT, FMT_JSON };

struct report_opts {
	enum report_format format;
};

struct report_trace;

struct report_view {
	const char *name; /* its member name in the process's JSON object */
	/* Whether the command line asked for it (NULL: always). */
	int (*enabled)(const struct report_opts *o);
	/* Before reading: hook into rt->replay, set *state.  0 or -errno. */
	int (*attach)(struct report_trace *rt, const struct report_opts *o, void **state);
	void (*text)(FILE *f, const struct report_trace *rt, void *state);
	void (*json)(struct hl_json *j, const struct report_trace *rt, void *state);
	void (*release)(void *state);
};

/* ---- views ------------------------------------------------------------------ */

static void summary_text(FILE *f, const struct report_trace *rt, void *state);
static void summary_json(struct hl_json *j, const struct report_trace *rt, void *state);

static const struct report_view views[] = {
	{ .name = "summary", .text = summary_text, .json = summary_json },
};
#define NVIEWS (sizeof(views) / sizeof(views[0]))

/* One trace on its way through the pipeline. */
struct report_trace {
	const char *path;
	struct hl_trace *trace;
	struct hl_replay *replay;
	struct hl_summary summary;
	int on[NVIEWS];
	void *state[NVIEWS];
};

static void summary_text(FILE *f, const struct report_trace *rt, void *state)
{
	hl_summary_print_text(f, &rt->summary, rt->path);
}

static void summary_json(struct hl_json *j, const struct report_trace *rt, void *state)
{
	hl_summary_print_json(j, &rt->summary, rt->path);
}

/* ---- the pipeline ----------------------------------------------------------- */

static void trace_release(struct report_trace *rt)
{
	for (size_t i = 0; i < NVIEWS; i++)
		if (rt->on[i] && views[i].release)
			views[i].release(rt->state[i]);
	hl_summary_release(&rt->summary);
	hl_replay_free(rt->replay);
	hl_trace_close(rt->trace);
	memset(rt, 0, sizeof(*rt));
}

/* Reads one trace through the replay and every enabled view.  On failure
 * prints the one-line error and returns -1. */
static int trace_load(struct report_trace *rt, const char *path, const struct report_opts *o)
{
	char err[512] = "";
	int ret;

	memset(rt, 0, sizeof(*rt));
	rt->path = path;
	if (hl_trace_open(path, &rt->trace, err, sizeof(err)))
		goto fail;
	rt->replay = hl_replay_new();
	if (!rt->replay)
		goto nomem;
	for (size_t i = 0; i < NVIEWS; i++) {
		rt->on[i] = !views[i].enabled || views[i].enabled(o);
		if (!rt->on[i] || !views[i].attach)
			continue;
		ret = views[i].attach(rt, o, &rt->state[i]);
		if (ret) {
			rt->on[i] = 0; /* nothing for release() to free */
			snprintf(err, sizeof(err), "%s: %s view: %s", path, views[i].name,
				 strerror(-ret));
			goto fail;
		}
	}
	ret = hl_replay_run(rt->replay, rt->trace, err, sizeof(err));
	if (ret) {
		if (ret != -1) /* a view's hook stopped the replay */
			snprintf(err, sizeof(err), "%s: %s", path,
				 ret < 0 ? strerror(-ret) : "report stage failed");
		goto fail;
	}
	if (hl_replay_summary(rt->replay, &rt->summary))
		goto nomem;
	if (rt->summary.truncated_bytes)
		fprintf(stderr,
			"heapline: %s: trace truncated, last %llu bytes lost (the program was probably killed)\n",
			path, (unsigned long long)rt->summary.truncated_bytes);
	return 0;

nomem:
	snprintf(err, sizeof(err), "%s: out of memory", path);
fail:
	fprintf(stderr, "heapline: %s\n", err);
	trace_release(rt);
	return -1;
}

static void trace_print_text(FILE *f, const struct report_trace *rt)
{
	int first = 1;
	for (size_t i = 0; i < NVIEWS; i++) {
		if (!rt->on[i] || !views[i].text)
			continue;
		if (!first)
			fputc('\n', f);
		views[i].text(f, rt, rt->state[i]);
		first = 0;
	}
}

/* The process object: one member per view. */
static void trace_print_json(struct hl_json *j, const struct report_trace *rt)
{
	hl_json_begin_object(j);
	for (size_t i = 0; i < NVIEWS; i++) {
		if (!rt->on[i] || !views[i].json)
			continue;
		hl_json_key(j, views[i].name);
		views[i].json(j, rt, rt->state[i]);
	}
	hl_json_end_object(j);
}

/* ---- command line ------------------------------------------------------------ */

static const char usage[] =
	"usage: heapline report [--format text|json] [TRACE...]\n"
	"\n"
	"Prints what each trace says: allocations, frees, peak heap and when,\n"
	"leaks, duration.  Without TRACE, reads the newest heapline.*.hlt in the\n"
	"current directory.\n"
	"\n"
	"options:\n"
	"  --format text|json  text for people (default), json for machines:\n"
	"                      {\"summary\": {...}} for one trace, {\"processes\": [...],\n"
	"                      \"combined\": {...}} for several (docs/report-json.md)\n"
	"  -h, --help          show this help\n"
	"\n"
	"A truncated trace (the program was killed) is reported up to its last\n"
	"complete block, with a warning.  Exit status: 0, or 2 for a bad command\n"
	"line or a trace that is missing, not a trace, too new or corrupt.\n";

static int usage_error(const char *fmt, const char *arg)
{
	fputs("heapline report: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (try 'heapline report --help')\n", stderr);
	return HL_EXIT_USAGE;
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
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct report_opts o = { .format = FMT_TEXT };
	struct hl_summary_totals totals = { 0 };
	struct hl_json j;
	char *found = NULL;
	int c, status = 0, printed = 0;

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
		case 'h':
			fputs(usage, stdout);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
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

	/* One trace: {"summary": ...}.  Several: {"processes": [...],
	 * "combined": ...}.  The shape follows the command line, not which
	 * traces turned out readable, so scripts can rely on it. */
	int multi = npaths > 1;
	if (o.format == FMT_JSON) {
		hl_json_init(&j, stdout, 1);
		if (multi) {
			hl_json_begin_object(&j);
			hl_json_key(&j, "processes");
			hl_json_begin_array(&j);
		}
	}
	for (int i = 0; i < npaths; i++) {
		struct report_trace rt;
		if (trace_load(&rt, paths[i], &o)) {
			status = HL_EXIT_USAGE;
			continue;
		}
		if (o.format == FMT_JSON) {
			trace_print_json(&j, &rt);
		} else {
			if (printed)
				fputc('\n', stdout);
			trace_print_text(stdout, &rt);
		}
		hl_summary_totals_add(&totals, &rt.summary);
		printed++;
		trace_release(&rt);
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
	} else if (multi && printed) {
		fputc('\n', stdout);
		hl_summary_totals_print_text(stdout, &totals);
	}
	free(found);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "heapline report: cannot write the report: %s\n", strerror(errno));
		return HL_EXIT_USAGE;
	}
	return status;
}
