/* fuzz_muc.c — libFuzzer target: the MUC engine (src/muc) fed arbitrary
 * sequences of stanzas from several simulated users, with a fake clock, no
 * store and no sockets.
 *
 * The input is a small program:
 *   byte 0          limits profile: bit 0 tight limits (few rooms, occupants,
 *                   history, low rates), bit 1 room creation off (tight only),
 *                   bit 2 rooms persistent by default
 *   then per step:  a "who" byte: bits 0-1 the user (4 real bare JIDs),
 *                   bits 2-3 the resource (3 resources or the bare JID),
 *                   bits 4-7 how far the clock moves first (DT[], incl. back);
 *                   a template byte (T_* below, modulo the count);
 *                   the template's own bytes (flags, then text picks).
 * A text pick is one byte: below 0xD0 a word of the template's dictionary,
 * 0xD0-0xDF a string the engine emitted earlier (stanza-ids, occupant JIDs:
 * so MAM paging and voice approvals can hit live state; IQ results answer the
 * last IQs the room forwarded, with their sealed ids, the same way),
 * 0xE0-0xFE raw text of (next byte % 40) bytes, 0xFF raw text of up to 1 KiB.
 * Raw bytes become valid XML text: printable ASCII as is (escaped), the rest
 * mapped onto a table of awkward code points (zero-width, fullwidth, RTL
 * overrides, combining marks, look-alikes). '~' is never generated, so the
 * marker "~spoof~" can only reach the output by passing through the engine.
 * A missing byte reads as 0, so every prefix of a program is a program.
 *
 * Every generated stanza is parsed with xstream (the engine only ever sees
 * trees the reader built) and handed to muc_handle(). What the engine emits
 * is checked as it leaves, cheaply:
 *   - it serialises, and the serialisation parses back as one stanza;
 *   - 'from' is a JID inside the service domain;
 *   - it has a 'to' that is a JID (send_each: the stanza has no 'to' of its
 *     own and each recipient is a JID);
 *   - no client-forged stanza-id, occupant-id, delay or muc#user item/status
 *     (they carry "~spoof~") appears in a non-error message or presence.
 * At the end everything is freed: LeakSanitizer reports what is not.
 *
 * FUZZ_MUC_TRACE=1 in the environment prints every stanza in and out, for
 * reading a reproducer: ./fuzz_muc crash-xxxx
 * FUZZ_MUC_SKIP=word,word... drops every generated stanza whose text contains
 * one of the words, to keep fuzzing past a known and reported bug until it
 * is fixed (FUZZ_MUC_SKIP=roomadmins,roomowners did that while
 * tests/fuzz/regress/muc-apply-list-uaf was open). Raw text is emitted literally (only
 * & < > ' " are escaped), so a word cannot sneak past in another spelling. */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "muc.h"
#include "stanza.h"
#include "xml.h"
#include "xstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define DOMAIN "conference.example"
#define SPOOF "~spoof~"
#define MAX_STEPS 400
#define T0 INT64_C(1700000000000)

static const char HDR[] = "<stream:stream xmlns='jabber:component:accept' "
                          "xmlns:stream='http://etherx.jabber.org/streams'>";

/* ---- dictionaries ---- */

static const char *const USERS[] = {
    "crone@shakespeare.example", "wicca@shakespeare.example", "hag@shakespeare.example",
    "eve@evil.example",
};
static const char *const RESOURCES[] = { "desktop", "phone", "r/with/slash", NULL };

