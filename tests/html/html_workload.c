/* html_workload.c — a program with a memory profile worth a picture, for the
 * HTML report's test, its screenshot (docs/img/html-report.png) and its size
 * measurement: phases that build, grow, churn and release, on two threads,
 * through call chains of several depths.
 *
 * Usage: html_workload [SCALE]   (default 1)
 *   load     build_index -> parse_document -> make_node (recursive): a tree
 *            of 4^6 leaves per document, 6 documents, kept until "release";
 *   cache    cache_put: a table grown with realloc, entries from strdup,
 *            never freed (the leak);
 *   churn    format_line: malloc + free per iteration, SCALE * 20000 times,
 *            on the main thread while a worker thread (worker_main ->
 *            fill_buffers) allocates and frees 300 buffers of 64 KiB;
 *   release  free_tree on every document.
 * Events: about 40000 * SCALE + 155000 (SCALE 50: about 2.2 million).
 * Pauses of 30 ms between phases give the memory chart its steps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct node {
	struct node *child[4];
	char *text;
	size_t len;
};

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static struct node *make_node(int depth, unsigned seed)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		abort();
	n->len = 64 + (seed * 2654435761u) % 448;
	n->text = malloc(n->len);
	if (!n->text)
		abort();
	memset(n->text, 'a' + seed % 26, n->len);
	if (depth > 0)
		for (int i = 0; i < 4; i++)
			n->child[i] = make_node(depth - 1, seed * 4 + (unsigned)i);
	return n;
}

static void free_tree(struct node *n)
{
	if (!n)
		return;
	for (int i = 0; i < 4; i++)
		free_tree(n->child[i]);
	free(n->text);
	free(n);
}

static struct node *parse_document(unsigned id)
{
	return make_node(6, id);
}

static void build_index(struct node **docs, int n)
{
	for (int i = 0; i < n; i++) {
		docs[i] = parse_document((unsigned)i + 1);
		pause_ms(15);
	}
}

struct cache {
	char **entries;
	size_t n, cap;
};

static void cache_put(struct cache *c, const char *s)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->entries = realloc(c->entries, c->cap * sizeof(*c->entries));
		if (!c->entries)
			abort();
	}
	c->entries[c->n++] = strdup(s);
}

static void fill_cache(struct cache *c, int n)
{
	char key[96];

	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "session-%08d-%s", i, i % 3 ? "user" : "administrator");
		cache_put(c, key);
	}
}

static size_t format_line(int i)
{
	char *line = malloc(256);
	size_t len;

	if (!line)
		abort();
	len = (size_t)snprintf(line, 256, "line %d: %x", i, i * 7919);
	free(line);
	return len;
}

static size_t churn(long n)
{
	size_t total = 0;

	for (long i = 0; i < n; i++)
		total += format_line((int)i);
	return total;
}

static void fill_buffers(int rounds)
{
	for (int r = 0; r < rounds; r++) {
		char *b = malloc(64 << 10);
		if (!b)
			abort();
		memset(b, r, 64 << 10);
		free(b);
	}
}

static void *worker_main(void *arg)
{
	fill_buffers(*(int *)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	long scale = argc > 1 ? atol(argv[1]) : 1;
	struct node *docs[6];
	struct cache cache = {0};
	pthread_t worker;
	int rounds = 300;
	size_t total;

	if (scale < 1)
		scale = 1;
	build_index(docs, 6);
	pause_ms(30);
	fill_cache(&cache, 20000);
	pause_ms(30);
	if (pthread_create(&worker, NULL, worker_main, &rounds))
		return 1;
	total = churn(scale * 20000);
	pthread_join(worker, NULL);
	pause_ms(30);
	for (int i = 0; i < 6; i++) {
		free_tree(docs[i]);
		pause_ms(10);
	}
	printf("html_workload: %zu cached, %zu formatted\n", cache.n, total);
	return 0;
}
