/* bench_report.c — router mode's report: what was measured, in words on stdout and as one "RESULT {json}" line. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench_router.h"

static uint64_t count_lost(void)
{
    uint64_t lost = 0;
    for (unsigned u = 0; u < B.N; u++) {
        if (B.users[u].state != U_JOINED)
            continue;
        struct room *r = &B.rooms[B.users[u].room];
        uint64_t *row = r->bits + (size_t)(u / B.M) * r->row_words;
        for (unsigned s = B.users[u].room; s < B.S; s += B.M) {
            struct sender *sd = &B.senders[s];
            if (B.users[s].state != U_JOINED)
                continue;
            for (uint32_t q = 0; q < sd->sent; q++)
                if (!bit_get(sd->rejected, q) && !bit_get(row, sd->bit_off + q))
                    lost++;
        }
    }
    return lost;
}

/* The window's resources: CPU of confabd, PostgreSQL, the bench, the rest. */
struct usage {
    double win, cd_cpu, pg_cpu, self_cpu, other_cpu;
    struct proc_sample now;     /* confabd at the end: RSS and peak */
    uint64_t lost;
    double wdur;                /* --duration, or 1 */
};

static void usage_of(struct usage *u)
{
    const struct window_end *a = &B.w0, *b = &B.w1;
    u->win = a->t ? (double)(b->t - a->t) / 1e9 : 0;
    u->cd_cpu = b->cd.ok && a->cd.ok ? b->cd.cpu_s - a->cd.cpu_s : -1;
    u->pg_cpu = b->pg.ok && a->pg.ok ? b->pg.cpu_s - a->pg.cpu_s : -1;
    u->self_cpu = b->self - a->self;
    /* Everything else the machine did meanwhile: other processes, other tests. */
    u->other_cpu = b->busy - a->busy - (u->cd_cpu > 0 ? u->cd_cpu : 0) -
                   (u->pg_cpu > 0 ? u->pg_cpu : 0) - u->self_cpu;
    if (u->other_cpu < 0)
        u->other_cpu = 0;
    proc_sample(B.pid, false, &u->now);
    u->lost = O.scenario == SC_ROOMS && B.k_total ? count_lost() : 0;
    u->wdur = O.duration > 0 ? O.duration : 1;
}

static double joins_per_s(void)
{
    double jd = (double)(B.join_last_done - B.join_t0) / 1e9;
    return jd > 0 ? (B.joins_done - B.joins_failed) / jd : 0;
}

static double history_per_join(void)
{
    return B.joins_done > B.joins_failed ? (double)B.hist_join / (B.joins_done - B.joins_failed)
                                         : 0;
}

static double history_per_setup_join(void)
{
    return B.setup_joins_ok ? (double)B.hist_setup / B.setup_joins_ok : 0;
}

static void print_joins(void)
{
    double jd = (double)(B.join_last_done - B.join_t0) / 1e9;
    printf("  joins: %u of %u ok, %u failed, %.0f joins/s (%.3f s), history messages "
           "%.1f per join\n",
           B.joins_done - B.joins_failed, B.join_total, B.joins_failed, joins_per_s(), jd,
           history_per_join());
    hist_print("join (to subject)", &B.lat_join);
}

static void print_messages(const struct usage *u)
{
    printf("  messages: sent %" PRIu64 ", reflected %" PRIu64 ", rejected %" PRIu64
           " (resource-constraint %" PRIu64 ", not-acceptable %" PRIu64 ", other %" PRIu64
           ")\n",
           B.k_next, B.reflected, B.rejected_msgs, B.reject_by_cond[0], B.reject_by_cond[1],
           B.reject_by_cond[2] + B.reject_by_cond[3]);
    printf("  in the %.0f s window: %.0f msgs/s reflected (committed), %.0f deliveries/s\n",
           u->wdur, B.reflected_win / u->wdur, B.deliveries_win / u->wdur);
    printf("  copies: expected %" PRIu64 ", received %" PRIu64 ", LOST %" PRIu64
           ", DUPLICATED %" PRIu64 ", reordered %" PRIu64 ", misrouted %" PRIu64 "\n",
           B.expected, B.received_unique, u->lost, B.dup, B.reordered, B.misrouted);
    hist_print("latency all copies", &B.lat_all);
    hist_print("latency reflection", &B.lat_reflect);
    hist_print("latency other copies", &B.lat_fanout);
    hist_print("bench send lag", &B.lag);
}

