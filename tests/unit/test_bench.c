/* confab-bench's pure accounting: receipt marks, histogram and result merging
 * (client mode's workers are summed by the parent with these); and the option
 * tables of both modes (bench_ropt.c, bench_copt.c) through bench_opt.c. */
#include "unit.h"

#include <unistd.h>

#include <string.h>

#include "../../src/bench/bench.h"
#include "../../src/bench/bench_client.h"
#include "../../src/bench/bench_router.h"

static void test_mark(void **state)
{
    (void)state;
    uint64_t row[2] = { 0, 0 };
    uint32_t last = 0;
    assert_int_equal(acct_mark(row, 64 + 2, &last, 3), ACCT_NEW);
    assert_int_equal(last, 3);
    assert_int_equal(acct_mark(row, 64 + 2, &last, 3), ACCT_DUP);
    assert_int_equal(acct_mark(row, 64 + 0, &last, 1), ACCT_REORDERED);
    assert_int_equal(last, 3);
    assert_int_equal(acct_mark(row, 64 + 0, &last, 1), ACCT_DUP);
    assert_int_equal(acct_mark(row, 64 + 3, &last, 4), ACCT_NEW);
    assert_true(row[1] == 0xdULL);
    assert_true(row[0] == 0);
}

static void test_merge(void **state)
{
    (void)state;
    struct cres *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    cres_init(a);
    cres_init(b);
    a->sent = 10;
    a->dup = 1;
    a->joins_ok = 3;
    a->cpu_s = 0.5;
    b->sent = 5;
    b->unsent = 2;
    for (uint64_t v = 1; v <= 100; v++)
        hist_add(&a->lat_all, v * 1000);
    for (uint64_t v = 101; v <= 200; v++)
        hist_add(&b->lat_all, v * 1000);
    b->cpu_s = 0.25;
    cres_merge(a, b);
    assert_int_equal(a->sent, 15);
    assert_int_equal(a->unsent, 2);
    assert_int_equal(a->dup, 1);
    assert_int_equal(a->joins_ok, 3);
    assert_true(a->cpu_s == 0.75);
    assert_int_equal(a->lat_all.count, 200);
    assert_int_equal(a->lat_all.max, 200000);
    assert_int_equal(a->lat_all.min, 1000);
    /* the median of the merged values, within the histogram's 1.6 % */
    uint64_t p50 = hist_pct(&a->lat_all, 50);
    assert_true(p50 >= 100000 && p50 <= 101600);
    free(a);
    free(b);
}

static void test_expected(void **state)
{
    (void)state;
    /* 3 rooms, 5 senders: sender s in room s % 3 */
    uint32_t sent1[5] = { 10, 0, 4, 0, 0 }, rej1[5] = { 1, 0, 0, 0, 0 }, joined1[3] = { 2, 1, 0 };
    uint32_t sent2[5] = { 0, 7, 0, 3, 2 }, rej2[5] = { 0, 0, 0, 0, 5 }, joined2[3] = { 1, 1, 4 };
    struct cres_arrays x = { sent1, rej1, joined1 }, y = { sent2, rej2, joined2 };
    cres_arrays_add(&x, &y, 5, 3);
    assert_int_equal(joined1[0], 3);
    assert_int_equal(joined1[2], 4);
    /* room 0: (10-1 + 3) * 3; room 1: (7 + 0 [2 sent, 5 rejected: clamp]) * 2; room 2: 4 * 4 */
    assert_int_equal(cres_expected(&x, 5, 3), (uint64_t)(12 * 3 + 7 * 2 + 4 * 4));
    assert_int_equal(cres_expected(&x, 5, 0), 0);
}

static void test_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    uint32_t out[100], in[100];
    for (int i = 0; i < 100; i++)
        out[i] = (uint32_t)i * 7;
    assert_int_equal(cres_write_all(p[1], out, sizeof out), 0);
    close(p[1]);
    assert_int_equal(cres_read_all(p[0], in, sizeof in), 0);
    assert_memory_equal(in, out, sizeof out);
    /* a short stream is an error, not a partial success */
    assert_int_equal(cres_read_all(p[0], in, 4), -1);
    close(p[0]);
}

/* ---- option tables ---- */

#define ARGV(...) ((char *[]){ "confab-bench", __VA_ARGS__, NULL })
#define ARGC(v) ((int)(sizeof(v) / sizeof(char *)) - 1)

