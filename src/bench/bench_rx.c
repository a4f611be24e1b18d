/* bench_rx.c — router mode's accounting of what confabd sends: joins, copies (lost, duplicated, reordered, misrouted), refusals, MAM pages. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_router.h"

/* "user<i>@domain/r" -> i */
static bool parse_user(struct span to, unsigned *u)
{
    uint64_t v;
    size_t end;
    if (!span_prefix(to, "user") || !span_u64(to, 4, &v, &end) || end >= to.n ||
        to.p[end] != '@' || v >= B.N)
        return false;
    *u = (unsigned)v;
    return true;
}

static bool is_mam_reader(struct span to)
{
    return span_prefix(to, MAM_READER) && to.n > sizeof MAM_READER - 1 &&
           to.p[sizeof MAM_READER - 1] == '@';
}

static bool is_probe(struct span to)
{
    return span_prefix(to, "probe") || span_prefix(to, "touch");
}

/* Body "cb|pf <user> <seq> <sched-ns> ..." */
static bool parse_body(struct span body, char *kind, unsigned *u, uint64_t *seq, int64_t *sched)
{
    if (body.n < 3 || body.p[2] != ' ')
        return false;
    if (body.p[0] == 'c' && body.p[1] == 'b')
        *kind = 'c';
    else if (body.p[0] == 'p' && body.p[1] == 'f')
        *kind = 'p';
    else
        return false;
    uint64_t v, s, t;
    size_t e;
    if (!span_u64(body, 3, &v, &e) || e + 1 >= body.n || !span_u64(body, e + 1, &s, &e) ||
        e + 1 >= body.n || !span_u64(body, e + 1, &t, &e))
        return false;
    *u = (unsigned)v;
    *seq = s;
    *sched = (int64_t)t;
    return true;
}

/* ------------------------------------------------------------------ accounting */

static void join_done(unsigned u, bool ok, int64_t now)
{
    struct user *us = &B.users[u];
    if (us->state != U_JOINING)
        return;
    us->state = ok ? U_JOINED : U_FAILED;
    struct room *r = &B.rooms[us->room];
    bool owner = u < B.M;
    if (ok)
        r->joined++;
    if (owner && r->state == R_JOINING) {
        hist_add(&B.lat_setup, (uint64_t)(now - us->join_sched));
        if (ok) {
            B.setup_joins_ok++;
            B.hist_setup += us->hist;
        }
        B.setup_inflight--;
        if (!ok) {
            r->state = R_FAILED;
            B.rooms_done++;
        } else if (us->created) {
            /* A new room is locked until its owner configures it (§10.1). */
            r->state = R_CONFIG;
            B.setup_inflight++;
            tx_config(us->room);
        } else {
            r->state = R_READY;
            B.rooms_done++;
        }
        return;
    }
    if (B.phase == PH_JOIN || B.phase == PH_SETUP) {
        if (ok) {
            hist_add(&B.lat_join, (uint64_t)(now - us->join_sched));
            B.hist_join += us->hist;
        } else
            B.joins_failed++;
        B.joins_done++;
        B.join_last_done = now;
    }
}

static unsigned cond_slot(struct span c)
{
    if (span_eq(c, "resource-constraint"))
        return 0;
    if (span_eq(c, "not-acceptable"))
        return 1;
    if (span_eq(c, "forbidden"))
        return 2;
    return 3;
}

static void on_chat_copy(unsigned to, unsigned from, uint64_t seq, int64_t sched, int64_t now)
{
    if (from >= B.S || B.users[from].room != B.users[to].room || seq == 0 ||
        seq > B.senders[from].planned) {
        B.misrouted++;
        return;
    }
    struct sender *sd = &B.senders[from];
    struct room *r = &B.rooms[B.users[to].room];
    uint32_t local = to / B.M;
    uint64_t *row = r->bits + (size_t)local * r->row_words;
    uint64_t bit = sd->bit_off + seq - 1;
    B.deliveries++;
    B.tick_deliv++;
    if (now >= B.win_start && now < B.win_end)
        B.deliveries_win++;
    enum acct_mark m = acct_mark(row, bit, &r->last[(size_t)local * r->nsend + sd->local], seq);
    if (m == ACCT_DUP) {
        B.dup++;
        return;
    }
    B.received_unique++;
    if (m == ACCT_REORDERED)
        B.reordered++;
    uint64_t lat = now > sched ? (uint64_t)(now - sched) : 0;
    bool measured = sched >= B.win_start && sched < B.win_end;
    if (to == from) {
        B.reflected++;
        B.tick_refl++;
        if (now >= B.win_start && now < B.win_end)
            B.reflected_win++;
        if (measured)
            hist_add(&B.lat_reflect, lat);
    } else {
        B.fanout_copies++;
        if (measured)
            hist_add(&B.lat_fanout, lat);
    }
    if (measured) {
        hist_add(&B.lat_all, lat);
        hist_add(&B.tick, lat);
    }
}

/* A chat message of ours came back as an error: counted once as rejected. */
static void reject_chat(unsigned from, uint64_t seq, struct span cond)
{
    if (bit_get(B.senders[from].rejected, seq - 1))
        return;
    bit_set(B.senders[from].rejected, seq - 1);
    B.rejected_msgs++;
    B.expected -= B.rooms[B.users[from].room].joined;
    B.reject_by_cond[cond_slot(cond)]++;
}

/* confabd's error replies do not echo the body: the id is b<user>-<seq>. */
static bool reject_by_id(const struct stz *st)
{
    uint64_t fu, sq;
    size_t e;
    if (!span_u64(st->id, 1, &fu, &e) || e + 1 >= st->id.n || st->id.p[e] != '-' ||
        !span_u64(st->id, e + 1, &sq, NULL) || fu >= B.S || sq < 1 ||
        sq > B.senders[fu].planned || B.phase == PH_PREFILL)
        return false;
    reject_chat((unsigned)fu, sq, st->error_cond);
    return true;
}

