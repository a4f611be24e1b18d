/* mam.c — XEP-0313 Message Archive Management on rooms (urn:xmpp:mam:2 and
 * #extended), with XEP-0059 result set management and XEP-0431 full-text
 * search.
 *
 * The archive is whatever m->store keeps: the messages table (pg_store_mam.c)
 * or the room's history ring (mem_store.c). Both answer the same struct
 * store_mam_query, so the protocol side does not know which one it talks to.
 * Archive ids are the XEP-0359 stanza-ids (stanzaid_encode of the room's seq),
 * so paging is keyset paging on seq.
 *
 * Choices where the XEPs leave room (docs/xep-support.md lists them too):
 *  - The archive is visible only when the room logs (muc#roomconfig_enablelogging
 *    or 'mam'): otherwise the room neither advertises urn:xmpp:mam:2 nor answers
 *    it (service-unavailable), as XEP-0313 §7 lets a service archive some JIDs
 *    only. confabd stores every message regardless, for compliance.
 *  - Whoever may enter may read it without entering (XEP-0313 §7.1.2, and
 *    Prosody's muc_mam): anyone in an open room; members, admins and owners in
 *    a members-only or password-protected room (a query cannot carry the
 *    password). Occupants always. Outcasts never.
 *  - The forwarded stanza is the one the room broadcast (its 'from' is the
 *    occupant JID, no 'to'). Only a requester that may see real JIDs (whois
 *    anyone, or a moderator — an absent admin or owner counts as the moderator
 *    it would be on entering) gets <x muc#user><item jid/></x> with the sender's
 *    real full JID, and only they may filter 'with' by a real JID (anyone may by
 *    their own); everyone may filter by an occupant JID (room@service/nick: the
 *    nick the message was sent under).
 *  - RSM <count/> and <first index/> cost a COUNT over the whole room, which
 *    on a large archive is far more than the page itself, so they are computed
 *    only when asked for: <max>0</max> (XEP-0059 §2.6) or an <index/>. They are
 *    left out when before-id/after-id/ids narrow the query, because the count is
 *    over the filters without id bounds.
 *  - RSM <index/> pages forward from that position of the matching set (an
 *    OFFSET in the store: it costs a walk over the skipped matches, so clients
 *    should prefer <after/>); it cannot be combined with <after/> or <before/>.
 *  - RSM <before/> and <after/> together (undefined in XEP-0313 §4.3) give the
 *    newest page between the two. <flip-page/> reverses the order results are
 *    sent in; <first/> and <last/> stay the chronologically first and last.
 *  - An id that does not decode for this room, or names a seq the room never
 *    assigned, is item-not-found. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "compliance.h"
#include "datetime.h"
#include "form.h"
#include "jid.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"

#define NS_MAM "urn:xmpp:mam:2"
#define NS_MAM_EXTENDED "urn:xmpp:mam:2#extended"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_FULLTEXT "urn:xmpp:fulltext:0"
#define NS_XDATA_VALIDATE "http://jabber.org/protocol/xdata-validate"
#define FIELD_FULLTEXT "{" NS_FULLTEXT "}fulltext"

/* ---- the parsed request ---- */

struct mam_req {
    struct store_mam_query q;
    char *with;            /* owned; q.with points here */
    char *fulltext;        /* owned; q.fulltext points here */
    bool id_bounds;        /* before-id / after-id narrowed the query */
    long long index;       /* RSM <index/>, -1 = none */
    bool flip;
    bool no_match;         /* the filters exclude everything: answer without asking */
    uint64_t *ids;         /* the 'ids' field, sorted, unique */
    size_t nids;
};

static void mam_req_free(struct mam_req *mr)
{
    free(mr->with);
    free(mr->fulltext);
    free(mr->ids);
}

/* Who reads the archive, fixed for one request. */
struct reader {
    const struct muc *m;
    const struct room *room;
    const char *bare;      /* the requester's bare JID */
    bool may_see_jids;     /* whois: may it learn real JIDs? */
};

/* A failure to report: condition and text (static strings). */
struct mam_err {
    const char *cond;
    const char *text;
};

