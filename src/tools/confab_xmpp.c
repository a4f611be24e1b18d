/*
 * confab-xmpp: a tiny libstrophe client for poking a running XMPP system
 * from the shell (operators, the demo smoke check, shell-level tests).
 *
 * One command per invocation; the exit status is the interface:
 *   0  success (result reply, or listen window elapsed)
 *   1  the peer answered with an error reply
 *   2  timeout, connection or authentication failure
 *   64 bad command line
 *
 * Standalone on purpose: it depends only on libstrophe and libc so it can
 * be built and shipped without the daemon's core library.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <strophe.h>

#define PROG "confab-xmpp"

enum {
    EXIT_RESULT = 0,
    EXIT_ERROR_REPLY = 1,
    EXIT_FAILURE_NET = 2,
    EXIT_USAGE = 64,
};

/* Upper bound on one select() in xmpp_run(); libstrophe's default is 1 s,
 * too coarse for a tool whose whole run is often well under a second. */
#define LOOP_TIMEOUT_MS 50UL

/* How long to wait for the server to close its side after we close ours. */
#define CLOSE_GRACE_MS 500UL

#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"

enum command { CMD_SEND, CMD_DISCO, CMD_ITEMS, CMD_VERSION, CMD_PING, CMD_LISTEN };

static struct {
    const char *jid;
    const char *password;
    const char *server;
    unsigned short port;
    unsigned long timeout_ms;
    int verbose;
    int tls;
    enum command cmd;
    const char *arg; /* target JID, or stanza XML for `send` */
} opts = {
    .server = "127.0.0.1",
    .port = 5222,
    .timeout_ms = 5000,
};

struct session;
typedef void (*reply_printer)(struct session *s, xmpp_stanza_t *reply);

struct session {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    xmpp_stanza_t *wrapper;  /* owns the parse of STANZA_XML for `send` */
    xmpp_stanza_t *outgoing; /* the stanza inside wrapper */
    char *wire;              /* exact bytes `send` puts on the stream */
    reply_printer print_reply;
    unsigned id_counter;
    char id_buf[32];
    const char *id; /* id of the request we await: id_buf or the caller's */
    struct timespec sent_at;
    int connected;
    int finished;
    int exit_code;
    /* libstrophe 0.12 reports auth failure and refused/timed-out TCP
     * connects only through its log (the disconnect event says error 0),
     * so the log handler keeps what we need to name the cause. */
    char last_error[256];
    int auth_failed;
    int sock_errno;
};

/* ---- command line ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --jid JID --password PW [--server HOST] [--port N]\n"
            "                   [--timeout SECONDS] [--tls] [--verbose] COMMAND...\n"
            "commands:\n"
            "  send STANZA_XML   send one <iq>, <message> or <presence>; for iq get/set\n"
            "                    print the reply, else print incoming stanzas until timeout\n"
            "  disco JID         disco#info: identity/feature lines\n"
            "  items JID         disco#items: item lines\n"
            "  version JID       XEP-0092: name/version/os lines\n"
            "  ping JID          XEP-0199: pong and round-trip time\n"
            "  listen            print every stanza received until timeout\n"
            "defaults: --server 127.0.0.1 --port 5222 --timeout 5\n"
            "exit: 0 ok, 1 error reply, 2 timeout/connection/auth failure, 64 usage\n");
}

static void usage_error(const char *msg, const char *detail)
{
    fprintf(stderr, PROG ": %s", msg);
    if (detail)
        fprintf(stderr, " '%s'", detail);
    fputc('\n', stderr);
    usage(stderr);
    exit(EXIT_USAGE);
}

static unsigned short parse_port(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 65535 || s[0] == '-')
        usage_error("invalid port", s);
    return (unsigned short)v;
}

static unsigned long parse_timeout(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* Cap at a day: a larger value is a typo, not a test plan. */
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 86400)
        usage_error("invalid timeout (seconds, > 0, <= 86400)", s);
    unsigned long ms = (unsigned long)(v * 1000.0 + 0.5);
    return ms ? ms : 1;
}

