/* bench_phase.c — router mode's phases (probe, setup, prefill, join, chat, drain, mam, startup) and when each ends. */
#include "compat.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_router.h"
#include "mem.h"

const char *const phase_names[] = {
    "accept", "handshake", "setup", "prefill", "join", "chat", "drain", "mam-join", "mam",
    "probe", "settle", "touch", "settle", "done",
};

void phase_set(enum phase p, int64_t now)
{
    B.phase = p;
    B.phase_start = now;
    bench_note("phase %s", phase_names[p]);
}

static void sample(struct window_end *e, int64_t now)
{
    proc_sample(B.pid, false, &e->cd);
    if (O.pg_pid > 0)
        proc_sample(O.pg_pid, true, &e->pg);
    e->self = bench_self_cpu();
    e->busy = proc_busy_all();
    e->t = now;
}

static void sample_start(int64_t now)
{
    sample(&B.w0, now);
}

void phase_sample_end(int64_t now)
{
    sample(&B.w1, now);
}

static void start_rooms_pipeline(int64_t now)
{
    phase_set(PH_SETUP, now);
}

static void begin_join(int64_t now)
{
    B.join_next = B.M;   /* owners (users 0..M-1) joined during setup */
    B.join_total = B.N - B.M;
    B.join_t0 = now;
    B.joins_done = 0;
    phase_set(PH_JOIN, now);
    sample_start(now);
}

static void begin_chat(int64_t now)
{
    phase_sample_end(now);          /* closes the join window's sample */
    B.chat_t0 = now + 50 * MS;
    B.next_sched = B.chat_t0;
    B.win_start = B.chat_t0 + (int64_t)(O.warmup * SEC);
    B.win_end = B.win_start + (int64_t)(O.duration * SEC);
    B.next_gap_ns = 1e9 / O.rate;
    B.win_started = B.win_ended = false;
    B.next_tick = now + SEC;
    phase_set(PH_CHAT, now);
}

static double exp_gap(void)
{
    double u = (double)(rand() + 1) / ((double)RAND_MAX + 2);
    return -log(u) * B.next_gap_ns;
}

static void drive_setup(int64_t now)
{
    /* Owners' joins (which create the rooms, or load them with --existing-rooms)
     * follow --join-rate too, so that first joins can be timed at a known load. */
    while (B.setup_next < B.M && B.setup_inflight < O.setup_window) {
        int64_t sched = now;
        if (O.join_rate > 0) {
            sched = B.phase_start + (int64_t)((double)B.setup_next * 1e9 / O.join_rate);
            if (sched > now)
                break;
        }
        unsigned r = B.setup_next++;
        B.rooms[r].state = R_JOINING;
        B.setup_inflight++;
        tx_join(r, sched);
    }
    if (B.rooms_done == B.M) {
        unsigned failed = 0;
        for (unsigned r = 0; r < B.M; r++)
            failed += B.rooms[r].state == R_FAILED;
        bench_note("setup: %u rooms ready, %u failed (%.2f s)", B.M - failed, failed,
             (double)(now - B.phase_start) / 1e9);
        if (failed == B.M) {
            bench_fail("no room could be set up");
            return;
        }
        if (O.prefill) {
            phase_set(PH_PREFILL, now);
            for (unsigned r = 0; r < B.M; r++) {
                if (B.rooms[r].state != R_READY)
                    continue;
                B.rooms[r].prefill_left = O.prefill;
                B.prefill_left += O.prefill;
                for (unsigned k = 1; k <= O.prefill; k++)
                    tx_groupchat(r, "pf", k, now);
            }
        } else {
            begin_join(now);
        }
    }
}