static int rparse(struct ropts *o, struct opt_result *res, int argc, char **argv)
{
    return ropt_parse(o, argc, argv, res);
}

/* Router mode needs a domain, secret and address; these make a command line complete. */
#define RBASE "--domain", "muc.example", "--secret", "s3", "--listen", "127.0.0.1:5999"

static void test_ropt_defaults(void **state)
{
    (void)state;
    struct ropts o;
    struct opt_result res;
    char **v = ARGV(RBASE);
    assert_int_equal(rparse(&o, &res, ARGC(ARGV(RBASE)), v), 0);
    assert_string_equal(o.domain, "muc.example");
    assert_string_equal(o.secret, "s3");
    assert_string_equal(o.listen_host, "127.0.0.1");
    assert_int_equal(o.listen_port, 5999);
    assert_string_equal(o.scenario_name, "chat");
    assert_int_equal(o.scenario, SC_ROOMS);
    assert_int_equal(o.rooms, 10);
    assert_int_equal(o.occupants, 10);
    assert_int_equal(o.users, 0);
    assert_int_equal(o.senders, 0);
    assert_true(o.rate == 1000 && o.duration == 10 && o.warmup == 2 && o.drain == 10);
    assert_int_equal(o.body_bytes, 64);
    assert_int_equal(o.history, -1);
    assert_int_equal(o.prefill, 0);
    assert_true(o.join_rate == 0);
    assert_int_equal(o.setup_window, 256);
    assert_true(o.phase_timeout == 300);
    assert_true(o.mam_rate == 100);
    assert_int_equal(o.mam_max, 50);
    assert_int_equal(o.mam_messages, 0);
    assert_string_equal(o.mam_mode, "random");
    assert_int_equal(o.touch, 0);
    assert_int_equal(o.settle_ms, 1000);
    assert_string_equal(o.parser, "scan");
    assert_false(o.xstream_parser);
    assert_string_equal(o.label, "");
    assert_string_equal(o.room_prefix, "room");
    assert_string_equal(o.user_domain, "bench.local");
    assert_int_equal(o.seed, 1);
    assert_false(o.poisson || o.persistent || o.existing_rooms || o.quiet || o.spawn);
    assert_int_equal(o.pid, 0);
    assert_int_equal(o.pg_pid, 0);
    assert_null(o.spawn_argv);
    assert_null(o.config);
    assert_null(o.mam_room);
    assert_null(o.probe_room);
    assert_null(o.spawn_log);
    /* storm: no chat and 20 history messages, unless given */
    char **st = ARGV(RBASE, "--scenario", "storm");
    assert_int_equal(rparse(&o, &res, ARGC(ARGV(RBASE, "--scenario", "storm")), st), 0);
    assert_true(o.rate == 0);
    assert_int_equal(o.prefill, 20);
    assert_int_equal(o.scenario, SC_ROOMS);
    char **st2 = ARGV(RBASE, "--scenario", "storm", "--rate", "5", "--prefill", "0");
    assert_int_equal(rparse(&o, &res, ARGC(ARGV(RBASE, "--scenario", "storm", "--rate", "5",
                                                 "--prefill", "0")), st2), 0);
    assert_true(o.rate == 5);
    assert_int_equal(o.prefill, 0);
}

/* Every row of the router table, with a value and where it must land. A row
 * added to the table without a line here fails test_ropt_every_option. */
