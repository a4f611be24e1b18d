/* XEP-0082 DateTime: exact epoch values (checked against Python's datetime),
 * zone offsets across day and year boundaries, fractions, the Gregorian leap
 * rules, instants before 1970, and strict rejection of everything else. */
#include "unit.h"

#include <time.h>

#include "datetime.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = INT64_MIN;
    int rc = datetime_parse(s, &ms);
    if (rc != 0)
        fail_msg("datetime_parse(\"%s\") = %d, want 0", s, rc);
    return ms;
}

static void expect_format(int64_t ms, const char *want)
{
    char out[DATETIME_FMT_MAX];
    datetime_format(ms, out);
    assert_string_equal(out, want);
}

/* Parsing a canonical UTC string and formatting the result gives it back. */
static void round_trip(const char *s, int64_t want_ms)
{
    assert_int_equal(parse_ok(s), want_ms);
    expect_format(want_ms, s);
}

static void test_epoch_values(void **state)
{
    round_trip("1970-01-01T00:00:00Z", 0);
    round_trip("2002-09-10T23:08:25Z", INT64_C(1031699305000));
    round_trip("2002-09-10T23:08:25.123Z", INT64_C(1031699305123));
    round_trip("2002-09-10T23:08:25.001Z", INT64_C(1031699305001));
    round_trip("2000-02-29T12:00:00Z", INT64_C(951825600000));
    round_trip("9999-12-31T23:59:59.999Z", INT64_C(253402300799999));
}

/* The two Moon-landing examples of XEP-0082 §3.2 name the same instant. */
static void test_xep_examples_agree(void **state)
{
    int64_t utc = parse_ok("1969-07-21T02:56:15Z");
    assert_int_equal(utc, INT64_C(-14159025000));
    assert_int_equal(parse_ok("1969-07-20T21:56:15-05:00"), utc);
}

static void test_offsets(void **state)
{
    char out[DATETIME_FMT_MAX];

    /* +05:30 pulls the instant back across midnight into a leap day. */
    int64_t ms = parse_ok("2024-03-01T02:00:00+05:30");
    assert_int_equal(ms, INT64_C(1709238600000));
    datetime_format(ms, out);
    assert_string_equal(out, "2024-02-29T20:30:00Z");

    /* -08:00 pushes it forward across a year boundary. */
    ms = parse_ok("2023-12-31T20:00:00-08:00");
    assert_int_equal(ms, INT64_C(1704081600000));
    datetime_format(ms, out);
    assert_string_equal(out, "2024-01-01T04:00:00Z");

    assert_int_equal(parse_ok("2024-01-01T04:00:00+00:00"), INT64_C(1704081600000));
    assert_int_equal(parse_ok("2024-01-01T04:00:00-00:00"), INT64_C(1704081600000));
    assert_int_equal(parse_ok("1970-01-01T14:00:00+14:00"), 0);
    assert_int_equal(parse_ok("1969-12-31T10:00:00-14:00"), 0);
    assert_int_equal(parse_ok("1970-01-01T00:00:00-00:01"), 60000);
}

static void test_fractions(void **state)
{
    assert_int_equal(parse_ok("1970-01-01T00:00:00.1Z"), 100);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.12Z"), 120);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.123456Z"), 123);
    /* Truncated, never rounded up into the next second. */
    assert_int_equal(parse_ok("1970-01-01T00:00:00.9999999999999999999999Z"), 999);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.000Z"), 0);
    assert_int_equal(parse_ok("1970-01-01T00:00:00.5+01:00"), -3600000 + 500);
    expect_format(100, "1970-01-01T00:00:00.100Z");
    expect_format(0, "1970-01-01T00:00:00Z");
}

static void test_leap_days(void **state)
{
    int64_t ms = 7;
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z") + 86400000,
                     parse_ok("2024-03-01T00:00:00Z"));
    assert_int_equal(datetime_parse("2023-02-29T00:00:00Z", &ms), -EINVAL);
    assert_int_equal(datetime_parse("1900-02-29T00:00:00Z", &ms), -EINVAL);
    assert_int_equal(datetime_parse("2024-02-30T00:00:00Z", &ms), -EINVAL);
    assert_int_equal(ms, 7);
    parse_ok("2000-02-29T00:00:00Z");
    parse_ok("2023-02-28T23:59:59Z");
    parse_ok("2023-04-30T00:00:00Z");
    assert_int_equal(datetime_parse("2023-04-31T00:00:00Z", &ms), -EINVAL);
    parse_ok("2023-12-31T00:00:00Z");
}