static bool fail(struct mam_err *e, const char *cond, const char *text)
{
    e->cond = cond;
    e->text = text;
    return false;
}

/* An archive id of this room: its seq, which must be one the room assigned. */
static bool decode_id(const struct muc *m, const struct room *room, const char *id,
                      uint64_t *seq, struct mam_err *e)
{
    if (stanzaid_decode(m->sid, room->jid, id, seq) < 0 || *seq == 0 ||
        *seq > room->last_seq)
        return fail(e, "item-not-found", "no message with that id in this archive");
    return true;
}

/* Digits only, as xs:int without sign; fits in a long long. */
static bool parse_count(const char *s, long long *out)
{
    if (!s)
        return false;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    long long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    if (*s)
        return false;
    *out = v;
    return true;
}

/* The text of child `name` of el, or NULL when there is no such child. */
static char *child_text(const struct xml_node *el, const char *name, const char *ns)
{
    const struct xml_node *c = xml_child(el, name, ns);
    return c ? xml_text(c) : NULL;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- who may read, and what they may learn ---- */

/* The role the requester reads the archive with; ROLE_NONE: it may not. */
static enum muc_role reader_role(const struct muc_req *r, const struct room *room)
{
    enum muc_affil a = room_affiliation(room, r->from_bare);
    if (a == AFFIL_OUTCAST)
        return ROLE_NONE;
    const struct muc_session *s = session_by_jid(room, r->from_full);
    if (s)
        return s->occ->role;
    /* Whoever may enter may read before entering (as Prosody's muc_mam):
     * clients such as poezio fetch the archive before their join completes.
     * Members-only rooms: members and up; a password room: only those who
     * need no password to be trusted with it (members and up) — a query
     * cannot carry the password. Each reads as the occupant it would be. */
    bool closed = room->cfg.members_only ||
                  (room->cfg.password_protected && room->cfg.password && *room->cfg.password);
    if (closed && a < AFFIL_MEMBER)
        return ROLE_NONE;
    return perm_default_role(a, room->cfg.moderated, room->cfg.members_only);
}

/* ---- the query form (§4.1) ---- */

/* Anyone may filter by their own real JID: it tells them nothing new. */
static bool set_with(const struct reader *rd, const char *v, struct mam_req *mr,
                     struct mam_err *e)
{
    const struct room *room = rd->room;
    struct jid j;
    if (jid_parse(&j, v) < 0)
        return fail(e, "bad-request", "'with' is not a valid JID");
    char *bare = jid_format(&j, true);
    bool ok = true;
    if (strcmp(bare, room->jid) == 0) {
        /* room@service/nick: what that nick published; the room itself publishes
         * nothing that is archived. */
        if (j.resource) {
            mr->with = jid_format(&j, false);
            mr->q.with_is_nick = true;
        } else {
            mr->no_match = true;
        }
    } else if (!rd->may_see_jids && strcmp(bare, rd->bare) != 0) {
        ok = fail(e, "forbidden", "only those who may see real JIDs may filter by one here");
    } else {
        mr->with = jid_format(&j, false);
    }
    mr->q.with = mr->with;
    free(bare);
    jid_clear(&j);
    return ok;
}

/* Every message is from after 1970: a start before it is no bound, an end
 * before it leaves nothing (and -1 stays the store's "open"). */
/* An 'end' given to the second names that whole second: poezio asks with
 * end = its join time in whole seconds and expects what was said in that
 * second, as Prosody (which stores whole seconds) gives it. */
static int64_t end_slack_ms(const char *v)
{
    const char *t = strchr(v, 'T');
    return t && strlen(t) >= 9 && t[9] != '.' ? 999 : 0;
}

static bool set_time(const char *v, bool is_end, struct mam_req *mr, struct mam_err *e)
{
    int64_t t;
    if (datetime_parse(v, &t) < 0)
        return fail(e, "bad-request", "'start' and 'end' are XEP-0082 DateTimes");
    if (!is_end)
        mr->q.start_ms = t < 0 ? -1 : t;
    else if (t < 0)
        mr->no_match = true;
    else
        mr->q.end_ms = t + end_slack_ms(v);
    return true;
}

static bool set_ids(const struct reader *rd, const struct form_field *f, struct mam_req *mr,
                    struct mam_err *e)
{
    const struct muc *m = rd->m;
    if (f->nvalues > m->lim.max_mam_page)
        return fail(e, "policy-violation", "more ids than one page of the archive holds");
    mr->ids = xcalloc(f->nvalues + 1, sizeof *mr->ids);
    for (size_t i = 0; i < f->nvalues; i++) {
        if (!decode_id(m, rd->room, f->values[i], &mr->ids[mr->nids], e))
            return false;
        mr->nids++;
    }
    qsort(mr->ids, mr->nids, sizeof *mr->ids, cmp_seq);
    size_t k = 0;
    for (size_t i = 0; i < mr->nids; i++)
        if (k == 0 || mr->ids[k - 1] != mr->ids[i])
            mr->ids[k++] = mr->ids[i];
    mr->nids = k;
    if (k == 0)
        return fail(e, "bad-request", "'ids' names no message");
    return true;
}

/* One field of the submitted form; unknown ones are refused (§4.1.5). */
static bool form_field(const struct reader *rd, const struct form_field *f, struct mam_req *mr,
                       struct mam_err *e)
{
    const char *v = f->nvalues ? f->values[0] : "";
    if (strcmp(f->var, "FORM_TYPE") == 0)
        return true;
    if (strcmp(f->var, "ids") == 0)
        return f->nvalues == 0 || set_ids(rd, f, mr, e);
    bool known = strcmp(f->var, "start") == 0 || strcmp(f->var, "end") == 0 ||
                 strcmp(f->var, "with") == 0 || strcmp(f->var, "after-id") == 0 ||
                 strcmp(f->var, "before-id") == 0 || strcmp(f->var, FIELD_FULLTEXT) == 0;
    if (!known)
        return fail(e, "feature-not-implemented", "unknown field in the query form");
    if (!*v)
        return true;   /* an empty value filters nothing */
    if (strcmp(f->var, "start") == 0 || strcmp(f->var, "end") == 0)
        return set_time(v, strcmp(f->var, "end") == 0, mr, e);
    if (strcmp(f->var, "with") == 0)
        return set_with(rd, v, mr, e);
    if (strcmp(f->var, FIELD_FULLTEXT) == 0) {
        mr->fulltext = xstrdup(v);
        mr->q.fulltext = mr->fulltext;
        return true;
    }
    uint64_t seq;
    if (!decode_id(rd->m, rd->room, v, &seq, e))
        return false;
    mr->id_bounds = true;
    if (strcmp(f->var, "after-id") == 0)
        mr->q.after_seq = seq;
    else
        mr->q.before_seq = seq;
    return true;
}

static bool parse_form(const struct reader *rd, const struct xml_node *x, struct mam_req *mr,
                       struct mam_err *e)
{
    struct form f;
    if (form_parse(x, &f) < 0)
        return fail(e, "bad-request", "malformed data form");
    bool ok = true;
    if (strcmp(f.type, "submit") != 0 || !f.form_type || strcmp(f.form_type, NS_MAM) != 0)
        ok = fail(e, "bad-request", "the query form is a submitted " NS_MAM " form");
    for (size_t i = 0; ok && i < f.nfields; i++)
        if (f.fields[i].var)
            ok = form_field(rd, &f.fields[i], mr, e);
    form_free(&f);
    return ok;
}

/* ---- result set management (XEP-0059) ---- */

static bool parse_rsm(const struct reader *rd, const struct xml_node *set, bool *counted,
                      struct mam_req *mr, struct mam_err *e)
{
    bool ok = true;
    long long v;
    char *max = child_text(set, "max", NS_RSM);
    char *after = child_text(set, "after", NS_RSM);
    char *before = child_text(set, "before", NS_RSM);
    char *index = child_text(set, "index", NS_RSM);
    uint64_t seq;
    if (max && !parse_count(max, &v)) {
        ok = fail(e, "bad-request", "RSM <max/> is a non-negative integer");
    } else if (max) {
        mr->q.max = v < (long long)mr->q.max ? (unsigned)v : mr->q.max;
        *counted = v == 0;
    }
    if (ok && index && (!parse_count(index, &mr->index) || after || before))
        ok = fail(e, "bad-request", "RSM <index/> is a non-negative integer, without "
                                    "<after/> or <before/>");
    if (ok && after && *after) {
        ok = decode_id(rd->m, rd->room, after, &seq, e);
        if (ok && seq > mr->q.after_seq)
            mr->q.after_seq = seq;
    }
    if (ok && before) {
        /* Any <before/> pages backwards; an empty one from the end (§4.3.2). */
        mr->q.last_page = true;
        if (*before) {
            ok = decode_id(rd->m, rd->room, before, &seq, e);
            if (ok && (!mr->q.before_seq || seq < mr->q.before_seq))
                mr->q.before_seq = seq;
        }
    }
    free(max);
    free(after);
    free(before);
    free(index);
    return ok;
}

static bool parse_query(const struct reader *rd, const struct xml_node *query, struct mam_req *mr,
                        struct mam_err *e)
{
    mr->q = (struct store_mam_query){ .start_ms = -1, .end_ms = -1,
                                      .max = rd->m->lim.max_mam_page };
    mr->index = -1;
    if (xml_attr(query, "node"))
        return fail(e, "item-not-found", "a room archive has no nodes");
    mr->flip = xml_child(query, "flip-page", NS_MAM) != NULL;
    const struct xml_node *x = xml_child(query, "x", NS_DATA_FORMS);
    if (x && !parse_form(rd, x, mr, e))
        return false;
    bool counted = false;
    const struct xml_node *set = xml_child(query, "set", NS_RSM);
    if (set && !parse_rsm(rd, set, &counted, mr, e))
        return false;
    if (mr->nids && set && (xml_child(set, "after", NS_RSM) || xml_child(set, "before", NS_RSM) ||
                            mr->index >= 0))
        return fail(e, "bad-request", "'ids' names its results: no RSM paging with it");
    if ((mr->q.start_ms >= 0 && mr->q.end_ms >= 0 && mr->q.start_ms > mr->q.end_ms) ||
        (mr->q.before_seq && mr->q.after_seq + 1 >= mr->q.before_seq))
        mr->no_match = true;
    mr->q.want_count = (counted || mr->index >= 0) && !mr->id_bounds && !mr->nids;
    mr->q.offset = mr->index > 0 ? (uint64_t)mr->index : 0;
    return true;
}

/* ---- a query in flight ---- */

struct mam_ctx {
    struct muc *m;
    char *room_jid;
    struct xml_node *iq;    /* the request, for the reply */
    char *to;               /* the requester's full JID */
    char *queryid;
    bool reveal;            /* the requester may see real JIDs */
    bool flip;
    int pending;            /* store answers still to come, +1 while issuing */
    int err;
    /* ids and metadata gather several answers here. */
    struct store_mam_page *acc;
};

static struct mam_ctx *ctx_new(struct muc_req *r, const struct room *room)
{
    struct mam_ctx *c = xcalloc(1, sizeof *c);
    c->m = r->muc;
    c->room_jid = xstrdup(room->jid);
    c->iq = xml_ref((struct xml_node *)r->st);
    c->to = xstrdup(r->from_full);
    c->acc = xcalloc(1, sizeof *c->acc);
    c->acc->count = c->acc->first_index = -1;
    return c;
}

static void ctx_free(struct mam_ctx *c)
{
    store_mam_page_free(c->acc);
    xml_unref(c->iq);
    FREE_ALL(c->room_jid, c->to, c->queryid, c);
}

/* The PostgreSQL store answers later, the memory store (the room's history
 * ring) at once: the counting in release() serves both. */
static void archive_query(struct mam_ctx *c, const struct room *room,
                          const struct store_mam_query *q, store_mam_cb *cb)
{
    const struct muc_store *s = c->m->store;
    s->mam_query(s->st, room->jid, q, cb, c);
}

static void reply_error(struct mam_ctx *c, const char *cond, const char *text)
{
    struct xml_node *e = stanza_error_reply(c->iq, cond, text);
    muc_send(c->m, e);
    xml_unref(e);
}

static void reply_store_error(struct mam_ctx *c, int err)
{
    if (err == -ENOSYS)
        reply_error(c, "feature-not-implemented", "this archive cannot answer that query");
    else if (err == -EIO || err == -EPROTO)
        reply_error(c, "internal-server-error", "the archive query failed");
    else
        reply_error(c, "resource-constraint", "the archive is unavailable; retry later");
}

/* ---- sending results (§4.2, §7.1.2) ---- */

static void put_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    buf_put_xml_escaped(b, value, strlen(value), 1);
    buf_putc(b, '\'');
}