static const char *const NICKS[] = {
    "firstwitch", "secondwitch", "thirdwitch", "FirstWitch", "firstwitch ", " firstwitch",
    "\xef\xbd\x86irstwitch",          /* fullwidth f */
    "first\xe2\x80\x8bwitch",         /* zero-width space */
    "firstwit\xd1\x81h",              /* Cyrillic es */
    "", " ", "a", "\xce\xa9", "nick/with/slash", "nick@at", ("\xe2\x80\xae" "evil"),
    ("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"), /* 137 bytes */
};
static const char *const ROOMS[] = {
    "coven", "coven", "lair", "Coven", "x", "cov\xc3\xa9n", "", "bad room", "a@b",
};
static const char *const DOMAINS[] = {
    DOMAIN, "CONFERENCE.example", (DOMAIN "."), "other.example", "",
};
static const char *const JIDS[] = {
    "crone@shakespeare.example", "wicca@shakespeare.example", "hag@shakespeare.example",
    "eve@evil.example", "wicca@shakespeare.example/phone", "hecate@shakespeare.example",
    "shakespeare.example", "evil.example", ("coven@" DOMAIN), ("coven@" DOMAIN "/firstwitch"),
    DOMAIN, ("lair@" DOMAIN), "CRONE@Shakespeare.Example", "@bad", "bad@", "a@b@c", "",
    "other@elsewhere.example/res",
};
static const char *const ROLES[] = { "none", "visitor", "participant", "moderator", "bogus", "" };
static const char *const AFFILS[] = { "none", "outcast", "member", "admin", "owner", "bogus", "" };
static const char *const VALUES[] = {
    "", "0", "1", "true", "false", " 1 ", "none", "anyone", "moderators", "participant",
    "visitor", "moderator", "member", "admin", "owner", "outcast", "secret", "100", "5", "20",
    "4294967296", "18446744073709551616", "-1", "2023-11-14T22:13:20Z", "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "2023-11-14T22:13:20.123+01:00", "not a date", "hello world",
    "crone@shakespeare.example", "wicca@shakespeare.example/phone", ("coven@" DOMAIN),
    "http://jabber.org/protocol/muc#roomconfig", "http://jabber.org/protocol/muc#request",
    "http://jabber.org/protocol/muc#register", "urn:xmpp:mam:2", "en", "away", "xa", "dnd",
    "chat", "secondwitch", "-word", "\"quoted phrase\" or other",
};
static const char *const FIELDS[] = {
    "FORM_TYPE", "muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_lang",
    "muc#roomconfig_persistentroom", "muc#roomconfig_publicroom", "muc#roomconfig_membersonly",
    "muc#roomconfig_moderatedroom", "muc#roomconfig_passwordprotectedroom",
    "muc#roomconfig_roomsecret", "muc#roomconfig_whois", "muc#roomconfig_changesubject",
    "muc#roomconfig_allowinvites", "muc#roomconfig_allowpm", "muc#roomconfig_maxusers",
    "muc#roomconfig_presencebroadcast", "muc#roomconfig_getmemberlist",
    "muc#roomconfig_historylength", "muc#roomconfig_enablelogging", "muc#roomconfig_roomadmins",
    "muc#roomconfig_roomowners", "mam", "unknown#field", "muc#role", "muc#jid", "muc#roomnick",
    "muc#request_allow", "muc#register_roomnick", "start", "end", "with", "ids", "after-id",
    "before-id", "{urn:xmpp:fulltext:0}fulltext",
};
static const char *const FIELD_TYPES[] = {
    "boolean", "hidden", "text-single", "text-private", "list-single", "list-multi",
    "jid-multi", "jid-single", "fixed", "bogus",
};
static const char *const FORM_TYPES[] = { "submit", "submit", "cancel", "form", "result", "x" };
static const char *const SHOWS[] = { "away", "chat", "dnd", "xa", "bogus", "" };
static const char *const PRES_TYPES[] = {
    "unavailable", "subscribe", "probe", "error", "invisible", "bogus", "unsubscribed", "",
};
static const char *const MSG_TYPES[] = { "groupchat", "chat", "normal", "headline", "bogus", "" };
static const char *const CONDITIONS[] = {
    "gone", "item-not-found", "recipient-unavailable", "redirect", "remote-server-not-found",
    "remote-server-timeout", "service-unavailable", "forbidden", "not-acceptable",
    "bad-request", "bogus-condition",
};
static const char *const ERROR_TYPES[] = { "cancel", "wait", "modify", "auth", "bogus" };
static const char *const HISTORY_ATTRS[] = { "maxstanzas", "maxchars", "seconds", "since" };
static const char *const IQ_NS[] = {
    "vcard-temp", "jabber:iq:version", "urn:xmpp:ping", "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items", "urn:xmpp:time", "jabber:iq:last",
};
static const char *const SERVICE_NS[] = {
    "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc#unique",
    "http://jabber.org/protocol/disco#info", "jabber:iq:version", "urn:xmpp:ping",
    "jabber:iq:register", "urn:xmpp:mam:2",
};
static const char *const NODES[] = {
    "x-roomuser-item", "http://jabber.org/protocol/muc#traffic", "bogus", "",
};

/* Clock steps in ms; one goes backwards (wall clocks do). */
static const int64_t DT[16] = {
    0, 0, 1, 10, 100, 250, 500, 1000, 2000, 5000, 30000, 60000, 300000, 3600000, 86400000, -1000,
};

/* Raw bytes that are not printable ASCII become one of these. */
static const char *const ODD[] = {
    "\xc2\xa0", "\xe2\x80\x8b", "\xe2\x80\x8d", "\xef\xbb\xbf", "\xef\xbc\xa1", "\xd0\xb0",
    "\xc3\x9f", "\xc4\xb0", "\xe2\x84\xaa", "\xef\xac\x81", "\xf0\x9f\x98\x80", "\xe2\x80\xae",
    "\xcc\x81", "\xe3\x80\x80", "\xe2\x80\xa8", "\xef\xbf\xbd", "\xee\x80\x80", "\xf4\x8f\xbf\xbd",
    "\xe1\x85\x9f", "\xe2\x81\xa0", "\xd8\xa7", "\xe2\x80\x8f", "\xc2\xad", "\xe2\x88\x95",
    "\xef\xbc\xa0", "&#13;", "\t", "\n", "\xc3\x85", "A\xcc\x8a", "\xe1\xba\x9e", "\xc7\x85",
};

/* ---- program reader ---- */

struct prog {
    const uint8_t *p;
    size_t n, i;
};

static unsigned next(struct prog *g)
{
    return g->i < g->n ? g->p[g->i++] : 0;
}

#define PICK(g, arr) ((arr)[next(g) % ARRAY_SIZE(arr)])

/* ---- state of one run ---- */

#define NECHO 16
static struct {
    struct muc *m;
    int64_t now;
    bool trace;
    struct xstream *in;      /* parses what we generate */
    struct xstream *chk;     /* parses what the engine emits */
    bool in_open, chk_open;  /* their stream headers have been fed */
    struct xml_node *got;    /* the stanza a parse produced */
    unsigned ngot;
    char *echo[NECHO];       /* strings seen in the output */
    unsigned echo_pos;
    struct fwd {             /* IQs the room forwarded to a client */
        char *id, *from, *to;
    } fwd[4];
    unsigned fwd_pos;
    struct buf out;          /* scratch for serialising output */
    unsigned step;
    char **skip;             /* FUZZ_MUC_SKIP words, NULL-terminated */
} S;

