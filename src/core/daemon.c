/* daemon.c — both daemons' shell: command line, config, signals, reload, router link, systemd. */
#include "compat.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "httpd.h"
#include "jid.h"
#include "stanza.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "multicast.h"
#include "sdnotify.h"
#include "transport.h"

struct daemon {
    const struct daemon_ops *ops;
    uv_loop_t loop;
    struct cfg cfg;
    const struct cfg_endpoint *ep;
    void *svc;
    struct transport *link;
    struct multicast *mc;      /* XEP-0033 fan-out; NULL when not configured */
    struct httpd *http;        /* [metrics] listener; NULL when off */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t watchdog;       /* WATCHDOG=1 at half the service manager's interval */
    bool watchdog_on;
    bool ready;                /* READY=1 sent (the first link-up) */
    bool stopping;
    int exit_code;
};

struct options {
    const char *config;
    bool foreground;
    bool check_only;
};

static void usage(FILE *out, const char *name)
{
    fprintf(out,
            "usage: %s -c FILE [-f] [--check-config]\n"
            "       %s --version | --help\n"
            "  -c, --config FILE   configuration file (INI; see confab.ini.example)\n"
            "  -f, --foreground    stay in the foreground (for systemd and tests)\n"
            "      --check-config  validate the configuration and exit (78 when invalid)\n"
            "  -V, --version       print the version and exit\n",
            name, name);
}

/* Returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, const char *name, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, 'C' }, { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:fVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'f': o->foreground = true; break;
        case 'C': o->check_only = true; break;
        case 'V': printf("%s %s\n", name, PACKAGE_VERSION); return EX_OK;
        case 'h': usage(stdout, name); return EX_OK;
        default: usage(stderr, name); return EX_USAGE;
        }
    }
    if (optind < argc || !o->config) {
        usage(stderr, name);
        return EX_USAGE;
    }
    return -1;
}

static struct transport_cfg link_cfg(const struct daemon *d)
{
    const struct cfg *c = &d->cfg;
    return (struct transport_cfg){
        .domain = d->ep->domain, .secret = d->ep->secret, .host = d->ep->host,
        .port = d->ep->port, .link = c->link,
        .tls = d->ep->tls, .tls_ca = d->ep->tls_ca, .tls_verify_name = d->ep->tls_verify_name,
    };
}

/* ---- metrics and health ([metrics], docs/operations.md) ---- */

static struct metric *stanzas_in, *stanzas_out, *errors_out, *link_ups;

static void count_out(const struct xml_node *st, size_t copies)
{
    metric_add_label(stanzas_out, st->name, copies);
    if (stanza_is_error(st)) {
        const struct xml_node *e = stanza_child(st, "error");
        const char *cond = e ? stanza_error_condition(e, NS_STANZAS) : NULL;
        metric_add_label(errors_out, cond ? cond : "undefined-condition", copies);
    }
}

static double gauge_link_up(void *ud)
{
    struct daemon *d = ud;
    return d->link && transport_is_up(d->link);
}

static double gauge_queued(void *ud)
{
    struct daemon *d = ud;
    return d->link ? (double)transport_queued(d->link) : 0;
}

static double gauge_gate(void *ud)
{
    struct daemon *d = ud;
    return d->link && transport_output_full(d->link);
}

static void register_metrics(struct daemon *d)
{
    stanzas_in = metric_counter("confab_stanzas_in", "Stanzas received from the router.", "kind");
    stanzas_out = metric_counter("confab_stanzas_out",
                                 "Stanzas sent to the router, one per recipient (deliveries).",
                                 "kind");
    errors_out = metric_counter("confab_errors_out", "Stanza errors sent, by condition.",
                                "condition");
    link_ups = metric_counter("confab_link_ups", "Times the router link came up (1 + reconnects).",
                              NULL);
    metric_gauge("confab_link_up", "1 while the router link is up.", gauge_link_up, d);
    metric_gauge("confab_output_queue_bytes", "Bytes queued for the router, not yet written.",
                 gauge_queued, d);
    metric_gauge("confab_input_gate_closed",
                 "1 while no stanzas are taken because output (queued and promised) is high.",
                 gauge_gate, d);
}

/* /health is for load balancers and service checks: 200 when the link is up
 * and the service says it can work, 503 with the reason otherwise. */