/* One <result/>, spliced around the stored bytes: no parse per message. The
 * stored <message/> is in the component namespace without an xmlns of its
 * own; inside <forwarded/> it is declared jabber:client. */
static void send_result(const struct mam_ctx *c, const struct store_msg *msg)
{
    static const char head[] = "<message", tail[] = "</message>";
    size_t hl = sizeof head - 1, tl = sizeof tail - 1;
    if (!msg->xml || msg->xml_len < hl + tl || memcmp(msg->xml, head, hl) != 0 ||
        (msg->xml[hl] != ' ' && msg->xml[hl] != '>') ||
        memcmp(msg->xml + msg->xml_len - tl, tail, tl) != 0)
        return;
    char id[33], stamp[DATETIME_FMT_MAX];
    stanzaid_encode(c->m->sid, c->room_jid, msg->seq, id);
    datetime_format(msg->ts_ms, stamp);
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<message");
    put_attr(&b, "to", c->to);
    put_attr(&b, "from", c->room_jid);
    buf_puts(&b, "><result xmlns='" NS_MAM "'");
    if (c->queryid)
        put_attr(&b, "queryid", c->queryid);
    put_attr(&b, "id", id);
    buf_printf(&b, "><forwarded xmlns='" NS_FORWARD "'><delay xmlns='" NS_DELAY "' stamp='%s'/>",
               stamp);
    buf_puts(&b, head);
    if (strncmp(msg->xml + hl, " xmlns=", 7) != 0)
        buf_puts(&b, " xmlns='" NS_CLIENT "'");
    buf_append(&b, msg->xml + hl, msg->xml_len - hl - tl);
    if (c->reveal && msg->sender_jid) {
        buf_puts(&b, "<x xmlns='" NS_MUC_USER "'><item");
        put_attr(&b, "jid", msg->sender_jid);
        buf_puts(&b, "/></x>");
    }
    buf_puts(&b, "</message></forwarded></result></message>");
    muc_send_raw(c->m, b.data, b.len);
    buf_free(&b);
}