static bool skipped(const struct buf *b)
{
    for (char **w = S.skip; w && *w; w++)
        if (memmem(b->data, b->len, *w, strlen(*w)))
            return true;
    return false;
}

static void parse_skip(const char *env)
{
    size_t n = 0;
    char *copy = strdup(env), *save = NULL;
    S.skip = calloc(strlen(env) + 2, sizeof *S.skip);
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
        S.skip[n++] = w; /* the words live in copy, kept for the process */
}

static void echo_keep(const char *s)
{
    if (!s || !*s || strchr(s, '~'))
        return;
    free(S.echo[S.echo_pos % NECHO]);
    S.echo[S.echo_pos % NECHO] = strdup(s);
    S.echo_pos++;
}

static void fwd_keep(const char *id, const char *from, const char *to)
{
    if (!id || !from || !to)
        return;
    struct fwd *f = &S.fwd[S.fwd_pos++ % ARRAY_SIZE(S.fwd)];
    free(f->id);
    free(f->from);
    free(f->to);
    f->id = strdup(id);
    f->from = strdup(from);
    f->to = strdup(to);
}

static void forget_all(void)
{
    for (unsigned i = 0; i < NECHO; i++) {
        free(S.echo[i]);
        S.echo[i] = NULL;
    }
    S.echo_pos = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(S.fwd); i++) {
        free(S.fwd[i].id);
        free(S.fwd[i].from);
        free(S.fwd[i].to);
        S.fwd[i] = (struct fwd){ 0 };
    }
    S.fwd_pos = 0;
}

/* ---- text generation ---- */

static void put_raw(struct buf *b, struct prog *g, size_t len, bool attr)
{
    for (size_t k = 0; k < len; k++) {
        unsigned c = next(g);
        if (c == '~')
            c = '-';
        if (c >= 0x20 && c < 0x7f) {
            char ch = (char)c;
            buf_put_xml_escaped(b, &ch, 1, attr);
        } else {
            buf_puts(b, ODD[c % ARRAY_SIZE(ODD)]);
        }
    }
}

/* One pick from dict (may be NULL for "echo or raw only"). */
static void put_pick(struct buf *b, struct prog *g, const char *const *dict, size_t n,
                     bool attr)
{
    unsigned c = next(g);
    if (c < 0xD0 && n) {
        const char *w = dict[c % n];
        buf_put_xml_escaped(b, w, strlen(w), attr);
    } else if (c < 0xE0) {
        const char *e = S.echo[(c - 0xD0) % NECHO];
        if (!e && n)
            e = dict[c % n];
        if (e)
            buf_put_xml_escaped(b, e, strlen(e), attr);
    } else if (c < 0xFF) {
        put_raw(b, g, next(g) % 40, attr);
    } else {
        put_raw(b, g, (size_t)next(g) * 4, attr);
    }
}

#define PUT(b, g, dict, attr) put_pick(b, g, dict, ARRAY_SIZE(dict), attr)

/* name='pick' */
static void put_attr(struct buf *b, struct prog *g, const char *name, const char *const *dict,
                     size_t n)
{
    buf_printf(b, " %s='", name);
    put_pick(b, g, dict, n, true);
    buf_putc(b, '\'');
}

#define ATTR(b, g, name, dict) put_attr(b, g, name, dict, ARRAY_SIZE(dict))

/* <name>pick</name> */
static void put_elem(struct buf *b, struct prog *g, const char *name, const char *ns,
                     const char *const *dict, size_t n)
{
    if (ns)
        buf_printf(b, "<%s xmlns='%s'>", name, ns);
    else
        buf_printf(b, "<%s>", name);
    put_pick(b, g, dict, n, false);
    buf_printf(b, "</%s>", name);
}

#define ELEM(b, g, name, ns, dict) put_elem(b, g, name, ns, dict, ARRAY_SIZE(dict))

/* room@domain: mostly the service domain. */
static void put_room(struct buf *b, struct prog *g)
{
    PUT(b, g, ROOMS, true);
    buf_putc(b, '@');
    unsigned d = next(g);
    buf_puts(b, d < 0xF0 ? DOMAIN : DOMAINS[d % ARRAY_SIZE(DOMAINS)]);
}

static void put_occupant(struct buf *b, struct prog *g)
{
    put_room(b, g);
    buf_putc(b, '/');
    PUT(b, g, NICKS, true);
}

/* to='room' or to='room/nick' */
static void put_to(struct buf *b, struct prog *g, bool occupant)
{
    buf_puts(b, " to='");
    if (occupant)
        put_occupant(b, g);
    else
        put_room(b, g);
    buf_putc(b, '\'');
}

