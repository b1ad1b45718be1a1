/* hl_leakscan.c — PLACEHOLDER being written (reachability scan). */
#include "hl_leak.h"
void hl_leakscan_run(struct hl_enc *e, uint64_t requester_sp) { (void)e; (void)requester_sp; }
