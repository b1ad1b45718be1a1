/* symbolize.h — stage 3 of the report pipeline: turns the return addresses of
 * a trace's stack nodes into frames (function, source file, line, module),
 * offline, with elfutils libdwfl/libdw.  Inlined calls are expanded into one
 * frame each.  Modules without debug information fall back to their ELF
 * symbol table, and modules whose file is gone or changed (build-id) to
 * "module+0xoffset".  Never an error for odd input: the worst answer is a
 * frame with only an address.
 *
 * Modules and time.  A trace loads and unloads modules (dlopen/dlclose), and
 * a later module may reuse an earlier one's addresses, so an ip alone does
 * not name a module.  The caller feeds MODULE_LOAD / MODULE_UNLOAD records in
 * trace order; when it reads a NODE it asks hl_symbolizer_module_at() which
 * module holds the ip *now* and keeps that id with the node.  Resolving later
 * takes (module id, ip); unloaded modules stay resolvable forever.
 * (hl_symbolizer_resolve() with HL_SYM_CURRENT does both steps at once, for a
 * caller that resolves while it streams.)
 *
 * Return addresses.  Every ip in a trace is a return address, so the
 * symbolizer looks up ip - 1 (inside the call instruction) for every frame,
 * which names the line of the call.  Callers pass the raw ip.
 *
 * Not thread-safe; one symbolizer per thread.  Every pointer handed out
 * (frames, strings, function handles) lives until hl_symbolizer_destroy(). */
#ifndef HL_SYMBOLIZE_H
#define HL_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hl_module; /* trace_read.h: a MODULE_LOAD record */
struct hl_symbolizer;
struct hl_sym_func; /* a function, canonical by (name, file, first line) */

/* Module ids of frames outside any module, and "whatever holds ip now". */
#define HL_SYM_NO_MODULE UINT64_MAX
#define HL_SYM_CURRENT	 (UINT64_MAX - 1)

struct hl_frame {
	const char *function;		/* demangled; NULL if unknown */
	const char *file;		/* source path, comp_dir joined; NULL if unknown */
	unsigned line;			/* 0 if unknown */
	unsigned column;		/* 0 if unknown */
	bool inlined;			/* inlined into the next frame (same ip) */
	const char *module;		/* module path; NULL outside every module */
	uint64_t module_id;		/* HL_SYM_NO_MODULE outside every module */
	uint64_t offset;		/* ip - load bias (the ip itself outside modules) */
	uint64_t symbol_offset;		/* ip - symbol start, for frames named from
					 * the ELF symbol table only; 0 otherwise */
	const struct hl_sym_func *func; /* NULL without DWARF */
};

struct hl_func_lines {
	const char *name; /* as in hl_frame.function */
	const char *file; /* file of the definition */
	unsigned first;	  /* DW_AT_decl_line: the line naming the function */
	unsigned last;	  /* highest line of that file in its code */
};

struct hl_symbolizer *hl_symbolizer_new(void);
void hl_symbolizer_destroy(struct hl_symbolizer *s);

/* Adds a module (copies everything).  A build-id, when given, must match the
 * file's, else the module is shown as module+offset, with one warning on
 * stderr.  The ELF is opened lazily, at its first lookup.
 * Returns 0, -EEXIST for a known id, -ENOMEM. */
int hl_symbolizer_add_module(struct hl_symbolizer *s, const struct hl_module *m);
/* Marks a module unloaded: module_at() no longer finds it; resolving
 * (id, ip) still works.  Returns 0 or -ENOENT. */
int hl_symbolizer_unload_module(struct hl_symbolizer *s, uint64_t id);
/* The id of the loaded module whose [lo, hi) holds ip (the latest loaded if
 * several do), or HL_SYM_NO_MODULE. */
uint64_t hl_symbolizer_module_at(struct hl_symbolizer *s, uint64_t ip);

/* Resolves a return address into frames, innermost (the inlined callee)
 * first, the function the ip is really in last.  Always at least one frame.
 * module_id: from module_at(), HL_SYM_CURRENT, or HL_SYM_NO_MODULE.  Each
 * (module, ip) is resolved once, then cached.  Returns the frame count, or
 * -ENOMEM, -ENOENT for an unknown module id. */
int hl_symbolizer_resolve(struct hl_symbolizer *s, uint64_t module_id, uint64_t ip,
			  const struct hl_frame **frames);

/* The ELF symbol (the debug file's symbol table when there is one) holding
 * a return address, or NULL: no DWARF is read, so it costs no debug
 * sections inflated.  The name stays valid as long as s. */
const char *hl_symbolizer_symbol(struct hl_symbolizer *s, uint64_t module_id, uint64_t ip);

/* The line range of a function, for the line-by-line table: every line from
 * first to last.  Computed once per function from its DWARF: first is
 * DW_AT_decl_line, last the highest line of the definition's file in the line
 * table within the function's code (out-of-line and inlined copies in its
 * compilation unit, minus code inlined into it from other functions, whose
 * call lines count instead).  last == first for a function with no code. */
void hl_symbolizer_function_lines(struct hl_symbolizer *s, const struct hl_sym_func *f,
				  struct hl_func_lines *out);

/* Calls cb once for each distinct function defined in any module (loaded or
 * not) whose name matches name_glob and whose definition's file matches
 * file_glob (fnmatch; either may be NULL for any).  A relative file_glob
 * matches at any directory boundary ("examples/lists.c", "*.c").  Opens every
 * module's debug information: slow on big programs, meant for the few
 * functions a table is asked for.  Returns 0 or cb's nonzero return. */
int hl_symbolizer_find_functions(struct hl_symbolizer *s, const char *name_glob,
				 const char *file_glob,
				 int (*cb)(void *ctx, const struct hl_sym_func *f), void *ctx);

/* C++ (Itanium ABI) and Rust (legacy and v0) demangler, demangle.c: a
 * malloc'd string, or NULL when the name is not mangled. */
char *hl_demangle(const char *mangled);

#endif
