/* test_jid.c — RFC 7622 parsing, preparation and comparison of JIDs.
 *
 * Expected prepared forms were checked against libidn 1.41 (Debian 12); a few
 * of them (ß folding, NBSP becoming a space) are stringprep-era behaviour that
 * PRECIS would not share, and are asserted so a change of library shows up. */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stringprep.h>

#include "jid.h"
#include "mem.h"

/* U+FDFA prepares (NFKC) to an 18-character Arabic phrase of 33 bytes. */
#define FDFA "\xef\xb7\xba"
#define FDFA_PREPPED_LEN 33
#define SOFT_HYPHEN "\xc2\xad"

static char poison[] = "poison";

static char *repeat(const char *unit, size_t times)
{
    size_t ulen = strlen(unit);
    char *s = xmalloc(ulen * times + 1);

    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ulen, unit, ulen);
    s[ulen * times] = '\0';
    return s;
}

/* A domain of exactly len bytes made of 62-byte labels, well inside DNS's
 * 63, so only the length limit can be what rejects it. */
static char *domain_of_len(size_t len)
{
    char *s = xmalloc(len + 1);

    for (size_t i = 0; i < len; i++)
        s[i] = (i % 63 == 62) ? '.' : 'd';
    if (len > 0 && s[len - 1] == '.')
        s[len - 1] = 'd';
    s[len] = '\0';
    return s;
}

static void assert_part(const char *got, const char *want)
{
    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
}

static void expect_parts(const char *in, const char *node, const char *domain,
                         const char *resource)
{
    struct jid j;

    assert_int_equal(jid_parse(&j, in), 0);
    assert_part(j.node, node);
    assert_part(j.domain, domain);
    assert_part(j.resource, resource);
    jid_clear(&j);
}

/* Also checks the contract that a failed parse leaves *j empty, starting from
 * a struct that holds (non-owned) garbage. */
static void expect_error(const char *in, int err)
{
    struct jid j = { poison, poison, poison };

    assert_int_equal(jid_parse(&j, in), err);
    assert_null(j.node);
    assert_null(j.domain);
    assert_null(j.resource);
}

static bool parse_equal(const char *a, const char *b, bool bare)
{
    struct jid ja, jb;
    bool eq;

    assert_int_equal(jid_parse(&ja, a), 0);
    assert_int_equal(jid_parse(&jb, b), 0);
    eq = bare ? jid_bare_equal(&ja, &jb) : jid_equal(&ja, &jb);
    jid_clear(&ja);
    jid_clear(&jb);
    return eq;
}

static void t_full_jid(void **state)
{
    expect_parts("alice@example.com/phone", "alice", "example.com", "phone");
}

static void t_optional_parts(void **state)
{
    expect_parts("example.com", NULL, "example.com", NULL);
    expect_parts("alice@example.com", "alice", "example.com", NULL);
    expect_parts("example.com/phone", NULL, "example.com", "phone");
}

static void t_casefold_node_and_domain(void **state)
{
    expect_parts("Alice@Example.COM", "alice", "example.com", NULL);
    assert_true(parse_equal("Alice@Example.COM", "alice@example.com", false));
    assert_true(parse_equal("ALICE@EXAMPLE.COM/x", "alice@example.com/x", false));
}

static void t_resource_case_preserved(void **state)
{
    expect_parts("alice@example.com/Phone", "alice", "example.com", "Phone");
    assert_false(parse_equal("alice@example.com/Phone", "alice@example.com/phone", false));
}

static void t_trailing_dot(void **state)
{
    expect_parts("alice@example.com./r", "alice", "example.com", "r");
    assert_true(parse_equal("example.com.", "example.com", false));
    /* Only the root label's dot goes; a second one leaves an empty label. */
    expect_error("example.com..", -EINVAL);
    expect_error(".", -EINVAL);
    expect_error("alice@.", -EINVAL);
    expect_error(".example.com", -EINVAL);
    expect_error("a..example.com", -EINVAL);
}

static void t_resource_with_at_and_slash(void **state)
{
    expect_parts("alice@example.com/c@d/e", "alice", "example.com", "c@d/e");
    /* The '@' after the first '/' does not start a node. */
    expect_parts("example.com/alice@example.org", NULL, "example.com", "alice@example.org");
    expect_parts("example.com//", NULL, "example.com", "/");
}