static void test_ropt_every_option(void **state)
{
    (void)state;
    struct ropts o;
    struct opt_result res;
    char **v = ARGV(RBASE, "--scenario", "mam", "--pid", "123", "--pg-pid", "456",
                    "--spawn-log", "x.log", "--rooms", "7", "--occupants", "3", "--users", "30",
                    "--senders", "5", "--rate", "2.5", "--duration", "4", "--warmup", "0.5",
                    "--drain", "1", "--poisson", "--body-bytes", "200", "--persistent",
                    "--existing-rooms", "--room-prefix", "big", "--user-domain", "u.example",
                    "--history", "0", "--prefill", "9", "--join-rate", "100", "--mam-room",
                    "r@m", "--mam-messages", "10000000000", "--mam-rate", "50", "--mam-max", "20",
                    "--mam-mode", "last", "--probe-room", "p@m", "--touch", "1000",
                    "--settle-ms", "250", "--parser", "xstream", "--label", "L1", "--timeout",
                    "60", "--seed", "42", "--quiet", "--spawn", "--", "confabd", "-f");
    int argc = 0;
    while (v[argc])
        argc++;
    assert_int_equal(rparse(&o, &res, argc, v), 0);
    assert_int_equal(o.scenario, SC_MAM);
    assert_int_equal(o.pid, 123);
    assert_int_equal(o.pg_pid, 456);
    assert_string_equal(o.spawn_log, "x.log");
    assert_int_equal(o.rooms, 7);
    assert_int_equal(o.occupants, 3);
    assert_int_equal(o.users, 30);
    assert_int_equal(o.senders, 5);
    assert_true(o.rate == 2.5 && o.duration == 4 && o.warmup == 0.5 && o.drain == 1);
    assert_true(o.poisson && o.persistent && o.existing_rooms && o.quiet && o.spawn);
    assert_int_equal(o.body_bytes, 200);
    assert_string_equal(o.room_prefix, "big");
    assert_string_equal(o.user_domain, "u.example");
    assert_int_equal(o.history, 0);
    assert_int_equal(o.prefill, 9);
    assert_true(o.join_rate == 100);
    assert_string_equal(o.mam_room, "r@m");
    assert_true(o.mam_messages == 10000000000ULL);
    assert_true(o.mam_rate == 50);
    assert_int_equal(o.mam_max, 20);
    assert_string_equal(o.mam_mode, "last");
    assert_string_equal(o.probe_room, "p@m");
    assert_int_equal(o.touch, 1000);
    assert_int_equal(o.settle_ms, 250);
    assert_true(o.xstream_parser);
    assert_string_equal(o.label, "L1");
    assert_true(o.phase_timeout == 60);
    assert_int_equal(o.seed, 42);
    assert_non_null(o.spawn_argv);
    assert_string_equal(o.spawn_argv[0], "confabd");
    assert_string_equal(o.spawn_argv[1], "-f");
    /* every row was on that command line (config and help below) */
    for (size_t i = 0; i < ropt_count; i++) {
        const char *n = ropt_table[i].name;
        if (strcmp(n, "config") && strcmp(n, "help"))
            assert_true(res.seen[i] || (fprintf(stderr, "untested: --%s\n", n), 0));
    }
    /* --name=value, -h, --help */
    char **eq = ARGV(RBASE, "--rooms=12");
    assert_int_equal(rparse(&o, &res, ARGC(ARGV(RBASE, "--rooms=12")), eq), 0);
    assert_int_equal(o.rooms, 12);
    char **h = ARGV("-h");
    assert_int_equal(rparse(&o, &res, 1 + 1, h), 1);
    char **h2 = ARGV("--help");
    assert_int_equal(rparse(&o, &res, 1 + 1, h2), 1);
}

static void test_ropt_config(void **state)
{
    (void)state;
    char path[] = "/tmp/test_bench_cfgXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char ini[] = "[component]\ndomain = conf.example\nsecret = abc\n"
                       "router = localhost:5347\n";
    assert_int_equal(write(fd, ini, sizeof ini - 1), (ssize_t)(sizeof ini - 1));
    close(fd);
    struct ropts o;
    struct opt_result res;
    char **v = ARGV("-c", path);
    assert_int_equal(rparse(&o, &res, 3, v), 0);
    unlink(path);
    assert_string_equal(o.domain, "conf.example");
    assert_string_equal(o.secret, "abc");
    assert_string_equal(o.listen_host, "127.0.0.1");   /* localhost is IPv4 loopback */
    assert_int_equal(o.listen_port, 5347);
}

/* A bad value fails with a message that names the option. */
static void expect_rerr(int argc, char **argv, const char *needle)
{
    struct ropts o;
    struct opt_result res;
    assert_int_equal(rparse(&o, &res, argc, argv), -1);
    if (!strstr(res.err, needle))
        fail_msg("error '%s' does not mention '%s'", res.err, needle);
}

