/* The compliance hash chain: the canonical bytes and hashes must be exactly
 * what compliance_canonical() in schema/compliance/002_events.sql gives (the
 * vectors below were computed by PostgreSQL 15), and the verifier must catch
 * altered, removed and inserted rows. */
#include "unit.h"

#include "hashchain.h"

static const char *const xy[] = { "x", "y" };

/* compliance_canonical(1, '11111111-…', '2026-11-02T10:00:00.123Z',
 * '2026-11-02T10:00:01Z', 'groupchat', 's', NULL, 'a', 'b', NULL × 11,
 * 'héllo', '{x,y}', NULL, '<m/>', NULL) */
static struct hashchain_row row1(void)
{
    struct hashchain_row r = {
        .seq = 1, .uuid = "11111111-1111-4111-8111-111111111111",
        .event_time_us = 1793613600123000, .archived_at_us = 1793613601000000,
        .recipients = xy, .nrecipients = 2, .stanza = "<m/>",
        .fields = { [HC_TYPE] = "groupchat", [HC_SENDER] = "s", [HC_ACTOR_JID] = "a",
                    [HC_ACTOR_NICK] = "b", [HC_BODY] = "h\xc3\xa9llo" },
    };
    return r;
}

/* compliance_canonical(2, '22222222-…', '1969-12-31T23:59:59.5Z',
 * '2026-11-02T10:00:01Z', 'chat', 's', NULL, 'a@b/c', NULL, NULL, NULL, 'd@e',
 * NULL, NULL, NULL, NULL, 'in', 'chat', NULL, NULL, '', '{}', '<detail/>',
 * '<message/>', '2026-11-02T09:00:00.000001Z') */
static struct hashchain_row row2(void)
{
    struct hashchain_row r = {
        .seq = 2, .uuid = "22222222-2222-4222-8222-222222222222",
        .event_time_us = -500000, .archived_at_us = 1793613601000000,
        .detail = "<detail/>", .stanza = "<message/>", .has_stamp = true,
        .stamp_us = 1793610000000001,
        .fields = { [HC_TYPE] = "chat", [HC_SENDER] = "s", [HC_ACTOR_JID] = "a@b/c",
                    [HC_TARGET_JID] = "d@e", [HC_DIRECTION] = "in", [HC_MSG_TYPE] = "chat",
                    [HC_BODY] = "" },
    };
    return r;
}

static const char hash1_hex[] = "9ddfa0df2f675d1ff330a27e0711461cddff6ef1ff83e0231399545764b336b3";
static const char hash2_hex[] = "4aeb6e325eabe6c4838ba0a71308d7af24fd88e71b152da22aec527c884cc93b";

