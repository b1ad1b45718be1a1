/* symidx_scopes.c — a compilation unit's code DIEs sorted by address, to find
 * the scopes around a pc (the function, the inlined calls in it) without
 * walking the whole unit.  Exports the hl_scope_idx_* functions of
 * symidx.h.
 *
 * Why: dwarf_getscopes() walks the unit's DIE tree from its start for every
 * pc, and when the innermost scope is an inlined call it walks the unit
 * again for the inlined function's abstract definition; then
 * dwarf_getscopes_die() walks it a third time for the parents.  Python's
 * ceval.c unit made that 58% of `heapline report`.
 *
 * What libdw does (elfutils 0.188, dwarf_getscopes.c, libdw_visit_scopes.c),
 * and so what the index must reproduce:
 *   - at each level, children in order, imported units' children in place;
 *     the first child whose ranges hold pc (dwarf_haspc) is descended into
 *     if it can hold scopes (may_have_scopes below) and has children; the
 *     deepest such DIE is the innermost scope;
 *   - a dwarf_haspc() error fails the whole call;
 *   - if an inlined_subroutine is on that path, the deepest one's
 *     DW_AT_abstract_origin must be found by a walk of the unit (through
 *     every DIE that may hold scopes), else the call finds nothing.
 * Where libdw finds nothing, the index answers what it means (symidx.h):
 * a DIE without code (a namespace) is never descended into by libdw, so
 * it finds no Rust function, all of which are in namespaces; and the
 * origin rule fails every call inlined from another unit (Rust's crates,
 * LTO).  The index keeps, once per unit, the children with code of the top
 * level and of the namespaces, classes, structures and modules in it
 * (their ranges, their order in the walk).  A lookup then binary-searches
 * those and descends by dwarf_haspc() through one function only.  Anything
 * else (a range error, an imported unit below the top level, an inlined
 * call without an origin) is "undecided": the caller asks libdw.
 *
 * Below the top level, a DIE descended into a second time gets an index of
 * its children's ranges like the top level's (struct kids), so a function
 * with thousands of inlined calls and blocks (python's ceval.c) is not
 * scanned child by child, each decoded for its ranges, for every pc in it.
 * A DIE whose children include an imported unit or a range error keeps the
 * child-by-child scan, which reproduces libdw's error exactly. */
#include <dwarf.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "symidx.h"

#define MAX_WALK_DEPTH 64 /* namespaces and classes nested deeper: undecided */
#define MAX_STAB       64 /* overlapping top-level ranges looked at per pc */
#define KIDS_MIN       8  /* children worth an index */

struct top {
	Dwarf_Addr lo, hi;
	uint32_t order; /* in libdw's walk */
	Dwarf_Die die;
};

/* The children of one DIE below the top level, by address. */
struct kids {
	void *addr;	 /* the parent DIE's: the key */
	unsigned visits; /* descents into it so far */
	int state;	 /* KIDS_NONE, KIDS_SCAN (scan them), KIDS_INDEX */
	struct top *v;	 /* with KIDS_INDEX: sorted by lo, order = child number */
	Dwarf_Addr *maxhi;
	size_t n;
	UT_hash_handle hh;
};

enum { KIDS_NONE, KIDS_SCAN, KIDS_INDEX };

struct hl_scope_idx {
	struct top *v;	   /* sorted by lo */
	Dwarf_Addr *maxhi; /* maxhi[k]: highest hi in v[0..k] */
	size_t n, cap;
	uint32_t order;
	bool broken; /* a range error or an import cycle: always undecided */
	bool nomem;
	struct kids *kids; /* uthash, by parent DIE address */
};

/* libdw's may_have_scopes(). */
static bool may_have_scopes(int tag)
{
	switch (tag) {
	case DW_TAG_compile_unit:
	case DW_TAG_module:
	case DW_TAG_lexical_block:
	case DW_TAG_with_stmt:
	case DW_TAG_catch_block:
	case DW_TAG_try_block:
	case DW_TAG_entry_point:
	case DW_TAG_inlined_subroutine:
	case DW_TAG_subprogram:
	case DW_TAG_namespace:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
		return true;
	default:
		return false;
	}
}

/* Appends t to the array *v of *n entries and room for *cap.  0, or -1
 * when out of memory (the array is kept). */
static int push_top(struct top **v, size_t *n, size_t *cap, struct top t)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct top *nv = realloc(*v, ncap * sizeof(*nv));

		if (!nv)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = t;
	return 0;
}