static void test_ropt_errors(void **state)
{
    (void)state;
    expect_rerr(9, ARGV(RBASE, "--rooms", "abc"), "--rooms");
    expect_rerr(9, ARGV(RBASE, "--rooms", "-3"), "--rooms");
    expect_rerr(9, ARGV(RBASE, "--rooms", "5000000000"), "--rooms");
    expect_rerr(9, ARGV(RBASE, "--rate", "fast"), "--rate");
    expect_rerr(9, ARGV(RBASE, "--rate", "-1"), "--rate");
    expect_rerr(9, ARGV(RBASE, "--duration", "inf"), "--duration");
    expect_rerr(9, ARGV(RBASE, "--history", "-2"), "--history");
    expect_rerr(9, ARGV(RBASE, "--scenario", "party"), "--scenario");
    expect_rerr(9, ARGV(RBASE, "--parser", "sax"), "--parser");
    expect_rerr(9, ARGV(RBASE, "--mam-mode", "any"), "--mam-mode");
    expect_rerr(9, ARGV(RBASE, "--pid", "12x"), "--pid");
    expect_rerr(9, ARGV(RBASE, "--mam-messages", "1e6"), "--mam-messages");
    expect_rerr(8, ARGV(RBASE, "--rooms"), "--rooms");
    expect_rerr(8, ARGV(RBASE, "--no-such"), "--no-such");
    expect_rerr(7, ARGV("--domain", "d", "--secret", "s", "--listen", "nowhere"), "--listen");
    expect_rerr(8, ARGV(RBASE, "stray"), "stray");
    expect_rerr(8, ARGV(RBASE, "--spawn"), "--spawn");
    expect_rerr(9, ARGV(RBASE, "--scenario", "startup"), "--spawn");
    expect_rerr(9, ARGV(RBASE, "--scenario", "mam"), "--mam-room");
    expect_rerr(2, ARGV("--quiet"), "--config");
}

/* The table itself: defaults that parse, unique names, help on every row. */
static void check_table(const struct opt *t, size_t n)
{
    assert_true(n <= OPT_MAX);
    for (size_t i = 0; i < n; i++) {
        char err[256];
        unsigned char scratch[1024] = { 0 };
        assert_non_null(t[i].help);
        assert_non_null(opt_find(t, n, t[i].name));
        assert_ptr_equal(opt_find(t, n, t[i].name), &t[i]);
        if (t[i].def && t[i].type != OPT_FUNC && t[i].type != OPT_FLAG && t[i].type != OPT_HELP)
            assert_int_equal(opt_set(&t[i], scratch, t[i].def, err, sizeof err), 0);
    }
}

static void test_tables(void **state)
{
    (void)state;
    check_table(ropt_table, ropt_count);
    check_table(copt_table, copt_count);
    /* --help: one line per option, with its default */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opt_usage(f, ropt_table, ropt_count);
    fclose(f);
    assert_non_null(strstr(text, "      --rooms M"));
    assert_non_null(strstr(text, "(default 10)\n"));
    assert_non_null(strstr(text, "--scenario S"));
    assert_non_null(strstr(text, "(default chat)\n"));
    assert_non_null(strstr(text, "  -c, --config FILE"));
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    size_t groups = 4;   /* rooms, mam, startup, other */
    assert_int_equal(lines, ropt_count + groups);
    free(text);
}

#define CBASE "--mode", "client", "--muc", "muc.example"

static void test_copt_defaults(void **state)
{
    (void)state;
    struct copts c;
    struct opt_result res;
    char **v = ARGV(CBASE);
    assert_int_equal(copt_parse(&c, 5, v, &res), 0);
    assert_string_equal(c.muc, "muc.example");
    assert_string_equal(c.server_host, "127.0.0.1");
    assert_int_equal(c.server_port, 5222);
    assert_string_equal(c.domain, "localhost");
    assert_string_equal(c.user_prefix, "user");
    assert_string_equal(c.password, "bench");
    assert_string_equal(c.room_prefix, "bench");
    assert_string_equal(c.label, "");
    assert_int_equal(c.rooms, 10);
    assert_int_equal(c.occupants, 10);
    assert_int_equal(c.users, 0);
    assert_int_equal(c.senders, 0);
    assert_int_equal(c.workers, 0);
    assert_int_equal(c.window, 32);
    assert_true(c.rate == 1000 && c.duration == 10 && c.warmup == 2 && c.drain == 10);
    assert_true(c.timeout == 120 && c.idle_end == 3);
    assert_int_equal(c.body_bytes, 64);
    assert_int_equal(c.seed, 1);
    assert_int_equal(c.npids, 0);
    assert_false(c.poisson || c.quiet);
    copt_free(&c);
}

