/*
 * fuzz_ids.c - fs_id_valid_n, fs_id_valid and fs_user_id_valid on arbitrary
 * bytes, each checked against a second, deliberately naive reading of its
 * rule (ids.h, auth.h): valid exactly when the length and the charset hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz_check.h"
#include "ids.h"

static int in_id_charset(unsigned char c)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    return c != '\0' && strchr(allowed, c) != NULL;
}

static int expect_id(const uint8_t *s, size_t len)
{
    if (len < 1 || len > FS_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!in_id_charset(s[i]))
            return 0;
    return 1;
}

/* Printable ASCII without the space: '!' (0x21) to '~' (0x7e). */
static int expect_user(const char *s)
{
    size_t len = strlen(s);
    if (len < 1 || len > FS_USER_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((unsigned char)s[i] >= '!' && (unsigned char)s[i] <= '~'))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so ASan sees any read past `size`. */
    char *exact = malloc(size ? size : 1);
    char *str = malloc(size + 1);
    if (!exact || !str)
        goto done;
    memcpy(exact, data, size);
    memcpy(str, data, size);
    str[size] = '\0';

    FUZZ_CHECK(fs_id_valid_n(exact, size) == expect_id(data, size));
    /* The NUL-terminated forms read up to the first NUL. */
    FUZZ_CHECK(fs_id_valid(str) == expect_id((const uint8_t *)str, strlen(str)));
    FUZZ_CHECK(fs_user_id_valid(str) == expect_user(str));
    /* Every valid id is a valid user id too: the same printable bytes. */
    if (fs_id_valid(str))
        FUZZ_CHECK(fs_user_id_valid(str));
done:
    free(exact);
    free(str);
    return 0;
}