static void print_rooms(const struct usage *u)
{
    printf("  rooms %u, users %u (%.1f per room), senders %u, offered %.0f msg/s for "
           "%.0f s after %.0f s warm-up, body %u B\n",
           B.M, B.N, (double)B.N / B.M, B.S, O.rate, O.duration, O.warmup, O.body_bytes);
    hist_print(O.existing_rooms ? "first join (room load)" : "room create+join", &B.lat_setup);
    printf("  owners' joins: %u ok, history messages %.1f per join\n", B.setup_joins_ok,
           history_per_setup_join());
    if (B.join_total)
        print_joins();
    if (B.k_total)
        print_messages(u);
}

static void print_mam(const struct usage *u)
{
    (void)u;
    printf("  room %s, %" PRIu64 " messages, page max %u, %.0f queries/s for %.0f s, mode %s%s\n",
           B.mam_room_jid, O.mam_messages, O.mam_max, O.mam_rate, O.duration, O.mam_mode,
           strcmp(O.mam_mode, "random") == 0 ? (B.mam_sid_ok ? " (ids ok)" : " (fell back to walk)")
                                             : "");
    printf("  queries %" PRIu64 " answered %" PRIu64 ", errors %" PRIu64 ", short pages %" PRIu64
           ", results %" PRIu64 "\n", B.mq_next, B.mq_done, B.mq_errors, B.mq_short,
           B.mam_results);
    hist_print("MAM page", &B.lat_mam);
}

/* RSS per room loaded after the first quarter of --touch. */
static double touch_marginal_kb(void)
{
    unsigned warm = O.touch / 4 ? O.touch / 4 : 1;
    if (O.touch <= warm)
        return 0.0;
    return (double)(B.rss_touched.rss_kb - B.rss_warm.rss_kb) / (O.touch - warm);
}

static void print_startup(const struct usage *u)
{
    (void)u;
    printf("  link up %.1f ms after start, first join served %.1f ms after start (%u probes)\n",
           (double)(B.t_up - B.t_spawn) / 1e6,
           B.t_first_served ? (double)(B.t_first_served - B.t_spawn) / 1e6 : -1.0, B.probes);
    printf("  RSS %ld KiB after start (+%u ms)", B.rss_start.rss_kb, O.settle_ms);
    if (O.touch)
        printf(", %ld KiB after loading %u rooms (%u served): %.1f KiB per loaded room; "
               "%.2f KiB per room after the first %u (%ld KiB then)",
               B.rss_touched.rss_kb, O.touch, B.touch_done,
               (double)(B.rss_touched.rss_kb - B.rss_start.rss_kb) / O.touch,
               touch_marginal_kb(), O.touch / 4, B.rss_warm.rss_kb);
    printf("\n");
}

static void print_resources(const struct usage *u)
{
    double win = u->win;
    printf("  confabd: %.2f CPU s in %.1f s (%.0f%% of a core), RSS %ld KiB, peak %ld KiB\n",
           u->cd_cpu, win, win > 0 ? 100 * u->cd_cpu / win : 0, u->now.rss_kb, u->now.hwm_kb);
    if (u->pg_cpu >= 0)
        printf("  postgres: %.2f CPU s (%.0f%% of a core)\n", u->pg_cpu,
               win > 0 ? 100 * u->pg_cpu / win : 0);
    printf("  other processes on the machine: %.0f%% of a core%s\n",
           win > 0 ? 100 * u->other_cpu / win : 0,
           win > 0 && u->other_cpu / win > 0.1 ? "  ** the machine was not quiet **" : "");
    printf("  bench itself: %.0f%% of a core; in %.1f MB (%" PRIu64 " stanzas), out %.1f MB; "
           "presence %" PRIu64 ", other %" PRIu64 ", unexpected %" PRIu64 "\n",
           win > 0 ? 100 * u->self_cpu / win : 0, B.bytes_in / 1e6, B.stanzas_in,
           B.bytes_out / 1e6, B.presence_in, B.errors_other, B.unknown_in);
}