static unsigned on_http(void *ud, const char *path, struct buf *body, const char **ctype)
{
    struct daemon *d = ud;
    if (strcmp(path, "/metrics") == 0) {
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        metric_render(body);
        return 200;
    }
    if (strcmp(path, "/health") == 0) {
        const char *why = !d->link || !transport_is_up(d->link) ? "router link down"
                          : d->svc && d->ops->unhealthy ? d->ops->unhealthy(d->svc)
                          : NULL;
        buf_printf(body, "%s\n", why ? why : "ok");
        return why ? 503 : 200;
    }
    buf_puts(body, "not found: try /metrics or /health\n");
    return 404;
}

static void start_http(struct daemon *d)
{
    register_metrics(d);
    const char *listen = d->ops->role == CFG_ROLE_ARCHIVER ? d->cfg.metrics_archiver_listen
                                                          : d->cfg.metrics_listen;
    if (!listen || !*listen)
        return;
    char *err = NULL;
    d->http = httpd_start(&d->loop, listen, on_http, d, &err);
    if (d->http) {
        log_info("metrics: serving /metrics and /health on http://%s", listen);
    } else {
        log_error("metrics: [metrics] %slisten = %s", d->ops->role == CFG_ROLE_ARCHIVER
                  ? "archiver_" : "", err);
        free(err);
    }
}

/* Readiness for the service manager (docs/operations.md): READY=1 once the
 * router has accepted us for the first time, i.e. our domain is routed to us.
 * Before that the unit is "activating", with STATUS= saying what we wait for. */
static void on_link_up(void *ud)
{
    struct daemon *d = ud;
    metric_add(link_ups, 1);
    sdnotify_send("%sSTATUS=link up: %s via router %s:%u", d->ready ? "" : "READY=1\n",
                  d->ep->domain, d->ep->host, d->ep->port);
    d->ready = true;
    if (d->mc) {
        struct xml_node *probe = multicast_probe(d->mc, d->ep->domain);
        (void)transport_send(d->link, probe);
        xml_unref(probe);
    }
    if (d->ops->link_up)
        d->ops->link_up(d->svc);
}

static void on_link_down(void *ud)
{
    struct daemon *d = ud;
    if (!d->stopping)
        sdnotify_send("STATUS=link down: reconnecting to router %s:%u", d->ep->host, d->ep->port);
    if (d->mc)
        multicast_reset(d->mc);
    if (d->ops->link_down)
        d->ops->link_down(d->svc);
}

static void on_link_stanza(void *ud, struct xml_node *st)
{
    struct daemon *d = ud;
    metric_add_label(stanzas_in, st->name, 1);
    if (d->mc && multicast_answer(d->mc, st)) {
        struct xml_node *next = multicast_next_probe(d->mc, d->ep->domain);
        if (next) {
            (void)transport_send(d->link, next);
            xml_unref(next);
        }
        return;
    }
    d->ops->stanza(d->svc, st);
}

/* One sender's oversized stanza gets policy-violation; the link and every
 * other room go on. */
static void on_link_rejected(void *ud, struct xml_node *st, const char *why)
{
    struct daemon *d = ud;
    log_warn("refused a <%s/> from %s: %s", st->name,
             stanza_from(st) ? stanza_from(st) : "(no from)", why);
    if (stanza_is_error(st) || !stanza_from(st))
        return;
    struct xml_node *e = stanza_error_reply(st, "policy-violation", why);
    struct jid to = { 0 };
    if (!stanza_to(st) || jid_parse(&to, stanza_to(st)) < 0 ||
        strcmp(to.domain, d->ep->domain) != 0)
        xml_set_attr(e, "from", d->ep->domain);
    jid_clear(&to);
    if (d->link)
        (void)transport_send(d->link, e);
    xml_unref(e);
}

static size_t on_link_pending(void *ud)
{
    struct daemon *d = ud;
    return d->ops->pending_output && d->svc ? d->ops->pending_output(d->svc) : 0;
}

static const struct transport_handler link_handler = {
    .up = on_link_up, .down = on_link_down, .stanza = on_link_stanza,
    .rejected = on_link_rejected, .pending = on_link_pending,
};

static void on_link_stopped(void *ud)
{
    struct daemon *d = ud;
    d->link = NULL;
}