static void send_results(const struct mam_ctx *c, const struct store_mam_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        send_result(c, &p->msgs[c->flip ? p->n - 1 - i : i]);
}

static void send_fin(const struct mam_ctx *c, const struct store_mam_page *p)
{
    struct xml_node *res = stanza_iq_result(c->iq);
    struct xml_node *fin = xml_add(res, "fin", NS_MAM);
    xml_set_attr(fin, "complete", p->complete ? "true" : "false");
    struct xml_node *set = xml_add(fin, "set", NS_RSM);
    char id[33], num[24];
    if (p->n) {
        stanzaid_encode(c->m->sid, c->room_jid, p->msgs[0].seq, id);
        struct xml_node *first = xml_add_text_child(set, "first", NS_RSM, id);
        if (p->first_index >= 0) {
            snprintf(num, sizeof num, "%lld", p->first_index);
            xml_set_attr(first, "index", num);
        }
        stanzaid_encode(c->m->sid, c->room_jid, p->msgs[p->n - 1].seq, id);
        xml_add_text_child(set, "last", NS_RSM, id);
    }
    if (p->count >= 0) {
        snprintf(num, sizeof num, "%lld", p->count);
        xml_add_text_child(set, "count", NS_RSM, num);
    }
    muc_send(c->m, res);
    xml_unref(res);
}