static void t_empty_parts(void **state)
{
    expect_error("@example.com", -EINVAL);
    expect_error("alice@example.com/", -EINVAL);
    expect_error("alice@", -EINVAL);
    expect_error("alice@/phone", -EINVAL);
    expect_error("/phone", -EINVAL);
    expect_error("@", -EINVAL);
    expect_error("@/", -EINVAL);
}

static void t_empty_input(void **state)
{
    expect_error("", -EINVAL);
}

static void t_node_forbidden_chars(void **state)
{
    static const char *const bad[] = {
        "a b@example.com", "a\"b@example.com", "a'b@example.com", "a:b@example.com",
        "a&b@example.com", "a<b@example.com", "a>b@example.com", "a\tb@example.com",
        "a\177b@example.com",
        /* FULLWIDTH COMMERCIAL AT turns into '@' under NFKC, then is prohibited. */
        "a\357\274\240b@example.com",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_error(bad[i], -EINVAL);
    expect_parts("a.b-c_d+e@example.com", "a.b-c_d+e", "example.com", NULL);
}

static void t_domain_forbidden_chars(void **state)
{
    static const char *const bad[] = {
        "exa mple.com", "alice@exa_mple.com", "example.com:5222", "a@b@example.com",
        "exa\x01mple.com",
        /* FULLWIDTH SOLIDUS survives Nameprep as '/', which must not be let in. */
        "example\357\274\217com",
        /* Fullwidth full stop becomes '.', giving the domain an empty label. */
        "example.com\xef\xbc\x8e",
        /* IDEOGRAPHIC SPACE is in Nameprep's prohibition table. */
        "exa\xe3\x80\x80mple.com",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_error(bad[i], -EINVAL);
}

static void t_idn_domain(void **state)
{
    /* Nameprep keeps the U-label as NFKC UTF-8; there is no ToASCII step. */
    expect_parts("r\xc3\xa4ksm\xc3\xb6rg\xc3\xa5s.example", NULL,
                 "r\xc3\xa4ksm\xc3\xb6rg\xc3\xa5s.example", NULL);
    expect_parts("R\xc3\x84KSM\xc3\x96RG\xc3\x85S.EXAMPLE", NULL,
                 "r\xc3\xa4ksm\xc3\xb6rg\xc3\xa5s.example", NULL);
    /* Decomposed a + COMBINING DIAERESIS composes to the same domain. */
    assert_true(parse_equal("ra\xcc\x88ksm\xc3\xb6rg\xc3\xa5s.example",
                            "r\xc3\xa4ksm\xc3\xb6rg\xc3\xa5s.example", false));
    /* Nameprep is IDNA2003: sharp s folds to "ss" (IDNA2008 would keep it). */
    expect_parts("stra\xc3\x9f" "e.example", NULL, "strasse.example", NULL);
}

static void t_nfkc_node(void **state)
{
    /* FULLWIDTH LATIN CAPITAL A + "lice" */
    expect_parts("\xef\xbc\xa1lice@example.com", "alice", "example.com", NULL);
    /* KELVIN SIGN folds to k; LATIN SMALL LIGATURE FI to "fi". */
    expect_parts("\xe2\x84\xaa" "@example.com", "k", "example.com", NULL);
    expect_parts("\xef\xac\x81" "@example.com", "fi", "example.com", NULL);
    /* A zero-width space maps to nothing, so it cannot make two JIDs differ. */
    assert_true(parse_equal("al\xe2\x80\x8bice@example.com", "alice@example.com", false));
}

static void t_node_prepares_to_empty(void **state)
{
    expect_error(SOFT_HYPHEN "@example.com", -EINVAL);
    expect_error("example.com/" SOFT_HYPHEN, -EINVAL);
}

static void t_unassigned_rejected(void **state)
{
    /* U+0221 was unassigned in Unicode 3.2, the version stringprep is frozen at. */
    expect_error("\xc8\xa1@example.com", -EINVAL);
    expect_error("\xc8\xa1.example.com", -EINVAL);
}

static void t_unassigned_resource_routed(void **state)
{
    /* A resource is only routed: clients name devices with emoji (U+1F916 is
     * unassigned in Unicode 3.2), and the router accepts them. As a stored
     * string (a room nick) it is refused by jid_resource_strict. */
    expect_parts("example.com/\xc8\xa1", NULL, "example.com", "\xc8\xa1");
    expect_parts("example.com/\xf0\x9f\xa4\x96", NULL, "example.com", "\xf0\x9f\xa4\x96");
    assert_false(jid_resource_strict("\xf0\x9f\xa4\x96"));
    assert_false(jid_resource_strict("\xc8\xa1"));
    assert_true(jid_resource_strict("Romeo"));
    assert_true(jid_resource_strict("J\xc3\xbcrgen"));
}

static void t_bidi_rule(void **state)
{
    /* Mixing a right-to-left letter (HEBREW ALEF) with a left-to-right one. */
    expect_error("example.com/\xd7\x90" "a", -EINVAL);
    expect_parts("example.com/\xd7\x90\xd7\x91", NULL, "example.com", "\xd7\x90\xd7\x91");
}

static void t_node_length(void **state)
{
    char *node = repeat("n", JID_PART_MAX);
    char *ok = xasprintf("%s@example.com", node);
    char *bad = xasprintf("%sn@example.com", node);
    struct jid j;

    assert_int_equal(jid_parse(&j, ok), 0);
    assert_int_equal(strlen(j.node), JID_PART_MAX);
    jid_clear(&j);
    expect_error(bad, -ENAMETOOLONG);
    free(node);
    free(ok);
    free(bad);
}

static void t_domain_length(void **state)
{
    char *d1023 = domain_of_len(JID_PART_MAX);
    char *d1024 = domain_of_len(JID_PART_MAX + 1);
    char *rooted = xasprintf("%s.", d1023);
    char *domain = NULL;

    assert_int_equal(strlen(d1023), JID_PART_MAX);
    expect_parts(d1023, NULL, d1023, NULL);
    /* The root dot is not counted: 1024 input bytes, 1023-byte domain. */
    expect_parts(rooted, NULL, d1023, NULL);
    expect_error(d1024, -ENAMETOOLONG);
    assert_int_equal(jid_prep_domain(d1024, &domain), -ENAMETOOLONG);
    assert_null(domain);
    free(d1023);
    free(d1024);
    free(rooted);
}

static void t_resource_length(void **state)
{
    char *res = repeat("r", JID_PART_MAX);
    char *ok = xasprintf("example.com/%s", res);
    char *bad = xasprintf("example.com/%sr", res);
    char *nick = NULL;
    struct jid j;

    assert_int_equal(jid_parse(&j, ok), 0);
    assert_int_equal(strlen(j.resource), JID_PART_MAX);
    jid_clear(&j);
    expect_error(bad, -ENAMETOOLONG);
    assert_int_equal(jid_prep_resource(res, &nick), 0);
    assert_int_equal(strlen(nick), JID_PART_MAX);
    free(nick);
    assert_int_equal(jid_prep_resource(bad + strlen("example.com/"), &nick), -ENAMETOOLONG);
    assert_null(nick);
    free(res);
    free(ok);
    free(bad);
}

/* The limit is on the prepared form, so growth under NFKC counts. */
static void t_length_after_expansion(void **state)
{
    char *exact = repeat(FDFA, JID_PART_MAX / FDFA_PREPPED_LEN);
    char *over = repeat(FDFA, JID_PART_MAX / FDFA_PREPPED_LEN + 1);
    /* ~3300 bytes once prepared: more than libidn is given room for. */
    char *huge = repeat(FDFA, 100);
    char *viii = repeat("\xe2\x85\xb7", 300); /* SMALL ROMAN NUMERAL EIGHT -> "viii" */
    char *s;

    assert_int_equal(JID_PART_MAX % FDFA_PREPPED_LEN, 0);
    assert_int_equal(jid_prep_resource(exact, &s), 0);
    assert_int_equal(strlen(s), JID_PART_MAX);
    free(s);
    assert_int_equal(jid_prep_resource(over, &s), -ENAMETOOLONG);
    assert_int_equal(jid_prep_resource(huge, &s), -ENAMETOOLONG);
    assert_null(s);

    s = xasprintf("%s@example.com", viii); /* 900 bytes in, 1200 prepared */
    expect_error(s, -ENAMETOOLONG);
    free(s);
    free(exact);
    free(over);
    free(huge);
    free(viii);
}

/* Characters that map to nothing may take an input part past the limit. */
static void t_length_after_shrinking(void **state)
{
    char *node = repeat("n", JID_PART_MAX);
    char *hyphens = repeat(SOFT_HYPHEN, 50);
    char *in = xasprintf("%s%s@example.com", hyphens, node);
    struct jid j;

    assert_int_equal(jid_parse(&j, in), 0);
    assert_string_equal(j.node, node);
    jid_clear(&j);
    free(node);
    free(hyphens);
    free(in);
}

static void t_total_input_bound(void **state)
{
    char *node = repeat("n", JID_PART_MAX);
    char *domain = domain_of_len(JID_PART_MAX);
    char *res = repeat("r", JID_PART_MAX);
    char *max = xasprintf("%s@%s./%s", node, domain, res);
    /* Would prepare to the node "a", but is refused before any preparation. */
    char *hyphens = repeat(SOFT_HYPHEN, 1600);
    char *padded = xasprintf("a%s@example.com", hyphens);
    struct jid j;

    assert_int_equal(strlen(max), 3 * JID_PART_MAX + 3);
    assert_int_equal(jid_parse(&j, max), 0);
    assert_int_equal(strlen(j.node) + strlen(j.domain) + strlen(j.resource), 3 * JID_PART_MAX);
    jid_clear(&j);
    expect_error(padded, -ENAMETOOLONG);
    free(node);
    free(domain);
    free(res);
    free(max);
    free(hyphens);
    free(padded);
}

static void t_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xff@example.com",          /* never valid */
        "a\x80@example.com",         /* lone continuation byte */
        "\xc0\xaf@example.com",      /* overlong '/' */
        "\xe0\x80\xaf@example.com",  /* overlong, three bytes */
        "example.com/\xed\xa0\x80",  /* UTF-16 surrogate */
        "example.com/\xf4\x90\x80\x80", /* above U+10FFFF */
        "example.com/abc\xc3",       /* truncated at the end */
        "exam\xc3ple.com",           /* truncated mid-string */
        "ex\342\202ample.com",
    };
    char *out = poison;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        expect_error(bad[i], -EINVAL);
    assert_int_equal(jid_prep_resource("ni\xc3" "ck", &out), -EINVAL);
    assert_null(out);
}

