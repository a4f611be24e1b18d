/* ctl_out.c — what every confabctl command shares: error lines, aligned text
 * tables, JSON output, and parsing of the arguments users type (room JIDs,
 * dates). */
#include "compat.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "datetime.h"
#include "jid.h"
#include "mem.h"

/* ---- messages ---- */

/* One line on stderr: the program's name, the message, then tail. */
static void err_line(const char *tail, const char *fmt, va_list ap) PRINTF(2, 0);
static void err_line(const char *tail, const char *fmt, va_list ap)
{
    fputs("confabctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(tail, stderr);
}

void ctl_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_line("\n", fmt, ap);
    va_end(ap);
}

int ctl_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_line(" (see confabctl --help)\n", fmt, ap);
    va_end(ap);
    return EX_USAGE;
}

void ctl_getopt_reset(void)
{
    optind = 0; /* glibc: start again, from argv[1] */
    opterr = 0;
}

int ctl_bad_option(const char *family, char **argv)
{
    /* getopt has just stepped over the offending word (or its argument). */
    const char *word = optind > 1 ? argv[optind - 1] : "?";
    return ctl_usage("%s %s: unknown, misplaced or incomplete option '%s'", family, argv[0],
                     word);
}

int ctl_getopt_verb(struct ctl *c, const char *family, int argc, char **argv,
                    const struct option *longopts, const char *allowed, int *rc)
{
    int ch, idx = 0;
    *rc = 0;
    while ((ch = getopt_long(argc, argv, "", longopts, &idx)) == 'J')
        c->json = true;
    if (ch == -1)
        return -1;
    if (ch == '?')
        *rc = ctl_bad_option(family, argv);
    else if (!strchr(allowed, ch))
        *rc = ctl_usage("%s %s does not take --%s", family, argv[0], longopts[idx].name);
    return *rc ? -1 : ch;
}

/* ---- text tables ---- */

struct ctl_table {
    size_t ncols;
    size_t nrows;           /* including the header row */
    char **cells;           /* nrows * ncols */
    size_t *width;          /* display width per column */
};

/* Terminal-safe copy: room names and subjects come from XMPP users, and an
 * escape sequence in one must not reach the operator's terminal. */
static char *sanitize(const char *s)
{
    char *out = xstrdup(s ? s : "-");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return out;
}

/* Code points, not bytes: close enough to columns for aligning names. */
static size_t display_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void add_row(struct ctl_table *t, const char *const *cells)
{
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = sanitize(cells[i]);
        size_t w = display_width(s);
        if (w > t->width[i])
            t->width[i] = w;
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers)
{
    struct ctl_table *t = xcalloc(1, sizeof *t);
    t->ncols = ncols;
    t->width = xcalloc(ncols, sizeof *t->width);
    add_row(t, headers);
    return t;
}

void ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    add_row(t, cells);
}

void ctl_table_print(struct ctl_table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            bool last = i + 1 == t->ncols;
            fputs(s, stdout);
            /* No trailing blanks: the last column is not padded. */
            for (size_t w = display_width(s); !last && w < t->width[i] + 2; w++)
                fputc(' ', stdout);
        }
        fputc('\n', stdout);
    }
}

void ctl_table_free(struct ctl_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
}

void ctl_print_fields(size_t n, const char *const *labels, const char *const *values)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(labels[i]) > w)
            w = strlen(labels[i]);
    for (size_t i = 0; i < n; i++) {
        char *v = sanitize(values[i]);
        printf("%s:%*s %s\n", labels[i], (int)(w - strlen(labels[i])), "", v);
        free(v);
    }
}

/* ---- JSON ---- */

int ctl_print_json(json_t *v)
{
    if (!v) {
        ctl_err("cannot build the JSON output");
        return CTL_FAIL;
    }
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!s) {
        ctl_err("cannot serialise the JSON output");
        return CTL_FAIL;
    }
    puts(s);
    free(s);
    return 0;
}

/* ---- arguments ---- */

int ctl_room_jid(const struct ctl *c, const char *arg, char **out)
{
    const char *domain = c->cfg->component.domain;
    char *full = NULL;
    /* A bare room name is a room of this service. */
    if (!strchr(arg, '@') && !strchr(arg, '/')) {
        if (!domain) {
            ctl_err("room '%s': give the full room JID (name@service); [component] domain "
                    "is not set in %s", arg, c->cfg->path);
            return EX_DATAERR;
        }
        full = xasprintf("%s@%s", arg, domain);
    }
    struct jid j;
    int rc = jid_parse(&j, full ? full : arg);
    free(full);
    if (rc < 0 || !j.node || j.resource) {
        jid_clear(&j);
        ctl_err("'%s' is not a valid room JID (expected name@service)", arg);
        return EX_DATAERR;
    }
    *out = jid_format(&j, true);
    jid_clear(&j);
    return 0;
}

int ctl_bare_jid(const char *what, const char *arg, char **out)
{
    struct jid j;
    if (jid_parse(&j, arg) < 0) {
        ctl_err("%s '%s' is not a valid JID", what, arg);
        return EX_DATAERR;
    }
    if (j.resource) {
        jid_clear(&j);
        ctl_err("%s '%s' must be a bare JID (without /resource)", what, arg);
        return EX_DATAERR;
    }
    *out = jid_format(&j, true);
    jid_clear(&j);
    return 0;
}

int ctl_parse_date(const char *arg, int64_t *ms)
{
    /* XEP-0082 Date (CCYY-MM-DD) means the start of that day in UTC. */
    bool date_only = strlen(arg) == 10 && arg[4] == '-' && arg[7] == '-';
    char *s = date_only ? xasprintf("%sT00:00:00Z", arg) : xstrdup(arg);
    int rc = datetime_parse(s, ms);
    free(s);
    if (rc < 0) {
        ctl_err("'%s' is not a date: use YYYY-MM-DD or an XEP-0082 DateTime such as "
                "2024-05-01T12:00:00Z", arg);
        return EX_DATAERR;
    }
    return 0;
}

/* ---- result columns ---- */

const char *ctl_col(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

bool ctl_col_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

long long ctl_col_ll(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

const char *ctl_col_time(const PGresult *r, int row, int col, char *buf, size_t len)
{
    if (PQgetisnull(r, row, col) || len < DATETIME_FMT_MAX)
        return NULL;
    datetime_format((int64_t)ctl_col_ll(r, row, col), buf);
    return buf;
}

/* RFC 4180: quote fields that hold a separator, a quote or a line break. */
void ctl_csv_field(const char *s, bool last)
{
    if (s && strpbrk(s, ",\"\r\n")) {
        fputc('"', stdout);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', stdout);
            fputc(*s, stdout);
        }
        fputc('"', stdout);
    } else if (s) {
        fputs(s, stdout);
    }
    fputs(last ? "\r\n" : ",", stdout);
}