static const struct {
    const char *name;
    enum command cmd;
    int nargs;
} commands[] = {
    { "send", CMD_SEND, 1 },       { "disco", CMD_DISCO, 1 }, { "items", CMD_ITEMS, 1 },
    { "version", CMD_VERSION, 1 }, { "ping", CMD_PING, 1 },   { "listen", CMD_LISTEN, 0 },
};

static void parse_command(int argc, char **argv)
{
    if (argc < 1)
        usage_error("missing COMMAND", NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[0], commands[i].name) != 0)
            continue;
        if (argc - 1 != commands[i].nargs)
            usage_error("wrong number of arguments for", argv[0]);
        opts.cmd = commands[i].cmd;
        opts.arg = commands[i].nargs ? argv[1] : NULL;
        if (opts.arg && !*opts.arg)
            usage_error("empty argument for", argv[0]);
        return;
    }
    usage_error("unknown command", argv[0]);
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "jid", required_argument, NULL, 'j' },
        { "password", required_argument, NULL, 'p' },
        { "server", required_argument, NULL, 's' },
        { "port", required_argument, NULL, 'P' },
        { "timeout", required_argument, NULL, 't' },
        { "tls", no_argument, NULL, 'T' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    /* '+': options end at COMMAND, so stanza text is never reparsed. */
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': opts.jid = optarg; break;
        case 'p': opts.password = optarg; break;
        case 's': opts.server = optarg; break;
        case 'P': opts.port = parse_port(optarg); break;
        case 't': opts.timeout_ms = parse_timeout(optarg); break;
        case 'T': opts.tls = 1; break;
        case 'v': opts.verbose = 1; break;
        case 'h': usage(stdout); exit(EXIT_RESULT);
        default: usage(stderr); exit(EXIT_USAGE);
        }
    }
    if (!opts.jid || !*opts.jid)
        usage_error("--jid is required", NULL);
    if (!opts.password)
        usage_error("--password is required", NULL);
    if (!*opts.server)
        usage_error("--server must not be empty", NULL);
    parse_command(argc - optind, argv + optind);
}

/* ---- output ---- */

/* Values from the peer go onto one line each; a stray newline in a name
 * would break every `while read` loop consuming this output. */
static void put_clean(const char *s)
{
    for (; s && *s; s++)
        putchar((*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s);
}

static void put_field(const char *label, const char *value)
{
    fputs(label, stdout);
    putchar(' ');
    put_clean(value);
    putchar('\n');
}

/* One stanza per line: newlines inside text become character references,
 * which parse back to the same XML. */
static void print_stanza(struct session *s, xmpp_stanza_t *stanza)
{
    char *buf = NULL;
    size_t len = 0;
    if (xmpp_stanza_to_text(stanza, &buf, &len) != XMPP_EOK)
        return;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n')
            fputs("&#10;", stdout);
        else if (buf[i] == '\r')
            fputs("&#13;", stdout);
        else
            putchar(buf[i]);
    }
    putchar('\n');
    fflush(stdout);
    xmpp_free(s->ctx, buf);
}

static const char *attr(xmpp_stanza_t *st, const char *name)
{
    return xmpp_stanza_get_attribute(st, name);
}

static int name_is(xmpp_stanza_t *st, const char *name)
{
    const char *n = xmpp_stanza_is_tag(st) ? xmpp_stanza_get_name(st) : NULL;
    return n && strcmp(n, name) == 0;
}

static int type_is(xmpp_stanza_t *st, const char *type)
{
    const char *t = xmpp_stanza_get_type(st);
    return t && strcmp(t, type) == 0;
}

static int is_request(xmpp_stanza_t *st)
{
    return name_is(st, "iq") && (type_is(st, "get") || type_is(st, "set"));
}

/* ---- reply printers, one per command ---- */

static void print_raw_reply(struct session *s, xmpp_stanza_t *reply)
{
    print_stanza(s, reply);
}

static xmpp_stanza_t *query_of(xmpp_stanza_t *reply, const char *ns)
{
    return xmpp_stanza_get_child_by_name_and_ns(reply, "query", ns);
}

