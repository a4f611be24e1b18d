/* unit.h — shared by the cmocka unit tests: includes and fixture loading. */
#ifndef CONFAB_TEST_UNIT_H
#define CONFAB_TEST_UNIT_H

#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Read tests/unit/data/<rel> (TEST_DATA_DIR from the test environment). */
static inline char *unit_read_fixture(const char *rel, size_t *len)
{
    const char *dir = getenv("TEST_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/unit/data", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

#endif