/* Client-forged MUC payload: none of it may reach other occupants. */
static void put_spoof(struct buf *b, bool presence)
{
    buf_puts(b, "<x xmlns='" NS_MUC_USER "'><item affiliation='owner' role='moderator' "
                "jid='" SPOOF "@evil.example' nick='" SPOOF "'/><status code='" SPOOF "'/>"
                "<status code='110'/></x>"
                "<occupant-id xmlns='" NS_OCCUPANT_ID "' id='" SPOOF "'/>"
                "<delay xmlns='" NS_DELAY "' from='" SPOOF "' stamp='" SPOOF "'/>");
    if (!presence)
        buf_puts(b, "<stanza-id xmlns='" NS_SID "' by='coven@" DOMAIN "' id='" SPOOF "'/>"
                    "<stanza-id xmlns='" NS_SID "' by='" DOMAIN "' id='" SPOOF "'/>");
}

/* A data form: type, then nfields fields with 0-2 values each. */
static void put_form(struct buf *b, struct prog *g, const char *form_type, unsigned nfields)
{
    buf_puts(b, "<x xmlns='jabber:x:data'");
    ATTR(b, g, "type", FORM_TYPES);
    buf_putc(b, '>');
    if (form_type)
        buf_printf(b, "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>",
                   form_type);
    for (unsigned i = 0; i < nfields; i++) {
        unsigned f = next(g);
        buf_puts(b, "<field");
        if (!(f & 1))
            ATTR(b, g, "var", FIELDS);
        if (f & 2)
            ATTR(b, g, "type", FIELD_TYPES);
        buf_putc(b, '>');
        for (unsigned v = 0; v < ((f >> 2) & 3) % 3; v++)
            ELEM(b, g, "value", NULL, VALUES);
        buf_puts(b, "</field>");
    }
    buf_puts(b, "</x>");
}

static void put_error(struct buf *b, struct prog *g)
{
    buf_puts(b, "<error");
    ATTR(b, g, "type", ERROR_TYPES);
    buf_printf(b, "><%s xmlns='" NS_STANZAS "'/></error>", PICK(g, CONDITIONS));
}

/* ---- templates ---- */

enum {
    T_JOIN, T_LEAVE, T_NICK, T_PRESENCE, T_GROUPCHAT, T_SUBJECT, T_PM, T_ADMIN, T_OWNER,
    T_CONFIG, T_REGISTER, T_DISCO, T_MAM, T_PING, T_IQ_OCCUPANT, T_IQ_REPLY, T_INVITE,
    T_VOICE, T_ERROR, T_SERVICE, T_ODD_ADDRESS, T_COUNT
};

static void t_presence(struct buf *b, struct prog *g, const char *from, unsigned f,
                       const char *type)
{
    buf_printf(b, "<presence from='%s'", from);
    put_to(b, g, true);
    if (type)
        buf_printf(b, " type='%s'", type);
    buf_puts(b, ">");
    if (f & 1)
        ELEM(b, g, "show", NULL, SHOWS);
    if (f & 2)
        ELEM(b, g, "status", NULL, VALUES);
    if (f & 4) {
        buf_puts(b, "<x xmlns='" NS_MUC "'>");
        if (f & 8)
            ELEM(b, g, "password", NULL, VALUES);
        if (f & 16) {
            buf_puts(b, "<history");
            unsigned h = next(g);
            for (unsigned i = 0; i < 4; i++)
                if (h & (1u << i))
                    ATTR(b, g, HISTORY_ATTRS[i], VALUES);
            buf_puts(b, "/>");
        }
        buf_puts(b, "</x>");
    }
    if (f & 32)
        put_spoof(b, true);
    if (f & 64)
        buf_puts(b, "<priority>5</priority><c xmlns='http://jabber.org/protocol/caps' "
                    "hash='sha-1' node='n' ver='v'/>");
    buf_puts(b, "</presence>");
}

static void t_message(struct buf *b, struct prog *g, const char *from, bool occupant,
                      const char *type, unsigned f)
{
    buf_printf(b, "<message from='%s'", from);
    put_to(b, g, occupant);
    if (type)
        buf_printf(b, " type='%s'", type);
    buf_printf(b, " id='m%u'", S.step);
    if (f & 32)
        ATTR(b, g, "xml:lang", VALUES);
    buf_puts(b, ">");
    if (f & 1)
        ELEM(b, g, "body", NULL, VALUES);
    if (f & 2)
        ELEM(b, g, "subject", NULL, VALUES);
    if (f & 4)
        ELEM(b, g, "thread", NULL, VALUES);
    if (f & 8)
        put_spoof(b, false);
    if (f & 16)
        buf_puts(b, "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
                    "xmlns='http://www.w3.org/1999/xhtml'><p>hi</p></body></html>"
                    "<request xmlns='urn:xmpp:receipts'/><origin-id xmlns='" NS_SID
                    "' id='o1'/>");
    if (f & 64)
        buf_puts(b, "<x xmlns='" NS_MUC_USER "'/>");
    buf_puts(b, "</message>");
}

static void iq_open(struct buf *b, struct prog *g, const char *from, const char *type,
                    bool occupant)
{
    buf_printf(b, "<iq from='%s' type='%s' id='q%u'", from, type, S.step);
    put_to(b, g, occupant);
    buf_putc(b, '>');
}

