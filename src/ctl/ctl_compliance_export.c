/* ctl_compliance_export.c — confabctl compliance export: room events as
 * Lync Persistent Chat compliance XML, one file per room and time slice.
 *
 * The shape is the Lync 2013 Compliance service's XML adapter output
 * (Conversations/Conversation/Channel, FirstMessage, Messages/Message with
 * Sender and DateTimeUTC, StartTimeUTC, EndTimeUTC); the schema we keep for it
 * is contrib/compliance/lync-compliance.xsd, and docs/compliance.md has the
 * mapping of event types. A file is written under a temporary name and
 * renamed, so DIR never holds half a file. */
#include "compat.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctl.h"
#include "datetime.h"
#include "mem.h"

/* .NET ticks (100 ns since 0001-01-01) at the Unix epoch: Lync's "long". */
#define TICKS_AT_EPOCH INT64_C(621355968000000000)

/* Rooms with events in the range, and each room's slices. */
static const char slices_sql[] =
    "SELECT e.room, to_char(date_trunc($4, e.event_time AT TIME ZONE 'UTC'), $5) AS slice, "
    "min(e.event_time), count(*) "
    "FROM events e WHERE e.room IS NOT NULL AND ($1::text IS NULL OR e.room = $1) "
    "AND ($2::timestamptz IS NULL OR e.event_time >= $2::timestamptz) "
    "AND ($3::timestamptz IS NULL OR e.event_time < $3::timestamptz) "
    "GROUP BY 1, 2 ORDER BY 1, 2";

/* One room's events of one slice, oldest first. */
static const char events_sql[] =
    "SELECT e.seq, e.type, (extract(epoch FROM e.event_time) * 1000)::bigint, "
    "e.actor_jid, e.actor_nick, e.target_jid, e.target_nick, e.body, e.subject, e.reason "
    "FROM events e WHERE e.room = $1 "
    "AND to_char(date_trunc($4, e.event_time AT TIME ZONE 'UTC'), $5) = $6 "
    "AND ($2::timestamptz IS NULL OR e.event_time >= $2::timestamptz) "
    "AND ($3::timestamptz IS NULL OR e.event_time < $3::timestamptz) "
    "ORDER BY e.event_time, e.seq";

enum { E_SEQ, E_TYPE, E_MS, E_ACTOR, E_NICK, E_TARGET, E_TNICK, E_BODY, E_SUBJECT, E_REASON };

/* Event type → Lync message type. Lync's own: JOIN, PART, CHAT, BACKCHAT
 * (history served); the rest are confab's extensions to the enumeration. */
static const char *lync_type(const char *t)
{
    static const char *const map[][2] = {
        { "join", "JOIN" },         { "leave", "PART" },       { "groupchat", "CHAT" },
        { "history", "BACKCHAT" },  { "private", "PRIVATE" },  { "subject", "SUBJECT" },
        { "nick", "NICK" },         { "kick", "KICK" },        { "ban", "BAN" },
        { "role", "ROLE" },         { "affiliation", "AFFILIATION" }, { "invite", "INVITE" },
        { "config", "CONFIG" },     { "create", "CREATE" },    { "destroy", "DESTROY" },
        { "mam", "MAM" },           { "purge", "PURGE" },      { "chat", "CHAT" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strcmp(map[i][0], t) == 0)
            return map[i][1];
    return "OTHER";
}

/* Attribute value: XML-escaped, line breaks kept as character references. */
static void attr(FILE *f, const char *name, const char *v)
{
    fprintf(f, " %s=\"", name);
    for (const char *p = v ? v : ""; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\n': fputs("&#10;", f); break;
        case '\r': fputs("&#13;", f); break;
        case '\t': fputs("&#9;", f); break;
        default: fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void time_el(FILE *f, const char *indent, const char *tag, int64_t ms)
{
    char since[24], ticks[24], day[24], str[48];
    /* Lync writes seven fractional digits: ".123" + "0000". */
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(str, sizeof str, "%s.%03d0000Z", day, (int)(ms - (int64_t)secs * 1000));
    snprintf(since, sizeof since, "%" PRId64, ms);
    snprintf(ticks, sizeof ticks, "%" PRId64, TICKS_AT_EPOCH + ms * 10000);
    fprintf(f, "%s<%s", indent, tag);
    attr(f, "since1970", since);
    attr(f, "string", str);
    attr(f, "long", ticks);
    fputs("/>\n", f);
}

/* Per-file numbering of users, as Lync's Sender id. */
struct users {
    char **jid;
    size_t n;
};

static size_t user_id(struct users *u, const char *bare)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->jid[i], bare) == 0)
            return i + 1;
    u->jid = xrealloc(u->jid, (u->n + 1) * sizeof *u->jid);
    u->jid[u->n++] = xstrdup(bare);
    return u->n;
}

