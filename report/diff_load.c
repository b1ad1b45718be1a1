/* diff_load.c — a trace through the stages `heapline diff` needs
 * (diff_load.h).  The peak pass always runs: the diff shows what each site
 * held at the peak. */
#include <stdio.h>
#include <string.h>

#include "diff_load.h"
#include "progress.h"

int hl_diff_load(struct hl_diff_trace *dt, const char *path, unsigned depth, char *err,
		 size_t errlen)
{
	struct hl_progress progress;
	struct hl_replay_hooks ph;
	int ret;

	memset(dt, 0, sizeof(*dt));
	dt->path = path;
	if (hl_trace_open(path, &dt->trace, err, errlen))
		goto fail;
	dt->replay = hl_replay_new();
	dt->agg = hl_agg_new();
	if (!dt->replay || !dt->agg || hl_agg_attach(dt->agg, dt->replay))
		goto nomem;
	hl_progress_begin(&progress, "reading", path);
	ph = hl_progress_hooks(&progress);
	hl_replay_add_hooks(dt->replay, &ph);
	ret = hl_replay_run(dt->replay, dt->trace, err, errlen);
	hl_progress_end(&progress);
	if (ret) {
		if (ret != -1)
			snprintf(err, errlen, "%s: %s", path,
				 ret < 0 ? strerror(-ret) : "report stage failed");
		goto fail;
	}
	if (hl_replay_summary(dt->replay, &dt->summary))
		goto nomem;
	if (dt->summary.truncated_bytes)
		fprintf(stderr,
			"heapline: %s: trace truncated, last %llu bytes lost (the program was "
			"probably killed)\n",
			path, (unsigned long long)dt->summary.truncated_bytes);
	if (hl_agg_finish(dt->agg, dt->replay))
		goto nomem;
	hl_progress_begin(&progress, "finding the peak's blocks in", path);
	ph = hl_progress_hooks(&progress);
	ret = hl_agg_peak_pass(dt->agg, dt->trace, &ph, err, errlen);
	hl_progress_end(&progress);
	if (ret)
		goto fail;
	dt->stacks = hl_stacks_new(dt->replay);
	if (!dt->stacks)
		goto nomem;
	ret = hl_sites_build(&dt->sites, dt->stacks, dt->agg, depth);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto fail;
	}
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	hl_diff_release(dt);
	return -1;
}

void hl_diff_release(struct hl_diff_trace *dt)
{
	hl_sites_free(dt->sites);
	hl_stacks_free(dt->stacks);
	hl_agg_free(dt->agg);
	hl_summary_release(&dt->summary);
	hl_replay_free(dt->replay);
	hl_trace_close(dt->trace);
	memset(dt, 0, sizeof(*dt));
}