static void drive_join(int64_t now)
{
    while (B.join_next < B.N) {
        int64_t sched = B.join_t0;
        if (O.join_rate > 0)
            sched += (int64_t)((double)(B.join_next - B.M) * 1e9 / O.join_rate);
        if (sched > now)
            break;
        unsigned u = B.join_next++;
        if (B.rooms[B.users[u].room].state != R_READY) {
            B.users[u].state = U_FAILED;
            B.joins_done++;
            B.joins_failed++;
            continue;
        }
        tx_join(u, sched);
    }
    if (B.joins_done >= B.join_total) {
        bench_note("joins: %u done, %u failed", B.joins_done, B.joins_failed);
        if (B.join_last_done == 0)
            B.join_last_done = now;
        if (B.k_total)
            begin_chat(now);
        else {
            phase_sample_end(now);
            phase_set(PH_DONE, now);
        }
    }
}

static void tick_report(int64_t now)
{
    if (now < B.next_tick)
        return;
    struct proc_sample ps;
    static double last_cpu = -1;
    static int64_t last_t;
    double pct = -1;
    if (proc_sample(B.pid, false, &ps) == 0) {
        if (last_cpu >= 0)
            pct = 100.0 * (ps.cpu_s - last_cpu) / ((double)(now - last_t) / 1e9);
        last_cpu = ps.cpu_s;
        last_t = now;
    }
    bench_note("t=%5.1fs %-5s sent %" PRIu64 "/s reflected %" PRIu64 "/s deliveries %" PRIu64
         "/s p99 %.2f ms max %.2f ms confabd %.0f%% cpu rss %ld KiB",
         (double)(now - B.chat_t0) / 1e9, phase_names[B.phase], B.tick_sent, B.tick_refl,
         B.tick_deliv, ns_ms(hist_pct(&B.tick, 99)), ns_ms(B.tick.max), pct, ps.rss_kb);
    B.tick_sent = B.tick_refl = B.tick_deliv = 0;
    hist_init(&B.tick);
    B.next_tick += SEC;
}

static void drive_chat(int64_t now)
{
    if (!B.win_started && now >= B.win_start) {
        B.win_started = true;
        sample_start(now);
    }
    if (!B.win_ended && now >= B.win_end) {
        B.win_ended = true;
        phase_sample_end(now);
    }
    unsigned batch = 0;
    while (B.k_next < B.k_total && B.next_sched <= now && batch < 4096) {
        uint64_t k = B.k_next++;
        unsigned s = (unsigned)(k % B.S);
        uint64_t seq = k / B.S + 1;
        struct sender *sd = &B.senders[s];
        if (B.users[s].state == U_JOINED)
            B.expected += B.rooms[B.users[s].room].joined;
        sd->sent++;
        tx_groupchat(s, "cb", seq, B.next_sched);
        hist_add(&B.lag, (uint64_t)(now - B.next_sched));
        B.tick_sent++;
        batch++;
        B.next_sched = O.poisson ? B.next_sched + (int64_t)exp_gap()
                                 : B.chat_t0 + (int64_t)((double)B.k_next * B.next_gap_ns);
    }
    tick_report(now);
    if (B.phase == PH_CHAT && B.k_next >= B.k_total) {
        phase_set(PH_DRAIN, now);
    }
    if (B.phase == PH_DRAIN && B.win_ended &&
        (B.received_unique >= B.expected ||
         now - B.phase_start > (int64_t)(O.drain * SEC))) {
        phase_set(PH_DONE, now);
    }
}

