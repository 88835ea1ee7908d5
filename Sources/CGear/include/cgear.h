#ifndef MCLOUDS_CGEAR_H
#define MCLOUDS_CGEAR_H

#include <stdint.h>

/// Rolls the Gear hash `h = (h << 1) + table[byte]` over `bytes[start..<end]`, starting from `*hash`.
///
/// Returns the first position `i + 1` (a length from `bytes`) after which `h & mask == 0`, or -1 when no
/// position in the range qualifies; `*hash` is left at the hash reached either way.
long mc_gear_scan(const uint8_t *bytes, long start, long end, uint64_t *hash, uint64_t mask, const uint64_t *table);

#endif
