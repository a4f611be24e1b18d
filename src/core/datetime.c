/* datetime.c — XEP-0082 DateTime parsing and formatting.
 *
 * The civil-date arithmetic is Howard Hinnant's days_from_civil/civil_from_days
 * (public domain): exact for the proleptic Gregorian calendar, no tables, no
 * mktime(), so neither TZ nor the C library's range limits come into it. */
#include "compat.h"

#include <stdio.h>
#include <time.h>

#include "datetime.h"

#define MS_PER_DAY INT64_C(86400000)
/* XML Schema (which XEP-0082 defers to) bounds a zone offset to ±14:00. */
#define TZ_MAX_MINUTES (14 * 60)

struct civil {
    int year;
    int month;
    int day;
    int hour;
    int minute;
    int second;
    int millis;
    int offset_min;     /* local time minus UTC */
};

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = m;
    *year = (int)(yoe + era * 400 + (m <= 2));
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static bool is_digit(char c)
{
    /* Not isdigit(): that is locale-dependent and accepts more than ASCII. */
    return c >= '0' && c <= '9';
}

/* Exactly n digits at *p, advancing past them. */
static bool take_num(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool take_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* ".d+" keeping the first three digits as milliseconds; absent means 0. */
static bool take_fraction(const char **p, int *millis)
{
    *millis = 0;
    if (!take_char(p, '.'))
        return true;
    if (!is_digit(**p))
        return false;
    int scale = 100;
    for (; is_digit(**p); (*p)++) {
        *millis += (**p - '0') * scale;
        scale /= 10;
    }
    return true;
}

static bool take_tzd(const char **p, int *offset_min)
{
    if (take_char(p, 'Z')) {
        *offset_min = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    if (!sign)
        return false;
    (*p)++;
    int hh, mm;
    if (!take_num(p, 2, &hh) || !take_char(p, ':') || !take_num(p, 2, &mm))
        return false;
    if (mm > 59 || hh * 60 + mm > TZ_MAX_MINUTES)
        return false;
    *offset_min = sign * (hh * 60 + mm);
    return true;
}

static bool lex(const char *p, struct civil *c)
{
    return take_num(&p, 4, &c->year) && take_char(&p, '-') &&
           take_num(&p, 2, &c->month) && take_char(&p, '-') &&
           take_num(&p, 2, &c->day) && take_char(&p, 'T') &&
           take_num(&p, 2, &c->hour) && take_char(&p, ':') &&
           take_num(&p, 2, &c->minute) && take_char(&p, ':') &&
           take_num(&p, 2, &c->second) && take_fraction(&p, &c->millis) &&
           take_tzd(&p, &c->offset_min) && *p == '\0';
}

static bool in_range(const struct civil *c)
{
    return c->month >= 1 && c->month <= 12 && c->day >= 1 &&
           c->day <= days_in_month(c->year, c->month) && c->hour <= 23 && c->minute <= 59 &&
           c->second <= 59;
}

int datetime_parse(const char *s, int64_t *ms_out)
{
    struct civil c;
    if (!s || !lex(s, &c) || !in_range(&c))
        return -EINVAL;
    int64_t secs = days_from_civil(c.year, c.month, c.day) * 86400 + c.hour * 3600 +
                   c.minute * 60 + c.second - (int64_t)c.offset_min * 60;
    *ms_out = secs * 1000 + c.millis;
    return 0;
}

void datetime_format(int64_t ms, char out[DATETIME_FMT_MAX])
{
    /* Floor division, so instants before 1970 land on the right day. */
    int64_t days = ms / MS_PER_DAY;
    int64_t rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int year, month, day;
    civil_from_days(days, &year, &month, &day);
    int msec = (int)(rem % 1000);
    int sec = (int)(rem / 1000);
    int n = snprintf(out, DATETIME_FMT_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", year, month, day,
                     sec / 3600, sec / 60 % 60, sec % 60);
    if (msec)
        snprintf(out + n, (size_t)(DATETIME_FMT_MAX - n), ".%03dZ", msec);
    else
        snprintf(out + n, (size_t)(DATETIME_FMT_MAX - n), "Z");
}

int64_t datetime_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
