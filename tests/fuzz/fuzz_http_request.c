/*
 * fuzz_http_request.c - whole requests through the real handler of
 * src/http/http_api.c and src/http/http_request.c (routing, path splitting, id
 * checks, authentication, body limits and parsing, the error shape) on the
 * fake civetweb of http_harness.c, which checks the invariants every answer
 * must meet.
 *
 * Input: two control bytes, then an HTTP/1.1-like text:
 *     METHOD SP URI LF  (Name ": " value LF)*  LF  body
 * The first control byte picks what the fake service answers (low nibble:
 * an fs_status, FS_TIMEOUT meaning "no event stream free"; bits 4-6: the
 * booking's state) and, with bit 7, the trusted
 * user header "X-User" instead of JWTs. The second picks the fake policy
 * engine's verdict (bits 0-1: allow, deny, slow down, error; bits 2-7: the
 * Retry-After less one). An empty URI stands for civetweb's
 * "no local URI" (NULL). The seed corpus' tokens are signed with SECRET and
 * expire in 2100.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_check.h"
#include "http_harness.h"

#define SECRET "fuzz-secret-0123456789abcdef"
#define BODY_MAX 4096

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_http_init(SECRET, BODY_MAX);
    return 0;
}

/* Cuts the line at *p (through LF or the end) and moves *p past it. */
static char *next_line(char **p, char *end)
{
    char *line = *p, *lf = memchr(line, '\n', (size_t)(end - line));
    if (lf) {
        *lf = '\0';
        *p = lf + 1;
    } else {
        *p = end;
    }
    return line;
}

static void parse_headers(struct fuzz_request *q, char **p, char *end)
{
    while (*p < end) {
        char *line = next_line(p, end), *colon;
        if (line[0] == '\0')
            return;  /* the blank line: the body follows */
        colon = strchr(line, ':');
        if (!colon || q->n_headers == FUZZ_HEADERS_MAX)
            continue;
        *colon = '\0';
        q->header_name[q->n_headers] = line;
        q->header_value[q->n_headers++] = colon[1] == ' ' ? colon + 2 : colon + 1;
        if (strcasecmp(line, "Content-Length") == 0)
            q->content_length = strtoll(colon + 1, NULL, 10);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_request q;
    struct fuzz_response resp;
    char *text, *p, *end, *line, *sp;

    if (size < 2)
        return 0;
    text = malloc(size - 1);  /* exact size: ASan sees a read past the end */
    if (!text)
        return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    p = text;
    end = text + size - 2;
    memset(&q, 0, sizeof(q));
    q.content_length = -1;
    line = next_line(&p, end);
    sp = strchr(line, ' ');
    if (sp)
        *sp = '\0';
    q.method = line;
    q.uri = sp && sp[1] ? sp + 1 : NULL;
    parse_headers(&q, &p, end);
    q.body = (const unsigned char *)p;
    q.body_len = (size_t)(end - p);
    q.read_chunk = data[0] % 7;
    fuzz_http_set_outcome((enum fs_status)(data[0] & 0x0f) % (FS_QUEUE_FULL + 1),
                          (enum fs_booking_state)((data[0] >> 4) & 7) % 7);
    fuzz_http_set_trusted_header(data[0] & 0x80 ? "X-User" : NULL);
    fuzz_http_set_policy(data[1] & 3, 1u + (data[1] >> 2));
    fuzz_http_run(&q, &resp);
    fuzz_response_free(&resp);
    free(text);
    return 0;
}
