/* hashchain.h — the compliance record's SHA-256 hash chain, computed and
 * checked outside the database.
 *
 * Each row of the compliance table `events` stores
 *
 *     hash = SHA-256(previous row's hash || canonical(row))
 *
 * where the first row's "previous hash" is 32 zero bytes and canonical() is
 * the byte string defined by compliance_canonical() in
 * schema/compliance/002_events.sql: "confab-compliance-1;" followed by every
 * column but the hash and the derived tsvector, in table order, each as a
 * netstring of its text form ("<utf8 byte length>:<bytes>,", "~" for NULL),
 * timestamps as integer microseconds since the epoch, and the recipients
 * array as "<count>:" + one netstring per element + ";".
 *
 * The archiver has PostgreSQL compute the chain (one statement per batch of
 * events, compliance_put_batch() in schema/compliance/005_put_batch.sql,
 * under the chain_head row lock, so the order is the commit order). This file
 * recomputes it independently, from the columns' values only, so a verifier
 * (confabctl compliance verify) does not trust functions stored in the very
 * database it checks. Altering, inserting or deleting a row breaks the chain
 * at that row or the next; rewriting every hash from some row to the end is
 * only detectable against a head hash recorded elsewhere (HASHCHAIN_HEAD_SQL).
 *
 * Pure and single-threaded; nothing here does I/O. */
#ifndef CONFAB_HASHCHAIN_H
#define CONFAB_HASHCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "compat.h"

#define HASHCHAIN_LEN 32

/* Text columns covered by the hash, in canonical order after type. */
enum hashchain_field {
    HC_TYPE, HC_SENDER, HC_ROOM, HC_ACTOR_JID, HC_ACTOR_NICK, HC_ACTOR_ROLE,
    HC_ACTOR_AFFILIATION, HC_TARGET_JID, HC_TARGET_NICK, HC_TARGET_ROLE,
    HC_TARGET_AFFILIATION, HC_REASON, HC_DIRECTION, HC_MSG_TYPE, HC_SUBJECT, HC_THREAD,
    HC_BODY, HC_NFIELDS
};

/* One row as the hash sees it. Strings are borrowed; NULL is SQL NULL. The
 * canonical order is seq, uuid, event_time, archived_at, fields[HC_TYPE ..
 * HC_BODY], recipients, detail, stanza, stamp. */
struct hashchain_row {
    int64_t seq;
    const char *uuid;          /* lowercase 8-4-4-4-12 text */
    int64_t event_time_us;     /* microseconds since 1970-01-01T00:00:00Z */
    int64_t archived_at_us;
    const char *fields[HC_NFIELDS];
    const char *const *recipients;
    size_t nrecipients;
    const char *detail;
    const char *stanza;
    bool has_stamp;
    int64_t stamp_us;
};

/* Append canonical(row) to *out (a malloc'd buffer, *len bytes, grown as
 * needed; start with *out = NULL, *len = 0; the caller frees). */
void hashchain_canonical(const struct hashchain_row *row, char **out, size_t *len);

/* out = SHA-256(prev || canonical(row)); prev NULL means the genesis (32 zero
 * bytes). */
void hashchain_hash(const unsigned char *prev, const struct hashchain_row *row,
                    unsigned char out[HASHCHAIN_LEN]);

/* Incremental verifier over rows in seq order. */
struct hashchain_verify {
    unsigned char prev[HASHCHAIN_LEN];
    int64_t next_seq;      /* the seq the next row must have */
    uint64_t rows;         /* rows checked */
    int64_t bad_seq;       /* first broken row's seq (0 = none) */
    char why[160];         /* what was wrong with it */
};

/* Start at first_seq; prev is the hash of row first_seq - 1 (NULL when
 * first_seq is 1: the genesis). */
void hashchain_verify_init(struct hashchain_verify *v, int64_t first_seq,
                           const unsigned char *prev);
/* Check one row and the hash stored with it. 0 when it follows; -EBADMSG when
 * the chain breaks here (v->bad_seq and v->why say where and how; later rows
 * are then checked against this row's stored hash, so one altered row is
 * reported once). */
MUST_CHECK int hashchain_verify_row(struct hashchain_verify *v, const struct hashchain_row *row,
                                    const unsigned char stored[HASHCHAIN_LEN]);
/* After the last row: compare with the chain head (seq and hash of the newest
 * row, from HASHCHAIN_HEAD_SQL). -EBADMSG when rows are missing at the end or
 * the head does not match. */
MUST_CHECK int hashchain_verify_head(struct hashchain_verify *v, int64_t head_seq,
                                     const unsigned char head_hash[HASHCHAIN_LEN]);

/* The rows of seq $1 .. $2 in chain order, as hashchain_row_from_pg() reads
 * them (uses only built-in functions). */
extern const char HASHCHAIN_ROWS_SQL[];
/* The stored hash of row $1 (to start in the middle of the chain). */
extern const char HASHCHAIN_PREV_SQL[];
/* chain_head: seq, hash. */
extern const char HASHCHAIN_HEAD_SQL[];
/* seq range of the events in a time range: $1, $2 timestamptz text (either
 * may be NULL = open). Returns min(seq), max(seq) (NULL when none). */
extern const char HASHCHAIN_RANGE_SQL[];

/* A row of HASHCHAIN_ROWS_SQL's result, decoded. Owned by the caller:
 * hashchain_pgrow_clear() releases it. */
struct hashchain_pgrow {
    struct hashchain_row row;
    unsigned char stored[HASHCHAIN_LEN];
    char **recipients;
};
/* 0, or -EINVAL when the result does not have the expected shape. */
MUST_CHECK int hashchain_row_from_pg(const PGresult *res, int i, struct hashchain_pgrow *out);
void hashchain_pgrow_clear(struct hashchain_pgrow *r);
/* Decode PostgreSQL's text form of a bytea ("\x…" hex) of HASHCHAIN_LEN bytes. */
MUST_CHECK int hashchain_parse_bytea(const char *text, unsigned char out[HASHCHAIN_LEN]);

#endif
