/* suggest.h - "did you mean" for names a user typed: config keys, log
 * levels, plugin names. */
#ifndef FS_SUGGEST_H
#define FS_SUGGEST_H

#include <stddef.h>

/* Writes "; did you mean 'x'?" into out when one of names is within a typo
 * (edit distance 2) of word, else "; known <what>: a, b, c", or "" when
 * names is empty. */
void fs_suggest(const char *word, const char *const *names, size_t n,
                const char *what, char *out, size_t outlen);

#endif