static void add_top(struct hl_scope_idx *x, Dwarf_Addr lo, Dwarf_Addr hi, uint32_t order,
		    Dwarf_Die *die)
{
	if (push_top(&x->v, &x->n, &x->cap, (struct top){lo, hi, order, *die}))
		x->nomem = true;
}

struct import {
	void *addr; /* an imported_unit DIE being walked */
	const struct import *up;
};

/* A list of siblings from c on, as libdw's walk_children() sees it: every
 * child's ranges are kept.  Namespaces, classes, structures and modules are
 * entered for the functions defined in them (Rust's compiler puts every
 * function there; libdw's walk never looks inside a DIE without code). */
static void walk(struct hl_scope_idx *x, Dwarf_Die c, const struct import *imports, int depth)
{
	if (depth > MAX_WALK_DEPTH) {
		x->broken = true;
		return;
	}
	do {
		int tag;

		while ((tag = dwarf_tag(&c)) == DW_TAG_imported_unit) {
			Dwarf_Die orig = c, unit, child;
			Dwarf_Attribute a;

			if (dwarf_formref_die(dwarf_attr(&c, DW_AT_import, &a), &unit) &&
			    dwarf_tag(&unit) != DW_TAG_compile_unit &&
			    dwarf_child(&unit, &child) == 0) {
				struct import link = {orig.addr, imports};

				for (const struct import *i = imports; i; i = i->up)
					if (i->addr == orig.addr) {
						x->broken = true; /* libdw: an error */
						return;
					}
				walk(x, child, &link, depth + 1);
				if (x->broken || x->nomem)
					return;
			}
			if (dwarf_siblingof(&orig, &c) != 0)
				return;
		}
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		while ((off = dwarf_ranges(&c, off, &base, &lo, &hi)) > 0)
			add_top(x, lo, hi, x->order, &c);
		if (off < 0)
			x->broken = true;
		x->order++;
		if ((tag == DW_TAG_namespace || tag == DW_TAG_class_type ||
		     tag == DW_TAG_structure_type || tag == DW_TAG_module) &&
		    dwarf_haschildren(&c)) {
			Dwarf_Die child;

			if (dwarf_child(&c, &child) == 0)
				walk(x, child, imports, depth + 1);
		}
		if (x->broken || x->nomem)
			return;
	} while (dwarf_siblingof(&c, &c) == 0);
}

