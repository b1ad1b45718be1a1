/* hl_modules.h — which ELF objects are loaded, for offline symbolization.
 * Snapshots are taken with dl_iterate_phdr into caller memory (no malloc);
 * the writer keeps the known set and turns differences into MODULE_LOAD /
 * MODULE_UNLOAD records. */
#ifndef HL_MODULES_H
#define HL_MODULES_H

#include <stddef.h>
#include <stdint.h>

struct hl_enc;

/* Fills the main executable's path (call once at init, before any snapshot). */
void hl_modules_init(void);
/* Serialises the loaded modules into buf.  Returns the bytes needed for all
 * of them; writes only whole entries that fit in cap and stores how many
 * bytes it wrote in *written (may be NULL). */
size_t hl_modules_snapshot(void *buf, size_t cap, size_t *written);
/* The same into *buf, an mmap of *cap bytes (NULL, 0 at first) grown to
 * hold all of it.  Returns the snapshot's length, 0 if memory ran out. */
size_t hl_modules_snapshot_fit(uint8_t **buf, size_t *cap);
/* Writer side: compares a snapshot with the known set and encodes the
 * changes.  Returns 0 or -ENOSPC (block full: flush and call again). */
int hl_modules_apply(struct hl_enc *e, const void *snap, size_t len);
/* Writer side: nonzero if ip lies in a known module. */
int hl_modules_known_ip(uint64_t ip);
/* fork child: forget the known set (the new trace re-lists everything). */
void hl_modules_forget(void);
/* The address range of this library's own code, to drop its frames. */
void hl_modules_self_range(uint64_t *lo, uint64_t *hi);

#endif
