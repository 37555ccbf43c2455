/*
 * http_request_id.h - the id of each HTTP request: the client's own
 * X-Request-Id when it is sane (1 to FS_REQUEST_ID_MAX characters of
 * [A-Za-z0-9._~:+/=-]), else a fresh one; returned in every answer's
 * X-Request-Id and carried by every log line of the request (src/log.c).
 */
#ifndef FS_HTTP_REQUEST_ID_H
#define FS_HTTP_REQUEST_ID_H

struct mg_connection;

/* 1 if `s` may be taken as a request id as it is. */
int fs_request_id_sane(const char *s);

/* Once a request's headers are in: picks its id and binds it to the
 * thread's log lines; starts its clock for the access line. */
void fs_http_request_id_begin(const struct mg_connection *conn);
/* Once it is answered: the access line (debug level), then unbinds. */
void fs_http_request_id_end(const struct mg_connection *conn, int status);
/* The id of the request being answered; one is made and bound when civetweb
 * answers a request it could not read (no begin). Never NULL. */
const char *fs_http_request_id(void);
/* After civetweb's own error answer: unbinds an id made for it (a request
 * civetweb could not read never begins or ends). */
void fs_http_request_id_after_error(void);

#endif
