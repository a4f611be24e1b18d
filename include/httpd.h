/* httpd.h — a small HTTP listener on the daemon's libuv loop, for metrics and
 * health checks, built on libmicrohttpd (Debian libmicrohttpd-dev) in its
 * external-event mode: its epoll descriptor is watched by a uv_poll handle and
 * its timeouts by a uv_timer, so requests are served on the loop thread,
 * never blocking it and never touching daemon state from another thread. */
#ifndef CONFAB_HTTPD_H
#define CONFAB_HTTPD_H

#include <uv.h>

#include "buf.h"

/* Fill body for a GET of path; return the HTTP status. *ctype is preset to
 * text/plain. */
typedef unsigned httpd_handler(void *ud, const char *path, struct buf *body, const char **ctype);

struct httpd;

/* listen: "ip:port" (IPv6 as [addr]:port), numeric. NULL and *err set
 * (owned by the caller) when it cannot listen. */
struct httpd *httpd_start(uv_loop_t *loop, const char *listen, httpd_handler *h, void *ud,
                          char **err);
void httpd_stop(struct httpd *s);

#endif
