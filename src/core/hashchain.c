/* The compliance hash chain, recomputed outside the database (hashchain.h). */
#include "compat.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashchain.h"
#include "mem.h"

#define CANONICAL_TAG "confab-compliance-1;"

#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

const char HASHCHAIN_ROWS_SQL[] =
    "SELECT seq, uuid::text, " US("event_time") ", " US("archived_at") ", type, sender, room, "
    "actor_jid, actor_nick, actor_role, actor_affiliation, target_jid, target_nick, target_role, "
    "target_affiliation, reason, direction, msg_type, subject, thread, body, "
    "array_to_json(recipients)::text, detail, stanza, " US("stamp") ", encode(hash, 'hex') "
    "FROM events WHERE seq BETWEEN $1::bigint AND $2::bigint ORDER BY seq";
const char HASHCHAIN_PREV_SQL[] = "SELECT encode(hash, 'hex') FROM events WHERE seq = $1::bigint";
const char HASHCHAIN_HEAD_SQL[] = "SELECT seq, encode(hash, 'hex') FROM chain_head WHERE id = 1";
const char HASHCHAIN_RANGE_SQL[] =
    "SELECT min(seq), max(seq) FROM events WHERE ($1::timestamptz IS NULL OR event_time >= $1) "
    "AND ($2::timestamptz IS NULL OR event_time < $2)";

/* Columns of HASHCHAIN_ROWS_SQL. */
enum { COL_SEQ, COL_UUID, COL_TIME, COL_ARCHIVED, COL_FIELDS,
       COL_RECIPIENTS = COL_FIELDS + HC_NFIELDS, COL_DETAIL, COL_STANZA, COL_STAMP, COL_HASH,
       NCOLS };

struct out {
    char **p;
    size_t *len;
    size_t cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (*o->len + n + 1 > o->cap) {
        o->cap = (*o->len + n + 1) * 2;
        *o->p = xrealloc(*o->p, o->cap);
    }
    memcpy(*o->p + *o->len, s, n);
    *o->len += n;
    (*o->p)[*o->len] = '\0';
}

/* "len:bytes," or "~" for NULL. */
static void put_ns(struct out *o, const char *s)
{
    if (!s) {
        put(o, "~", 1);
        return;
    }
    char head[24];
    size_t n = strlen(s);
    int h = snprintf(head, sizeof head, "%zu:", n);
    put(o, head, (size_t)h);
    put(o, s, n);
    put(o, ",", 1);
}

static void put_ns_int(struct out *o, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    put_ns(o, num);
}

void hashchain_canonical(const struct hashchain_row *row, char **out, size_t *len)
{
    struct out o = { out, len, *out ? *len + 1 : 0 };
    put(&o, CANONICAL_TAG, strlen(CANONICAL_TAG));
    put_ns_int(&o, row->seq);
    put_ns(&o, row->uuid);
    put_ns_int(&o, row->event_time_us);
    put_ns_int(&o, row->archived_at_us);
    for (size_t i = 0; i < HC_NFIELDS; i++)
        put_ns(&o, row->fields[i]);
    char head[24];
    int h = snprintf(head, sizeof head, "%zu:", row->nrecipients);
    put(&o, head, (size_t)h);
    for (size_t i = 0; i < row->nrecipients; i++)
        put_ns(&o, row->recipients[i]);
    put(&o, ";", 1);
    put_ns(&o, row->detail);
    put_ns(&o, row->stanza);
    if (row->has_stamp)
        put_ns_int(&o, row->stamp_us);
    else
        put_ns(&o, NULL);
}

