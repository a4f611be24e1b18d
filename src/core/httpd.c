/* httpd.c — libmicrohttpd driven by the libuv loop (httpd.h). */
#include "compat.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "httpd.h"
#include "log.h"
#include "mem.h"

struct httpd {
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    httpd_handler *h;
    void *ud;
    int closing;
};

static void arm(struct httpd *s);

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct httpd *s = cls;
    (void)version;
    (void)upload;
    (void)con_cls;
    struct buf body;
    buf_init(&body);
    const char *ctype = "text/plain; charset=utf-8";
    unsigned status;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        buf_puts(&body, "only GET\n");
    } else if (*upload_size) {
        status = MHD_HTTP_BAD_REQUEST;
        buf_puts(&body, "no body expected\n");
    } else {
        status = s->h(s->ud, url, &body, &ctype);
    }
    size_t len = 0;
    char *data = buf_steal(&body, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static void run(struct httpd *s)
{
    MHD_run(s->mhd);
    arm(s);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

/* MHD keeps timeouts (idle connections) itself: ask it when it next needs to run. */
static void arm(struct httpd *s)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss)
{
    char *host = NULL;
    uint16_t port = 0;
    if (cfg_parse_hostport(listen, &host, &port) < 0)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    int r = 0;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
    } else {
        r = -1;
    }
    free(host);
    return r;
}

struct httpd *httpd_start(uv_loop_t *loop, const char *listen, httpd_handler *h, void *ud,
                          char **err)
{
    struct sockaddr_storage ss;
    if (parse_listen(listen, &ss) < 0) {
        *err = xasprintf("%s: must be a numeric ip:port", listen);
        return NULL;
    }
    struct httpd *s = xcalloc(1, sizeof *s);
    s->h = h;
    s->ud = ud;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 32u,
                              MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        s->mhd ? MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        *err = xasprintf("%s: cannot listen (address in use or not local?)", listen);
        if (s->mhd)
            MHD_stop_daemon(s->mhd);
        free(s);
        return NULL;
    }
    uv_poll_init(loop, &s->poll, info->epoll_fd);
    uv_timer_init(loop, &s->timer);
    s->poll.data = s->timer.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    arm(s);
    return s;
}

static void on_closed(uv_handle_t *h)
{
    struct httpd *s = h->data;
    if (--s->closing == 0) {
        MHD_stop_daemon(s->mhd);
        free(s);
    }
}

void httpd_stop(struct httpd *s)
{
    if (!s)
        return;
    s->closing = 2;
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
