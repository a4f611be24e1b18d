/* pg_store_dir.c — the room directory over every room in the store (store.h list_rooms): visibility, words, category, keyset pages by JID. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pg_store_int.h"

/* $1 service admin, $2 viewer's bare JID, $3 category name (NULL: any),
 * $4 words separated by spaces, $5-$7 search name/description/address,
 * $8 after, $9 before (NULL: open), $10 skip (RSM index), $11 backward,
 * $12 limit, $13 the categories the viewer may see (NULL: all). Visibility as directory.c: Open and Closed rooms to everyone,
 * Secret ones to those the affiliations list as member or above (by bare
 * JID or domain), locked rooms never. JIDs compare bytewise (COLLATE "C"),
 * as the engine's strcmp: the RSM keys of both stores agree. One row even
 * for an empty page, so the count always arrives. */
#define DIR_MATCHES \
    "WITH m AS (SELECT r.jid, r.name, r.description, r.lang, c.name AS category, " \
    "r.category_id, r.members_only, r.password_protected, r.whois_anyone, " \
    "row_number() OVER (ORDER BY r.jid COLLATE \"C\") - 1 AS idx " \
    "FROM rooms r JOIN categories c ON c.id = r.category_id WHERE NOT r.locked " \
    "AND (r.public_list OR (r.members_only AND ($1::boolean OR EXISTS (SELECT 1 FROM " \
    "affiliations a WHERE a.room_id = r.id AND a.jid IN ($2::text, split_part($2::text, '@', 2)) " \
    "AND a.affiliation IN ('member', 'admin', 'owner'))))) " \
    "AND ($3::text IS NULL OR c.name = $3::text) " \
    "AND ($13::bigint[] IS NULL OR r.category_id = ANY($13::bigint[])) " \
    "AND NOT EXISTS (SELECT 1 FROM regexp_split_to_table($4::text, ' ') w WHERE w <> '' " \
    "AND NOT (($5::boolean AND strpos(lower(r.name), lower(w)) > 0) " \
    "OR ($6::boolean AND strpos(lower(r.description), lower(w)) > 0) " \
    "OR ($7::boolean AND strpos(lower(r.jid), lower(w)) > 0))))"
#define DIR_PAGE \
    "SELECT * FROM m WHERE ($8::text IS NULL OR jid COLLATE \"C\" > $8::text) " \
    "AND ($9::text IS NULL OR jid COLLATE \"C\" < $9::text) AND idx >= $10::bigint " \
    "ORDER BY CASE WHEN $11::boolean THEN idx END DESC, idx LIMIT $12::bigint"

const struct db_stmt pg_store_dir_stmts[] = {
    { "dir_list",
      DIR_MATCHES " SELECT p.jid, p.name, p.description, p.lang, p.category, p.category_id, "
      "p.members_only, p.password_protected, p.whois_anyone, p.idx, t.total "
      "FROM (SELECT count(*) FROM m) t(total) LEFT JOIN LATERAL (" DIR_PAGE ") p ON true "
      "ORDER BY p.idx", 13 },
};
const size_t pg_store_dir_nstmts = ARRAY_SIZE(pg_store_dir_stmts);

struct dirq {
    store_dir_cb *cb;
    void *ud;
};

static void dir_row(struct store_dir_room *d, const PGresult *res, int row)
{
    *d = (struct store_dir_room){
        .jid = col_str(res, row, 0), .name = col_str(res, row, 1), .desc = col_str(res, row, 2),
        .lang = col_str(res, row, 3), .category = col_str(res, row, 4),
        .category_id = col_ll(res, row, 5), .members_only = col_bool(res, row, 6),
        .password_protected = col_bool(res, row, 7), .whois_anyone = col_bool(res, row, 8),
    };
}

static void on_dir_rows(void *ud, const struct db_result *r)
{
    struct dirq *dq = ud;
    if (r->status < 0) {
        pg_store_log_failure("listing the room directory", r);
        dq->cb(dq->ud, r->status, NULL);
        free(dq);
        return;
    }
    int rows = PQntuples(r->res);
    struct store_dir_page *p = xcalloc(1, sizeof *p);
    p->rooms = xcalloc((size_t)rows + 1, sizeof *p->rooms);
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(r->res, i, 0))
            continue; /* the empty page's one row: only the count */
        if (!p->n)
            p->first_index = (size_t)col_ll(r->res, i, 9);
        dir_row(&p->rooms[p->n++], r->res, i);
    }
    p->count = rows ? (size_t)col_ll(r->res, 0, 10) : 0;
    dq->cb(dq->ud, 0, p);
    free(dq);
}

/* PostgreSQL's text form of a bigint[]: {1,2,3}. */
static char *int64_array_literal(const int64_t *v, size_t n)
{
    char *out = xmalloc(n * 21 + 3), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%" PRId64, i ? "," : "", v[i]);
    strcpy(p, "}");
    return out;
}

/* On the writer: it carries every change in order, so a room configured a
 * moment ago is listed (the reader might not have seen its row yet). */
void pg_store_dir_list(void *st, const struct store_dir_query *q, store_dir_cb *cb, void *ud)
{
    struct pg_store *s = st;
    if (!s->ready) {
        cb(ud, -EAGAIN, NULL);
        return;
    }
    size_t len = 1;
    for (size_t i = 0; i < q->nwords; i++)
        len += strlen(q->words[i]) + 1;
    char *words = xmalloc(len);
    words[0] = '\0';
    for (size_t i = 0; i < q->nwords; i++) {
        if (i)
            strcat(words, " ");
        strcat(words, q->words[i]);
    }
    char skip[24], limit[24];
    char *cats = q->open_cats ? int64_array_literal(q->open_cats, q->nopen_cats) : NULL;
    snprintf(skip, sizeof skip, "%ld", q->index > 0 ? q->index : 0L);
    snprintf(limit, sizeof limit, "%u", q->max);
    const char *v[] = {
        sql_bool(q->viewer_admin), q->viewer ? q->viewer : "", q->category, words,
        sql_bool(q->in_name), sql_bool(q->in_desc), sql_bool(q->in_addr), q->after, q->before,
        skip, sql_bool(q->backward), limit, cats,
    };
    struct dirq *dq = xcalloc(1, sizeof *dq);
    dq->cb = cb;
    dq->ud = ud;
    pg_store_exec(s, "dir_list", 13, v, on_dir_rows, dq);
    FREE_ALL(words, cats);
}
