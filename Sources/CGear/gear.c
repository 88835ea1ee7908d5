#include "cgear.h"

// One roll: h = 2h + g. On x86-64 a single `lea` does it, so the loop-carried chain is one instruction a
// byte (compilers otherwise emit add+add, twice the latency, which is what bounds this loop).
#if defined(__x86_64__)
#define ROLL(h, g) __asm__("leaq (%1,%0,2), %0" : "+r"(h) : "r"(g))
#else
#define ROLL(h, g) ((h) = ((h) << 1) + (g))
#endif

long mc_gear_scan(const uint8_t *bytes, long start, long end, uint64_t *hash, uint64_t mask, const uint64_t *table) {
    uint64_t h = *hash;
    long i = start;
#define STEP(k)                                                                                                                \
    {                                                                                                                          \
        uint64_t g = table[bytes[i + k]];                                                                                      \
        ROLL(h, g);                                                                                                            \
        if (__builtin_expect((h & mask) == 0, 0)) {                                                                            \
            *hash = h;                                                                                                         \
            return i + k + 1;                                                                                                  \
        }                                                                                                                      \
    }
    for (; i + 8 <= end; i += 8) {
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
    }
    for (; i < end; i++) {
        STEP(0)
    }
#undef STEP
    *hash = h;
    return -1;
}
