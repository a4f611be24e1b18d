/* bench_opt.c — confab-bench's table-driven command-line parser (rows in bench_ropt.c and bench_copt.c). */
#include "compat.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mem.h"

static int bad(char *err, size_t n, const struct opt *o, const char *fmt, ...) PRINTF(4, 5);
static int bad(char *err, size_t n, const struct opt *o, const char *fmt, ...)
{
    char why[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(err, n, "--%s: %s", o->name, why);
    return -1;
}

static void *field(const struct opt *o, void *opts)
{
    return (char *)opts + o->off;
}

/* A whole number in [min, max]; a sign only where min is negative. */
static int whole(const struct opt *o, const char *s, long long *out, char *err, size_t n)
{
    char *end = NULL;
    errno = 0;
    if (!*s || (*s == '-' && o->min >= 0) || *s == '+' || *s == ' ')
        return bad(err, n, o, "'%s' is not a whole number%s", s, o->min >= 0 ? " >= 0" : "");
    if (*s == '-') {
        long long v = strtoll(s, &end, 10);
        if (end == s || *end || errno)
            return bad(err, n, o, "'%s' is not a whole number", s);
        *out = v;
    } else {
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || *end || errno || v > (unsigned long long)INT64_MAX)
            return bad(err, n, o, "'%s' is not a whole number", s);
        *out = (long long)v;
    }
    if ((double)*out < o->min || (double)*out > o->max)
        return bad(err, n, o, "%s is out of range (%.0f to %.0f)", s, o->min, o->max);
    return 0;
}

static int set_flag(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    (void)s, (void)err, (void)n;
    *(bool *)field(o, opts) = true;
    return 0;
}

static int set_str(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    (void)err, (void)n;
    *(const char **)field(o, opts) = s;
    return 0;
}

/* The whole-number types differ only in the width of the field they fill. */
static int set_whole(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    long long v = 0;
    if (whole(o, s, &v, err, n) < 0)
        return -1;
    void *f = field(o, opts);
    switch (o->type) {
    case OPT_UINT: *(unsigned *)f = (unsigned)v; break;
    case OPT_U64: *(uint64_t *)f = (uint64_t)v; break;
    case OPT_PID: *(pid_t *)f = (pid_t)v; break;
    default: *(int *)f = (int)v; break;
    }
    return 0;
}

static int set_double(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return bad(err, n, o, "'%s' is not a number", s);
    if (v < o->min || v > o->max)
        return bad(err, n, o, "%s is out of range (%g to %g)", s, o->min, o->max);
    *(double *)field(o, opts) = v;
    return 0;
}

static int set_choice(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    char list[160] = "";
    for (const char *const *c = o->choices; *c; c++) {
        if (strcmp(*c, s) == 0) {
            *(const char **)field(o, opts) = *c;
            return 0;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", c == o->choices ? "" : " | ",
                 *c);
    }
    return bad(err, n, o, "'%s' is not one of %s", s, list);
}

static int set_func(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    char why[192] = "bad value";
    if (o->set(opts, s, why, sizeof why) == 0)
        return 0;
    return bad(err, n, o, "%s", why);
}

static int set_help(const struct opt *o, void *opts, const char *s, char *err, size_t n)
{
    (void)o, (void)opts, (void)s, (void)err, (void)n;
    return 0;
}

/* What each type does with a value, and whether it takes one. */
static const struct opt_ops {
    int (*set)(const struct opt *o, void *opts, const char *s, char *err, size_t n);
    bool takes_value;
} ops[] = {
    [OPT_FLAG] = { set_flag, false },     [OPT_STR] = { set_str, true },
    [OPT_UINT] = { set_whole, true },     [OPT_U64] = { set_whole, true },
    [OPT_INT] = { set_whole, true },      [OPT_PID] = { set_whole, true },
    [OPT_DOUBLE] = { set_double, true },  [OPT_CHOICE] = { set_choice, true },
    [OPT_FUNC] = { set_func, true },      [OPT_HELP] = { set_help, false },
};

