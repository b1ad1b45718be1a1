/* refcount_cycle.c — lesson: reference counting frees an object the moment
 * its last reference goes, so releasing the head of a chain frees the whole
 * chain; but two objects that reference each other hold each other's count
 * above zero forever.  Once the program drops its own references the cycle
 * is unreachable and never freed: a leak of exactly the cycle.  This is why
 * reference-counted runtimes add a cycle collector (Python's gc, Swift's
 * weak references, std::weak_ptr).
 *
 * Each object is one malloc of sizeof(struct obj) = 32 bytes (LP64: refs 8,
 * ref 8, name 16) with refs = 1, the caller's reference.  point_to(x, y)
 * makes x hold y (y->refs + 1); release(x) drops one reference and, at 0,
 * first releases what x holds, then frees x.
 *
 * Exact expected numbers (tests/lessons/expected/refcount_cycle.txt):
 *   chain c -> d -> e: three obj_new, +32 each (live 32, 64, 96);
 *     release(e), release(d): 2 -> 1, no allocator call;
 *     release(c): c 1 -> 0 releases d (1 -> 0) which releases e (1 -> 0):
 *     free(e), free(d), free(c): -96 in 3 frees, live after each 64, 32, 0,
 *     so Mem usage 64 on that line (the largest after one of its calls).
 *   cycle a <-> b: two obj_new, +32 each (live 32, 64); release(a) and
 *     release(b) take each from 2 to 1 and free nothing.
 *   allocations 5, frees 3, bytes_allocated 160, peak_bytes 96 (the chain),
 *   leaked_bytes 64 in 2 blocks: a and b, the cycle and nothing else.
 * In release()'s table the recursion counts each call once per line: the
 * free(o) line shows all 3 frees (-96, Mem usage 64); the release(o->ref)
 * line the 2 made below it (free(e), free(d): -64, Mem usage 64).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct obj {
	long refs;	 /* references held to this object */
	struct obj *ref; /* the one reference this object holds, or NULL */
	char name[16];
};
_Static_assert(sizeof(struct obj) == 32, "the numbers above assume LP64");

static struct obj *obj_new(const char *name)
{
	struct obj *o = malloc(sizeof *o);
	if (!o)
		abort();
	o->refs = 1;
	o->ref = NULL;
	strncpy(o->name, name, sizeof o->name - 1);
	o->name[sizeof o->name - 1] = '\0';
	return o;
}

static void release(struct obj *o)
{
	if (!o || --o->refs > 0)
		return;
	release(o->ref);
	free(o);
}

static void point_to(struct obj *from, struct obj *to)
{
	to->refs++;
	release(from->ref);
	from->ref = to;
}

int main(void)
{
	/* A chain c -> d -> e: one release frees all three. */
	struct obj *c = obj_new("c");
	struct obj *d = obj_new("d");
	struct obj *e = obj_new("e");
	point_to(c, d);
	point_to(d, e);
	release(e); /* 2 -> 1: d still holds e */
	release(d); /* 2 -> 1: c still holds d */
	release(c); /* 1 -> 0: frees e, d, then c */

	/* A cycle a -> b -> a: no release ever reaches 0. */
	struct obj *a = obj_new("a");
	struct obj *b = obj_new("b");
	point_to(a, b);
	point_to(b, a);
	release(a); /* 2 -> 1: b still holds a */
	release(b); /* 2 -> 1: a still holds b; both now unreachable */

	return write(1, "refcount_cycle done\n", 20) == 20 ? 0 : 1;
}