static void sha256_2(const unsigned char *a, size_t alen, const char *b, size_t blen,
                     unsigned char out[HASHCHAIN_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) || !EVP_DigestUpdate(ctx, a, alen) ||
        !EVP_DigestUpdate(ctx, b, blen) || !EVP_DigestFinal_ex(ctx, out, &n)) {
        fprintf(stderr, "FATAL OpenSSL SHA-256 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
}

void hashchain_hash(const unsigned char *prev, const struct hashchain_row *row,
                    unsigned char out[HASHCHAIN_LEN])
{
    static const unsigned char genesis[HASHCHAIN_LEN];
    char *buf = NULL;
    size_t len = 0;
    hashchain_canonical(row, &buf, &len);
    sha256_2(prev ? prev : genesis, HASHCHAIN_LEN, buf, len, out);
    free(buf);
}

void hashchain_verify_init(struct hashchain_verify *v, int64_t first_seq,
                           const unsigned char *prev)
{
    memset(v, 0, sizeof *v);
    v->next_seq = first_seq;
    if (prev)
        memcpy(v->prev, prev, HASHCHAIN_LEN);
}

static void broken(struct hashchain_verify *v, int64_t seq, const char *why)
{
    if (v->bad_seq)
        return;
    v->bad_seq = seq ? seq : -1;
    snprintf(v->why, sizeof v->why, "%s", why);
}

int hashchain_verify_row(struct hashchain_verify *v, const struct hashchain_row *row,
                         const unsigned char stored[HASHCHAIN_LEN])
{
    unsigned char h[HASHCHAIN_LEN];
    int rc = 0;
    v->rows++;
    if (row->seq != v->next_seq) {
        char why[96];
        snprintf(why, sizeof why, "expected seq %" PRId64 ", found %" PRId64
                 " (rows missing or inserted)", v->next_seq, row->seq);
        broken(v, row->seq, why);
        rc = -EBADMSG;
    }
    hashchain_hash(v->prev, row, h);
    if (rc == 0 && memcmp(h, stored, HASHCHAIN_LEN) != 0) {
        broken(v, row->seq, "stored hash does not match the row and its predecessor "
                            "(row altered, or its predecessor altered or removed)");
        rc = -EBADMSG;
    }
    memcpy(v->prev, stored, HASHCHAIN_LEN);
    v->next_seq = row->seq + 1;
    return rc;
}

int hashchain_verify_head(struct hashchain_verify *v, int64_t head_seq,
                          const unsigned char head_hash[HASHCHAIN_LEN])
{
    if (head_seq != v->next_seq - 1) {
        char why[96];
        snprintf(why, sizeof why, "chain head is at seq %" PRId64 " but the last row is %" PRId64,
                 head_seq, v->next_seq - 1);
        broken(v, v->next_seq, why);
        return -EBADMSG;
    }
    if (memcmp(v->prev, head_hash, HASHCHAIN_LEN) != 0) {
        broken(v, head_seq, "the last row's hash is not the chain head's");
        return -EBADMSG;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hashchain_parse_bytea(const char *text, unsigned char out[HASHCHAIN_LEN])
{
    if (text[0] == '\\' && text[1] == 'x')
        text += 2;
    if (strlen(text) != 2 * HASHCHAIN_LEN)
        return -EINVAL;
    for (size_t i = 0; i < HASHCHAIN_LEN; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static const char *col(const PGresult *res, int i, int c)
{
    return PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* array_to_json(text[]) → owned strings. */
static int parse_recipients(const char *json, struct hashchain_pgrow *out)
{
    json_error_t err;
    json_t *a = json_loads(json ? json : "[]", 0, &err);
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return -EINVAL;
    }
    size_t n = json_array_size(a);
    out->recipients = xcalloc(n + 1, sizeof *out->recipients);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s) {
            json_decref(a);
            return -EINVAL;
        }
        out->recipients[i] = xstrdup(s);
        out->row.nrecipients = i + 1;
    }
    out->row.recipients = (const char *const *)out->recipients;
    json_decref(a);
    return 0;
}

int hashchain_row_from_pg(const PGresult *res, int i, struct hashchain_pgrow *out)
{
    memset(out, 0, sizeof *out);
    if (PQnfields(res) != NCOLS || i < 0 || i >= PQntuples(res))
        return -EINVAL;
    struct hashchain_row *r = &out->row;
    if (parse_i64(col(res, i, COL_SEQ), &r->seq) < 0 ||
        parse_i64(col(res, i, COL_TIME), &r->event_time_us) < 0 ||
        parse_i64(col(res, i, COL_ARCHIVED), &r->archived_at_us) < 0)
        return -EINVAL;
    r->uuid = col(res, i, COL_UUID);
    for (int f = 0; f < HC_NFIELDS; f++)
        r->fields[f] = col(res, i, COL_FIELDS + f);
    r->detail = col(res, i, COL_DETAIL);
    r->stanza = col(res, i, COL_STANZA);
    r->has_stamp = col(res, i, COL_STAMP) != NULL;
    if (r->has_stamp && parse_i64(col(res, i, COL_STAMP), &r->stamp_us) < 0)
        return -EINVAL;
    const char *hash = col(res, i, COL_HASH);
    if (!hash || hashchain_parse_bytea(hash, out->stored) < 0)
        return -EINVAL;
    if (parse_recipients(col(res, i, COL_RECIPIENTS), out) < 0) {
        hashchain_pgrow_clear(out);
        return -EINVAL;
    }
    return 0;
}

void hashchain_pgrow_clear(struct hashchain_pgrow *r)
{
    if (r->recipients) {
        for (size_t i = 0; r->recipients[i]; i++)
            free(r->recipients[i]);
        free(r->recipients);
    }
    memset(r, 0, sizeof *r);
}