static void drive_mam(int64_t now)
{
    if (B.phase == PH_MAM_JOIN) {
        if (B.mam_joined) {
            B.mq_total = (uint64_t)llround(O.mam_rate * (O.warmup + O.duration)) + 1;
            B.mq = xcalloc(B.mq_total, sizeof *B.mq);
            B.mam_t0 = now;
            B.win_start = now + (int64_t)(O.warmup * SEC);
            B.win_end = B.win_start + (int64_t)(O.duration * SEC);
            phase_set(PH_MAM, now);
            /* The first query (newest page) checks the predicted ids. */
            B.mq[0].sched = now;
            tx_mam_query(0, "", NULL);
            B.mq_next = 1;
        }
        return;
    }
    if (!B.win_started && now >= B.win_start) {
        B.win_started = true;
        sample_start(now);
    }
    /* Until the first answer, nothing else goes out: it decides the mode. */
    if (!B.mam_sid_checked && B.mq_done == 0)
        return;
    while (B.mq_next < B.mq_total) {
        int64_t sched = B.mam_t0 + (int64_t)((double)B.mq_next * 1e9 / O.mam_rate);
        if (sched > now)
            break;
        uint64_t k = B.mq_next++;
        B.mq[k].sched = sched;
        if (k == 1 && !B.win_started)
            hist_init(&B.lat_mam); /* the probe query is not part of the sample */
        if (strcmp(O.mam_mode, "random") == 0 && B.mam_sid_ok && O.mam_messages > O.mam_max) {
            uint64_t seq = 1 + (uint64_t)rand() % (O.mam_messages - O.mam_max);
            char id[33];
            stanzaid_encode(B.sid, B.mam_room_jid, seq, id);
            tx_mam_query(k, NULL, id);
        } else if (strcmp(O.mam_mode, "last") == 0 || !B.mam_walk_id[0]) {
            tx_mam_query(k, "", NULL);
        } else {
            tx_mam_query(k, B.mam_walk_id, NULL);
        }
    }
    if (!B.win_ended && now >= B.win_end) {
        B.win_ended = true;
        phase_sample_end(now);
    }
    if (B.mq_next >= B.mq_total &&
        (B.mq_done >= B.mq_total || now - B.win_end > (int64_t)(O.drain * SEC)))
        phase_set(PH_DONE, now);
}

/* Until the store answers, probe it; then start the scenario proper. */
static void drive_probe(int64_t now)
{
    char room[256];
    if (B.t_first_served) {
        bench_note("store ready %.1f ms after the link came up (%u probes)",
                   (double)(B.t_first_served - B.t_up) / 1e6, B.probes);
        if (O.scenario == SC_STARTUP) {
            B.settle_until = now + (int64_t)O.settle_ms * MS;
            phase_set(PH_SETTLE1, now);
        } else if (O.scenario == SC_MAM) {
            char from[128];
            snprintf(from, sizeof from, "%s@%s/r", MAM_READER, O.user_domain);
            tx_join_to(from, B.mam_room_jid, MAM_READER, 0);
            phase_set(PH_MAM_JOIN, now);
        } else {
            start_rooms_pipeline(now);
        }
    } else if (now >= B.probe_next) {
        /* disco#info on a room makes confabd read it from the store: the
         * answer is resource-constraint until the store is ready. */
        const char *pr = O.probe_room;
        if (!pr) {
            tx_room_jid(room, sizeof room, 0);
            pr = room;
        }
        tx_put("<iq type='get' id='probe%u' from='probe@%s/r' to='%s'><query xmlns='"
               "http://jabber.org/protocol/disco#info'/></iq>", B.probes++, O.user_domain, pr);
        B.probe_next = now + 20 * MS;
    }
}

/* Join rooms touch_sent+1..upto, one new occupant each: each room is read
 * from the store. */
static void touch_send(char *room, size_t len, unsigned upto, int64_t now)
{
    phase_set(PH_TOUCH, now);
    for (; B.touch_sent < upto; B.touch_sent++) {
        char from[128];
        tx_room_jid(room, len, B.touch_sent + 1);
        snprintf(from, sizeof from, "touch%u@%s/r", B.touch_sent, O.user_domain);
        tx_join_to(from, room, "toucher", 0);
    }
}