static void json_rooms(FILE *f, const struct usage *u)
{
    fprintf(f, "\"rooms\":%u,\"users\":%u,\"senders\":%u,\"rate\":%.1f,\"duration\":%.1f,"
               "\"sent\":%" PRIu64 ",\"reflected\":%" PRIu64 ",\"rejected\":%" PRIu64
               ",\"reflected_per_s\":%.1f,\"deliveries_per_s\":%.1f,\"expected\":%" PRIu64
               ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64
               ",\"reordered\":%" PRIu64 ",\"misrouted\":%" PRIu64 ",\"joins\":%u,"
               "\"joins_failed\":%u,\"joins_per_s\":%.1f,\"history_per_join\":%.2f,"
               "\"history_per_setup_join\":%.2f,\"presences\":%" PRIu64 ",",
            B.M, B.N, B.S, O.rate, O.duration, B.k_next, B.reflected, B.rejected_msgs,
            B.reflected_win / u->wdur, B.deliveries_win / u->wdur, B.expected, B.received_unique,
            u->lost, B.dup, B.reordered, B.misrouted, B.joins_done - B.joins_failed,
            B.joins_failed, joins_per_s(), history_per_join(), history_per_setup_join(),
            B.presence_in);
    hist_json(f, "lat_all", &B.lat_all, true);
    hist_json(f, "lat_reflect", &B.lat_reflect, true);
    hist_json(f, "lat_fanout", &B.lat_fanout, true);
    hist_json(f, "lat_join", &B.lat_join, true);
    hist_json(f, "lat_setup", &B.lat_setup, true);
    hist_json(f, "send_lag", &B.lag, true);
}

static void json_mam(FILE *f, const struct usage *u)
{
    (void)u;
    fprintf(f, "\"mam_messages\":%" PRIu64 ",\"mam_max\":%u,\"mam_rate\":%.1f,\"mode\":\"%s\","
               "\"ids_ok\":%s,\"queries\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"errors\":%"
               PRIu64 ",\"short_pages\":%" PRIu64 ",",
            O.mam_messages, O.mam_max, O.mam_rate, O.mam_mode, B.mam_sid_ok ? "true" : "false",
            B.mq_next, B.mq_done, B.mq_errors, B.mq_short);
    hist_json(f, "lat_mam", &B.lat_mam, true);
}

static void json_startup(FILE *f, const struct usage *u)
{
    (void)u;
    fprintf(f, "\"link_up_ms\":%.2f,\"first_served_ms\":%.2f,\"rss_kb\":%ld,\"touched\":%u,"
               "\"touch_served\":%u,\"rss_touched_kb\":%ld,\"rss_warm_kb\":%ld,"
               "\"touch_marginal_kb\":%.2f,",
            (double)(B.t_up - B.t_spawn) / 1e6,
            B.t_first_served ? (double)(B.t_first_served - B.t_spawn) / 1e6 : -1.0,
            B.rss_start.rss_kb, O.touch, B.touch_done, B.rss_touched.rss_kb, B.rss_warm.rss_kb,
            touch_marginal_kb());
}

static void json_resources(FILE *f, const struct usage *u)
{
    double win = u->win;
    fprintf(f, "\"confabd_cpu_s\":%.3f,\"confabd_cpu_pct\":%.1f,\"confabd_rss_kb\":%ld,"
               "\"confabd_hwm_kb\":%ld,\"pg_cpu_pct\":%.1f,\"bench_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f,"
               "\"window_s\":%.3f}\n",
            u->cd_cpu, win > 0 ? 100 * u->cd_cpu / win : 0, u->now.rss_kb, u->now.hwm_kb,
            win > 0 && u->pg_cpu >= 0 ? 100 * u->pg_cpu / win : -1,
            win > 0 ? 100 * u->self_cpu / win : 0, win > 0 ? 100 * u->other_cpu / win : 0, win);
}

/* What each scenario reports, in words and in the RESULT line. */
static const struct report_ops {
    void (*print)(const struct usage *u);
    void (*json)(FILE *f, const struct usage *u);
    bool resources;     /* confabd's CPU over a measured window */
} by_scenario[] = {
    [SC_ROOMS] = { print_rooms, json_rooms, true },
    [SC_MAM] = { print_mam, json_mam, true },
    [SC_STARTUP] = { print_startup, json_startup, false },
};

void report_print(void)
{
    const struct report_ops *ops = &by_scenario[O.scenario];
    struct usage u;
    usage_of(&u);
    printf("== confab-bench %s%s%s ==\n", O.scenario_name, *O.label ? ": " : "", O.label);
    if (B.failed)
        printf("  FAILED: %s\n", B.fail_reason);
    printf("  confabd pid %d%s; parser %s\n", (int)B.pid, B.spawned ? " (spawned)" : "",
           O.xstream_parser ? "xstream (expat)" : "byte scanner");
    ops->print(&u);
    if (ops->resources)
        print_resources(&u);
    fprintf(stdout, "RESULT {\"scenario\":\"%s\",\"label\":\"%s\",\"ok\":%s,\"pid\":%d,",
            O.scenario_name, O.label, B.failed ? "false" : "true", (int)B.pid);
    ops->json(stdout, &u);
    json_resources(stdout, &u);
    fflush(stdout);
}
