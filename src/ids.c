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

int fs_id_generate(char out[FS_ID_MAX + 1])
{
    uint64_t rnd[2];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    /* 10 digits hold 50 bits of milliseconds: enough for 35,000 years. */
    encode_base32((uint64_t)fs_now_ms(), out, 10);
    /* 16 digits of 80 random bits. */
    encode_base32(rnd[0] & ((1ull << 40) - 1), out + 10, 8);
    encode_base32(rnd[1] & ((1ull << 40) - 1), out + 18, 8);
    out[26] = '\0';
    return 0;
}