static void drive_startup(int64_t now)
{
    char room[256];
    switch (B.phase) {
    case PH_PROBE:
        drive_probe(now);
        break;
    case PH_SETTLE1:
        if (now >= B.settle_until) {
            proc_sample(B.pid, false, &B.rss_start);
            if (!O.touch) {
                phase_set(PH_DONE, now);
                break;
            }
            touch_send(room, sizeof room, O.touch / 4 ? O.touch / 4 : 1, now);
        }
        break;
    case PH_TOUCH:
        if (B.touch_done >= B.touch_sent || now - B.phase_start > 60 * SEC) {
            B.settle_until = now + (int64_t)O.settle_ms * MS;
            phase_set(PH_SETTLE2, now);
        }
        break;
    case PH_SETTLE2:
        if (now < B.settle_until)
            break;
        if (B.touch_sent < O.touch) {
            proc_sample(B.pid, false, &B.rss_warm);
            touch_send(room, sizeof room, O.touch, now);
        } else {
            proc_sample(B.pid, false, &B.rss_touched);
            phase_set(PH_DONE, now);
        }
        break;
    default:
        break;
    }
}

void phase_link_up(int64_t now)
{
    bench_note("link up after %.1f ms (pid %d)", B.spawned ? (double)(B.t_up - B.t_spawn) / 1e6 : 0.0,
         (int)B.pid);
    if (B.pid <= 0)
        B.pid = proc_peer_pid(B.fd);
    B.probe_next = now;
    phase_set(PH_PROBE, now);
}

static void drive_once(int64_t now);

/* A phase that ends starts the next one in the same turn: nothing waits for
 * a poll timeout between them (that wait would count as latency). */
void phase_drive(int64_t now)
{
    for (int i = 0; i < 8 && !B.failed; i++) {
        enum phase before = B.phase;
        drive_once(now);
        if (B.phase == before)
            break;
    }
}

static void drive_once(int64_t now)
{
    if (B.phase != PH_ACCEPT && B.phase != PH_HANDSHAKE && B.phase != PH_CHAT &&
        B.phase != PH_DRAIN && B.phase != PH_MAM && B.phase != PH_DONE &&
        now - B.phase_start > (int64_t)(O.phase_timeout * SEC)) {
        bench_fail("phase %s did not finish within %.0f s", phase_names[B.phase], O.phase_timeout);
        return;
    }
    switch (B.phase) {
    case PH_PROBE:
        drive_startup(now);
        break;
    case PH_SETUP:
        drive_setup(now);
        break;
    case PH_PREFILL:
        if (B.prefill_left == 0) {
            bench_note("prefill: %u messages in each room (%.2f s)", O.prefill,
                 (double)(now - B.phase_start) / 1e9);
            begin_join(now);
        }
        break;
    case PH_JOIN:
        drive_join(now);
        break;
    case PH_CHAT:
    case PH_DRAIN:
        drive_chat(now);
        break;
    case PH_MAM_JOIN:
    case PH_MAM:
        drive_mam(now);
        break;
    case PH_SETTLE1:
    case PH_TOUCH:
    case PH_SETTLE2:
        drive_startup(now);
        break;
    default:
        break;
    }
}

int64_t phase_deadline(int64_t now)
{
    int64_t t = now + 10 * MS;
    if (B.phase == PH_CHAT && B.k_next < B.k_total && B.next_sched < t)
        t = B.next_sched;
    if (B.phase == PH_SETUP && O.join_rate > 0 && B.setup_next < B.M) {
        int64_t s = B.phase_start + (int64_t)((double)B.setup_next * 1e9 / O.join_rate);
        if (s < t)
            t = s;
    }
    if (B.phase == PH_JOIN && O.join_rate > 0 && B.join_next < B.N) {
        int64_t s = B.join_t0 + (int64_t)((double)(B.join_next - B.M) * 1e9 / O.join_rate);
        if (s < t)
            t = s;
    }
    if (B.phase == PH_MAM && B.mq_next < B.mq_total) {
        int64_t s = B.mam_t0 + (int64_t)((double)B.mq_next * 1e9 / O.mam_rate);
        if (s < t)
            t = s;
    }
    return t;
}
