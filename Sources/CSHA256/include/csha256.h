#ifndef MCLOUDS_CSHA256_H
#define MCLOUDS_CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// SHA-256 with the x86 SHA extensions, and two independent streams hashed in one interleaved loop
/// (the SHA round instruction's latency leaves room for a second stream on the same core).
typedef struct {
    uint32_t state[8];
    uint8_t buffer[64];
    uint32_t buffered;
    uint64_t total;
} mc_sha256;

/// 1 when this CPU has the SHA extensions (and SSSE3/SSE4.1), 0 otherwise: then nothing below may be called.
int mc_sha256_available(void);
void mc_sha256_init(mc_sha256 *ctx);
void mc_sha256_update(mc_sha256 *ctx, const uint8_t *data, size_t length);
/// Updates two contexts with their own data, interleaving the block computations of both.
void mc_sha256_update2(mc_sha256 *a, const uint8_t *data_a, size_t length_a, mc_sha256 *b, const uint8_t *data_b, size_t length_b);
void mc_sha256_final(mc_sha256 *ctx, uint8_t digest[32]);

#endif
