/* export_folded.c — folded stacks (Brendan Gregg's format, read by
 * flamegraph.pl, inferno and speedscope): one line per distinct stack,
 * outermost frame first, frames joined by ';', a space and the weight. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "export_formats.h"

int hl_export_folded(FILE *f, const struct hl_export_stacks *s, const char *root)
{
	for (size_t i = 0; i < s->n;) {
		uint64_t w = 0;
		size_t j = i;

		/* stacks whose frames differ only in file or module read the same:
		 * the sort put them next to each other, one line sums them */
		while (j < s->n && !hl_export_stack_cmp_text(&s->v[j], &s->v[i]))
			w += s->v[j++].weight;
		if (root)
			fprintf(f, "%s;", root);
		for (unsigned k = 0; k < s->v[i].nframes; k++)
			fprintf(f, k ? ";%s" : "%s", s->v[i].frames[k]->name);
		fprintf(f, " %" PRIu64 "\n", w);
		i = j;
	}
	return ferror(f) ? -EIO : 0;
}