static void t_admin(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    iq_open(b, g, from, f & 1 ? "set" : "get", false);
    buf_puts(b, "<query xmlns='" NS_MUC_ADMIN "'>");
    for (unsigned i = 0; i < ((f >> 1) & 3); i++) {
        unsigned a = next(g);
        buf_puts(b, "<item");
        if (a & 1)
            ATTR(b, g, "nick", NICKS);
        if (a & 2)
            ATTR(b, g, "jid", JIDS);
        if (a & 4)
            ATTR(b, g, "role", ROLES);
        if (a & 8)
            ATTR(b, g, "affiliation", AFFILS);
        buf_putc(b, '>');
        if (a & 16)
            ELEM(b, g, "reason", NULL, VALUES);
        if (a & 32)
            buf_puts(b, "<actor nick='" SPOOF "'/>");
        buf_puts(b, "</item>");
    }
    buf_puts(b, "</query></iq>");
}

static void t_owner(struct buf *b, struct prog *g, const char *from, bool config)
{
    unsigned f = next(g);
    unsigned kind = config ? 1 : f & 3;
    iq_open(b, g, from, kind == 0 ? "get" : "set", false);
    buf_puts(b, "<query xmlns='" NS_MUC_OWNER "'>");
    switch (kind) {
    case 0:
        break;
    case 1:
        put_form(b, g, f & 4 ? NULL : NS_MUC_ROOMCONFIG, next(g) % 8);
        break;
    case 2:
        buf_puts(b, "<destroy");
        if (f & 4)
            ATTR(b, g, "jid", JIDS);
        buf_putc(b, '>');
        if (f & 8)
            ELEM(b, g, "reason", NULL, VALUES);
        if (f & 16)
            ELEM(b, g, "password", NULL, VALUES);
        buf_puts(b, "</destroy>");
        break;
    default:
        if (f & 4)
            buf_puts(b, "<x xmlns='jabber:x:data' type='cancel'/>");
        break;
    }
    buf_puts(b, "</query></iq>");
}

static void t_register(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    iq_open(b, g, from, f & 1 ? "set" : "get", false);
    buf_puts(b, "<query xmlns='" NS_REGISTER "'>");
    if (f & 1) {
        if (f & 2) {
            buf_puts(b, "<remove/>");
        } else if (f & 4) {
            buf_puts(b, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" 
                        NS_MUC_REGISTER "</value></field><field var='muc#register_roomnick'>"
                        "<value>");
            PUT(b, g, NICKS, false);
            buf_puts(b, "</value></field></x>");
        } else {
            put_form(b, g, f & 8 ? NS_MUC_REGISTER : NULL, next(g) % 4);
        }
    }
    buf_puts(b, "</query></iq>");
}

static void t_disco(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    iq_open(b, g, from, f & 1 ? "set" : "get", f & 2);
    buf_printf(b, "<query xmlns='%s'", f & 4 ? NS_DISCO_ITEMS : NS_DISCO_INFO);
    if (f & 8)
        ATTR(b, g, "node", NODES);
    buf_puts(b, "/></iq>");
}

static void t_mam(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    if (f & 1) {
        iq_open(b, g, from, "get", false);
        buf_puts(b, f & 2 ? "<metadata xmlns='urn:xmpp:mam:2'/>" : "<query xmlns='urn:xmpp:mam:2'/>");
        buf_puts(b, "</iq>");
        return;
    }
    iq_open(b, g, from, "set", false);
    buf_puts(b, "<query xmlns='urn:xmpp:mam:2'");
    if (f & 2)
        ATTR(b, g, "queryid", VALUES);
    if (f & 4)
        ATTR(b, g, "node", NODES);
    buf_putc(b, '>');
    if (f & 8)
        put_form(b, g, f & 64 ? NULL : "urn:xmpp:mam:2", next(g) % 5);
    if (f & 16) {
        unsigned s = next(g);
        buf_puts(b, "<set xmlns='http://jabber.org/protocol/rsm'>");
        if (s & 1)
            ELEM(b, g, "max", NULL, VALUES);
        if (s & 2)
            ELEM(b, g, "after", NULL, VALUES);
        if (s & 4)
            ELEM(b, g, "before", NULL, VALUES);
        if (s & 8)
            ELEM(b, g, "index", NULL, VALUES);
        buf_puts(b, "</set>");
    }
    if (f & 32)
        buf_puts(b, "<flip-page/>");
    buf_puts(b, "</query></iq>");
}

static void t_ping(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    iq_open(b, g, from, f & 2 ? "set" : "get", f & 1);
    buf_puts(b, "<ping xmlns='urn:xmpp:ping'/></iq>");
}

static void t_iq_occupant(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    iq_open(b, g, from, f & 1 ? "set" : "get", true);
    if (f & 2)
        buf_puts(b, "<a xmlns='x:a'/><b xmlns='x:b'/>"); /* two payloads */
    else if (!(f & 4))
        buf_printf(b, "<query xmlns='%s'/>", PICK(g, IQ_NS));
    buf_puts(b, "</iq>");
}

/* A result or error for an IQ the room forwarded (f & 2: one of the last
 * four, answered by its addressee when f & 4, else by this user), or for
 * anything else. */
