#include "csha256.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

int mc_sha256_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

#define TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* The state as the SHA instructions want it: ABEF and CDGH. */
#define LOAD_STATE(st, S0, S1)                                  \
    do {                                                        \
        __m128i t_ = _mm_loadu_si128((const __m128i *)&(st)[0]); \
        S1 = _mm_loadu_si128((const __m128i *)&(st)[4]);         \
        t_ = _mm_shuffle_epi32(t_, 0xB1);                       \
        S1 = _mm_shuffle_epi32(S1, 0x1B);                       \
        S0 = _mm_alignr_epi8(t_, S1, 8);                        \
        S1 = _mm_blend_epi16(S1, t_, 0xF0);                     \
    } while (0)

#define STORE_STATE(st, S0, S1)                          \
    do {                                                 \
        __m128i t_ = _mm_shuffle_epi32(S0, 0x1B);        \
        S1 = _mm_shuffle_epi32(S1, 0xB1);                \
        S0 = _mm_blend_epi16(t_, S1, 0xF0);              \
        S1 = _mm_alignr_epi8(S1, t_, 8);                 \
        _mm_storeu_si128((__m128i *)&(st)[0], S0);       \
        _mm_storeu_si128((__m128i *)&(st)[4], S1);       \
    } while (0)

/* Four rounds (group g) of one stream; M holds the message schedule in four registers. */
#define GROUP(g, data, M, S0, S1)                                                       \
    do {                                                                                \
        if ((g) < 4) M[(g) & 3] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((data) + 16 * (g))), MASK); \
        __m128i m_ = _mm_add_epi32(M[(g) & 3], _mm_loadu_si128((const __m128i *)&K[4 * (g)])); \
        S1 = _mm_sha256rnds2_epu32(S1, S0, m_);                                         \
        if ((g) >= 3 && (g) <= 14) {                                                    \
            __m128i t_ = _mm_alignr_epi8(M[(g) & 3], M[((g) - 1) & 3], 4);              \
            M[((g) + 1) & 3] = _mm_add_epi32(M[((g) + 1) & 3], t_);                     \
            M[((g) + 1) & 3] = _mm_sha256msg2_epu32(M[((g) + 1) & 3], M[(g) & 3]);      \
        }                                                                               \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                               \
        S0 = _mm_sha256rnds2_epu32(S0, S1, m_);                                         \
        if ((g) >= 1 && (g) <= 12) M[((g) - 1) & 3] = _mm_sha256msg1_epu32(M[((g) - 1) & 3], M[(g) & 3]); \
    } while (0)

#define ALL_GROUPS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

TARGET static void blocks1(uint32_t state[8], const uint8_t *data, size_t count) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i S0, S1, M[4];
    LOAD_STATE(state, S0, S1);
    for (; count > 0; count--, data += 64) {
        __m128i save0 = S0, save1 = S1;
#define ONE(g) GROUP(g, data, M, S0, S1);
        ALL_GROUPS(ONE)
#undef ONE
        S0 = _mm_add_epi32(S0, save0);
        S1 = _mm_add_epi32(S1, save1);
    }
    STORE_STATE(state, S0, S1);
}

TARGET static void blocks2(uint32_t state_a[8], const uint8_t *a, uint32_t state_b[8], const uint8_t *b, size_t count) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i A0, A1, B0, B1, MA[4], MB[4];
    LOAD_STATE(state_a, A0, A1);
    LOAD_STATE(state_b, B0, B1);
    for (; count > 0; count--, a += 64, b += 64) {
        __m128i sa0 = A0, sa1 = A1, sb0 = B0, sb1 = B1;
#define TWO(g) GROUP(g, a, MA, A0, A1); GROUP(g, b, MB, B0, B1);
        ALL_GROUPS(TWO)
#undef TWO
        A0 = _mm_add_epi32(A0, sa0);
        A1 = _mm_add_epi32(A1, sa1);
        B0 = _mm_add_epi32(B0, sb0);
        B1 = _mm_add_epi32(B1, sb1);
    }
    STORE_STATE(state_a, A0, A1);
    STORE_STATE(state_b, B0, B1);
}

void mc_sha256_init(mc_sha256 *ctx) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->state, H0, sizeof H0);
    ctx->buffered = 0;
    ctx->total = 0;
}

/* Tops up the partial block from data; returns the bytes taken. */
static size_t fill(mc_sha256 *ctx, const uint8_t *data, size_t length) {
    if (ctx->buffered == 0) return 0;
    size_t take = 64 - ctx->buffered;
    if (take > length) take = length;
    memcpy(ctx->buffer + ctx->buffered, data, take);
    ctx->buffered += (uint32_t)take;
    if (ctx->buffered == 64) {
        blocks1(ctx->state, ctx->buffer, 1);
        ctx->buffered = 0;
    }
    return take;
}

static void stash(mc_sha256 *ctx, const uint8_t *data, size_t length) {
    memcpy(ctx->buffer + ctx->buffered, data, length);
    ctx->buffered += (uint32_t)length;
}

void mc_sha256_update(mc_sha256 *ctx, const uint8_t *data, size_t length) {
    ctx->total += length;
    size_t used = fill(ctx, data, length);
    data += used;
    length -= used;
    if (length == 0) return;
    blocks1(ctx->state, data, length / 64);
    stash(ctx, data + length / 64 * 64, length % 64);
}

void mc_sha256_update2(mc_sha256 *a, const uint8_t *data_a, size_t length_a, mc_sha256 *b, const uint8_t *data_b, size_t length_b) {
    a->total += length_a;
    b->total += length_b;
    size_t used_a = fill(a, data_a, length_a), used_b = fill(b, data_b, length_b);
    data_a += used_a;
    length_a -= used_a;
    data_b += used_b;
    length_b -= used_b;
    size_t blocks_a = length_a / 64, blocks_b = length_b / 64;
    size_t both = blocks_a < blocks_b ? blocks_a : blocks_b;
    if (both > 0) blocks2(a->state, data_a, b->state, data_b, both);
    if (blocks_a > both) blocks1(a->state, data_a + both * 64, blocks_a - both);
    if (blocks_b > both) blocks1(b->state, data_b + both * 64, blocks_b - both);
    if (length_a > 0) stash(a, data_a + blocks_a * 64, length_a % 64);
    if (length_b > 0) stash(b, data_b + blocks_b * 64, length_b % 64);
}

void mc_sha256_final(mc_sha256 *ctx, uint8_t digest[32]) {
    uint64_t bits = ctx->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padding = (ctx->buffered < 56) ? (56 - ctx->buffered) : (120 - ctx->buffered);
    for (int i = 0; i < 8; i++) pad[padding + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t total = ctx->total;
    mc_sha256_update(ctx, pad, padding + 8);
    ctx->total = total;
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(ctx->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)ctx->state[i];
    }
}

#else

int mc_sha256_available(void) { return 0; }
void mc_sha256_init(mc_sha256 *ctx) { (void)ctx; }
void mc_sha256_update(mc_sha256 *ctx, const uint8_t *data, size_t length) { (void)ctx; (void)data; (void)length; }
void mc_sha256_update2(mc_sha256 *a, const uint8_t *data_a, size_t length_a, mc_sha256 *b, const uint8_t *data_b, size_t length_b) {
    (void)a; (void)data_a; (void)length_a; (void)b; (void)data_b; (void)length_b;
}
void mc_sha256_final(mc_sha256 *ctx, uint8_t digest[32]) { (void)ctx; memset(digest, 0, 32); }

#endif