static void t_bare_vs_full_equal(void **state)
{
    assert_true(parse_equal("alice@example.com/a", "alice@example.com/b", true));
    assert_false(parse_equal("alice@example.com/a", "alice@example.com/b", false));
    assert_true(parse_equal("alice@example.com", "alice@example.com/b", true));
    assert_false(parse_equal("alice@example.com", "alice@example.com/b", false));
    assert_false(parse_equal("alice@example.com/a", "bob@example.com/a", true));
    assert_false(parse_equal("alice@example.com/a", "alice@example.org/a", true));
    /* An absent node is not an empty or any other node. */
    assert_false(parse_equal("example.com", "alice@example.com", true));
    assert_true(parse_equal("example.com", "example.com", false));
}

static void t_equal_on_built_structs(void **state)
{
    struct jid a = { NULL, (char *)"example.com", NULL };
    struct jid b = { NULL, (char *)"example.com", NULL };
    struct jid c = { (char *)"x", (char *)"example.com", NULL };

    assert_true(jid_equal(&a, &b));
    assert_false(jid_equal(&a, &c));
    assert_false(jid_equal(&c, &a));
    b.resource = (char *)"r";
    assert_false(jid_equal(&a, &b));
    assert_true(jid_bare_equal(&a, &b));
}

static void t_format_round_trip(void **state)
{
    static const struct {
        const char *in, *full, *bare;
    } cases[] = {
        { "Alice@Example.COM./Phone", "alice@example.com/Phone", "alice@example.com" },
        { "example.com", "example.com", "example.com" },
        { "example.com/a@b/c", "example.com/a@b/c", "example.com" },
        { "\xef\xbc\xa1@[0:0::1]/ x ", "a@[::1]/ x ", "a@[::1]" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct jid j, again;
        char *full, *bare;

        assert_int_equal(jid_parse(&j, cases[i].in), 0);
        full = jid_format(&j, false);
        bare = jid_format(&j, true);
        assert_string_equal(full, cases[i].full);
        assert_string_equal(bare, cases[i].bare);
        assert_int_equal(jid_parse(&again, full), 0);
        assert_true(jid_equal(&j, &again));
        jid_clear(&again);
        assert_int_equal(jid_parse(&again, bare), 0);
        assert_true(jid_bare_equal(&j, &again));
        assert_null(again.resource);
        jid_clear(&again);
        jid_clear(&j);
        free(full);
        free(bare);
    }
}

static void t_ipv6_literal(void **state)
{
    expect_parts("room@[::1]/nick", "room", "[::1]", "nick");
    expect_parts("[2001:DB8::A]", NULL, "[2001:db8::a]", NULL);
    assert_true(parse_equal("[0:0:0:0:0:0:0:1]", "[::1]", false));
    expect_parts("[::ffff:192.0.2.1]", NULL, "[::ffff:192.0.2.1]", NULL);
    expect_error("[::1", -EINVAL);
    expect_error("[]", -EINVAL);
    expect_error("[example.com]", -EINVAL);
    expect_error("[192.0.2.1]", -EINVAL);
    expect_error("[::1]x", -EINVAL);
    expect_error("x[::1]", -EINVAL);
    expect_error("[fe80::1%eth0]", -EINVAL);
}

static void t_ipv4_literal(void **state)
{
    expect_parts("user@192.0.2.1/r", "user", "192.0.2.1", "r");
}

static void t_prep_resource_spaces(void **state)
{
    char *out = NULL;

    /* Resourceprep prohibits only non-ASCII spaces (C.1.2) and maps them
     * through NFKC first, so ASCII spaces survive and NBSP / ideographic
     * space become U+0020. Whether an all-space nick is acceptable is a
     * MUC policy question, not a preparation one. */
    assert_int_equal(jid_prep_resource("  ", &out), 0);
    assert_string_equal(out, "  ");
    free(out);
    assert_int_equal(jid_prep_resource("\xc2\xa0", &out), 0);
    assert_string_equal(out, " ");
    free(out);
    assert_int_equal(jid_prep_resource("\xe3\x80\x80" "Bob", &out), 0);
    assert_string_equal(out, " Bob");
    free(out);
}

static void t_prep_resource(void **state)
{
    char *out = poison;

    assert_int_equal(jid_prep_resource("Bob/Alice@x", &out), 0);
    assert_string_equal(out, "Bob/Alice@x");
    free(out);
    assert_int_equal(jid_prep_resource("\xef\xbc\xa2ob", &out), 0);
    assert_string_equal(out, "Bob");
    free(out);
    out = poison;
    assert_int_equal(jid_prep_resource("", &out), -EINVAL);
    assert_null(out);
    out = poison;
    assert_int_equal(jid_prep_resource("a\nb", &out), -EINVAL);
    assert_null(out);
    out = poison;
    assert_int_equal(jid_prep_resource(SOFT_HYPHEN, &out), -EINVAL);
    assert_null(out);
}

static void t_prep_domain(void **state)
{
    char *out = poison;

    assert_int_equal(jid_prep_domain("Conference.Example.COM.", &out), 0);
    assert_string_equal(out, "conference.example.com");
    free(out);
    assert_int_equal(jid_prep_domain("[::1]", &out), 0);
    assert_string_equal(out, "[::1]");
    free(out);
    out = poison;
    assert_int_equal(jid_prep_domain("", &out), -EINVAL);
    assert_null(out);
    out = poison;
    assert_int_equal(jid_prep_domain("alice@example.com", &out), -EINVAL);
    assert_null(out);
    out = poison;
    assert_int_equal(jid_prep_domain("example.com/r", &out), -EINVAL);
    assert_null(out);
}

static void t_error_after_partial_success(void **state)
{
    /* Node and domain are prepared and allocated before the resource fails;
     * nothing may be left behind (LeakSanitizer checks the freeing). */
    expect_error("alice@example.com/a\x01", -EINVAL);
    expect_error("alice@exa mple.com/r", -EINVAL);
}

static void t_clear(void **state)
{
    struct jid empty = { NULL, NULL, NULL };
    struct jid j;

    jid_clear(NULL);
    jid_clear(&empty);
    assert_int_equal(jid_parse(&j, "alice@example.com/r"), 0);
    jid_clear(&j);
    assert_null(j.node);
    assert_null(j.domain);
    assert_null(j.resource);
    jid_clear(&j);
    /* A cleared struct is reusable. */
    assert_int_equal(jid_parse(&j, "bob@example.org"), 0);
    assert_string_equal(j.node, "bob");
    jid_clear(&j);
}

/* jid.c skips libidn for ASCII its profile leaves unchanged: that shortcut
 * must give what libidn gives, for every ASCII byte, in nodes and resources. */
static void t_ascii_fast_path_matches_libidn(void **state)
{
    (void)state;
    for (int c = 1; c < 128; c++) {
        char part[4] = { 'x', (char)c, 'y', '\0' };
        char want[64];
        strcpy(want, part);
        int rc = stringprep(want, sizeof want, STRINGPREP_NO_UNASSIGNED,
                            stringprep_xmpp_resourceprep);
        char *got = NULL;
        int r = jid_prep_resource(part, &got);
        if ((r == 0) != (rc == STRINGPREP_OK))
            fail_msg("resource byte 0x%02x: jid %d, libidn %d", c, r, rc);
        if (r == 0)
            assert_string_equal(got, want);
        free(got);
        if (c == '@' || c == '/')
            continue;   /* they split the address instead */
        char in[80];
        snprintf(in, sizeof in, "%s@example.com", part);
        strcpy(want, part);
        rc = stringprep(want, sizeof want, STRINGPREP_NO_UNASSIGNED, stringprep_xmpp_nodeprep);
        struct jid j = { 0 };
        r = jid_parse(&j, in);
        if ((r == 0) != (rc == STRINGPREP_OK))
            fail_msg("node byte 0x%02x: jid %d, libidn %d", c, r, rc);
        if (r == 0)
            assert_string_equal(j.node, want);
        jid_clear(&j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_full_jid),
        cmocka_unit_test(t_ascii_fast_path_matches_libidn),
        cmocka_unit_test(t_optional_parts),
        cmocka_unit_test(t_casefold_node_and_domain),
        cmocka_unit_test(t_resource_case_preserved),
        cmocka_unit_test(t_trailing_dot),
        cmocka_unit_test(t_resource_with_at_and_slash),
        cmocka_unit_test(t_empty_parts),
        cmocka_unit_test(t_empty_input),
        cmocka_unit_test(t_node_forbidden_chars),
        cmocka_unit_test(t_domain_forbidden_chars),
        cmocka_unit_test(t_idn_domain),
        cmocka_unit_test(t_nfkc_node),
        cmocka_unit_test(t_node_prepares_to_empty),
        cmocka_unit_test(t_unassigned_rejected),
        cmocka_unit_test(t_unassigned_resource_routed),
        cmocka_unit_test(t_bidi_rule),
        cmocka_unit_test(t_node_length),
        cmocka_unit_test(t_domain_length),
        cmocka_unit_test(t_resource_length),
        cmocka_unit_test(t_length_after_expansion),
        cmocka_unit_test(t_length_after_shrinking),
        cmocka_unit_test(t_total_input_bound),
        cmocka_unit_test(t_invalid_utf8),
        cmocka_unit_test(t_bare_vs_full_equal),
        cmocka_unit_test(t_equal_on_built_structs),
        cmocka_unit_test(t_format_round_trip),
        cmocka_unit_test(t_ipv6_literal),
        cmocka_unit_test(t_ipv4_literal),
        cmocka_unit_test(t_prep_resource_spaces),
        cmocka_unit_test(t_prep_resource),
        cmocka_unit_test(t_prep_domain),
        cmocka_unit_test(t_error_after_partial_success),
        cmocka_unit_test(t_clear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
