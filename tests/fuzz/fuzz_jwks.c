/*
 * fuzz_jwks.c - fs_jwks_parse (jwks.c) on a JWKS document as an identity
 * provider (or an attacker on its URL's path) may send it.
 *
 * Invariants: a document is either refused with a reason or yields 1 to
 * FS_JWKS_KEYS_MAX keys, each with a non-empty kid that finds exactly that
 * key, one of the three algorithms, and an RSA modulus of 2048 bits or
 * more; parsing the same bytes twice gives the same answer; every set is
 * freed by its last reference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz_check.h"
#include "jwks.h"

static void check_set(const struct fs_jwks *set)
{
    FUZZ_CHECK(set->n >= 1 && set->n <= FS_JWKS_KEYS_MAX);
    for (size_t i = 0; i < set->n; i++) {
        const struct fs_jwk *k = &set->keys[i];
        FUZZ_CHECK(k->kid != NULL && k->kid[0] != '\0');
        FUZZ_CHECK(strlen(k->kid) <= FS_JWK_KID_MAX);
        FUZZ_CHECK(fs_jwks_find(set, k->kid, strlen(k->kid)) == k);
        FUZZ_CHECK(k->alg == FS_JWT_RS256 || k->alg == FS_JWT_ES256 ||
                   k->alg == FS_JWT_EDDSA);
        FUZZ_CHECK(k->pkey != NULL);
        if (k->alg == FS_JWT_RS256)
            FUZZ_CHECK(EVP_PKEY_get_bits(k->pkey) >= FS_JWKS_RSA_BITS_MIN);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512], err2[512];

    err[0] = err2[0] = '\0';
    struct fs_jwks *set = fs_jwks_parse((const char *)data, size, err, sizeof(err));
    struct fs_jwks *again = fs_jwks_parse((const char *)data, size, err2, sizeof(err2));
    FUZZ_CHECK((set == NULL) == (again == NULL));
    if (set == NULL) {
        FUZZ_CHECK(err[0] != '\0');
        FUZZ_CHECK(strcmp(err, err2) == 0);
    } else {
        check_set(set);
        FUZZ_CHECK(again->n == set->n);
        FUZZ_CHECK(fs_jwks_ref(set) == set);
        fs_jwks_unref(set);
    }
    fs_jwks_unref(set);
    fs_jwks_unref(again);
    return 0;
}
