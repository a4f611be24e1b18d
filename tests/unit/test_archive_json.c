/* The archiver writes each event's JSON by hand (src/archiver/archive_store.c,
 * for speed): every string must come back exactly through a real JSON parser
 * (jansson here, PostgreSQL's json in production), whatever it holds —
 * quotes, backslashes, control characters, non-ASCII — and NULLs as null. */
#include "unit.h"

#include <jansson.h>

#include "archive_store.h"

static json_t *encode(const struct cevent *ev)
{
    struct buf b;
    buf_init(&b);
    archive_store_event_json(&b, ev);
    buf_putc(&b, '\0');
    json_error_t err;
    json_t *o = json_loads(b.data, 0, &err);
    if (!o)
        fail_msg("not JSON (%s): %s", err.text, b.data);
    buf_free(&b);
    return o;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v); /* every key is present, null or not */
    return json_is_null(v) ? NULL : json_string_value(v);
}

static void test_every_byte_round_trips(void **state)
{
    (void)state;
    char all[256];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    char *recipients[] = { "a\"b@x/\\r", "\xe6\x97\xa5\xe6\x9c\xac@example.com/\t" };
    struct cevent ev = {
        .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e", .type = "groupchat",
        .time_ms = 1770109260123, .sender = "conference.example.com",
        .room = "r@conference.example.com", .actor_jid = "alice@example.com/d",
        .body = all, .subject = "line\nbreak\r\n\x01\x1f", .stanza = "<m a='1' b=\"2\">&amp;</m>",
        .detail = "h\xc3\xa9llo \xf0\x9f\x98\x80", .recipients = recipients, .nrecipients = 2,
        .has_stamp = true, .stamp_ms = 0, .msg_key = "9f86d081",
    };
    json_t *o = encode(&ev);
    assert_string_equal(str(o, "uuid"), ev.uuid);
    assert_string_equal(str(o, "type"), "groupchat");
    assert_string_equal(str(o, "body"), all);
    assert_string_equal(str(o, "subject"), ev.subject);
    assert_string_equal(str(o, "stanza"), ev.stanza);
    assert_string_equal(str(o, "detail"), ev.detail);
    assert_string_equal(str(o, "msg_key"), "9f86d081");
    assert_string_equal(str(o, "event_time"), "2026-02-03T09:01:00.123Z");
    assert_string_equal(str(o, "stamp"), "1970-01-01T00:00:00Z");
    assert_null(str(o, "target_jid"));
    assert_null(str(o, "reason"));
    assert_null(str(o, "direction"));
    json_t *r = json_object_get(o, "rcpt");
    assert_int_equal(json_array_size(r), 2);
    assert_string_equal(json_string_value(json_array_get(r, 0)), recipients[0]);
    assert_string_equal(json_string_value(json_array_get(r, 1)), recipients[1]);
    json_decref(o);
}

static void test_minimal_event(void **state)
{
    (void)state;
    struct cevent ev = { .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e", .type = "join",
                         .time_ms = -500, .sender = "s" };
    json_t *o = encode(&ev);
    assert_null(str(o, "room"));
    assert_null(str(o, "stamp"));
    assert_string_equal(str(o, "event_time"), "1969-12-31T23:59:59.500Z");
    assert_int_equal(json_array_size(json_object_get(o, "rcpt")), 0);
    assert_null(str(o, "msg_key"));   /* room events have none */
    /* the keys compliance_put_batch() reads, and nothing else */
    assert_int_equal(json_object_size(o), 24);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_round_trips),
        cmocka_unit_test(test_minimal_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
