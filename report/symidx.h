/* symidx.h — lookup indexes the symbolizer (symbolize.c) builds once per
 * module or compilation unit, so that each address costs a binary search
 * instead of one of libdw/libdwfl's linear scans:
 *
 *   symidx_symtab.c  the ELF symbol table, for dwfl_module_addrinfo()
 *   symidx_scopes.c  a CU's code DIEs, for dwarf_getscopes()
 *   symidx_lines.c   a CU's line and file tables, compacted, for
 *                    dwarf_getsrc_die() and the file names of decl_file and
 *                    call_file, without keeping libdw's own copies
 *
 * Each index answers exactly as the libdw/libdwfl call it replaces would
 * (elfutils 0.188's algorithms), or says it cannot, and then the caller asks
 * libdw the slow way: the indexes never change an answer, only its cost. */
#ifndef HL_SYMIDX_H
#define HL_SYMIDX_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- symbol table (symidx_symtab.c) ------------------------------------- */

struct hl_symtab_idx;

/* Reads the module's symbol table once.  NULL when out of memory or when the
 * table cannot be indexed exactly (relocatable file, resolved function
 * descriptors, address overflow): then use dwfl_module_addrinfo(). */
struct hl_symtab_idx *hl_symtab_idx_new(Dwfl_Module *dm);
void hl_symtab_idx_free(struct hl_symtab_idx *x);
/* As dwfl_module_addrinfo(dm, addr, off, ...): 1 with *name and *off, 0 for
 * no symbol, -1 when undecided (ask dwfl_module_addrinfo).  *name points
 * into the module's string table. */
int hl_symtab_idx_lookup(const struct hl_symtab_idx *x, GElf_Addr addr, const char **name,
			 GElf_Off *off);

/* ---- scopes of a compilation unit (symidx_scopes.c) --------------------- */

struct hl_scope_idx;

/* Indexes the CU's top-level DIEs with code (imported units walked in
 * place, as libdw does), and those in namespaces, classes, structures and
 * modules (where Rust defines its functions).  NULL when out of memory. */
struct hl_scope_idx *hl_scope_idx_new(Dwarf_Die *cudie);
void hl_scope_idx_free(struct hl_scope_idx *x);

#define HL_SCOPE_MAX 256 /* deeper nestings are left to libdw */

/* The DIEs that dwarf_getscopes(cu, pc) followed by dwarf_getscopes_die()
 * on its innermost scope would return: chain[0] the innermost scope holding
 * pc, then its parents up to (not including) the CU or the namespace-like
 * DIEs around the function.  Returns their count, 0 where there is no
 * scope, or -1 when undecided (ask libdw).  Two differences, both where
 * libdw finds nothing at all: a function inside a namespace (Rust's, whose
 * functions are never at the top level: libdw does not look inside DIEs
 * without code) is found, and an inlined call whose abstract definition is
 * in another unit (across Rust's crates, LTO) keeps its place. */
int hl_scope_idx_lookup(struct hl_scope_idx *x, Dwarf_Addr pc, Dwarf_Die chain[HL_SCOPE_MAX]);

/* ---- lines and files of a compilation unit (symidx_lines.c) ------------- */

struct hl_line_idx;

struct hl_line {
	const char *file; /* as intern() made it; NULL if the row names none */
	int line, column; /* 0 if unknown */
};

/* Reads the line table of the unit whose DIE is at cu_offset in dbg through a
 * libdw handle of its own, dropped before returning, so that libdw's
 * full-size table is not kept.  intern(ctx, name) is called once per file
 * of the table and its answer kept (it may return NULL).  NULL when out of
 * memory or when the table cannot be copied exactly (then use libdw); a unit
 * without a line table gives an empty index. */
struct hl_line_idx *hl_line_idx_new(Dwarf *dbg, Dwarf_Off cu_offset,
				    const char *(*intern)(void *ctx, const char *name), void *ctx);
void hl_line_idx_free(struct hl_line_idx *x);
/* As dwarf_getsrc_die(cu, pc) then dwarf_linesrc/lineno/linecol: true with
 * *out filled, false where it returns NULL. */
bool hl_line_idx_lookup(const struct hl_line_idx *x, Dwarf_Addr pc, struct hl_line *out);
/* As dwarf_getsrcfiles() then dwarf_filesrc(files, idx): the interned name,
 * or NULL (no line table, idx out of range). */
const char *hl_line_idx_file(const struct hl_line_idx *x, uint64_t idx);
/* Whether the unit had a line table at all (dwarf_getsrclines() == 0). */
bool hl_line_idx_has_table(const struct hl_line_idx *x);

#endif