/* One teardown path: the link goes first (polite </stream:stream>), then the
 * service, then the signal handles; the loop ends when nothing is left. */
static void shutdown_daemon(struct daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    log_info("stopping: %s", why);
    sdnotify_send("STOPPING=1\nSTATUS=stopping: %s", why);
    if (d->watchdog_on)
        uv_close((uv_handle_t *)&d->watchdog, NULL);
    httpd_stop(d->http);
    d->http = NULL;
    if (d->link)
        transport_stop(d->link, on_link_stopped);
    if (d->ops->stop)
        d->ops->stop(d->svc);
    d->svc = NULL;
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
}

void daemon_fail(struct daemon *d, int exit_code, const char *why)
{
    d->exit_code = exit_code;
    shutdown_daemon(d, why);
}

bool daemon_migrated(struct daemon *d, const char *schema, int err, int from, int to)
{
    if (err >= 0) {
        if (from != to)
            log_info("%s schema migrated from version %d to %d", schema, from, to);
        return true;
    }
    char *why = err == -EPROTO
                    ? xasprintf("the %s database schema is newer than this %s", schema, d->ops->name)
                    : xasprintf("the %s database schema could not be brought up to date", schema);
    daemon_fail(d, err == -EPROTO ? EX_CONFIG : 1, why);
    free(why);
    return false;
}

/* RELOADING=1 ... READY=1 brackets a reload for the service manager (only
 * once ready: READY=1 must not come from a reload before the first link-up). */
