/* html.c — `heapline report --html FILE` (html.h): collects each process's
 * data as one JSON object, then writes the page: the viewer's head, the
 * data blob inside <script type="application/json">, the viewer's tail.
 *
 * The blob is the report JSON's own members where they exist (summary,
 * memory_over_time, sites, line_tables: docs/report-json.md) plus "flame"
 * and "moments" (html_data.h).  It sits in a script element, so '<' in it
 * (only ever inside strings) is written \u003c: no "</script>" or "<!--"
 * from a source line can end the element early. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "html_data.h"
#include "summary.h"

#define SITES_PER_KEY 100

struct hl_html {
	char *path;
	FILE *mem; /* the blob so far (open_memstream) */
	char *buf;
	size_t len;
	struct hl_json j;
	size_t processes;
};

struct hl_html *hl_html_new(const char *path)
{
	struct hl_html *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->path = strdup(path);
	h->mem = open_memstream(&h->buf, &h->len);
	if (!h->path || !h->mem) {
		hl_html_free(h);
		return NULL;
	}
	hl_json_init(&h->j, h->mem, 0);
	hl_json_begin_object(&h->j);
	hl_json_kv_uint(&h->j, "format", 1);
	hl_json_kv_string(&h->j, "generator", "heapline " HEAPLINE_VERSION);
	hl_json_key(&h->j, "processes");
	hl_json_begin_array(&h->j);
	return h;
}

void hl_html_free(struct hl_html *h)
{
	if (!h)
		return;
	if (h->mem)
		fclose(h->mem);
	free(h->buf);
	free(h->path);
	free(h);
}

/* Sites worth a row: the top ones by each column the page sorts on. */
static void sites_json(struct hl_json *j, const struct hl_sites *s)
{
	static const enum hl_site_key keys[] = {HL_SITE_BYTES, HL_SITE_CALLS, HL_SITE_PEAK,
						HL_SITE_LEAKED, HL_SITE_TEMPS};
	const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	const struct hl_site **v = malloc(nkeys * SITES_PER_KEY * sizeof(*v));
	size_t n = 0;

	hl_json_begin_array(j);
	for (size_t k = 0; v && k < nkeys; k++) {
		size_t base = n, m = hl_sites_top(s, keys[k], v + base, SITES_PER_KEY);

		for (size_t i = base; i < base + m; i++) {
			size_t d = 0;

			while (d < base && v[d] != v[i])
				d++;
			if (d == base) /* not listed by an earlier key */
				v[n++] = v[i];
		}
	}
	for (size_t i = 0; i < n; i++)
		hl_site_json(j, v[i], 1);
	hl_json_end_array(j);
	free(v);
}

int hl_html_add(struct hl_html *h, const struct hl_view_ctx *c, struct hl_trace *t,
		const struct hl_replay *r, struct hl_stacks *st,
		const struct hl_replay_hooks *extra, char *err, size_t errlen)
{
	struct hl_json *j = &h->j;
	int ret;

	hl_json_begin_object(j);
	hl_json_key(j, "summary");
	hl_summary_print_json(j, c->summary, c->path);
	hl_json_key(j, "memory_over_time");
	hl_view_chart_json(j, c);
	hl_json_key(j, "sites");
	sites_json(j, c->sites);
	hl_json_key(j, "line_tables");
	hl_linetables_print_json(j, c->lines, hl_agg_has_peak(c->agg));
	hl_json_key(j, "flame");
	ret = hl_html_flame_json(j, st, r, c->agg);
	if (ret) {
		snprintf(err, errlen, "%s: flame graph: %s", c->path, strerror(-ret));
		return -1;
	}
	hl_json_key(j, "moments");
	if (hl_html_moments_json(j, t, r, st, c->agg, c->summary, extra, err, errlen))
		return -1;
	hl_json_end_object(j);
	h->processes++;
	return 0;
}

/* The blob with every '<' escaped (see the top of the file). */
static void write_blob(FILE *f, const char *s, size_t n)
{
	const char *end = s + n;

	while (s < end) {
		const char *lt = memchr(s, '<', (size_t)(end - s));
		size_t run = lt ? (size_t)(lt - s) : (size_t)(end - s);

		fwrite(s, 1, run, f);
		if (!lt)
			break;
		fputs("\\u003c", f);
		s = lt + 1;
	}
}

int hl_html_write(struct hl_html *h, size_t *bytes, char *err, size_t errlen)
{
	FILE *f;
	long size;

	hl_json_end_array(&h->j);
	hl_json_end_object(&h->j);
	if (hl_json_finish(&h->j) || fclose(h->mem)) {
		h->mem = NULL;
		snprintf(err, errlen, "%s: out of memory", h->path);
		return -1;
	}
	h->mem = NULL;
	int to_stdout = !strcmp(h->path, "-");
	f = to_stdout ? stdout : fopen(h->path, "w");
	if (!f) {
		snprintf(err, errlen, "%s: %s", h->path, strerror(errno));
		return -1;
	}
	fwrite(hl_html_page_head, 1, hl_html_page_head_len, f);
	write_blob(f, h->buf, h->len);
	fwrite(hl_html_page_tail, 1, hl_html_page_tail_len, f);
	size = (long)(hl_html_page_head_len + h->len + hl_html_page_tail_len);
	if (ferror(f) | (to_stdout ? fflush(f) : fclose(f))) {
		snprintf(err, errlen, "%s: cannot write: %s", h->path, strerror(errno));
		return -1;
	}
	if (bytes)
		*bytes = size > 0 ? (size_t)size : 0;
	return 0;
}