static int cmp_top(const void *a, const void *b)
{
	const struct top *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/* Sorts v[0..n) for stab() and returns its maxhi array (maxhi[k]: the
 * highest hi in v[0..k]), or NULL when out of memory. */
static Dwarf_Addr *stab_prepare(struct top *v, size_t n)
{
	Dwarf_Addr *maxhi;

	if (n)
		qsort(v, n, sizeof(*v), cmp_top);
	maxhi = malloc((n ? n : 1) * sizeof(*maxhi));
	for (size_t k = 0; maxhi && k < n; k++)
		maxhi[k] = k && maxhi[k - 1] > v[k].hi ? maxhi[k - 1] : v[k].hi;
	return maxhi;
}

struct hl_scope_idx *hl_scope_idx_new(Dwarf_Die *cudie)
{
	struct hl_scope_idx *x = calloc(1, sizeof(*x));
	Dwarf_Die child;

	if (!x)
		return NULL;
	if (dwarf_child(cudie, &child) == 0)
		walk(x, child, NULL, 0);
	if (x->nomem)
		goto fail;
	x->maxhi = stab_prepare(x->v, x->n);
	if (!x->maxhi)
		goto fail;
	return x;
fail:
	hl_scope_idx_free(x);
	return NULL;
}

void hl_scope_idx_free(struct hl_scope_idx *x)
{
	struct kids *k, *tmp;

	if (!x)
		return;
	HASH_ITER(hh, x->kids, k, tmp) {
		HASH_DEL(x->kids, k);
		free(k->v);
		free(k->maxhi);
		free(k);
	}
	free(x->v);
	free(x->maxhi);
	free(x);
}

/* Of entries v[0..n) sorted by lo (maxhi[k]: the highest hi in v[0..k]),
 * the first in order whose range holds pc.  1 found, 0 none, -1 undecided
 * (more than MAX_STAB ranges around pc). */
static int stab(const struct top *v, const Dwarf_Addr *maxhi, size_t n, Dwarf_Addr pc,
		Dwarf_Die *out)
{
	const struct top *best = NULL;
	size_t lo = 0, hi = n, steps = 0;

	while (lo < hi) { /* lo: first entry starting above pc */
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k > 0 && maxhi[k - 1] > pc; k--) {
		const struct top *t = &v[k - 1];

		if (++steps > MAX_STAB)
			return -1;
		if (pc < t->hi && (!best || t->order < best->order))
			best = t;
	}
	if (!best)
		return 0;
	*out = best->die;
	return 1;
}

/* The top-level DIE libdw's walk would enter for pc: the first in order
 * whose ranges hold it.  1 found, 0 none, -1 undecided. */
static int top_at(const struct hl_scope_idx *x, Dwarf_Addr pc, Dwarf_Die *out)
{
	return stab(x->v, x->maxhi, x->n, pc, out);
}

/* Indexes the children of d into k: KIDS_INDEX, or KIDS_SCAN when one of
 * them is an imported unit or has a range error (only the scan reproduces
 * where libdw fails), they are few, or memory ran out. */
static void kids_build(struct kids *k, Dwarf_Die *d)
{
	Dwarf_Die c;
	size_t cap = 0;
	uint32_t order = 0;

	k->state = KIDS_SCAN;
	if (dwarf_child(d, &c) != 0)
		return;
	do {
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		if (dwarf_tag(&c) == DW_TAG_imported_unit)
			goto scan;
		while ((off = dwarf_ranges(&c, off, &base, &lo, &hi)) > 0)
			if (push_top(&k->v, &k->n, &cap, (struct top){lo, hi, order, c}))
				goto scan;
		if (off < 0)
			goto scan;
		order++;
	} while (dwarf_siblingof(&c, &c) == 0);
	if (order < KIDS_MIN)
		goto scan;
	k->maxhi = stab_prepare(k->v, k->n);
	if (!k->maxhi)
		goto scan;
	k->state = KIDS_INDEX;
	return;
scan:
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

/* The child of d (which has children) that libdw's walk enters for pc,
 * from d's index: 1 found (in *out), 0 none, -1 undecided, 2 no index
 * (scan the children). */
static int kids_at(struct hl_scope_idx *x, Dwarf_Die *d, Dwarf_Addr pc, Dwarf_Die *out)
{
	struct kids *k;

	HASH_FIND_PTR(x->kids, &d->addr, k);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return 2;
		k->addr = d->addr;
		HASH_ADD_PTR(x->kids, addr, k);
		if (!k->hh.tbl) {
			free(k);
			return 2;
		}
	}
	if (k->state == KIDS_NONE && ++k->visits >= 2)
		kids_build(k, d);
	if (k->state != KIDS_INDEX)
		return 2;
	int r = stab(k->v, k->maxhi, k->n, pc, out);

	return r < 0 ? 2 : r;
}

int hl_scope_idx_lookup(struct hl_scope_idx *x, Dwarf_Addr pc, Dwarf_Die chain[HL_SCOPE_MAX])
{
	Dwarf_Die path[HL_SCOPE_MAX], origin;
	Dwarf_Attribute a;
	int n = 0, r, inlined = -1;

	if (x->broken)
		return -1;
	r = top_at(x, pc, &path[0]);
	if (r <= 0)
		return r;
	n = 1;
	/* Down through the first child holding pc, level by level. */
	for (;;) {
		Dwarf_Die *d = &path[n - 1], c;
		int found = 0;

		if (dwarf_tag(d) == DW_TAG_inlined_subroutine)
			inlined = n - 1;
		if (!may_have_scopes(dwarf_tag(d)) || !dwarf_haschildren(d))
			break;
		r = kids_at(x, d, pc, &c);
		if (r == 0)
			break;
		if (r == 1) {
			if (n == HL_SCOPE_MAX)
				return -1;
			path[n++] = c;
			continue;
		}
		r = dwarf_child(d, &c);
		if (r < 0)
			return -1;
		if (r > 0)
			break;
		do {
			if (dwarf_tag(&c) == DW_TAG_imported_unit)
				return -1;
			found = dwarf_haspc(&c, pc);
			if (found < 0)
				return -1;
		} while (!found && (r = dwarf_siblingof(&c, &c)) == 0);
		if (r < 0)
			return -1;
		if (!found)
			break;
		if (n == HL_SCOPE_MAX)
			return -1;
		path[n++] = c;
	}
	/* Without its abstract definition the deepest inlined call has no
	 * name: libdw's answer then (it fails).  Where that definition lies
	 * does not matter here (libdw finds no scope at all when it is in
	 * another unit, as across Rust's crates). */
	if (inlined >= 0 &&
	    !dwarf_formref_die(dwarf_attr(&path[inlined], DW_AT_abstract_origin, &a), &origin))
		return -1;
	for (int i = 0; i < n; i++)
		chain[i] = path[n - 1 - i];
	return n;
}
