/* The configuration contract: values, defaults, and every error as FILE:LINE. */
#include "unit.h"

#include <unistd.h>

#include "cfg.h"
#include "mem.h"

static const char GOOD[] =
    "; comment\n"
    "[component]\n"
    "domain = Conference.Example.COM\n"
    "router = [::1]:5348\n"
    "secret = s3cret ; inline comment\n"
    "\n"
    "[link]\n"
    "keepalive = 90s\n"
    "reconnect_min = 250ms\n"
    "reconnect_max = 1m\n"
    "max_stanza_size = 64KiB\n"
    "[compliance]\n"
    "archiver = archive.example.com\n"
    "policy = strict\n"
    "[log]\n"
    "level = debug\n";

static void test_good(void **state)
{
    struct cfg c;
    char *err = NULL;
    assert_int_equal(cfg_load_string("good.ini", GOOD, CFG_ROLE_MUC, &c, &err), 0);
    assert_null(err);
    assert_string_equal(c.component.domain, "conference.example.com");
    assert_string_equal(c.component.host, "::1");
    assert_int_equal(c.component.port, 5348);
    assert_string_equal(c.component.secret, "s3cret");
    assert_int_equal(c.link.keepalive_ms, 90000);
    assert_int_equal(c.link.reconnect_min_ms, 250);
    assert_int_equal(c.link.reconnect_max_ms, 60000);
    assert_int_equal(c.link.max_stanza_size, 65536);
    assert_int_equal(c.compliance_policy, CFG_POLICY_STRICT);
    assert_string_equal(c.compliance_archiver, "archive.example.com");
    assert_int_equal(c.log_level, LOG_DEBUG);
    /* Defaults for what the file does not say. */
    assert_string_equal(c.service_name, "Chatrooms");
    assert_string_equal(c.storage_dsn, "dbname=confab");
    assert_int_equal(c.link.connect_timeout_ms, 5000);
    assert_int_equal(c.link.reconnect_auth_max_ms, 60000);
    assert_int_equal(c.link.max_output_queue, 16 * 1024 * 1024);
    assert_string_equal(c.archiver.host, "127.0.0.1");
    assert_int_equal(c.archiver.port, 5347);
    cfg_free(&c);
}

/* Load text, expect failure, and that the message contains want. */
static void expect_error(const char *text, enum cfg_role role, const char *want)
{
    struct cfg c;
    char *err = NULL;
    int r = cfg_load_string("t.ini", text, role, &c, &err);
    if (r == 0)
        fail_msg("accepted, expected an error containing '%s'", want);
    assert_int_equal(r, -EINVAL);
    assert_non_null(err);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
    free(err);
}

#define BASE "[component]\ndomain = c.example\nsecret = x\n"

static void test_errors_have_lines(void **state)
{
    expect_error(BASE "colour = blue\n", CFG_ROLE_MUC, "t.ini:4: unknown key 'colour' in section [component]");
    expect_error(BASE "[comonent]\nrouter = a:1\n", CFG_ROLE_MUC, "t.ini:5: unknown section [comonent]");
    expect_error(BASE "secret = y\n", CFG_ROLE_MUC, "t.ini:4: [component] secret is set twice (first at line 3)");
    expect_error(BASE "[link]\nkeepalive = soon\n", CFG_ROLE_MUC, "t.ini:5: [link] keepalive must be a duration");
    expect_error(BASE "[link]\nmax_stanza_size = 10\n", CFG_ROLE_MUC, "t.ini:5: [link] max_stanza_size is out of range");
    expect_error(BASE "router = localhost\n", CFG_ROLE_MUC, "t.ini:4: [component] router must be host:port");
    expect_error(BASE "router = localhost:0\n", CFG_ROLE_MUC, "t.ini:4:");
    expect_error(BASE "router = localhost:70000\n", CFG_ROLE_MUC, "t.ini:4:");
    expect_error(BASE "[compliance]\npolicy = lax\n", CFG_ROLE_MUC, "t.ini:5: [compliance] policy must be relaxed or strict");
    expect_error(BASE "[log]\nlevel = loud\n", CFG_ROLE_MUC, "t.ini:5: [log] level must be");
    expect_error("[component]\ndomain = bad domain!\nsecret = x\n", CFG_ROLE_MUC, "t.ini:2: [component] domain is not a valid domain name");
    expect_error(BASE "just some words\n", CFG_ROLE_MUC, "t.ini:4: syntax error");
    expect_error(BASE "[link\n", CFG_ROLE_MUC, "t.ini:4: syntax error");
    expect_error(BASE "secret_file = /nonexistent/secret\n", CFG_ROLE_MUC, "t.ini:4: [component] secret_file cannot read a secret from /nonexistent/secret");
    expect_error(BASE "[link]\nreconnect_min = 5s\nreconnect_max = 1s\n", CFG_ROLE_MUC, "t.ini:5: [link] reconnect_min is larger than reconnect_max");
    expect_error("[component]\nsecret =\ndomain = a.b\n", CFG_ROLE_MUC, "t.ini:2: [component] secret must not be empty");
}

static void test_every_error_reported(void **state)
{
    struct cfg c;
    char *err = NULL;
    const char *text = BASE "a = 1\n[link]\nkeepalive = x\nnonsense\n";
    assert_int_equal(cfg_load_string("t.ini", text, CFG_ROLE_MUC, &c, &err), -EINVAL);
    assert_non_null(strstr(err, "t.ini:4: unknown key 'a'"));
    assert_non_null(strstr(err, "t.ini:6: [link] keepalive"));
    assert_non_null(strstr(err, "t.ini:7: syntax error"));
    free(err);
}