static void test_copt_every_option(void **state)
{
    (void)state;
    struct copts c;
    struct opt_result res;
    char **v = ARGV(CBASE, "--server", "10.0.0.1:5223", "--domain", "d.example",
                    "--user-prefix", "u", "--password", "pw", "--room-prefix", "r", "--rooms",
                    "4", "--occupants", "5", "--users", "21", "--senders", "6", "--rate", "40",
                    "--duration", "2", "--warmup", "0.5", "--drain", "5", "--idle-end", "1.5",
                    "--poisson", "--body-bytes", "65536", "--workers", "3", "--window", "8",
                    "--pid", "confabd=11", "--pid", "postgres=22", "--timeout", "30", "--label",
                    "x", "--seed", "9", "--quiet");
    int argc = 0;
    while (v[argc])
        argc++;
    assert_int_equal(copt_parse(&c, argc, v, &res), 0);
    assert_string_equal(c.server_host, "10.0.0.1");
    assert_int_equal(c.server_port, 5223);
    assert_string_equal(c.domain, "d.example");
    assert_string_equal(c.user_prefix, "u");
    assert_string_equal(c.password, "pw");
    assert_string_equal(c.room_prefix, "r");
    assert_int_equal(c.rooms, 4);
    assert_int_equal(c.occupants, 5);
    assert_int_equal(c.users, 21);
    assert_int_equal(c.senders, 6);
    assert_true(c.rate == 40 && c.duration == 2 && c.warmup == 0.5 && c.drain == 5);
    assert_true(c.idle_end == 1.5 && c.timeout == 30);
    assert_true(c.poisson && c.quiet);
    assert_int_equal(c.body_bytes, 65536);
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.window, 8);
    assert_int_equal(c.npids, 2);
    assert_string_equal(c.pid_name[0], "confabd");
    assert_int_equal(c.pid[0], 11);
    assert_string_equal(c.pid_name[1], "postgres");
    assert_int_equal(c.pid[1], 22);
    assert_string_equal(c.label, "x");
    assert_int_equal(c.seed, 9);
    for (size_t i = 0; i < copt_count; i++)
        if (strcmp(copt_table[i].name, "help"))
            assert_true(res.seen[i] ||
                        (fprintf(stderr, "untested: --%s\n", copt_table[i].name), 0));
    copt_free(&c);
}

static void expect_cerr(int argc, char **argv, const char *needle)
{
    struct copts c;
    struct opt_result res;
    assert_int_equal(copt_parse(&c, argc, argv, &res), -1);
    copt_free(&c);
    if (!strstr(res.err, needle))
        fail_msg("error '%s' does not mention '%s'", res.err, needle);
}

static void test_copt_errors(void **state)
{
    (void)state;
    expect_cerr(7, ARGV(CBASE, "--rooms", "2.5"), "--rooms");
    expect_cerr(7, ARGV(CBASE, "--rate", "x"), "--rate");
    expect_cerr(7, ARGV(CBASE, "--window", "0"), "--window");
    expect_cerr(7, ARGV(CBASE, "--body-bytes", "65537"), "--body-bytes");
    expect_cerr(7, ARGV(CBASE, "--server", "nohost"), "--server");
    expect_cerr(7, ARGV(CBASE, "--server", "h:70000"), "--server");
    expect_cerr(7, ARGV(CBASE, "--pid", "confabd"), "--pid");
    expect_cerr(7, ARGV(CBASE, "--pid", "=5"), "--pid");
    expect_cerr(5, ARGV("--mode", "router", "--muc", "m"), "--mode");
    expect_cerr(3, ARGV("--mode", "client"), "--muc");
    expect_cerr(6, ARGV(CBASE, "--drain"), "--drain");
    expect_cerr(6, ARGV(CBASE, "extra"), "extra");
    struct copts c;
    struct opt_result res;
    char **many = ARGV(CBASE, "--pid", "a=1", "--pid", "a=2", "--pid", "a=3", "--pid", "a=4",
                       "--pid", "a=5", "--pid", "a=6", "--pid", "a=7", "--pid", "a=8");
    assert_int_equal(copt_parse(&c, 5 + 16, many, &res), 0);
    assert_int_equal(c.npids, MAX_PIDS);
    copt_free(&c);
    char **nine = ARGV(CBASE, "--pid", "a=1", "--pid", "a=2", "--pid", "a=3", "--pid", "a=4",
                       "--pid", "a=5", "--pid", "a=6", "--pid", "a=7", "--pid", "a=8", "--pid",
                       "a=9");
    expect_cerr(5 + 18, nine, "--pid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_expected),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_ropt_defaults),
        cmocka_unit_test(test_ropt_every_option),
        cmocka_unit_test(test_ropt_config),
        cmocka_unit_test(test_ropt_errors),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_copt_defaults),
        cmocka_unit_test(test_copt_every_option),
        cmocka_unit_test(test_copt_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
