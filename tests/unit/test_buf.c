#include "unit.h"

#include "buf.h"

static void test_append_grow(void **state)
{
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%03d,", i);
    assert_int_equal(b.len, 4000);
    assert_memory_equal(b.data + 3996, "999,", 4);
    assert_int_equal(b.data[b.len], '\0');
    buf_consume(&b, 3996);
    assert_string_equal(b.data, "999,");
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_printf_long(void **state)
{
    struct buf b;
    buf_init(&b);
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_puts(&b, "<");
    buf_printf(&b, "%s|%d", big, 42);
    assert_int_equal(b.len, 1 + 999 + 3);
    assert_string_equal(b.data + 1000, "|42");
    size_t len;
    char *s = buf_steal(&b, &len);
    assert_int_equal(len, 1003);
    assert_null(b.data);
    free(s);
}

static void test_escape(void **state)
{
    struct buf b;
    buf_init(&b);
    const char *in = "a<b>&'\"\r\n\tz";
    buf_put_xml_escaped(&b, in, strlen(in), 0);
    assert_string_equal(b.data, "a&lt;b&gt;&amp;'\"&#13;\n\tz");
    buf_reset(&b);
    buf_put_xml_escaped(&b, in, strlen(in), 1);
    assert_string_equal(b.data, "a&lt;b&gt;&amp;&apos;&quot;&#13;&#10;&#9;z");
    buf_free(&b);
}

UNIT_MAIN(cmocka_unit_test(test_append_grow),
          cmocka_unit_test(test_printf_long),
          cmocka_unit_test(test_escape))
