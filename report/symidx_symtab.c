/* symidx_symtab.c — a module's ELF symbol table, sorted by address, for the
 * name of an address without debug information.  Exports the hl_symtab_idx_*
 * functions of symidx.h.
 *
 * Why: dwfl_module_addrinfo() reads the whole symbol table for every
 * address (gelf_getsymshndx per symbol); a stripped cc1 has ~29k dynamic
 * symbols and thousands of distinct return addresses.  Here the table is
 * read once, and an address costs a binary search.
 *
 * Exactness.  The answer must be dwfl_module_addrinfo()'s (elfutils 0.188,
 * libdwfl/dwfl_module_addrsym.c), which scans in table order, globals
 * first, and keeps:
 *   - among symbols with a size that cover addr (value <= addr <
 *     value + size), the one that wins this order-dependent rule: a later
 *     symbol replaces the current one if it starts higher or binds stronger
 *     (GLOBAL > WEAK > LOCAL > other), or starts at the same address with
 *     a smaller size and no weaker binding; locals are scanned only if no
 *     global covers addr (and no sizeless global starts exactly at addr);
 *   - failing that, a sizeless symbol (assembly label) at or below addr
 *     that no sized symbol's end passes and that lies in addr's section.
 * Symbols that cover addr are found with a prefix maximum of symbol ends,
 * then replayed through that rule in table order, so the winner is the
 * same.  A sizeless symbol can only win where no sized one covers addr, if
 * it starts at the highest end of everything below addr and lies in addr's
 * section (found as libdwfl finds it); a sizeless symbol exactly at addr
 * changes which tables libdwfl scans, and is left to it, as is anything
 * odd. */
#include <elf.h>
#include <gelf.h>
#include <stdlib.h>

#include "symidx.h"

/* Covering symbols looked at per address; more (nested symbols, a huge
 * object below code) and libdwfl decides. */
#define MAX_COVER 32

/* 16 bytes a symbol (cc1: 29k of them); the name is asked of libdwfl for
 * the one symbol found.  A size past 32 bits is left to libdwfl. */
struct sym {
	GElf_Addr value; /* the address as libdwfl compares it */
	uint32_t size;
	uint32_t ndx : 30;    /* index in libdwfl's table: the scan order */
	uint32_t binding : 2; /* libdwfl's binding_value(): higher is preferred */
};

#define MAX_NDX ((1u << 30) - 1)

struct hl_symtab_idx {
	Dwfl_Module *dm;
	struct sym *v;	   /* sorted by value, then ndx */
	GElf_Addr *maxend; /* maxend[k]: highest value + size in v[0..k] */
	size_t n;
	int first_global; /* dwfl_module_getsymtab_first_global() */
};

static int binding_value(const GElf_Sym *sym)
{
	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	default:
		return 0;
	}
}

/* Whether libdwfl biases, or may resolve, a symbol's value: not if it is
 * in a section without SHF_ALLOC (shndx -1), nor if absolute or common and
 * not a function. */
static bool biased(const GElf_Sym *sym, GElf_Word shndx)
{
	int type = GELF_ST_TYPE(sym->st_info);

	if (shndx == (GElf_Word)-1)
		return false;
	return !((sym->st_shndx == SHN_ABS || sym->st_shndx == SHN_COMMON) && type != STT_FUNC &&
		 type != STT_GNU_IFUNC);
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return (x->ndx > y->ndx) - (x->ndx < y->ndx);
}

struct hl_symtab_idx *hl_symtab_idx_new(Dwfl_Module *dm)
{
	struct hl_symtab_idx *x;
	GElf_Addr mbias;
	Elf *melf = dwfl_module_getelf(dm, &mbias);
	GElf_Ehdr ehdr;
	int n = dwfl_module_getsymtab(dm);
	int first_global = dwfl_module_getsymtab_first_global(dm);

	/* ET_REL: libdwfl also tries section-relative values; keep it simple. */
	if (!melf || !gelf_getehdr(melf, &ehdr) || ehdr.e_type == ET_REL || n < 0 ||
	    (unsigned)n > MAX_NDX || first_global < 0)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->dm = dm;
	x->first_global = first_global;
	x->v = malloc((n > 0 ? n : 1) * sizeof(*x->v));
	if (!x->v)
		goto fail;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		GElf_Word shndx;
		Elf *elf;
		Dwarf_Addr bias;
		const char *name =
		    dwfl_module_getsym_info(dm, i, &sym, &value, &shndx, &elf, &bias);
		int type = GELF_ST_TYPE(sym.st_info);

		/* libdwfl's filter, but for value <= addr, which is per address */
		if (!name || !name[0] || sym.st_shndx == SHN_UNDEF || type == STT_SECTION ||
		    type == STT_FILE || type == STT_TLS)
			continue;
		/* libdwfl biases values in allocated sections, not absolute ones
		 * or those in other sections; any other value was resolved
		 * (function descriptors) and is also matched unresolved there.
		 * And an end past the address space compares differently. */
		if ((value != sym.st_value + bias &&
		     !(value == sym.st_value && !biased(&sym, shndx))) ||
		    value + sym.st_size < value || sym.st_size > UINT32_MAX)
			goto fail;
		x->v[x->n++] = (struct sym){value, sym.st_size, i, binding_value(&sym)};
	}
	qsort(x->v, x->n, sizeof(*x->v), cmp_sym);
	x->maxend = malloc((x->n ? x->n : 1) * sizeof(*x->maxend));
	if (!x->maxend)
		goto fail;
	for (size_t k = 0; k < x->n; k++) {
		GElf_Addr end = x->v[k].value + x->v[k].size;

		x->maxend[k] = k && x->maxend[k - 1] > end ? x->maxend[k - 1] : end;
	}
	return x;