static void t_iq_reply(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    const struct fwd *fw = &S.fwd[next(g) % ARRAY_SIZE(S.fwd)];
    const char *type = f & 1 ? "error" : "result";
    if ((f & 2) && fw->id) {
        buf_puts(b, "<iq from='");
        buf_put_xml_escaped(b, f & 4 ? fw->to : from, strlen(f & 4 ? fw->to : from), 1);
        buf_printf(b, "' type='%s' id='", type);
        buf_put_xml_escaped(b, fw->id, strlen(fw->id), 1);
        buf_puts(b, "' to='");
        buf_put_xml_escaped(b, fw->from, strlen(fw->from), 1);
        buf_putc(b, '\'');
    } else {
        buf_printf(b, "<iq from='%s' type='%s' id='", from, type);
        put_pick(b, g, NULL, 0, true);
        buf_putc(b, '\'');
        put_to(b, g, !(f & 8));
    }
    buf_putc(b, '>');
    if (f & 16)
        buf_puts(b, "<vCard xmlns='vcard-temp'><FN>x</FN></vCard>");
    if (f & 1)
        put_error(b, g);
    buf_puts(b, "</iq>");
}

static void t_invite(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    buf_printf(b, "<message from='%s'", from);
    put_to(b, g, false);
    if (f & 64)
        buf_puts(b, " type='normal'");
    buf_puts(b, "><x xmlns='" NS_MUC_USER "'>");
    const char *what = f & 1 ? "decline" : "invite";
    for (unsigned i = 0; i < 1 + ((f >> 1) & 1); i++) {
        buf_printf(b, "<%s", what);
        if (!(f & 4))
            ATTR(b, g, "to", JIDS);
        if (f & 8)
            buf_puts(b, " from='" SPOOF "@evil.example'");
        buf_putc(b, '>');
        if (f & 16)
            ELEM(b, g, "reason", NULL, VALUES);
        buf_printf(b, "</%s>", what);
    }
    if (f & 32)
        ELEM(b, g, "password", NULL, VALUES);
    buf_puts(b, "</x></message>");
}

static void t_voice(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    buf_printf(b, "<message from='%s'", from);
    put_to(b, g, false);
    buf_puts(b, "><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" 
                NS_MUC_REQUEST "</value></field>");
    buf_puts(b, "<field var='muc#role' type='list-single'><value>");
    PUT(b, g, ROLES, false);
    buf_puts(b, "</value></field>");
    if (f & 1) { /* a moderator's answer */
        buf_puts(b, "<field var='muc#jid'><value>");
        if (f & 2)
            put_pick(b, g, NULL, 0, false); /* a JID the room showed */
        else
            PUT(b, g, JIDS, false);
        buf_puts(b, "</value></field><field var='muc#roomnick'><value>");
        PUT(b, g, NICKS, false);
        buf_puts(b, "</value></field><field var='muc#request_allow'><value>");
        PUT(b, g, VALUES, false);
        buf_puts(b, "</value></field>");
    }
    buf_puts(b, "</x></message>");
}

static void t_error(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    static const char *const kinds[] = { "message", "presence", "iq" };
    const char *k = kinds[f % 3];
    buf_printf(b, "<%s from='%s' type='error' id='e%u'", k, from, S.step);
    put_to(b, g, f & 4);
    buf_putc(b, '>');
    if (f & 8)
        ELEM(b, g, "body", NULL, VALUES);
    if (!(f & 16))
        put_error(b, g);
    buf_printf(b, "</%s>", k);
}

static void t_service(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    if (f & 1) {
        buf_printf(b, "<message from='%s' to='%s' type='%s'><body>hi</body></message>", from,
                   f & 2 ? DOMAIN : DOMAIN "/res", PICK(g, MSG_TYPES));
        return;
    }
    buf_printf(b, "<iq from='%s' to='%s' type='%s' id='d%u'><%s xmlns='%s'/></iq>", from,
               f & 2 ? DOMAIN : "other.example", f & 4 ? "set" : "get", S.step,
               f & 8 ? "unique" : "query", PICK(g, SERVICE_NS));
}

static void t_odd_address(struct buf *b, struct prog *g, const char *from)
{
    unsigned f = next(g);
    static const char *const kinds[] = { "message", "presence", "iq", "bogus" };
    const char *k = kinds[f & 3];
    buf_printf(b, "<%s from='%s'", k, from);
    if (!(f & 4)) {
        buf_puts(b, " to='");
        PUT(b, g, JIDS, true);
        if (f & 8) {
            buf_putc(b, '/');
            put_pick(b, g, NICKS, ARRAY_SIZE(NICKS), true);
        }
        buf_putc(b, '\'');
    }
    if (f & 16)
        buf_printf(b, " type='%s'", f & 32 ? "get" : "groupchat");
    buf_puts(b, f & 64 ? "><body>x</body>" : "><ping xmlns='urn:xmpp:ping'/>");
    buf_printf(b, "</%s>", k);
}

