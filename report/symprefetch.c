/* symprefetch.c — resolves the program's own return addresses on a second
 * thread while the replay runs (symprefetch.h).
 *
 * The thread opens the trace a second time and reads it with a visitor of
 * its own: INFO (the executable's path), MODULE_LOAD / MODULE_UNLOAD in
 * trace order into its symbolizer, and for each NODE the module that holds
 * the ip at that point (as the stacks stage will find it); an ip in one of
 * the program's own modules is resolved there and then.  It shares nothing
 * with the main thread until hl_symprefetch_finish() joins it, so neither
 * the replay nor the symbolizer needs a lock.  It never reports an error:
 * a trace it cannot read is the replay's to report, and what it could not
 * resolve is resolved on demand later. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stacks.h"
#include "symbolize.h"
#include "symprefetch.h"
#include "trace_read.h"

#define STOP 1 /* a visitor's return that stops the read */

struct hl_symprefetch {
	pthread_t thread;
	char *path;
	uint64_t dev, ino; /* the replay's file */
	struct hl_symbolizer *sym;
	char *exe;	       /* from INFO, or NULL */
	uint64_t *own_mods;    /* ids of loaded modules that are the program's own */
	size_t nown, own_cap;
	_Atomic bool cancel;
	bool failed;
};

static bool is_own(const struct hl_symprefetch *p, const char *path)
{
	return (p->exe && path && !strcmp(path, p->exe)) || hl_stacks_own_module(path);
}

static bool own_module(const struct hl_symprefetch *p, uint64_t id)
{
	for (size_t i = 0; i < p->nown; i++)
		if (p->own_mods[i] == id)
			return true;
	return false;
}

static int on_info(void *ctx, const struct hl_info *info)
{
	struct hl_symprefetch *p = ctx;

	if (!p->exe && info->exe && !(p->exe = strdup(info->exe)))
		return STOP;
	return atomic_load_explicit(&p->cancel, memory_order_relaxed) ? STOP : 0;
}

static int on_module_load(void *ctx, const struct hl_module *m)
{
	struct hl_symprefetch *p = ctx;
	int ret = hl_symbolizer_add_module(p->sym, m);

	if (ret && ret != -EEXIST)
		return STOP;
	if (!ret && is_own(p, m->path)) {
		if (p->nown == p->own_cap) {
			size_t cap = p->own_cap ? 2 * p->own_cap : 16;
			uint64_t *v = realloc(p->own_mods, cap * sizeof(*v));

			if (!v)
				return STOP;
			p->own_mods = v;
			p->own_cap = cap;
		}
		p->own_mods[p->nown++] = m->id;
	}
	return atomic_load_explicit(&p->cancel, memory_order_relaxed) ? STOP : 0;
}

static int on_module_unload(void *ctx, uint64_t id)
{
	struct hl_symprefetch *p = ctx;

	hl_symbolizer_unload_module(p->sym, id); /* an unknown id: a broken trace's */
	return 0;
}

static int on_node(void *ctx, uint64_t id, uint64_t parent, uint64_t ip)
{
	struct hl_symprefetch *p = ctx;
	const struct hl_frame *frames;
	uint64_t mod;

	(void)id;
	(void)parent;
	if (atomic_load_explicit(&p->cancel, memory_order_relaxed))
		return STOP;
	mod = hl_symbolizer_module_at(p->sym, ip);
	if (mod != HL_SYM_NO_MODULE && own_module(p, mod) &&
	    hl_symbolizer_resolve(p->sym, mod, ip, &frames) == -ENOMEM)
		return STOP;
	return 0;
}

/* Events are skipped a batch at a time. */
static int on_events(void *ctx, const struct hl_rec_event *ev, size_t n)
{
	struct hl_symprefetch *p = ctx;

	(void)ev;
	(void)n;
	return atomic_load_explicit(&p->cancel, memory_order_relaxed) ? STOP : 0;
}

static void *run(void *arg)
{
	struct hl_symprefetch *p = arg;
	struct hl_visitor v = {
	    .ctx = p,
	    .info = on_info,
	    .node = on_node,
	    .module_load = on_module_load,
	    .module_unload = on_module_unload,
	    .events = on_events,
	};
	struct hl_trace *t;
	char err[512];

	uint64_t dev, ino;

	if (hl_trace_open(p->path, &t, err, sizeof(err))) {
		p->failed = true;
		return NULL;
	}
	if (hl_trace_identity(t, &dev, &ino) || dev != p->dev || ino != p->ino) {
		p->failed = true; /* the path names another file now */
		hl_trace_close(t);
		return NULL;
	}
	if (hl_trace_read(t, &v, err, sizeof(err)) == STOP &&
	    !atomic_load_explicit(&p->cancel, memory_order_relaxed))
		p->failed = true; /* out of memory; a corrupt trace is the replay's to report */
	hl_trace_close(t);
	return NULL;
}

static void destroy(struct hl_symprefetch *p)
{
	hl_symbolizer_destroy(p->sym);
	free(p->own_mods);
	free(p->exe);
	free(p->path);
	free(p);
}

struct hl_symprefetch *hl_symprefetch_start(const struct hl_trace *t)
{
	const char *path = hl_trace_path(t);
	struct hl_symprefetch *p;
	struct stat st;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return NULL; /* it would only take turns with the replay */
	/* A pipe (report <(...)) can be read once: only the replay reads it. */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (hl_trace_identity(t, &p->dev, &p->ino)) {
		free(p);
		return NULL;
	}
	p->path = strdup(path);
	p->sym = hl_symbolizer_new();
	if (!p->path || !p->sym || pthread_create(&p->thread, NULL, run, p)) {
		destroy(p);
		return NULL;
	}
	return p;
}

struct hl_symbolizer *hl_symprefetch_finish(struct hl_symprefetch *p)
{
	struct hl_symbolizer *sym = NULL;

	if (!p)
		return NULL;
	pthread_join(p->thread, NULL);
	if (!p->failed) {
		sym = p->sym;
		p->sym = NULL;
	}
	destroy(p);
	return sym;
}

void hl_symprefetch_cancel(struct hl_symprefetch *p)
{
	if (!p)
		return;
	atomic_store(&p->cancel, true);
	pthread_join(p->thread, NULL);
	destroy(p);
}