static void test_required_by_role(void **state)
{
    expect_error("[component]\ndomain = c.example\n", CFG_ROLE_MUC, "t.ini: [component] secret is required");
    expect_error("", CFG_ROLE_MUC, "t.ini: [component] domain is required");
    expect_error(BASE, CFG_ROLE_ARCHIVER, "t.ini: [archiver] domain is required");
    struct cfg c;
    char *err = NULL;
    /* The archiver does not need confabd's section, and confabctl needs neither. */
    assert_int_equal(cfg_load_string("t.ini", "[archiver]\ndomain = a.example\nsecret = z\n",
                                      CFG_ROLE_ARCHIVER, &c, &err), 0);
    assert_string_equal(c.archiver.domain, "a.example");
    cfg_free(&c);
    assert_int_equal(cfg_load_string("t.ini", "", CFG_ROLE_CTL, &c, &err), 0);
    cfg_free(&c);
}

static void test_secret_file(void **state)
{
    char path[] = "/tmp/confab-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file\nignored\n", 18), 18);
    close(fd);
    char *text = xasprintf("[component]\ndomain = c.example\nsecret_file = %s\n", path);
    struct cfg c;
    char *err = NULL;
    assert_int_equal(cfg_load_string("t.ini", text, CFG_ROLE_MUC, &c, &err), 0);
    assert_string_equal(c.component.secret, "from-file");
    cfg_free(&c);
    free(text);
    text = xasprintf(BASE "secret_file = %s\n", path);
    expect_error(text, CFG_ROLE_MUC, "t.ini:4: [component] secret_file and secret (line 3) are both set");
    free(text);
    unlink(path);
}

static void test_value_parsers(void **state)
{
    uint64_t v;
    assert_int_equal(cfg_parse_duration_ms("500ms", &v), 0);
    assert_int_equal(v, 500);
    assert_int_equal(cfg_parse_duration_ms("7", &v), 0);
    assert_int_equal(v, 7000);
    assert_int_equal(cfg_parse_duration_ms("2m", &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(cfg_parse_duration_ms("1h", &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(cfg_parse_duration_ms("-1s", &v), -EINVAL);
    assert_int_equal(cfg_parse_duration_ms("", &v), -EINVAL);
    assert_int_equal(cfg_parse_duration_ms("5 parsecs", &v), -EINVAL);
    assert_int_equal(cfg_parse_duration_ms("99999999999999999999999", &v), -ERANGE);
    assert_int_equal(cfg_parse_size("512KiB", &v), 0);
    assert_int_equal(v, 524288);
    assert_int_equal(cfg_parse_size("3 MiB", &v), 0);
    assert_int_equal(v, 3 * 1048576);
    assert_int_equal(cfg_parse_size("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(cfg_parse_size("18446744073709551615GiB", &v), -ERANGE);
    char *h = NULL;
    uint16_t p = 0;
    assert_int_equal(cfg_parse_hostport("[::1]:5347", &h, &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(p, 5347);
    free(h);
    assert_int_equal(cfg_parse_hostport("router.example:1", &h, &p), 0);
    assert_string_equal(h, "router.example");
    assert_int_equal(p, 1);
    free(h);
    assert_int_equal(cfg_parse_hostport("::1:5347", &h, &p), -EINVAL);
    assert_int_equal(cfg_parse_hostport(":5347", &h, &p), -EINVAL);
    assert_int_equal(cfg_parse_hostport("host:", &h, &p), -EINVAL);
    assert_int_equal(cfg_parse_hostport("host:12x", &h, &p), -EINVAL);
    assert_int_equal(cfg_parse_hostport("[::1]5347", &h, &p), -EINVAL);
}

static void test_reload_applies_only_reloadable(void **state)
{
    struct cfg live, fresh;
    char *err = NULL;
    assert_int_equal(cfg_load_string("a", BASE "[log]\nlevel = info\n[link]\nkeepalive = 10s\n",
                                      CFG_ROLE_MUC, &live, &err), 0);
    assert_int_equal(cfg_load_string("a", "[component]\ndomain = other.example\nsecret = x\n"
                                          "[log]\nlevel = debug\n[link]\nkeepalive = 20s\n"
                                          "[service]\nname = Rooms\n",
                                      CFG_ROLE_MUC, &fresh, &err), 0);
    cfg_apply_reload(&live, &fresh);
    assert_int_equal(live.log_level, LOG_DEBUG);
    assert_int_equal(live.link.keepalive_ms, 20000);
    assert_string_equal(live.service_name, "Rooms");
    assert_string_equal(live.component.domain, "c.example");
    cfg_free(&live);
    cfg_free(&fresh);
}

static void test_missing_file(void **state)
{
    struct cfg c;
    char *err = NULL;
    assert_int_equal(cfg_load("/nonexistent/confab.ini", CFG_ROLE_MUC, &c, &err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/confab.ini: cannot open"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_errors_have_lines),
        cmocka_unit_test(test_every_error_reported),
        cmocka_unit_test(test_required_by_role),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_value_parsers),
        cmocka_unit_test(test_reload_applies_only_reloadable),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