/* Build one stanza for template t from user from. */
static void build(struct buf *b, struct prog *g, unsigned t, const char *from)
{
    unsigned f;
    switch (t) {
    case T_JOIN:
        t_presence(b, g, from, next(g) | 4, NULL);
        break;
    case T_LEAVE:
        f = next(g);
        t_presence(b, g, from, f & ~4u, "unavailable");
        break;
    case T_NICK:
        t_presence(b, g, from, next(g) & ~(4u | 32u), NULL);
        break;
    case T_PRESENCE:
        f = next(g);
        t_presence(b, g, from, f, PRES_TYPES[(f >> 7) + 2 * (next(g) % 4)]);
        break;
    case T_GROUPCHAT:
        f = next(g);
        t_message(b, g, from, false, (f & 128) ? PICK(g, MSG_TYPES) : "groupchat", f | 1);
        break;
    case T_SUBJECT:
        t_message(b, g, from, false, "groupchat", (next(g) & ~1u) | 2);
        break;
    case T_PM:
        f = next(g);
        t_message(b, g, from, true, (f & 128) ? PICK(g, MSG_TYPES) : "chat", f | 1);
        break;
    case T_ADMIN:
        t_admin(b, g, from);
        break;
    case T_OWNER:
        t_owner(b, g, from, false);
        break;
    case T_CONFIG:
        t_owner(b, g, from, true);
        break;
    case T_REGISTER:
        t_register(b, g, from);
        break;
    case T_DISCO:
        t_disco(b, g, from);
        break;
    case T_MAM:
        t_mam(b, g, from);
        break;
    case T_PING:
        t_ping(b, g, from);
        break;
    case T_IQ_OCCUPANT:
        t_iq_occupant(b, g, from);
        break;
    case T_IQ_REPLY:
        t_iq_reply(b, g, from);
        break;
    case T_INVITE:
        t_invite(b, g, from);
        break;
    case T_VOICE:
        t_voice(b, g, from);
        break;
    case T_ERROR:
        t_error(b, g, from);
        break;
    case T_SERVICE:
        t_service(b, g, from);
        break;
    default:
        t_odd_address(b, g, from);
        break;
    }
}

/* ---- output checks ---- */

static void fail(const char *what, const struct xml_node *st, const char *extra)
{
    char *s = st ? xml_to_string(st, NS_COMPONENT) : NULL;
    fprintf(stderr, "fuzz_muc: step %u: %s%s%s\n  %s\n", S.step, what, extra ? ": " : "",
            extra ? extra : "", s ? s : "");
    free(s);
    abort();
}

static void on_chk(void *ud, struct xml_node *st)
{
    (void)ud;
    S.ngot++;
    if (!S.got)
        S.got = xml_ref(st);
}

/* Parse bytes that should be exactly one stanza; returns it (owned) or NULL.
 * The stream stays open between calls (a new expat parser per stanza would
 * cost more than the stanza); a failed parse leaves it to be reset next time. */
static struct xml_node *parse_one(struct xstream *xs, const char *data, size_t len)
{
    bool *open = xs == S.in ? &S.in_open : &S.chk_open;
    S.got = NULL;
    S.ngot = 0;
    if (!*open) {
        xstream_reset(xs);
        if (xstream_feed(xs, HDR, sizeof HDR - 1) != 0)
            return NULL;
        *open = true;
    }
    int rc = xstream_feed(xs, data, len);
    if (rc != 0 || S.ngot != 1) {
        *open = false; /* dead, or in the middle of something: start afresh */
        xml_unref(S.got);
        S.got = NULL;
        return NULL;
    }
    struct xml_node *st = S.got;
    S.got = NULL;
    return st;
}

static bool in_service(const char *addr)
{
    struct jid j;
    if (!addr || jid_parse(&j, addr) < 0)
        return false;
    bool ok = strcmp(j.domain, DOMAIN) == 0;
    jid_clear(&j);
    return ok;
}

static bool is_jid(const char *addr)
{
    struct jid j;
    if (!addr || !*addr || jid_parse(&j, addr) < 0)
        return false;
    jid_clear(&j);
    return true;
}

static bool has_marker(const struct xml_node *el)
{
    for (size_t i = 0; i < el->nattrs; i++)
        if (strstr(el->attrs[i].value, SPOOF))
            return true;
    return false;
}

/* Forged MUC payload in what the room relays to others. Error replies may
 * carry the offending stanza back to its sender (RFC 6120 §8.3.1), and IQs
 * to occupants are relayed verbatim, so only messages and presences count. */
static void check_spoof(const struct xml_node *st)
{
    enum stanza_kind k = stanza_kind(st);
    if ((k != STANZA_MESSAGE && k != STANZA_PRESENCE) || stanza_is_error(st))
        return;
    for (const struct xml_node *c = xml_first(st); c; c = xml_next(c)) {
        if (!c->ns)
            continue;
        bool watched = strcmp(c->ns, NS_SID) == 0 || strcmp(c->ns, NS_OCCUPANT_ID) == 0 ||
                       strcmp(c->ns, NS_DELAY) == 0;
        if (watched && has_marker(c))
            fail("a client-forged element was relayed", st, c->name);
        if (strcmp(c->ns, NS_MUC_USER) == 0)
            for (const struct xml_node *i = xml_first(c); i; i = xml_next(i))
                if ((strcmp(i->name, "item") == 0 || strcmp(i->name, "status") == 0) &&
                    has_marker(i))
                    fail("a client-forged muc#user element was relayed", st, i->name);
    }
}

/* Remember what a client could send back: stanza-ids (MAM paging), the ids
 * and addresses of IQs the room forwards, occupant JIDs. */
static void harvest(const struct xml_node *st, const char *to)
{
    const char *from = stanza_from(st);
    if (stanza_kind(st) == STANZA_IQ) {
        const char *type = stanza_type(st);
        if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
            fwd_keep(stanza_id(st), from, to);
    }
    const struct xml_node *sid = xml_child(st, "stanza-id", NS_SID);
    if (sid)
        echo_keep(xml_attr(sid, "id"));
    if (from && strchr(from, '/') && (S.echo_pos & 3) == 0)
        echo_keep(from);
}