static void print_disco_info(struct session *s, xmpp_stanza_t *reply)
{
    xmpp_stanza_t *q = query_of(reply, XMPP_NS_DISCO_INFO);
    for (xmpp_stanza_t *c = q ? xmpp_stanza_get_children(q) : NULL; c;
         c = xmpp_stanza_get_next(c)) {
        if (name_is(c, "identity")) {
            fputs("identity ", stdout);
            put_clean(attr(c, "category"));
            putchar('/');
            put_clean(attr(c, "type"));
            if (attr(c, "name")) {
                putchar(' ');
                put_clean(attr(c, "name"));
            }
            putchar('\n');
        } else if (name_is(c, "feature") && attr(c, "var")) {
            put_field("feature", attr(c, "var"));
        }
    }
}

static void print_disco_items(struct session *s, xmpp_stanza_t *reply)
{
    xmpp_stanza_t *q = query_of(reply, XMPP_NS_DISCO_ITEMS);
    for (xmpp_stanza_t *c = q ? xmpp_stanza_get_children(q) : NULL; c;
         c = xmpp_stanza_get_next(c)) {
        if (!name_is(c, "item") || !attr(c, "jid"))
            continue;
        fputs("item ", stdout);
        put_clean(attr(c, "jid"));
        if (attr(c, "name")) {
            putchar(' ');
            put_clean(attr(c, "name"));
        }
        putchar('\n');
    }
}

static void print_version(struct session *s, xmpp_stanza_t *reply)
{
    static const char *const fields[] = { "name", "version", "os" };
    xmpp_stanza_t *q = query_of(reply, NS_VERSION);
    for (size_t i = 0; q && i < sizeof fields / sizeof fields[0]; i++) {
        xmpp_stanza_t *f = xmpp_stanza_get_child_by_name(q, fields[i]);
        char *text = f ? xmpp_stanza_get_text(f) : NULL;
        if (text)
            put_field(fields[i], text);
        xmpp_free(s->ctx, text);
    }
}