static void reload(struct daemon *d)
{
    struct cfg fresh;
    char *err = NULL;
    if (d->ready)
        sdnotify_reloading();
    if (cfg_load(d->cfg.path, d->ops->role, &fresh, &err) < 0) {
        /* One log line per problem: each is FILE:LINE: message. */
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            log_error("reload refused, keeping the running configuration: %s", line);
        free(err);
        if (d->ready)
            sdnotify_send("READY=1\nSTATUS=reload refused (see the log); running "
                          "configuration kept");
        return;
    }
    cfg_apply_reload(&d->cfg, &fresh);
    cfg_free(&fresh);
    log_set_level(d->cfg.log_level);
    if (d->link) {
        struct transport_cfg lc = link_cfg(d);
        transport_reconfigure(d->link, &lc);
    }
    if (d->ops->reloaded)
        d->ops->reloaded(d->svc);
    log_info("reloaded configuration from %s", d->cfg.path);
    if (d->ready)
        sdnotify_send("READY=1");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP)
        reload(d);
    else
        shutdown_daemon(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void watch_signal(struct daemon *d, uv_signal_t *h, int signum)
{
    uv_signal_init(&d->loop, h);
    h->data = d;
    uv_signal_start(h, on_signal, signum);
}

/* Classic double fork would lose the exit status of start-up errors; one fork
 * after the configuration is known good is enough for a daemon here. */
static int detach(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -errno;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return 0;
}

static void on_watchdog(uv_timer_t *t)
{
    sdnotify_send("WATCHDOG=1");
}

/* The keep-alive comes from a loop timer, so a loop that stops turning (a
 * blocking call, an endless loop) is what makes systemd restart us. */
static void start_watchdog(struct daemon *d)
{
    uint64_t usec = sdnotify_watchdog_usec();
    if (!usec)
        return;
    uint64_t every_ms = usec / 2000 ? usec / 2000 : 1;
    uv_timer_init(&d->loop, &d->watchdog);
    uv_timer_start(&d->watchdog, on_watchdog, 0, every_ms);
    d->watchdog_on = true;
    log_info("watchdog: keep-alive every %" PRIu64 " ms", every_ms);
}

/* [component] multicast (issue 15): auto asks the router's domain (our
 * domain's parent) and its items; a JID names the service; off is off. */
static struct multicast *new_multicast(const struct cfg *c)
{
    const char *mc = c->multicast ? c->multicast : "off";
    unsigned max = (unsigned)c->multicast_max;
    if (strcmp(mc, "off") == 0 || !*mc)
        return NULL;
    if (strcmp(mc, "auto") != 0)
        return multicast_new(mc, max);
    const char *dot = strchr(c->component.domain, '.');
    return dot && dot[1] ? multicast_new_auto(dot + 1, max) : NULL;
}

static int run(struct daemon *d, const struct options *o)
{
    if (!o->foreground && detach() < 0) {
        log_error("cannot detach: %s", strerror(errno));
        return EX_OSERR;
    }
    uv_loop_init(&d->loop);
    watch_signal(d, &d->sig_term, SIGTERM);
    watch_signal(d, &d->sig_int, SIGINT);
    watch_signal(d, &d->sig_hup, SIGHUP);
    sdnotify_check();
    start_watchdog(d);
    start_http(d);
    d->svc = d->ops->start(d);
    if (d->ep == &d->cfg.component)
        d->mc = new_multicast(&d->cfg);
    struct transport_cfg lc = link_cfg(d);
    d->link = transport_new(&d->loop, &lc, &link_handler, d);
    log_info("%s %s starting: %s via router %s:%u%s", d->ops->name, PACKAGE_VERSION,
             d->ep->domain, d->ep->host, d->ep->port, d->ep->tls ? " (TLS)" : "");
    sdnotify_send("STATUS=connecting to router %s:%u", d->ep->host, d->ep->port);
    transport_start(d->link);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    int r = uv_loop_close(&d->loop);
    if (r < 0)
        log_warn("event loop closed with handles still open: %s", uv_strerror(r));
    multicast_free(d->mc);
    d->mc = NULL;
    metric_reset();
    log_info("stopped");
    return d->exit_code;
}

int daemon_main(int argc, char **argv, const struct daemon_ops *ops)
{
    struct options o = { 0 };
    log_set_ident(ops->name);
    int r = parse_args(argc, argv, ops->name, &o);
    if (r >= 0)
        return r;
    struct daemon d = { .ops = ops };
    char *err = NULL;
    if (cfg_load(o.config, ops->role, &d.cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return EX_CONFIG;
    }
    if (o.check_only) {
        printf("%s: configuration OK\n", o.config);
        cfg_free(&d.cfg);
        return EX_OK;
    }
    log_set_level(d.cfg.log_level);
    d.ep = ops->role == CFG_ROLE_ARCHIVER ? &d.cfg.archiver : &d.cfg.component;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    /* A vanished router must not kill us with SIGPIPE mid-write. */
    signal(SIGPIPE, SIG_IGN);
    r = run(&d, &o);
    cfg_free(&d.cfg);
    return r;
}

int daemon_send(struct daemon *d, const struct xml_node *st)
{
    if (!d->link)
        return -ENOTCONN;
    count_out(st, 1);
    return transport_send(d->link, st);
}

struct mc_emit {
    struct daemon *d;
    int r;
};

static void mc_emit(void *ud, struct xml_node *st)
{
    struct mc_emit *e = ud;
    int r = transport_send(e->d->link, st);
    if (r < 0)
        e->r = r;
    xml_unref(st);
}

int daemon_send_each(struct daemon *d, const struct xml_node *st, const char *const *to,
                     size_t n)
{
    if (!d->link)
        return -ENOTCONN;
    count_out(st, n);
    if (n < 2 || !multicast_usable(d->mc))
        return transport_send_each(d->link, st, to, n);
    struct mc_emit e = { d, 0 };
    multicast_wrap(d->mc, st, to, n, mc_emit, &e);
    return e.r;
}

int daemon_send_raw(struct daemon *d, const char *data, size_t len)
{
    return d->link ? transport_send_raw(d->link, data, len) : -ENOTCONN;
}

void daemon_hold_input(struct daemon *d, bool hold)
{
    if (d->link)
        transport_hold_input(d->link, hold);
}

void daemon_output_changed(struct daemon *d)
{
    if (d->link)
        transport_output_changed(d->link);
}

bool daemon_link_up(const struct daemon *d)
{
    return d->link && transport_is_up(d->link);
}

size_t daemon_output_queued(const struct daemon *d)
{
    return d->link ? transport_queued(d->link) : 0;
}

bool daemon_output_full(const struct daemon *d)
{
    return d->link && transport_output_full(d->link);
}

const struct cfg *daemon_cfg(const struct daemon *d)
{
    return &d->cfg;
}

uv_loop_t *daemon_loop(struct daemon *d)
{
    return &d->loop;
}

const char *daemon_domain(const struct daemon *d)
{
    return d->ep->domain;
}
