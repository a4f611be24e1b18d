/* confab-bench's pure accounting: receipt marks, histogram and result merging
 * (client mode's workers are summed by the parent with these). */
#include "unit.h"

#include <unistd.h>

#include "../../src/bench/bench.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_expected),
        cmocka_unit_test(test_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