static void check_common(const struct xml_node *st)
{
    S.out.len = 0;
    xml_serialize(st, NS_COMPONENT, &S.out);
    struct xml_node *again = parse_one(S.chk, S.out.data, S.out.len);
    if (!again)
        fail("output does not parse back", st, NULL);
    xml_unref(again);
    if (!in_service(stanza_from(st)))
        fail("'from' outside the service domain", st, NULL);
    check_spoof(st);
}

static void trace_out(const char *how, const struct xml_node *st, const char *to)
{
    if (!S.trace)
        return;
    char *s = xml_to_string(st, NS_COMPONENT);
    fprintf(stderr, "  %s%s%s %s\n", how, to ? " to=" : "", to ? to : "", s);
    free(s);
}

static void io_send(void *ud, const struct xml_node *st)
{
    (void)ud;
    trace_out("OUT", st, NULL);
    check_common(st);
    if (!is_jid(stanza_to(st)))
        fail("'to' missing or not a JID", st, NULL);
    harvest(st, stanza_to(st));
}

static void io_send_each(void *ud, const struct xml_node *st, const char *const *to, size_t n)
{
    (void)ud;
    trace_out("EACH", st, NULL);
    if (stanza_to(st))
        fail("send_each stanza carries its own 'to'", st, NULL);
    check_common(st);
    for (size_t i = 0; i < n; i++) {
        if (!is_jid(to[i]))
            fail("send_each recipient is not a JID", st, to[i] ? to[i] : "(null)");
        if (S.trace)
            fprintf(stderr, "    to=%s\n", to[i]);
        if (stanza_kind(st) == STANZA_IQ)
            harvest(st, to[i]);
    }
    if (stanza_kind(st) != STANZA_IQ)
        harvest(st, NULL);
}

static void io_send_raw(void *ud, const char *data, size_t len)
{
    (void)ud;
    struct xml_node *st = parse_one(S.chk, data, len);
    if (!st) {
        fprintf(stderr, "fuzz_muc: step %u: raw output is not one stanza: %.*s\n", S.step,
                (int)len, data);
        abort();
    }
    trace_out("RAW", st, NULL);
    check_common(st);
    if (!is_jid(stanza_to(st)))
        fail("raw stanza 'to' missing or not a JID", st, NULL);
    harvest(st, stanza_to(st));
    xml_unref(st);
}

static int64_t io_now(void *ud)
{
    (void)ud;
    return S.now;
}

static void on_in(void *ud, struct xml_node *st)
{
    on_chk(ud, st);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    S.trace = getenv("FUZZ_MUC_TRACE") != NULL;
    if (getenv("FUZZ_MUC_SKIP") && *getenv("FUZZ_MUC_SKIP"))
        parse_skip(getenv("FUZZ_MUC_SKIP"));
    static const struct xstream_handler hin = { .stanza = on_in };
    static const struct xstream_handler hchk = { .stanza = on_chk };
    S.in = xstream_new(NULL, &hin, NULL);
    S.chk = xstream_new(NULL, &hchk, NULL);
    buf_init(&S.out);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prog g = { data, size, 0 };
    unsigned prof = next(&g);
    struct muc_limits lim;
    muc_limits_default(&lim);
    if (prof & 1) {
        lim.max_rooms = 4;
        lim.max_occupants = 4;
        lim.max_rooms_per_user = 2;
        lim.max_history = 5;
        lim.default_history = 3;
        lim.max_nick_bytes = 16;
        lim.msg_rate = 1;
        lim.msg_burst = 3;
        lim.presence_rate = 1;
        lim.presence_burst = 3;
        lim.create_rooms = !(prof & 2);
        lim.max_mam_page = 3;
    }
    lim.persistent_default = prof & 4;
    static const unsigned char key[32] = { 0x42, 1, 2, 3 };
    struct muc_io io = { io_send, io_send_each, io_send_raw, io_now, NULL, NULL, NULL };
    S.now = T0;
    S.step = 0;
    S.m = muc_new(DOMAIN, "Chatrooms", &lim, key, &io);

    struct buf b;
    buf_init(&b);
    while (g.i < g.n && S.step < MAX_STEPS) {
        S.step++;
        unsigned who = next(&g);
        const char *res = RESOURCES[(who >> 2) & 3];
        char from[96];
        snprintf(from, sizeof from, "%s%s%s", USERS[who & 3], res ? "/" : "", res ? res : "");
        S.now += DT[who >> 4];
        unsigned t = next(&g) % T_COUNT;
        b.len = 0;
        build(&b, &g, t, from);
        if (skipped(&b)) {
            if (S.trace)
                fprintf(stderr, "IN %u [t=%u SKIPPED] %.*s\n", S.step, t, (int)b.len, b.data);
            continue;
        }
        struct xml_node *st = parse_one(S.in, b.data, b.len);
        if (S.trace)
            fprintf(stderr, "IN %u [t=%u%s] %.*s\n", S.step, t, st ? "" : " UNPARSED",
                    (int)b.len, b.data);
        if (!st)
            continue;
        muc_handle(S.m, st);
        xml_unref(st);
    }
    buf_free(&b);
    muc_free(S.m);
    S.m = NULL;
    forget_all();
    return 0;
}
