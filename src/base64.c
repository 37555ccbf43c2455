/* base64.c - strict base64 and base64url decoding. */
#include <stdint.h>

#include "base64.h"

static int value_of(enum fs_base64_alphabet a, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (a == FS_BASE64_URL ? '-' : '+'))
        return 62;
    if (c == (a == FS_BASE64_URL ? '_' : '/'))
        return 63;
    return -1;
}

int fs_base64_char(enum fs_base64_alphabet a, unsigned char c)
{
    return value_of(a, c) >= 0;
}

long fs_base64_decode(enum fs_base64_alphabet a, const char *in, size_t len,
                      unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    if (a == FS_BASE64_STD)
        for (int pad = 0; pad < 2 && len > 0 && in[len - 1] == '='; pad++)
            len--;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = value_of(a, (unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc == 0 ? (long)n : -1;
}