static double elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) * 1000.0 +
           (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void print_pong(struct session *s, xmpp_stanza_t *reply)
{
    printf("pong %.3f ms\n", elapsed_ms(&s->sent_at));
}

/* Prints "error CONDITION [TEXT]" so scripts can match the condition. */
static void print_error_reply(struct session *s, xmpp_stanza_t *reply)
{
    xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(reply, "error");
    const char *cond = "undefined-condition";
    char *text = NULL;
    for (xmpp_stanza_t *c = err ? xmpp_stanza_get_children(err) : NULL; c;
         c = xmpp_stanza_get_next(c)) {
        const char *ns = xmpp_stanza_is_tag(c) ? xmpp_stanza_get_ns(c) : NULL;
        if (!ns || strcmp(ns, XMPP_NS_STANZAS_IETF) != 0)
            continue;
        if (name_is(c, "text"))
            text = text ? text : xmpp_stanza_get_text(c);
        else
            cond = xmpp_stanza_get_name(c);
    }
    fputs("error ", stdout);
    put_clean(cond);
    if (text && *text) {
        putchar(' ');
        put_clean(text);
    }
    putchar('\n');
    xmpp_free(s->ctx, text);
}

/* ---- session lifecycle ---- */

/* libstrophe waits 2 s for the server's </stream:stream>; a server that
 * ignored our request won't send it either, so don't wait that long. */
static int on_close_grace(xmpp_ctx_t *ctx, void *userdata)
{
    xmpp_stop(ctx);
    return 0;
}

/* Ends the command: a clean </stream:stream> lets queued sends flush; the
 * disconnect event then stops the loop. */
static void finish(struct session *s, int code)
{
    if (s->finished)
        return;
    s->finished = 1;
    s->exit_code = code;
    fflush(stdout);
    xmpp_disconnect(s->conn);
    xmpp_global_timed_handler_add(s->ctx, on_close_grace, CLOSE_GRACE_MS, s);
}

static void next_id(struct session *s)
{
    snprintf(s->id_buf, sizeof s->id_buf, "cx-%ld-%u", (long)getpid(), ++s->id_counter);
    s->id = s->id_buf;
}

static int on_reply(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    struct session *s = userdata;
    if (!name_is(stanza, "iq"))
        return 1; /* ids are only unique per stanza kind; keep waiting */
    if (type_is(stanza, "result")) {
        s->print_reply(s, stanza);
        finish(s, EXIT_RESULT);
    } else if (type_is(stanza, "error")) {
        if (opts.cmd == CMD_SEND)
            print_stanza(s, stanza);
        else
            print_error_reply(s, stanza);
        finish(s, EXIT_ERROR_REPLY);
    } else {
        return 1; /* a get/set reusing our id is not the answer; keep waiting */
    }
    return 0;
}

static int on_reply_timeout(xmpp_conn_t *conn, void *userdata)
{
    struct session *s = userdata;
    fprintf(stderr, PROG ": no reply to iq id '%s' within %.1f s\n", s->id,
            (double)opts.timeout_ms / 1000.0);
    finish(s, EXIT_FAILURE_NET);
    return 0;
}

static int on_listen_done(xmpp_conn_t *conn, void *userdata)
{
    finish(userdata, EXIT_RESULT);
    return 0;
}

/* Prints stanzas while listening; iq get/set must be answered (RFC 6120
 * 8.2.3) or the sender waits on us forever. */
static int on_any_stanza(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata)
{
    struct session *s = userdata;
    /* After the window closes, stragglers before the stream ends are not
     * part of the output a test counts. */
    if (s->finished)
        return 1;
    if (!name_is(stanza, "iq") && !name_is(stanza, "message") && !name_is(stanza, "presence"))
        return 1;
    print_stanza(s, stanza);
    if (is_request(stanza)) {
        xmpp_stanza_t *err =
            xmpp_stanza_reply_error(stanza, "cancel", "service-unavailable", NULL);
        if (err) {
            xmpp_send(conn, err);
            xmpp_stanza_release(err);
        }
    }
    return 1;
}

static void send_presence(struct session *s)
{
    xmpp_stanza_t *pres = xmpp_presence_new(s->ctx);
    xmpp_send(s->conn, pres);
    xmpp_stanza_release(pres);
}

static void start_listening(struct session *s, int announce)
{
    xmpp_handler_add(s->conn, on_any_stanza, NULL, NULL, NULL, s);
    if (announce)
        send_presence(s);
    xmpp_timed_handler_add(s->conn, on_listen_done, opts.timeout_ms, s);
}

/* Registers the reply handler before sending so a fast reply can't race it. */
static void await_reply(struct session *s)
{
    xmpp_id_handler_add(s->conn, on_reply, s->id, s);
    xmpp_timed_handler_add(s->conn, on_reply_timeout, opts.timeout_ms, s);
    clock_gettime(CLOCK_MONOTONIC, &s->sent_at);
}

static void start_query(struct session *s, const char *child, const char *ns,
                        reply_printer printer)
{
    next_id(s);
    xmpp_stanza_t *iq = xmpp_iq_new(s->ctx, "get", s->id);
    xmpp_stanza_t *q = xmpp_stanza_new(s->ctx);
    xmpp_stanza_set_name(q, child);
    xmpp_stanza_set_ns(q, ns);
    xmpp_stanza_add_child_ex(iq, q, 0); /* iq takes ownership of q */
    xmpp_stanza_set_to(iq, opts.arg);
    s->print_reply = printer;
    await_reply(s);
    xmpp_send(s->conn, iq);
    xmpp_stanza_release(iq);
}

static void start_send(struct session *s)
{
    xmpp_stanza_t *st = s->outgoing;
    if (is_request(st)) {
        s->print_reply = print_raw_reply;
        await_reply(s);
        xmpp_send_raw(s->conn, s->wire, strlen(s->wire));
        return;
    }
    /* A result/error iq answers something, it doesn't make us present; an
     * undirected presence is itself the initial presence. */
    int announce = name_is(st, "message") || (name_is(st, "presence") && xmpp_stanza_get_to(st));
    start_listening(s, announce);
    xmpp_send_raw(s->conn, s->wire, strlen(s->wire));
}

static void start_command(struct session *s)
{
    switch (opts.cmd) {
    case CMD_SEND: start_send(s); break;
    case CMD_DISCO: start_query(s, "query", XMPP_NS_DISCO_INFO, print_disco_info); break;
    case CMD_ITEMS: start_query(s, "query", XMPP_NS_DISCO_ITEMS, print_disco_items); break;
    case CMD_VERSION: start_query(s, "query", NS_VERSION, print_version); break;
    case CMD_PING: start_query(s, "ping", NS_PING, print_pong); break;
    case CMD_LISTEN: start_listening(s, 1); break;
    }
}

static int on_logged_in(xmpp_conn_t *conn, void *userdata)
{
    start_command(userdata);
    return 0;
}

static const char *stream_error_name(xmpp_error_type_t type)
{
    static const char *const names[] = {
        [XMPP_SE_BAD_FORMAT] = "bad-format",
        [XMPP_SE_BAD_NS_PREFIX] = "bad-namespace-prefix",
        [XMPP_SE_CONFLICT] = "conflict",
        [XMPP_SE_CONN_TIMEOUT] = "connection-timeout",
        [XMPP_SE_HOST_GONE] = "host-gone",
        [XMPP_SE_HOST_UNKNOWN] = "host-unknown",
        [XMPP_SE_IMPROPER_ADDR] = "improper-addressing",
        [XMPP_SE_INTERNAL_SERVER_ERROR] = "internal-server-error",
        [XMPP_SE_INVALID_FROM] = "invalid-from",
        [XMPP_SE_INVALID_ID] = "invalid-id",
        [XMPP_SE_INVALID_NS] = "invalid-namespace",
        [XMPP_SE_INVALID_XML] = "invalid-xml",
        [XMPP_SE_NOT_AUTHORIZED] = "not-authorized",
        [XMPP_SE_POLICY_VIOLATION] = "policy-violation",
        [XMPP_SE_REMOTE_CONN_FAILED] = "remote-connection-failed",
        [XMPP_SE_RESOURCE_CONSTRAINT] = "resource-constraint",
        [XMPP_SE_RESTRICTED_XML] = "restricted-xml",
        [XMPP_SE_SEE_OTHER_HOST] = "see-other-host",
        [XMPP_SE_SYSTEM_SHUTDOWN] = "system-shutdown",
        [XMPP_SE_UNDEFINED_CONDITION] = "undefined-condition",
        [XMPP_SE_UNSUPPORTED_ENCODING] = "unsupported-encoding",
        [XMPP_SE_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
        [XMPP_SE_UNSUPPORTED_VERSION] = "unsupported-version",
        [XMPP_SE_XML_NOT_WELL_FORMED] = "not-well-formed",
    };
    if ((unsigned)type < sizeof names / sizeof names[0] && names[type])
        return names[type];
    return "undefined-condition";
}

/* Names the most specific cause we have: stream error, then socket errno,
 * then libstrophe's own last complaint (how auth failures surface). */
static void report_disconnect(struct session *s, int error, xmpp_stream_error_t *se)
{
    fprintf(stderr, PROG ": %s %s:%u: ",
            s->connected ? "connection lost to" : "cannot connect/log in to", opts.server,
            (unsigned)opts.port);
    if (se) {
        fprintf(stderr, "stream error %s", stream_error_name(se->type));
        if (se->text)
            fprintf(stderr, " (%s)", se->text);
    } else if (error || s->sock_errno) {
        fputs(strerror(error ? error : s->sock_errno), stderr);
    } else if (s->auth_failed) {
        fprintf(stderr, "authentication failed, wrong JID or password? (%s)", s->last_error);
    } else if (s->last_error[0]) {
        fprintf(stderr, "%s", s->last_error);
    } else {
        fputs("stream closed by server", stderr);
    }
    fputc('\n', stderr);
}

/* Conn timed handlers only run once logged in, so a server that accepts
 * TCP and then stalls needs this context-level deadline. */
static int on_connect_deadline(xmpp_ctx_t *ctx, void *userdata)
{
    struct session *s = userdata;
    if (!s->connected && !s->finished) {
        fprintf(stderr, PROG ": cannot connect/log in to %s:%u: timed out after %.1f s\n",
                opts.server, (unsigned)opts.port, (double)opts.timeout_ms / 1000.0);
        s->finished = 1;
        s->exit_code = EXIT_FAILURE_NET;
        xmpp_stop(ctx);
    }
    return 0;
}

static void on_conn_event(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
                          xmpp_stream_error_t *stream_error, void *userdata)
{
    struct session *s = userdata;
    if (event == XMPP_CONN_CONNECT) {
        s->connected = 1;
        xmpp_global_timed_handler_delete(s->ctx, on_connect_deadline);
        /* This runs inside the dispatch of the bind result, and a stanza
         * handler added here fires for that very stanza; start from a timer,
         * which runs once the dispatch is over. */
        xmpp_timed_handler_add(conn, on_logged_in, 0, s);
        return;
    }
    if (event == XMPP_CONN_RAW_CONNECT)
        return;
    if (!s->finished) {
        report_disconnect(s, error, stream_error);
        s->finished = 1;
        s->exit_code = EXIT_FAILURE_NET;
    }
    xmpp_stop(s->ctx);
}

static void on_log(void *userdata, xmpp_log_level_t level, const char *area, const char *msg)
{
    struct session *s = userdata;
    int err;
    if (level >= XMPP_LEVEL_ERROR) {
        snprintf(s->last_error, sizeof s->last_error, "%s: %s", area, msg);
        s->auth_failed = strcmp(area, "auth") == 0;
    }
    /* Matching log text is brittle, but it is the only place these are
     * reported; if the wording changes we merely lose detail. */
    if (sscanf(msg, "connection failed, error %d", &err) == 1)
        s->sock_errno = err;
    else if (strcmp(msg, "Connection attempt timed out.") == 0)
        s->sock_errno = ETIMEDOUT;
    if (opts.verbose) {
        xmpp_log_t *def = xmpp_get_default_logger(XMPP_LEVEL_DEBUG);
        def->handler(def->userdata, level, area, msg);
    }
}

/* ---- setup ---- */

/* The caller's text goes out verbatim: libstrophe's parser drops attribute
 * prefixes (xml:lang becomes lang), so re-serialising would alter it. Only
 * an id-less request is edited, by splicing id="..." after "<iq". */
static char *wire_text(struct session *s)
{
    const char *root = opts.arg + strspn(opts.arg, " \t\r\n");
    int splice = is_request(s->outgoing) && !xmpp_stanza_get_id(s->outgoing);
    if (splice && !(strncmp(root, "<iq", 3) == 0 && strchr(" \t\r\n/>", root[3]))) {
        fprintf(stderr, PROG ": give the iq an id, or start STANZA_XML with \"<iq\"\n");
        return NULL;
    }
    if (splice)
        next_id(s);
    else if (is_request(s->outgoing))
        s->id = xmpp_stanza_get_id(s->outgoing);
    size_t len = strlen(opts.arg) + sizeof s->id_buf + 8;
    char *wire = malloc(len);
    if (!wire)
        return NULL;
    if (splice)
        snprintf(wire, len, "%.*s id=\"%s\"%s", (int)(root + 3 - opts.arg), opts.arg, s->id,
                 root + 3);
    else
        snprintf(wire, len, "%s", opts.arg);
    return wire;
}

/* The parser stops at the first element and ignores anything after it, so
 * parse inside a wrapper to see everything the caller wrote. */
static xmpp_stanza_t *single_element(xmpp_stanza_t *wrapper)
{
    xmpp_stanza_t *found = NULL;
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(wrapper); c; c = xmpp_stanza_get_next(c)) {
        if (xmpp_stanza_is_tag(c)) {
            if (found)
                return NULL;
            found = c;
        } else {
            const char *t = xmpp_stanza_get_text_ptr(c);
            if (t && t[strspn(t, " \t\r\n")])
                return NULL;
        }
    }
    return found;
}

static int parse_outgoing(struct session *s)
{
    static const char head[] = "<confab-xmpp-wrapper>", tail[] = "</confab-xmpp-wrapper>";
    size_t len = strlen(head) + strlen(opts.arg) + strlen(tail) + 1;
    char *doc = malloc(len);
    if (!doc)
        return -1;
    snprintf(doc, len, "%s%s%s", head, opts.arg, tail);
    s->wrapper = xmpp_stanza_new_from_string(s->ctx, doc);
    free(doc);
    s->outgoing = s->wrapper ? single_element(s->wrapper) : NULL;
    if (!s->outgoing) {
        fprintf(stderr, PROG ": STANZA_XML must be exactly one well-formed element\n");
        return -1;
    }
    if (!name_is(s->outgoing, "iq") && !name_is(s->outgoing, "message") &&
        !name_is(s->outgoing, "presence")) {
        fprintf(stderr, PROG ": STANZA_XML must be an <iq>, <message> or <presence>\n");
        return -1;
    }
    s->wire = wire_text(s);
    return s->wire ? 0 : -1;
}

/* xmpp_connect_client fails synchronously, without a reason, when the
 * host does not resolve; ask the resolver ourselves to say why. */
static const char *resolve_error(void)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    int rc = getaddrinfo(opts.server, NULL, &hints, &res);
    if (res)
        freeaddrinfo(res);
    return rc ? gai_strerror(rc) : "cannot create socket";
}

