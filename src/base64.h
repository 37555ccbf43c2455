/*
 * base64.h - strict RFC 4648 decoding for the two places client bytes arrive
 * in base64: a JWT's segments (base64url, no padding, RFC 7515) and HTTP
 * Basic credentials (standard alphabet, padding optional).
 */
#ifndef FS_BASE64_H
#define FS_BASE64_H

#include <stddef.h>

enum fs_base64_alphabet {
    FS_BASE64_STD,  /* A-Z a-z 0-9 + /, trailing '=' padding allowed */
    FS_BASE64_URL   /* A-Z a-z 0-9 - _, no padding */
};

/* 1 if c belongs to the alphabet (padding excluded). */
int fs_base64_char(enum fs_base64_alphabet a, unsigned char c);

/* Decodes in[0..len) into out (at most cap bytes). Strict: every character
 * in the alphabet, a length no encoding can have refused, and leftover bits
 * zero, so that each value has exactly one spelling. Returns the decoded
 * length, or -1. */
long fs_base64_decode(enum fs_base64_alphabet a, const char *in, size_t len,
                      unsigned char *out, size_t cap);

#endif
