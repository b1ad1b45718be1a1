/* stacks.h — the symbolize stage as the views see it: a replay's stack
 * nodes turned into frames (symbolize.h), each node resolved once and
 * cached, whole stacks walked innermost first with inlined calls expanded,
 * and which frames belong to the program's own code (the main executable
 * and libraries outside the system directories, not the vdso, not
 * libheapline; not code from system headers).  Frames live until hl_stacks_free(). */
#ifndef HL_STACKS_H
#define HL_STACKS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"
#include "replay.h"
#include "symbolize.h"

struct hl_stacks;

/* For a replay that has run; it must outlive the stacks.  NULL if out of
 * memory. */
struct hl_stacks *hl_stacks_new(const struct hl_replay *r);
/* The same with a symbolizer that already knows some of the trace's modules
 * (symprefetch.h), which the stacks take over; NULL: a new one. */
struct hl_stacks *hl_stacks_new_with(const struct hl_replay *r, struct hl_symbolizer *sym);
void hl_stacks_free(struct hl_stacks *st);
struct hl_symbolizer *hl_stacks_symbolizer(struct hl_stacks *st);

/* The frames of one node's return address (innermost, i.e. inlined callee,
 * first) and whether their module is the program's own.  Returns the count
 * (>= 1), or -errno. */
int hl_stacks_node_frames(struct hl_stacks *st, uint64_t node, const struct hl_frame **frames,
			  bool *own);
/* Calls cb for every frame of node's whole stack, innermost first, with
 * whether that frame is the program's own code (its module is, and its
 * source is not a system header such as a C++ std:: template).  A nonzero
 * return stops the walk and is returned; else 0, or -errno. */
int hl_stacks_walk(struct hl_stacks *st, uint64_t node,
		   int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx);

/* hl_stacks_walk with flags: HL_WALK_OWN_MODULES skips, unsymbolized,
 * the nodes whose module is not the program's own (their frames are never
 * own; a view that only counts own frames saves reading their debug
 * information). */
#define HL_WALK_OWN_MODULES 1u
int hl_stacks_walk_flags(struct hl_stacks *st, uint64_t node, unsigned flags,
			 int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx);
/* The stack tree itself: node ids 0 .. count-1, 0 the empty stack; a
 * node's parent is the frame that called it (0 at the outermost, and for
 * a broken trace's loop).  hl_stacks_node_walk: one node's frames to cb,
 * as hl_stacks_walk_flags gives them. */
uint64_t hl_stacks_node_count(const struct hl_stacks *st);
uint64_t hl_stacks_parent(const struct hl_stacks *st, uint64_t node);
int hl_stacks_node_walk(struct hl_stacks *st, uint64_t node, unsigned flags,
			int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx);

/* hl_stacks_walk from the innermost own frame outwards, or from the
 * innermost frame when the stack has none before main; the frames inside
 * other modules before that one are never symbolized.  Only a main
 * defined in a system library, before the first own frame, would go
 * unnoticed as the end of the search.  The walk ends before the C
 * library's start-up code (hl_stacks_below_main_name, told from the ELF
 * symbol table, so libc's debug information is not read for it). */
int hl_stacks_walk_from_own(struct hl_stacks *st, uint64_t node,
			    int (*cb)(void *ctx, const struct hl_frame *f, bool own), void *ctx);

/* Whether a name is one of the C library's start-up functions that call
 * main and the constructors (__libc_start_call_main, __libc_start_main*,
 * call_init, _dl_init, ...): the views' stacks end at main, or at these
 * when main is not on the stack (a stripped program, a main that ends in a
 * tail call).  hl_frame_below_main: such a function, in a system module. */
bool hl_stacks_below_main_name(const char *name);
bool hl_frame_below_main(const struct hl_frame *f);

/* Whether a module path is the program's own code by where it is installed
 * (not in /lib, /usr/lib ...). */
bool hl_stacks_own_module(const char *path);
/* The same, counting the traced executable exe (INFO; NULL if unknown) as
 * own wherever it is installed (gcc's cc1 and git's subcommands live under
 * /usr/lib): the rule of the stacks and of the symbol thread. */
bool hl_stacks_own_path(const char *exe, const char *path);

/* Whether a frame is a library's code, not the program's, wherever it
 * landed: from the system's headers (a C++ std:: template instantiated in
 * the program, a glibc inline) or Rust's standard library, which every Rust
 * executable carries (/rustc/<commit>/library/..., its dependencies under
 * /rust/deps/, Debian's under /usr/src/rustc-<version>/); without a source
 * file, by name: C++'s and Rust's standard libraries (std::, core::,
 * alloc::, __gnu_cxx::, and their <...> impl forms). */
bool hl_stacks_system_frame(const struct hl_frame *f);

/* "function file:line" (path via hl_fmt_path), "function (module+0x1a)"
 * without a line, "module+0x1a" without a name. */
void hl_frame_print(FILE *f, const struct hl_frame *fr);
/* {"function", "file", "line", "module", "offset", "inlined"} */
void hl_frame_json(struct hl_json *j, const struct hl_frame *fr);

#endif