/* Accepted, as negative milliseconds: the XEP-0045 subject example is 1610. */
static void test_before_1970(void **state)
{
    round_trip("1610-04-20T00:00:00Z", INT64_C(-11351059200000));
    round_trip("1969-12-31T23:59:59.999Z", -1);
    round_trip("1969-12-31T23:59:59Z", -1000);
    round_trip("0001-01-01T00:00:00Z", INT64_C(-62135596800000));
    /* Year 0000 is 1 BCE, a leap year in the proleptic calendar. */
    round_trip("0000-01-01T00:00:00Z", INT64_C(-62135596800000) - INT64_C(366) * 86400000);
    parse_ok("0000-02-29T00:00:00Z");
}

static void test_format_extremes(void **state)
{
    char out[DATETIME_FMT_MAX];
    datetime_format(INT64_MAX, out);
    assert_true(strlen(out) < DATETIME_FMT_MAX);
    assert_string_equal(out + strlen(out) - 5, ".807Z");
    datetime_format(INT64_MIN, out);
    assert_true(strlen(out) < DATETIME_FMT_MAX);
    assert_int_equal(out[0], '-');
    assert_string_equal(out + strlen(out) - 5, ".192Z");
}

static void test_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "2002-09-10",
        "2002-09-10 23:08:25Z",         /* missing T */
        "2002-09-10t23:08:25Z",         /* lowercase separator */
        "2002-09-10T23:08:25",          /* missing TZD */
        "2002-09-10T23:08:25z",
        "2002-09-10T23:08Z",            /* missing seconds */
        "2002-09-10T23:08:25.Z",        /* empty fraction */
        "2002-09-10T23:08:25,5Z",
        "2002-09-10T23:08:25ZZ",        /* trailing junk */
        "2002-09-10T23:08:25Z ",
        " 2002-09-10T23:08:25Z",
        "2002-09-10T23:08:25+05:30x",
        "2002-09-10T23:08:25+0530",
        "2002-09-10T23:08:25+05",
        "2002-09-10T23:08:25+5:30",
        "2002-09-10T23:08:25+14:01",    /* beyond XML Schema's ±14:00 */
        "2002-09-10T23:08:25-15:00",
        "2002-09-10T23:08:25+05:60",
        "2002-13-10T23:08:25Z",         /* month 13 */
        "2002-00-10T23:08:25Z",
        "2002-09-00T23:08:25Z",
        "2002-01-32T23:08:25Z",         /* day 32 */
        "2002-09-31T23:08:25Z",
        "2002-09-10T24:00:00Z",         /* hour 24 */
        "2002-09-10T23:60:25Z",         /* minute 60 */
        "2002-09-10T23:59:60Z",         /* XEP-0082 ss is 00-59 */
        "2002-09-10T23:08:61Z",
        "02-09-10T23:08:25Z",           /* two-digit year */
        "20020-09-10T23:08:25Z",
        "-2002-09-10T23:08:25Z",
        "2002-9-10T23:08:25Z",
        "2002-09-1aT23:08:25Z",
        "20020910T23:08:25Z",           /* legacy XEP-0091 form */
        "2002-09-10T23:08:25\xef\xbc\x9a",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int64_t ms = 42;
        int rc = datetime_parse(bad[i], &ms);
        if (rc != -EINVAL)
            fail_msg("datetime_parse(\"%s\") = %d, want -EINVAL", bad[i], rc);
        assert_int_equal(ms, 42);
    }
    int64_t ms = 42;
    assert_int_equal(datetime_parse(NULL, &ms), -EINVAL);
    /* An embedded NUL ends the string: what precedes it must stand alone. */
    assert_int_equal(datetime_parse("2002-09-10T23:08:25\0Z", &ms), -EINVAL);
    assert_int_equal(ms, 42);
}

static void test_now(void **state)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = datetime_now_ms();
    int64_t after = ((int64_t)time(NULL) + 1) * 1000;
    assert_true(now >= before);
    assert_true(now < after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_values),
        cmocka_unit_test(test_xep_examples_agree),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_leap_days),
        cmocka_unit_test(test_before_1970),
        cmocka_unit_test(test_format_extremes),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