fail:
	hl_symtab_idx_free(x);
	return NULL;
}

void hl_symtab_idx_free(struct hl_symtab_idx *x)
{
	if (!x)
		return;
	free(x->v);
	free(x->maxend);
	free(x);
}

/* libdwfl's try_sym_value() for a sized symbol that covers addr. */
static const struct sym *better(const struct sym *cur, const struct sym *s)
{
	if (!cur || cur->value < s->value || cur->binding < s->binding)
		return s;
	if (cur->value == s->value && ((cur->size > s->size && cur->binding <= s->binding) ||
				       (cur->size >= s->size && cur->binding < s->binding)))
		return s;
	return cur;
}

/* The position of s in libdwfl's scan: the globals, then the locals. */
static uint64_t scan_key(const struct sym *s, int glo)
{
	return ((uint64_t)(s->ndx < (unsigned)glo) << 32) | s->ndx;
}

/* The section libdwfl places an address in (its __libdwfl_find_section_ndx). */
static GElf_Word section_of(Dwfl_Module *dm, GElf_Addr a)
{
	Dwarf_Addr v = a, bias;
	Elf_Scn *scn = dwfl_module_address_section(dm, &v, &bias);

	return scn ? (GElf_Word)elf_ndxscn(scn) : SHN_UNDEF;
}

/* libdwfl's same_section() for a sizeless symbol s at or below addr: a
 * symbol of a special section (absolute and such) only exactly at addr. */
static bool same_section(const struct hl_symtab_idx *x, GElf_Addr addr, const struct sym *s)
{
	GElf_Sym sym;
	GElf_Addr value;
	GElf_Word shndx;

	if (!dwfl_module_getsym_info(x->dm, s->ndx, &sym, &value, &shndx, NULL, NULL))
		return false;
	if (shndx >= SHN_LORESERVE)
		return s->value == addr;
	return section_of(x->dm, addr) == section_of(x->dm, s->value);
}

int hl_symtab_idx_lookup(const struct hl_symtab_idx *x, GElf_Addr addr, const char **name,
			 GElf_Off *off)
{
	const struct sym *cover[MAX_COVER], *best = NULL;
	size_t ncover = 0, lo = 0, hi = x->n, p;
	int glo = x->first_global == 0 ? 1 : x->first_global;

	while (lo < hi) { /* p: first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;

		if (x->v[mid].value <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	p = lo;
	/* Every symbol whose range holds addr, below p while ends still pass addr. */
	for (size_t k = p; k > 0 && x->maxend[k - 1] > addr; k--) {
		const struct sym *s = &x->v[k - 1];

		if (s->size && addr - s->value < s->size) {
			if (ncover == MAX_COVER)
				return -1;
			cover[ncover++] = s;
		}
		if (p - k > 4 * MAX_COVER)
			return -1;
	}
	/* In table order (few: insertion sort). */
	for (size_t i = 1; i < ncover; i++)
		for (size_t j = i; j > 0 && cover[j - 1]->ndx > cover[j]->ndx; j--) {
			const struct sym *t = cover[j];

			cover[j] = cover[j - 1];
			cover[j - 1] = t;
		}
	for (size_t i = 0; i < ncover; i++)
		if (cover[i]->ndx >= glo)
			best = better(best, cover[i]);
	if (!best) {
		/* A sizeless symbol exactly at addr may stop libdwfl from
		 * scanning the locals: let it decide. */
		for (size_t k = p; k > 0 && x->v[k - 1].value == addr; k--)
			if (!x->v[k - 1].size)
				return -1;
		if (x->first_global > 1)
			for (size_t i = 0; i < ncover; i++)
				if (cover[i]->ndx < glo)
					best = better(best, cover[i]);
	}
	if (best) {
		GElf_Sym sym;
		GElf_Addr value;

		*name = dwfl_module_getsym_info(x->dm, best->ndx, &sym, &value, NULL, NULL, NULL);
		*off = addr - best->value;
		return *name ? 1 : -1;
	}
	/* No sized symbol covers addr, and every table was scanned (no
	 * sizeless symbol is at addr).  libdwfl keeps the last sizeless symbol
	 * it meets in addr's section that starts at or above every end met so
	 * far, and takes it if it starts at or above every end at all.  So it
	 * starts at the highest end of everything at or below addr,
	 * maxend[p - 1]; of those, the last in the scan order wins (globals
	 * first, each table in index order). */
	if (p == 0)
		return 0;
	GElf_Addr top = x->maxend[p - 1];
	const struct sym *label = NULL;
	for (size_t k = p; k > 0 && x->v[k - 1].value >= top; k--) {
		const struct sym *s = &x->v[k - 1];

		if (s->value != top || s->size ||
		    (label && scan_key(s, glo) < scan_key(label, glo)))
			continue;
		if (same_section(x, addr, s))
			label = s;
	}
	if (!label)
		return 0;
	*name = dwfl_module_getsym_info(x->dm, label->ndx, &(GElf_Sym){0}, &(GElf_Addr){0}, NULL,
					NULL, NULL);
	*off = addr - label->value;
	return *name ? 1 : -1;
}