static void on_page(void *ud, int err, struct store_mam_page *page)
{
    struct mam_ctx *c = ud;
    if (err < 0 || !page) {
        reply_store_error(c, err < 0 ? err : -EIO);
    } else {
        send_results(c, page);
        send_fin(c, page);
    }
    store_mam_page_free(page);
    ctx_free(c);
}

/* ---- several store answers for one request (ids, metadata) ---- */

/* Move page's messages to the end of the context's collection. */
static void gather(struct mam_ctx *c, struct store_mam_page *page)
{
    struct store_mam_page *a = c->acc;
    a->msgs = xrealloc(a->msgs, (a->n + page->n + 1) * sizeof *a->msgs);
    memcpy(a->msgs + a->n, page->msgs, page->n * sizeof *page->msgs);
    a->n += page->n;
    page->n = 0;
}

static void release(struct mam_ctx *c, void (*finish)(struct mam_ctx *c))
{
    if (--c->pending > 0)
        return;
    if (c->err < 0)
        reply_store_error(c, c->err);
    else
        finish(c);
    ctx_free(c);
}

static void finish_ids(struct mam_ctx *c)
{
    c->acc->complete = true;
    send_results(c, c->acc);
    send_fin(c, c->acc);
}

/* One of several lookups answered: its page joins the gathered ones, or its
 * error is kept unless an earlier lookup already failed (the first is told). */