static void on_error_message(const struct stz *st)
{
    char kind;
    unsigned from;
    uint64_t seq;
    int64_t sched;
    bool ours = st->has_body && parse_body(st->body, &kind, &from, &seq, &sched);
    if (ours && kind == 'c' && from < B.S && seq >= 1 && seq <= B.senders[from].planned) {
        reject_chat(from, seq, st->error_cond);
    } else if (ours && kind == 'p' && from < B.M) {
        B.rejected_msgs++;
        B.reject_by_cond[cond_slot(st->error_cond)]++;
        if (B.rooms[B.users[from].room].prefill_left) {
            B.rooms[B.users[from].room].prefill_left--;
            B.prefill_left--;
        }
    } else if (st->has_body || !span_prefix(st->id, "b") || !span_u64(st->id, 1, &seq, NULL) ||
               !reject_by_id(st)) {
        B.errors_other++;
    }
}

static void on_message(const struct stz *st, int64_t now)
{
    unsigned u;
    bool user = parse_user(st->to, &u);
    if (st->has_result) {
        B.mam_results++;
        uint64_t q;
        if (st->queryid.p && span_u64(st->queryid, 0, &q, NULL) && q < B.mq_total)
            B.mq[q].results++;
        return;
    }
    if (span_eq(st->type, "error")) {
        on_error_message(st);
        return;
    }
    if (st->has_subject && !st->has_body) {
        B.subjects++;
        if (user)
            join_done(u, B.users[u].self_seen, now);
        else if (is_mam_reader(st->to))
            B.mam_joined = true;
        return;
    }
    if (!st->has_body) {
        B.unknown_in++;
        return;
    }
    if (st->has_delay) {
        B.history_in++;
        if (user && B.users[u].state == U_JOINING)
            B.users[u].hist++;
        return;
    }
    char kind;
    unsigned from;
    uint64_t seq;
    int64_t sched;
    if (!user || !parse_body(st->body, &kind, &from, &seq, &sched)) {
        B.unknown_in++;
        return;
    }
    if (kind == 'c') {
        on_chat_copy(u, from, seq, sched, now);
    } else if (from == u && from < B.M && B.rooms[B.users[from].room].prefill_left) {
        B.rooms[B.users[from].room].prefill_left--;
        B.prefill_left--;
    }
}

static void on_presence(const struct stz *st, int64_t now)
{
    B.presence_in++;
    unsigned u;
    if (!parse_user(st->to, &u)) {
        if (is_probe(st->to)) {
            if (span_eq(st->type, "error"))
                B.errors_other++;
            else if (st->status110 && B.phase == PH_TOUCH)
                B.touch_done++;
        }
        return;
    }
    struct user *us = &B.users[u];
    if (us->state != U_JOINING)
        return;
    if (span_eq(st->type, "error")) {
        join_done(u, false, now);
        return;
    }
    if (st->status110) {
        us->self_seen = true;
        if (st->status201)
            us->created = true;
    }
}

static void on_iq(const struct stz *st, int64_t now)
{
    uint64_t v;
    bool err = span_eq(st->type, "error");
    if (span_prefix(st->id, "probe")) {
        if (!(err && span_eq(st->error_cond, "resource-constraint")) && !B.t_first_served)
            B.t_first_served = now;
        return;
    }
    if (span_prefix(st->id, "cfg") && span_u64(st->id, 3, &v, NULL) && v < B.M) {
        struct room *r = &B.rooms[v];
        if (r->state == R_CONFIG) {
            r->state = err ? R_FAILED : R_READY;
            B.rooms_done++;
            B.setup_inflight--;
        }
        return;
    }
    if (span_prefix(st->id, "q") && span_u64(st->id, 1, &v, NULL) && v < B.mq_total) {
        struct mamq *q = &B.mq[v];
        if (q->done)
            return;
        q->done = true;
        B.mq_done++;
        if (err || !st->has_fin) {
            B.mq_errors++;
            return;
        }
        hist_add(&B.lat_mam, (uint64_t)(now - q->sched));
        if (q->results < O.mam_max)
            B.mq_short++;
        if (!B.mam_sid_checked && st->last.p) {
            /* The first page is the newest: its last id is that of seq = archive size. */
            char id[33];
            stanzaid_encode(B.sid, B.mam_room_jid, O.mam_messages, id);
            B.mam_sid_checked = true;
            B.mam_sid_ok = span_eq(st->last, id);
            if (!B.mam_sid_ok && strcmp(O.mam_mode, "random") == 0)
                bench_note("predicted stanza-id does not match confabd's (or --mam-messages is not "
                     "the archive size): walking pages backwards instead of random pages");
        }
        if (st->first.p && st->first.n < sizeof B.mam_walk_id) {
            memcpy(B.mam_walk_id, st->first.p, st->first.n);
            B.mam_walk_id[st->first.n] = '\0';
        }
        return;
    }
    if (err)
        B.errors_other++;
    else
        B.unknown_in++;
}

void rx_stanza(const struct stz *st, int64_t now)
{
    B.stanzas_in++;
    switch (st->kind) {
    case STZ_MESSAGE:
        on_message(st, now);
        break;
    case STZ_PRESENCE:
        on_presence(st, now);
        break;
    case STZ_IQ:
        on_iq(st, now);
        break;
    case STZ_OTHER:
        if (span_prefix(st->name, "stream:error") || span_eq(st->name, "error"))
            bench_fail("confabd sent a stream error");
        else
            B.unknown_in++;
        break;
    case STZ_NONE:
        break;
    }
}
