/* ids.c - id validation and booking id generation. */
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "ids.h"
#include "log.h"

int fs_id_valid_n(const char *s, size_t len)
{
    if (!s || len == 0 || len > FS_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int fs_id_valid(const char *s)
{
    return s && fs_id_valid_n(s, strnlen(s, FS_ID_MAX + 1));
}

/* Crockford's base32: no I, L, O, U, so ids read back without confusion. */
static const char base32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void encode_base32(uint64_t v, char *out, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = base32[v & 31];
        v >>= 5;
    }
}

/* Random words from the kernel, 16 ids' worth at a time per thread: a
 * system call per booking was one of the accept path's few. The bytes are
 * the same getrandom() ones, used once each; 256 bytes is the most that
 * getrandom() always returns whole, signals or not. */
#define ID_RANDOM_WORDS 32

static _Thread_local uint64_t id_random[ID_RANDOM_WORDS];
static _Thread_local size_t id_random_left;

static int next_random(uint64_t *out)
{
    if (id_random_left == 0) {
        if (getrandom(id_random, sizeof(id_random), 0) !=
            (ssize_t)sizeof(id_random))
            return -1;
        id_random_left = ID_RANDOM_WORDS;
    }
    *out = id_random[--id_random_left];
    id_random[id_random_left] = 0;
    return 0;
}

int fs_id_generate(char out[FS_ID_MAX + 1])
{
    uint64_t rnd[2];
    if (next_random(&rnd[0]) != 0 || next_random(&rnd[1]) != 0)
        return -1;
    /* 10 digits hold 50 bits of milliseconds: enough for 35,000 years. */
    encode_base32((uint64_t)fs_now_ms(), out, 10);
    /* 16 digits of 80 random bits. */
    encode_base32(rnd[0] & ((1ull << 40) - 1), out + 10, 8);
    encode_base32(rnd[1] & ((1ull << 40) - 1), out + 18, 8);
    out[26] = '\0';
    return 0;
}