static void users_free(struct users *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->jid[i]);
    free(u->jid);
}

/* internal="true" for users of the room service's parent domain
 * (conference.example.com → example.com): everyone else is federated. */
static bool internal(const char *room, const char *bare)
{
    const char *at = strchr(room, '@'), *svc = at ? at + 1 : room;
    const char *dot = strchr(svc, '.');
    const char *parent = dot ? dot + 1 : svc;
    const char *dom = strchr(bare, '@');
    dom = dom ? dom + 1 : bare;
    return strcmp(dom, parent) == 0 || strcmp(dom, svc) == 0;
}

static void person(FILE *f, const char *tag, struct users *u, const char *room,
                   const char *jid, const char *nick)
{
    char *bare = xstrdup(jid ? jid : "");
    char *slash = strchr(bare, '/');
    if (slash)
        *slash = '\0';
    char id[24];
    snprintf(id, sizeof id, "%zu", *bare ? user_id(u, bare) : (size_t)0);
    fprintf(f, "      <%s", tag);
    attr(f, "UserName", nick ? nick : bare);
    attr(f, "id", id);
    attr(f, "email", bare);
    attr(f, "internal", *bare && !internal(room, bare) ? "false" : "true");
    attr(f, "uri", bare);
    fputs("/>\n", f);
    free(bare);
}

/* One <Message/> (or <FirstMessage/>). For BACKCHAT the sender is who was
 * served the history (the event's target), as in Lync. */
static void message(FILE *f, const char *tag, const PGresult *r, int i, const char *room,
                    struct users *u)
{
    const char *type = PQgetvalue(r, i, E_TYPE);
    bool backchat = strcmp(type, "history") == 0;
    const char *content = ctl_col(r, i, E_BODY);
    if (!content)
        content = ctl_col(r, i, E_SUBJECT) ? ctl_col(r, i, E_SUBJECT) : ctl_col(r, i, E_REASON);
    fprintf(f, "    <%s", tag);
    attr(f, "type", lync_type(type));
    attr(f, "content", content);
    attr(f, "id", PQgetvalue(r, i, E_SEQ));
    fputs(">\n", f);
    if (backchat)
        person(f, "Sender", u, room, ctl_col(r, i, E_TARGET), ctl_col(r, i, E_TNICK));
    else
        person(f, "Sender", u, room, ctl_col(r, i, E_ACTOR), ctl_col(r, i, E_NICK));
    if (!backchat && (ctl_col(r, i, E_TARGET) || ctl_col(r, i, E_TNICK)))
        person(f, "Target", u, room, ctl_col(r, i, E_TARGET), ctl_col(r, i, E_TNICK));
    time_el(f, "      ", "DateTimeUTC", ctl_col_ll(r, i, E_MS));
    fprintf(f, "    </%s>\n", tag);
}

static void write_conversation(FILE *f, const char *room, const PGresult *r)
{
    struct users u = { 0 };
    char *uri = xasprintf("xmpp:%s", room);
    int n = PQntuples(r);
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Conversations>\n  <Conversation>\n",
          f);
    fputs("    <Channel", f);
    attr(f, "uri", uri);
    attr(f, "name", room);
    attr(f, "islogged", "true");
    fputs("/>\n", f);
    message(f, "FirstMessage", r, 0, room, &u);
    fputs("    <Messages>\n", f);
    for (int i = 0; i < n; i++)
        message(f, "Message", r, i, room, &u);
    fputs("    </Messages>\n", f);
    time_el(f, "    ", "StartTimeUTC", ctl_col_ll(r, 0, E_MS));
    time_el(f, "    ", "EndTimeUTC", ctl_col_ll(r, n - 1, E_MS));
    fputs("  </Conversation>\n</Conversations>\n", f);
    free(uri);
    users_free(&u);
}