static void take_page(struct mam_ctx *c, int err, struct store_mam_page *page)
{
    if (err < 0 || !page)
        c->err = c->err ? c->err : (err < 0 ? err : -EIO);
    else
        gather(c, page);
    store_mam_page_free(page);
}

static void on_id(void *ud, int err, struct store_mam_page *page)
{
    struct mam_ctx *c = ud;
    take_page(c, err, page);
    release(c, finish_ids);
}

/* §4.1.4 'ids': one keyset lookup per id; they complete in issue order, so
 * the results stay in archive order. */
static void run_ids(struct mam_ctx *c, const struct room *room, const struct mam_req *mr)
{
    c->pending = (int)mr->nids + 1;
    for (size_t i = 0; i < mr->nids; i++) {
        struct store_mam_query q = mr->q;
        q.after_seq = mr->ids[i] - 1;
        q.before_seq = mr->ids[i] + 1;
        q.last_page = false;
        q.max = 1;
        q.want_count = false;
        archive_query(c, room, &q, on_id);
    }
    release(c, finish_ids);
}

static void finish_metadata(struct mam_ctx *c)
{
    struct xml_node *res = stanza_iq_result(c->iq);
    struct xml_node *md = xml_add(res, "metadata", NS_MAM);
    /* Gathered in issue order: the oldest message, then the newest. */
    if (c->acc->n == 2) {
        static const char *const names[] = { "start", "end" };
        for (size_t i = 0; i < 2; i++) {
            char id[33], stamp[DATETIME_FMT_MAX];
            stanzaid_encode(c->m->sid, c->room_jid, c->acc->msgs[i].seq, id);
            datetime_format(c->acc->msgs[i].ts_ms, stamp);
            struct xml_node *el = xml_add(md, names[i], NS_MAM);
            xml_set_attr(el, "id", id);
            xml_set_attr(el, "timestamp", stamp);
        }
    }
    muc_send(c->m, res);
    xml_unref(res);
}

static void on_metadata(void *ud, int err, struct store_mam_page *page)
{
    struct mam_ctx *c = ud;
    take_page(c, err, page);
    release(c, finish_metadata);
}

/* ---- the requests ---- */

static void send_form(struct muc_req *r)
{
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *q = xml_add(res, "query", NS_MAM);
    struct xml_node *x = form_new("form", NS_MAM, NULL, NULL);
    form_add_field(x, "jid-single", "with", NULL, NULL);
    form_add_field(x, "text-single", "start", NULL, NULL);
    form_add_field(x, "text-single", "end", NULL, NULL);
    form_add_field(x, "text-single", "before-id", NULL, NULL);
    form_add_field(x, "text-single", "after-id", NULL, NULL);
    struct xml_node *ids = form_add_field(x, "list-multi", "ids", NULL, NULL);
    struct xml_node *v = xml_add(ids, "validate", NS_XDATA_VALIDATE);
    xml_set_attr(v, "datatype", "xs:string");
    xml_add(v, "open", NS_XDATA_VALIDATE);
    form_add_field(x, "text-single", FIELD_FULLTEXT, NULL, NULL);
    xml_append(q, x);
    muc_send(r->muc, res);
    xml_unref(res);
}

