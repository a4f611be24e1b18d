/* The shared retry policy (backoff.h): steps, jitter bounds, caps, and which
 * failures are logged in full. */
#include "unit.h"

#include "backoff.h"

/* Equal jitter: each delay is within [step/2, step], the step doubling from
 * the minimum up to the cap and staying there. */
static void test_steps_and_jitter(void **state)
{
    struct backoff b = { 0 };
    uint64_t step = 250;
    for (int i = 0; i < 12; i++) {
        uint64_t d = backoff_next(&b, 250, 30000);
        assert_true(d >= step / 2 && d <= step);
        step = step * 2 > 30000 ? 30000 : step * 2;
    }
    backoff_reset(&b);
    uint64_t d = backoff_next(&b, 250, 30000);
    assert_true(d >= 125 && d <= 250);
}

/* A cap below the minimum means the minimum. */
static void test_cap_below_min(void **state)
{
    struct backoff b = { 0 };
    for (int i = 0; i < 5; i++) {
        uint64_t d = backoff_next(&b, 1000, 10);
        assert_true(d >= 500 && d <= 1000);
    }
}

/* The same reason within 30 s is held back and counted in the next line;
 * another reason, a forced one, or the same one after 30 s is logged. */
static void test_log_suppression(void **state)
{
    struct backoff b = { 0 };
    unsigned n = 99;
    assert_true(backoff_should_log(&b, "refused", false, 1000, &n));
    assert_int_equal(n, 0);
    assert_false(backoff_should_log(&b, "refused", false, 2000, &n));
    assert_false(backoff_should_log(&b, "refused", false, 3000, &n));
    assert_true(backoff_should_log(&b, "refused", true, 4000, &n));
    assert_int_equal(n, 2);
    assert_false(backoff_should_log(&b, "refused", false, 5000, &n));
    assert_true(backoff_should_log(&b, "timeout", false, 6000, &n));
    assert_int_equal(n, 1);
    assert_true(backoff_should_log(&b, "timeout", false, 36001, &n));
    assert_int_equal(n, 0);
    backoff_reset(&b);
    assert_true(backoff_should_log(&b, "timeout", false, 36002, &n));
}

UNIT_MAIN(cmocka_unit_test(test_steps_and_jitter),
          cmocka_unit_test(test_cap_below_min),
          cmocka_unit_test(test_log_suppression))