/* room@service_SLICE.xml, with anything but [A-Za-z0-9@._-] as '_'. */
static char *file_name(const char *dir, const char *room, const char *slice)
{
    char *base = xasprintf("%s_%s.xml", room, slice);
    for (char *p = base; *p; p++)
        if (!strchr("@._-", *p) && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                      (*p >= '0' && *p <= '9')))
            *p = '_';
    char *path = xasprintf("%s/%s", dir, base);
    free(base);
    return path;
}

static int write_file(const char *path, const char *room, const PGresult *r)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f) {
        ctl_err("cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return CTL_FAIL;
    }
    write_conversation(f, room, r);
    if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) != 0) {
        ctl_err("cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        rc = CTL_FAIL;
    }
    free(tmp);
    return rc;
}

struct slice_spec {
    const char *trunc, *fmt;
};

static int parse_slice(const char *s, struct slice_spec *out)
{
    if (!s || strcmp(s, "day") == 0)
        *out = (struct slice_spec){ "day", "YYYY-MM-DD" };
    else if (strcmp(s, "week") == 0)
        *out = (struct slice_spec){ "week", "IYYY-\"W\"IW" };
    else if (strcmp(s, "month") == 0)
        *out = (struct slice_spec){ "month", "YYYY-MM" };
    else
        return ctl_usage("compliance export: --slice is day, week or month, not '%s'", s);
    return 0;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0750) == 0 || errno == EEXIST)
        return 0;
    ctl_err("cannot create %s: %s", dir, strerror(errno));
    return CTL_FAIL;
}

/* Write every slice of `slices`; report each file. */
static int export_slices(struct ctl *c, const struct ctl_compliance_opts *o,
                         const struct slice_spec *sp, const char *from, const char *to,
                         const PGresult *slices, json_t *files)
{
    for (int i = 0; i < PQntuples(slices); i++) {
        const char *room = PQgetvalue(slices, i, 0), *slice = PQgetvalue(slices, i, 1);
        const char *v[] = { room, from, to, sp->trunc, sp->fmt, slice };
        PGresult *r = NULL;
        int rc = ctl_query(c, "reading events", events_sql, 6, v, &r);
        if (rc)
            return rc;
        char *path = file_name(o->out, room, slice);
        if (PQntuples(r) > 0)
            rc = write_file(path, room, r);
        if (rc == 0 && PQntuples(r) > 0) {
            if (c->json)
                json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:i}", "file", path,
                                                       "room", room, "slice", slice, "events",
                                                       PQntuples(r)));
            else
                printf("%s: %d event%s\n", path, PQntuples(r), PQntuples(r) == 1 ? "" : "s");
        }
        free(path);
        PQclear(r);
        if (rc)
            return rc;
    }
    return 0;
}

int ctl_compliance_export(struct ctl *c, const struct ctl_compliance_opts *o)
{
    struct slice_spec sp = { "day", "YYYY-MM-DD" };
    char *room = NULL;
    struct ctl_span span;
    if (!o->out)
        return ctl_usage("compliance export: --out DIR is required");
    int rc = parse_slice(o->slice, &sp);
    if (rc == 0 && o->room)
        rc = ctl_room_jid(c, o->room, &room);
    if (rc == 0)
        rc = ctl_compliance_span(o, &span);
    if (rc == 0)
        rc = make_dir(o->out);
    if (rc == 0)
        rc = ctl_compliance_open(c, o);
    PGresult *slices = NULL;
    if (rc == 0) {
        const char *v[] = { room, span.from, span.to, sp.trunc, sp.fmt };
        rc = ctl_query(c, "listing rooms and slices", slices_sql, 5, v, &slices);
    }
    json_t *files = json_array();
    if (rc == 0)
        rc = export_slices(c, o, &sp, span.from, span.to, slices, files);
    if (rc == 0 && c->json)
        rc = ctl_print_json(json_incref(files));
    else if (rc == 0 && PQntuples(slices) == 0)
        printf("no room events in that range: nothing written\n");
    json_decref(files);
    PQclear(slices);
    free(room);
    return rc;
}
