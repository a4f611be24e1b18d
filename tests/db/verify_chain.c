/* verify_chain DSN [FROM_SEQ [TO_SEQ]] — recompute the compliance hash chain
 * with hashchain.c (never with functions stored in the database) and report
 * the first broken row. Used by tests/integration/test_archiver.py; it shows
 * how confabctl compliance verify drives the hashchain API (synchronous libpq
 * is fine in a test tool; confabctl goes through db.c).
 *
 * Output: "ok ROWS rows, head SEQ" (exit 0), or
 *         "broken at seq SEQ: WHY" (exit 1); exit 2 on usage/database errors. */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <libpq-fe.h>

#include "hashchain.h"

#define PAGE 1000

static PGresult *query(PGconn *c, const char *sql, int n, const char *const *values)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "verify_chain: %s", PQerrorMessage(c));
        exit(2);
    }
    return r;
}

/* Start the verifier at from (needs the stored hash of row from - 1). */
static void start(PGconn *c, struct hashchain_verify *v, int64_t from)
{
    unsigned char prev[HASHCHAIN_LEN];
    if (from <= 1) {
        hashchain_verify_init(v, 1, NULL);
        return;
    }
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, from - 1);
    const char *values[] = { s };
    PGresult *r = query(c, HASHCHAIN_PREV_SQL, 1, values);
    if (PQntuples(r) != 1 || hashchain_parse_bytea(PQgetvalue(r, 0, 0), prev) < 0) {
        printf("broken at seq %" PRId64 ": the row before the range is missing\n", from);
        exit(1);
    }
    PQclear(r);
    hashchain_verify_init(v, from, prev);
}

/* Check rows lo..hi; returns how many there were. */
static int check_page(PGconn *c, struct hashchain_verify *v, int64_t lo, int64_t hi)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, lo);
    snprintf(b, sizeof b, "%" PRId64, hi);
    const char *values[] = { a, b };
    PGresult *r = query(c, HASHCHAIN_ROWS_SQL, 2, values);
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        struct hashchain_pgrow row;
        if (hashchain_row_from_pg(r, i, &row) < 0) {
            fprintf(stderr, "verify_chain: unexpected row shape\n");
            exit(2);
        }
        if (hashchain_verify_row(v, &row.row, row.stored) < 0) {
            printf("broken at seq %" PRId64 ": %s\n", v->bad_seq, v->why);
            exit(1);
        }
        hashchain_pgrow_clear(&row);
    }
    PQclear(r);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: verify_chain DSN [FROM_SEQ [TO_SEQ]]\n");
        return 2;
    }
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "verify_chain: %s", PQerrorMessage(c));
        return 2;
    }
    PGresult *h = query(c, HASHCHAIN_HEAD_SQL, 0, NULL);
    int64_t head = strtoll(PQgetvalue(h, 0, 0), NULL, 10);
    unsigned char head_hash[HASHCHAIN_LEN];
    if (hashchain_parse_bytea(PQgetvalue(h, 0, 1), head_hash) < 0)
        return 2;
    PQclear(h);
    int64_t from = argc > 2 ? strtoll(argv[2], NULL, 10) : 1;
    int64_t to = argc > 3 ? strtoll(argv[3], NULL, 10) : head;
    struct hashchain_verify v;
    start(c, &v, from);
    for (int64_t lo = from; lo <= to; lo += PAGE)
        check_page(c, &v, lo, lo + PAGE - 1 < to ? lo + PAGE - 1 : to);
    if (to == head && hashchain_verify_head(&v, head, head_hash) < 0) {
        printf("broken at seq %" PRId64 ": %s\n", v.bad_seq, v.why);
        return 1;
    }
    printf("ok %" PRIu64 " rows, head %" PRId64 "\n", v.rows, head);
    PQfinish(c);
    return 0;
}