/* Nothing can match: the answer needs no archive. */
static void answer_empty(struct mam_ctx *c, const struct mam_req *mr)
{
    struct store_mam_page p = { .complete = true, .count = mr->q.want_count ? 0 : -1,
                                .first_index = -1 };
    send_fin(c, &p);
    ctx_free(c);
}

static bool store_down(struct muc_req *r)
{
    const struct muc_store *s = r->muc->store;
    if (!s->available(s->st)) {
        muc_bounce(r, "resource-constraint", "the archive is unavailable; retry later");
        return true;
    }
    return false;
}

static void run_query(struct muc_req *r, struct room *room, const struct xml_node *query,
                      enum muc_role role)
{
    struct reader rd = { .m = r->muc, .room = room, .bare = r->from_bare,
                         .may_see_jids = perm_may_see_real_jid(role, room->cfg.whois_anyone) };
    struct mam_req mr = { 0 };
    struct mam_err e = { 0 };
    if (!parse_query(&rd, query, &mr, &e)) {
        muc_bounce(r, e.cond, e.text);
    } else if (!store_down(r)) {
        struct mam_ctx *c = ctx_new(r, room);
        const char *qid = xml_attr(query, "queryid");
        c->queryid = qid ? xstrdup(qid) : NULL;
        c->reveal = rd.may_see_jids;
        c->flip = mr.flip;
        if (mr.no_match)
            answer_empty(c, &mr);
        else if (mr.nids)
            run_ids(c, room, &mr);
        else
            archive_query(c, room, &mr.q, on_page);
    }
    mam_req_free(&mr);
}

/* §6: the first and the last message of the archive. */
static void run_metadata(struct muc_req *r, struct room *room)
{
    if (store_down(r))
        return;
    struct mam_ctx *c = ctx_new(r, room);
    struct store_mam_query first = { .start_ms = -1, .end_ms = -1, .max = 1 };
    struct store_mam_query last = first;
    last.last_page = true;
    c->pending = 3;
    archive_query(c, room, &first, on_metadata);
    archive_query(c, room, &last, on_metadata);
    release(c, finish_metadata);
}

bool mam_wants(const struct xml_node *payload)
{
    return payload->ns && strcmp(payload->ns, NS_MAM) == 0;
}

void mam_handle(struct muc_req *r, struct room *room, const struct xml_node *payload)
{
    bool get = strcmp(stanza_type(r->st), "get") == 0;
    bool query = strcmp(payload->name, "query") == 0;
    bool metadata = get && strcmp(payload->name, "metadata") == 0;
    if (!room->cfg.logging || !wall_history_on(r->muc, room)) {
        muc_bounce(r, "service-unavailable", "this room does not make its archive available");
        return;
    }
    if (query && get) {
        send_form(r);
        return;
    }
    if (!query && !metadata) {
        muc_bounce(r, "bad-request", "expected <query/> (get or set) or <metadata/> (get)");
        return;
    }
    enum muc_role role = reader_role(r, room);
    if (role == ROLE_NONE) {
        muc_bounce(r, "forbidden", room->cfg.members_only
                                       ? "only occupants and members may read this archive"
                                       : "only occupants and members may read the archive of "
                                         "a password-protected room");
        return;
    }
    if (query) {
        compliance_mam(r, room, payload);
        run_query(r, room, payload, role);
    } else {
        run_metadata(r, room);
    }
}

void mam_disco_features(struct xml_node *q, const struct room *room)
{
    static const char *const features[] = { NS_MAM, NS_MAM_EXTENDED, NS_FULLTEXT };
    if (!room->cfg.logging || !wall_history_on(room->muc, room))
        return;
    for (size_t i = 0; i < ARRAY_SIZE(features); i++)
        xml_set_attr(xml_add(q, "feature", NS_DISCO_INFO), "var", features[i]);
}
