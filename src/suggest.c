/* suggest.c - the closest known name to a mistyped one (Levenshtein). */
#include "suggest.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SUGGEST_DISTANCE 2

/* Levenshtein distance, two rows; names longer than 63 bytes are never a
 * plausible typo of a key, so they count as far away. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[64], cur[64];
    if (la >= 64 || lb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

void fs_suggest(const char *word, const char *const *names, size_t n,
                const char *what, char *out, size_t outlen)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX, used = 0;
    int w;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    out[0] = '\0';
    if (best && best_d <= SUGGEST_DISTANCE) {
        snprintf(out, outlen, "; did you mean '%s'?", best);
        return;
    }
    if (n == 0)
        return;
    w = snprintf(out, outlen, "; known %s: %s", what, names[0]);
    for (size_t i = 1; i < n && w >= 0; i++) {
        used += (size_t)w;
        if (used >= outlen)
            return;
        w = snprintf(out + used, outlen - used, ", %s", names[i]);
    }
}