static int start_connection(struct session *s)
{
    long flags = 0;
#ifdef XMPP_CONN_FLAG_DISABLE_SM
    flags |= XMPP_CONN_FLAG_DISABLE_SM; /* short-lived: resumption buys nothing */
#endif
    /* --tls means "encrypted or nothing", never a silent plaintext fallback. */
    flags |= opts.tls ? XMPP_CONN_FLAG_MANDATORY_TLS : XMPP_CONN_FLAG_DISABLE_TLS;
    if (xmpp_conn_set_flags(s->conn, flags) != XMPP_EOK) {
        fprintf(stderr, PROG ": cannot set connection flags\n");
        return -1;
    }
    xmpp_conn_set_jid(s->conn, opts.jid);
    xmpp_conn_set_pass(s->conn, opts.password);
    if (xmpp_connect_client(s->conn, opts.server, opts.port, on_conn_event, s) != XMPP_EOK) {
        fprintf(stderr, PROG ": cannot connect/log in to %s:%u: %s\n", opts.server,
                (unsigned)opts.port, resolve_error());
        return -1;
    }
    xmpp_global_timed_handler_add(s->ctx, on_connect_deadline, opts.timeout_ms, s);
    return 0;
}

static int run(struct session *s)
{
    if (opts.cmd == CMD_SEND && parse_outgoing(s) != 0)
        return EXIT_USAGE;
    s->conn = xmpp_conn_new(s->ctx);
    if (!s->conn || start_connection(s) != 0)
        return EXIT_FAILURE_NET;
    /* xmpp_stop() before xmpp_run() is ignored, so only enter the loop if
     * nothing has ended the session yet. */
    if (!s->finished)
        xmpp_run(s->ctx);
    return s->exit_code;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    /* A peer closing mid-write must surface as exit 2, not death by signal. */
    signal(SIGPIPE, SIG_IGN);

    struct session s = { .exit_code = EXIT_FAILURE_NET };
    xmpp_log_t logger = { .handler = on_log, .userdata = &s };
    xmpp_initialize();
    s.ctx = xmpp_ctx_new(NULL, &logger);
    if (!s.ctx) {
        fprintf(stderr, PROG ": out of memory\n");
        xmpp_shutdown();
        return EXIT_FAILURE_NET;
    }
    xmpp_ctx_set_timeout(s.ctx, LOOP_TIMEOUT_MS);

    int code = run(&s);

    /* xmpp_ctx_free() leaks context-level timed handlers (0.12.2). */
    xmpp_global_timed_handler_delete(s.ctx, on_connect_deadline);
    xmpp_global_timed_handler_delete(s.ctx, on_close_grace);
    free(s.wire);
    if (s.wrapper)
        xmpp_stanza_release(s.wrapper);
    if (s.conn)
        xmpp_conn_release(s.conn);
    xmpp_ctx_free(s.ctx);
    xmpp_shutdown();
    fflush(stdout);
    return code;
}