int opt_set(const struct opt *o, void *opts, const char *val, char *err, size_t errlen)
{
    return ops[o->type].set(o, opts, val, err, errlen);
}

int opt_defaults(const struct opt *t, size_t n, void *opts, struct opt_result *res)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].def && ops[t[i].type].takes_value &&
            opt_set(&t[i], opts, t[i].def, res->err, sizeof res->err) < 0)
            return -1;
    return 0;
}

const struct opt *opt_find(const struct opt *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

bool opt_seen(const struct opt *t, size_t n, const struct opt_result *res, const char *name)
{
    const struct opt *o = opt_find(t, n, name);
    return o && res->seen[o - t];
}

/* getopt_long's tables from ours: a row's index is its getopt value + 256. */
static void getopt_tables(const struct opt *t, size_t n, struct option *lo, char *so)
{
    *so++ = ':';   /* a missing value is ':', not '?' */
    for (size_t i = 0; i < n; i++) {
        bool v = ops[t[i].type].takes_value;
        lo[i] = (struct option){ t[i].name, v ? required_argument : no_argument, NULL,
                                 t[i].short_name ? t[i].short_name : 256 + (int)i };
        if (t[i].short_name) {
            *so++ = t[i].short_name;
            if (v)
                *so++ = ':';
        }
    }
    lo[n] = (struct option){ 0 };
    *so = '\0';
}

static int row_of(const struct opt *t, size_t n, int ch)
{
    if (ch >= 256)
        return ch - 256;
    for (size_t i = 0; i < n; i++)
        if (ch && t[i].short_name == ch)
            return (int)i;
    return -1;
}

/* The option getopt_long just refused, as the user wrote it. */
static const char *refused(int argc, char **argv)
{
    return optind > 0 && optind <= argc ? argv[optind - 1] : "?";
}

int opt_parse(const struct opt *t, size_t n, void *opts, int argc, char **argv,
              struct opt_result *res)
{
    struct option lo[OPT_MAX + 1];
    char so[2 * OPT_MAX + 2];
    if (n > OPT_MAX)
        abort();
    memset(res->seen, 0, sizeof res->seen);
    res->err[0] = '\0';
    getopt_tables(t, n, lo, so);
    optind = 0;   /* glibc: start over (tests parse many command lines) */
    opterr = 0;
    int ch, help = 0;
    while ((ch = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        if (ch == ':') {
            snprintf(res->err, sizeof res->err, "%s needs a value", refused(argc, argv));
            return -1;
        }
        int i = row_of(t, n, ch);
        if (ch == '?' || i < 0) {
            snprintf(res->err, sizeof res->err, "unknown or ambiguous option %s",
                     refused(argc, argv));
            return -1;
        }
        res->seen[i] = true;
        help |= t[i].type == OPT_HELP;
        if (opt_set(&t[i], opts, optarg, res->err, sizeof res->err) < 0)
            return -1;
    }
    res->rest = optind;
    return help ? 1 : 0;
}

static void usage_row(FILE *f, const struct opt *o)
{
    char left[64];
    int k = snprintf(left, sizeof left, "  %c%c%s--%s", o->short_name ? '-' : ' ',
                     o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name);
    if (o->arg && k > 0 && (size_t)k < sizeof left)
        snprintf(left + k, sizeof left - (size_t)k, " %s", o->arg);
    fprintf(f, "%-28s %s", left, o->help);
    if (o->def && *o->def && ops[o->type].takes_value)
        fprintf(f, " (default %s)", o->def);
    fputc('\n', f);
}

void opt_usage(FILE *f, const struct opt *t, size_t n)
{
    const char *group = NULL;
    for (size_t i = 0; i < n; i++) {
        if (t[i].group && (!group || strcmp(group, t[i].group) != 0))
            fprintf(f, "%s:\n", t[i].group);
        group = t[i].group;
        usage_row(f, &t[i]);
    }
}
