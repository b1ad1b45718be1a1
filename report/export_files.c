/* export_files.c — the export files of `heapline report` (export_files.h):
 * opening, one trace at a time, closing; the formats are export_*.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_files.h"
#include "export_formats.h"

struct hl_exports {
	struct hl_export_opts o;
	FILE *folded, *speedscope, *massif;
	struct hl_speedscope *sp;
	int multi;
};

bool hl_exports_wanted(const struct hl_export_opts *o)
{
	return o->folded || o->speedscope || o->massif;
}

static bool is_stdout(const char *path)
{
	return path && !strcmp(path, "-");
}

bool hl_exports_to_stdout(const struct hl_export_opts *o)
{
	return is_stdout(o->folded) || is_stdout(o->speedscope) || is_stdout(o->massif);
}

const char *hl_exports_conflict(const struct hl_export_opts *o, int ntraces)
{
	if (is_stdout(o->folded) + is_stdout(o->speedscope) + is_stdout(o->massif) > 1)
		return "only one export can write to stdout ('-')";
	if (o->massif && ntraces > 1)
		return "--massif takes one trace (massif's format holds one process)";
	if (o->metric_given && !o->folded && !o->speedscope)
		return "--metric applies to --folded and --speedscope";
	return NULL;
}

static FILE *open_out(const char *path, char *err, size_t errlen)
{
	FILE *f;

	if (is_stdout(path))
		return stdout;
	f = fopen(path, "w");
	if (!f)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *path, int failed, char *err, size_t errlen)
{
	int bad;

	if (!f)
		return failed;
	bad = fflush(f) || ferror(f);
	if (f != stdout && fclose(f))
		bad = 1;
	if (bad && !failed) {
		snprintf(err, errlen, "%s: cannot write: %s", is_stdout(path) ? "stdout" : path,
			 strerror(errno ? errno : EIO));
		return -1;
	}
	return failed;
}

int hl_exports_open(struct hl_exports **out, const struct hl_export_opts *o, int ntraces, char *err,
		    size_t errlen)
{
	struct hl_exports *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->o = *o;
	x->multi = ntraces > 1;
	if ((o->folded && !(x->folded = open_out(o->folded, err, errlen))) ||
	    (o->speedscope && !(x->speedscope = open_out(o->speedscope, err, errlen))) ||
	    (o->massif && !(x->massif = open_out(o->massif, err, errlen))))
		goto fail;
	if (x->speedscope && !(x->sp = hl_speedscope_new(x->speedscope))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*out = x;
	return 0;
fail:
	hl_exports_close(x, NULL, 0);
	return -1;
}

/* "prog (pid 123)": the process, for titles and the folded root frame. */
static void process_name(char *buf, size_t len, const struct hl_export_input *in)
{
	const char *cmd = in->summary->exe && in->summary->exe[0] ? in->summary->exe : in->path;
	const char *base = strrchr(cmd, '/');

	snprintf(buf, len, "%s (pid %" PRIu64 ")", base ? base + 1 : cmd, in->summary->pid);
	for (char *p = buf; *p; p++)
		if (*p == ';' || *p == '\n')
			*p = ' ';
}

int hl_exports_add(struct hl_exports *x, const struct hl_export_input *in, char *err, size_t errlen)
{
	struct hl_export_stacks s;
	char name[512], title[640];
	int ret = 0;

	process_name(name, sizeof(name), in);
	if (x->folded || x->sp) {
		ret = hl_export_stacks_build(&s, in->stacks, in->agg, x->o.metric);
		if (ret)
			goto stage_error;
		if (x->folded && hl_export_folded(x->folded, &s, x->multi ? name : NULL)) {
			snprintf(err, errlen, "%s: cannot write: %s", x->o.folded, strerror(EIO));
			hl_export_stacks_release(&s);
			return -1;
		}
		snprintf(title, sizeof(title), "%s: %s", name,
			 x->o.metric == HL_METRIC_CALLS	   ? "allocation calls"
			 : x->o.metric == HL_METRIC_PEAK   ? "bytes live at the peak"
			 : x->o.metric == HL_METRIC_LEAKED ? "bytes leaked"
							   : "bytes allocated");
		if (x->sp)
			ret = hl_speedscope_add(x->sp, title, &s, hl_stacks_symbolizer(in->stacks),
						x->o.metric);
		hl_export_stacks_release(&s);
		if (ret)
			goto stage_error;
	}
	if (x->massif)
		return hl_export_massif(x->massif, in->trace, in->stacks, in->summary, err, errlen);
	return 0;
stage_error:
	snprintf(err, errlen, "%s: export: %s", in->path, strerror(-ret));
	return -1;
}

int hl_exports_close(struct hl_exports *x, char *err, size_t errlen)
{
	int ret = 0;

	if (!x)
		return 0;
	if (x->sp && hl_speedscope_finish(x->sp))
		ret = -1,
		snprintf(err, errlen, "%s: cannot write: %s", x->o.speedscope, strerror(EIO));
	ret = close_out(x->folded, x->o.folded, ret, err, errlen);
	ret = close_out(x->speedscope, x->o.speedscope, ret, err, errlen);
	ret = close_out(x->massif, x->o.massif, ret, err, errlen);
	free(x);
	return ret;
}
