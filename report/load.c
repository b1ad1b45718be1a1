/* load.c — a trace through the report pipeline's stages (load.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "load.h"
#include "progress.h"
#include "symprefetch.h"

void hl_load_release(struct hl_loaded *l)
{
	hl_linetables_free(l->lines);
	hl_sites_free(l->sites);
	hl_stacks_free(l->stacks);
	hl_agg_free(l->agg);
	hl_summary_release(&l->summary);
	hl_replay_free(l->replay);
	hl_trace_close(l->trace);
	memset(l, 0, sizeof(*l));
}

int hl_load(struct hl_loaded *l, const char *path, const struct hl_load_opts *o, char *err,
	    size_t errlen)
{
	unsigned needs = o->needs;
	struct hl_symprefetch *prefetch = NULL;
	struct hl_progress progress;
	struct hl_replay_hooks ph;
	int ret;

	if (needs & (HL_LOAD_SITES | HL_LOAD_PEAK | HL_LOAD_LINES | HL_LOAD_STACKS))
		needs |= HL_LOAD_AGG;
	memset(l, 0, sizeof(*l));
	l->path = path;
	if (hl_trace_open(path, &l->trace, err, errlen))
		goto fail;
	l->replay = hl_replay_new();
	if (!l->replay)
		goto nomem;
	hl_replay_unordered(l->replay); /* the views sum live blocks, never list them */
	if (needs & HL_LOAD_AGG) {
		l->agg = hl_agg_new();
		if (!l->agg || hl_agg_attach(l->agg, l->replay))
			goto nomem;
	}
	/* Symbols on the other core while this one replays. */
	if (needs & (HL_LOAD_SITES | HL_LOAD_LINES | HL_LOAD_STACKS))
		prefetch = hl_symprefetch_start(l->replay);
	hl_progress_begin(&progress, "reading", path);
	ph = hl_progress_hooks(&progress);
	hl_replay_add_hooks(l->replay, &ph);
	ret = hl_replay_run(l->replay, l->trace, err, errlen);
	hl_progress_end(&progress);
	if (ret) {
		if (ret != -1) /* a stage's hook stopped the replay */
			snprintf(err, errlen, "%s: %s", path,
				 ret < 0 ? strerror(-ret) : "report stage failed");
		goto fail;
	}
	if (hl_replay_summary(l->replay, &l->summary))
		goto nomem;
	if (l->summary.truncated_bytes)
		fprintf(stderr,
			"heapline: %s: trace truncated, last %llu bytes lost (the program was "
			"probably killed)\n",
			path, (unsigned long long)l->summary.truncated_bytes);
	if (!l->agg)
		return 0;

	if (hl_agg_finish(l->agg, l->replay))
		goto nomem;
	if (needs & HL_LOAD_PEAK) {
		hl_progress_begin(&progress, "finding the peak's blocks in", path);
		ph = hl_progress_hooks(&progress);
		ret = hl_agg_peak_pass(l->agg, l->trace, &ph, err, errlen);
		hl_progress_end(&progress);
		if (ret)
			goto fail;
	}
	if (needs & (HL_LOAD_SITES | HL_LOAD_LINES | HL_LOAD_STACKS)) {
		l->stacks = hl_stacks_new_with(l->replay, hl_symprefetch_finish(prefetch));
		prefetch = NULL;
		if (!l->stacks)
			goto nomem;
	}
	if ((needs & HL_LOAD_SITES) &&
	    (ret = hl_sites_build(&l->sites, l->stacks, l->agg, o->stack_depth)))
		goto stage_error;
	if ((needs & HL_LOAD_LINES) &&
	    (ret = hl_linetables_build(&l->lines, l->stacks, l->agg, o->lines)))
		goto stage_error;
	return 0;

stage_error:
	snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	goto fail;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	hl_symprefetch_cancel(prefetch);
	hl_load_release(l);
	return -1;
}