static void hex(const unsigned char *h, char out[2 * HASHCHAIN_LEN + 1])
{
    for (size_t i = 0; i < HASHCHAIN_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* The canonical bytes of r are exactly want. */
static void expect_canonical(struct hashchain_row r, const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    hashchain_canonical(&r, &buf, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
    free(buf);
}

/* h, in lower-case hex, is want. */
static void expect_hex(const unsigned char *h, const char *want)
{
    char s[2 * HASHCHAIN_LEN + 1];
    hex(h, s);
    assert_string_equal(s, want);
}

static void test_canonical_matches_postgres(void **state)
{
    expect_canonical(row1(), "confab-compliance-1;1:1,36:11111111-1111-4111-8111-111111111111,"
                             "16:1793613600123000,16:1793613601000000,9:groupchat,1:s,~1:a,1:b,"
                             "~~~~~~~~~~~6:h\xc3\xa9llo,2:1:x,1:y,;~4:<m/>,~");
    expect_canonical(row2(), "confab-compliance-1;1:2,36:22222222-2222-4222-8222-222222222222,"
                             "7:-500000,16:1793613601000000,4:chat,1:s,~5:a@b/c,~~~3:d@e,~~~~"
                             "2:in,4:chat,~~0:,0:;9:<detail/>,10:<message/>,16:1793610000000001,");
}

static void test_chain_matches_postgres(void **state)
{
    unsigned char h1[HASHCHAIN_LEN], h2[HASHCHAIN_LEN];
    struct hashchain_row r1 = row1(), r2 = row2();
    hashchain_hash(NULL, &r1, h1);
    expect_hex(h1, hash1_hex);
    hashchain_hash(h1, &r2, h2);
    expect_hex(h2, hash2_hex);
}

static void test_parse_bytea(void **state)
{
    unsigned char h[HASHCHAIN_LEN];
    assert_int_equal(hashchain_parse_bytea(hash1_hex, h), 0);
    expect_hex(h, hash1_hex);
    char with_prefix[80];
    snprintf(with_prefix, sizeof with_prefix, "\\x%s", hash2_hex);
    assert_int_equal(hashchain_parse_bytea(with_prefix, h), 0);
    expect_hex(h, hash2_hex);
    assert_int_equal(hashchain_parse_bytea("abcd", h), -EINVAL);
    char bad[] = "9ddfa0df2f675d1ff330a27e0711461cddff6ef1ff83e0231399545764b336bg";
    assert_int_equal(hashchain_parse_bytea(bad, h), -EINVAL);
}

/* Three rows chained properly (hashes in h[0..2]) and a verifier started at seq 1. */
struct chain {
    struct hashchain_row rows[3];
    unsigned char h[3][HASHCHAIN_LEN];
    struct hashchain_verify v;
};

static void chain3(struct chain *c)
{
    c->rows[0] = row1();
    c->rows[1] = row2();
    c->rows[2] = row1();
    c->rows[2].seq = 3;
    c->rows[2].uuid = "33333333-3333-4333-8333-333333333333";
    for (int i = 0; i < 3; i++)
        hashchain_hash(i ? c->h[i - 1] : NULL, &c->rows[i], c->h[i]);
    hashchain_verify_init(&c->v, 1, NULL);
}

/* Row i with its stored hash, through the verifier. */
static int verify(struct chain *c, int i)
{
    return hashchain_verify_row(&c->v, &c->rows[i], c->h[i]);
}

static void test_verify_intact(void **state)
{
    struct chain c;
    chain3(&c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(verify(&c, i), 0);
    assert_int_equal(hashchain_verify_head(&c.v, 3, c.h[2]), 0);
    assert_int_equal(c.v.rows, 3);
    assert_int_equal(c.v.bad_seq, 0);
    /* Starting in the middle, from the stored hash of the row before. */
    hashchain_verify_init(&c.v, 2, c.h[0]);
    assert_int_equal(verify(&c, 1), 0);
    assert_int_equal(verify(&c, 2), 0);
}

static void test_verify_altered_row(void **state)
{
    struct chain c;
    chain3(&c);
    c.rows[1].fields[HC_BODY] = "edited";
    assert_int_equal(verify(&c, 0), 0);
    assert_int_equal(verify(&c, 1), -EBADMSG);
    /* Reported once: the next row follows the stored hash. */
    assert_int_equal(verify(&c, 2), 0);
    assert_int_equal(c.v.bad_seq, 2);
    assert_non_null(strstr(c.v.why, "does not match"));
}

static void test_verify_rehashed_row(void **state)
{
    /* An owner who alters a row and recomputes its hash breaks the next one. */
    struct chain c;
    chain3(&c);
    c.rows[1].recipients = NULL;
    c.rows[1].nrecipients = 0;
    c.rows[1].fields[HC_ACTOR_JID] = "someone@else";
    hashchain_hash(c.h[0], &c.rows[1], c.h[1]);
    assert_int_equal(verify(&c, 0), 0);
    assert_int_equal(verify(&c, 1), 0);
    assert_int_equal(verify(&c, 2), -EBADMSG);
    assert_int_equal(c.v.bad_seq, 3);
}

static void test_verify_deleted_rows(void **state)
{
    struct chain c;
    chain3(&c);
    assert_int_equal(verify(&c, 0), 0);
    assert_int_equal(verify(&c, 2), -EBADMSG);
    assert_int_equal(c.v.bad_seq, 3);
    assert_non_null(strstr(c.v.why, "expected seq 2"));
    /* The newest row deleted: the head is ahead of the rows. */
    hashchain_verify_init(&c.v, 1, NULL);
    assert_int_equal(verify(&c, 0), 0);
    assert_int_equal(verify(&c, 1), 0);
    assert_int_equal(hashchain_verify_head(&c.v, 3, c.h[2]), -EBADMSG);
    assert_int_equal(c.v.bad_seq, 3);
    /* Same seq, other hash at the head. */
    hashchain_verify_init(&c.v, 1, NULL);
    assert_int_equal(verify(&c, 0), 0);
    assert_int_equal(hashchain_verify_head(&c.v, 1, c.h[1]), -EBADMSG);
}

/* A PGresult shaped like HASHCHAIN_ROWS_SQL's, built without a server. */
static PGresult *rows_result(const char *const *values, int n)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[32];
    assert_true(n <= 32);
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < n; i++)
        attrs[i].name = (char *)"c";
    assert_true(PQsetResultAttrs(res, n, attrs));
    for (int i = 0; i < n; i++)
        assert_true(PQsetvalue(res, 0, i, (char *)values[i],
                                values[i] ? (int)strlen(values[i]) : -1));
    return res;
}

static void test_row_from_pg(void **state)
{
    /* seq, uuid, time, archived, 17 fields, recipients, detail, stanza, stamp, hash */
    const char *v[] = {
        "1", "11111111-1111-4111-8111-111111111111", "1793613600123000", "1793613601000000",
        "groupchat", "s", NULL, "a", "b", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, "h\xc3\xa9llo", "[\"x\",\"y\"]", NULL, "<m/>", NULL, hash1_hex,
    };
    PGresult *res = rows_result(v, (int)ARRAY_SIZE(v));
    struct hashchain_pgrow r;
    assert_int_equal(hashchain_row_from_pg(res, 0, &r), 0);
    struct hashchain_verify ver;
    hashchain_verify_init(&ver, 1, NULL);
    assert_int_equal(hashchain_verify_row(&ver, &r.row, r.stored), 0);
    assert_int_equal(r.row.nrecipients, 2);
    assert_string_equal(r.row.recipients[1], "y");
    hashchain_pgrow_clear(&r);
    assert_int_equal(hashchain_row_from_pg(res, 1, &r), -EINVAL);
    PQclear(res);
    v[21] = "{\"not\": \"an array\"}";
    res = rows_result(v, (int)ARRAY_SIZE(v));
    assert_int_equal(hashchain_row_from_pg(res, 0, &r), -EINVAL);
    PQclear(res);
    res = rows_result(v, 5);
    assert_int_equal(hashchain_row_from_pg(res, 0, &r), -EINVAL);
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_matches_postgres),
        cmocka_unit_test(test_chain_matches_postgres),
        cmocka_unit_test(test_parse_bytea),
        cmocka_unit_test(test_verify_intact),
        cmocka_unit_test(test_verify_altered_row),
        cmocka_unit_test(test_verify_rehashed_row),
        cmocka_unit_test(test_verify_deleted_rows),
        cmocka_unit_test(test_row_from_pg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
