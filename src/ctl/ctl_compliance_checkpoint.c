/* ctl_compliance_checkpoint.c — `confabctl compliance keygen` and the signed
 * checkpoints half of `compliance verify --checkpoints FILE --pubkey PUB`.
 *
 * The chain walk (ctl_compliance.c) proves the rows chain to one another; it
 * cannot tell a chain the database's owner recomputed after rewriting a row,
 * or cut at its end, from the original. The checkpoints can: each is the
 * archiver's signature (a key the database never sees) over a seq and the
 * hash the chain had there. Once the walk has shown every stored hash equals
 * the recomputed one, a stored hash that differs from a signed one means the
 * rows up to that seq were rewritten, and a signed seq beyond the head means
 * rows were cut off the end. */
#include "compat.h"

#include <fcntl.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "checkpoint.h"
#include "ctl.h"
#include "datetime.h"
#include "digest.h"
#include "mem.h"

/* ---- keygen ---- */

static int write_key(const char *path, EVP_PKEY *k, bool priv)
{
    /* O_EXCL: never overwrite a key that may already sign checkpoints. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, priv ? 0600 : 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        ctl_err("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CTL_FAIL;
    }
    bool ok = priv ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
                   : PEM_write_PUBKEY(f, k);
    if (fclose(f) != 0 || !ok) {
        ctl_err("%s: writing the key failed", path);
        return CTL_FAIL;
    }
    return 0;
}

int ctl_compliance_keygen(struct ctl *c, const struct ctl_compliance_opts *o)
{
    if (!o->out)
        return ctl_usage("compliance keygen: --out FILE is required");
    EVP_PKEY *k = checkpoint_keygen();
    if (!k) {
        ctl_err("generating an Ed25519 key failed");
        return CTL_FAIL;
    }
    char *pub = xasprintf("%s.pub", o->out), id[CHECKPOINT_KEYID_HEX + 1];
    checkpoint_key_id(k, id);
    int rc = write_key(o->out, k, true);
    if (rc == 0 && (rc = write_key(pub, k, false)) != 0)
        unlink(o->out);
    EVP_PKEY_free(k);
    if (rc == 0 && c->json)
        ctl_print_json(json_pack("{s:s, s:s, s:s}", "key", o->out, "pubkey", pub, "key_id", id));
    else if (rc == 0)
        printf("private key: %s (for [archiver] checkpoint_key; readable by the archiver "
               "only)\npublic key:  %s (for verify --pubkey)\nkey id:      %s\n", o->out, pub,
               id);
    free(pub);
    return rc;
}

/* ---- reading the file ---- */

/* Every line must be a checkpoint signed by pub: a line that is not is
 * refused, never skipped, so a forged line cannot hide among good ones. */
static int read_line_checked(EVP_PKEY *pub, const char *file, int lineno, const char *line,
                             struct checkpoint *cp)
{
    if (checkpoint_parse(line, cp) < 0) {
        ctl_err("%s:%d: not a checkpoint line", file, lineno);
        return CTL_FAIL;
    }
    int r = checkpoint_verify(pub, cp);
    char want[CHECKPOINT_KEYID_HEX + 1];
    checkpoint_key_id(pub, want);
    if (r == -ENOKEY)
        ctl_err("%s:%d: signed by key %s, not by the given public key (%s)", file, lineno,
                cp->key_id, want);
    else if (r < 0)
        ctl_err("%s:%d: the signature does not match: a forged or altered checkpoint "
                "(seq %" PRId64 ")", file, lineno, cp->seq);
    return r < 0 ? CTL_FAIL : 0;
}

int ctl_checkpoints_load(const char *file, const char *pubkey, struct ctl_checkpoints *out)
{
    memset(out, 0, sizeof *out);
    char err[512];
    EVP_PKEY *pub = NULL;
    if (checkpoint_pubkey_load(pubkey, &pub, err, sizeof err) < 0) {
        ctl_err("%s", err);
        return EX_NOINPUT;
    }
    checkpoint_key_id(pub, out->key_id);
    FILE *f = fopen(file, "r");
    if (!f) {
        ctl_err("%s: %s", file, strerror(errno));
        EVP_PKEY_free(pub);
        return EX_NOINPUT;
    }
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    int rc = 0, lineno = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        if (out->n == alloc) {
            alloc = alloc ? 2 * alloc : 256;
            out->cps = xrealloc(out->cps, alloc * sizeof *out->cps);
        }
        rc = read_line_checked(pub, file, lineno, line, &out->cps[out->n]);
        if (rc == 0)
            out->n++;
    }
    free(line);
    fclose(f);
    EVP_PKEY_free(pub);
    if (rc)
        ctl_checkpoints_free(out);
    return rc;
}

void ctl_checkpoints_free(struct ctl_checkpoints *cps)
{
    free(cps->cps);
    cps->cps = NULL;
    cps->n = 0;
}

/* ---- checking the chain against them ---- */

struct report {
    size_t checked, purged;
    const struct checkpoint *newest;      /* highest seq signed */
    const struct checkpoint *bad;         /* lowest seq whose hash differs */
    const struct checkpoint *good_before; /* highest matching seq below bad */
    char chain_hash[2 * HASHCHAIN_LEN + 1];
    bool truncated;
};

static void fmt_time(int64_t ms, char out[DATETIME_FMT_MAX])
{
    datetime_format(ms, out);
}

/* The stored hash at every signed seq of lo..hi (the walk proved it equals
 * the recomputed one), or a purged run's recorded hash when the seq ended
 * one. */
static int stored_hashes(struct ctl *c, const struct ctl_checkpoints *cps, int64_t lo,
                         int64_t hi, PGresult **r)
{
    static const char sql[] =
        "SELECT seq, encode(hash, 'hex') FROM events WHERE seq = ANY($1::bigint[]) "
        "UNION ALL SELECT last_seq, encode(last_hash, 'hex') FROM chain_gaps "
        "WHERE last_seq = ANY($1::bigint[]) ORDER BY 1";
    struct buf b;
    buf_init(&b);
    buf_putc(&b, '{');
    for (size_t i = 0; i < cps->n; i++)
        if (cps->cps[i].seq >= lo && cps->cps[i].seq <= hi)
            buf_printf(&b, "%s%" PRId64, b.len > 1 ? "," : "", cps->cps[i].seq);
    buf_append(&b, "}", 2); /* with the NUL */
    const char *v[] = { b.data };
    int rc = ctl_query(c, "reading the hashes at the signed seqs", sql, 1, v, r);
    buf_free(&b);
    return rc;
}

/* r is ordered by seq: binary search (a year of checkpoints is ~500,000). */
static const char *lookup(const PGresult *r, int64_t seq)
{
    int lo = 0, hi = PQntuples(r) - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        long long s = ctl_col_ll(r, mid, 0);
        if (s == seq)
            return PQgetvalue(r, mid, 1);
        if (s < seq)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static void compare(const struct ctl_checkpoints *cps, const PGresult *r, int64_t lo,
                    int64_t hi, struct report *rep)
{
    for (size_t i = 0; i < cps->n; i++) {
        const struct checkpoint *cp = &cps->cps[i];
        if (!rep->newest || cp->seq > rep->newest->seq)
            rep->newest = cp;
        if (cp->seq < lo || cp->seq > hi)
            continue;
        const char *stored = lookup(r, cp->seq);
        char signed_hex[2 * HASHCHAIN_LEN + 1];
        digest_hex(cp->hash, HASHCHAIN_LEN, signed_hex);
        if (!stored) {
            rep->purged++; /* inside a purged run: nothing left to compare */
            continue;
        }
        rep->checked++;
        if (strcmp(stored, signed_hex) == 0)
            continue;
        if (!rep->bad || cp->seq < rep->bad->seq) {
            rep->bad = cp;
            snprintf(rep->chain_hash, sizeof rep->chain_hash, "%s", stored);
        }
    }
    for (size_t i = 0; rep->bad && i < cps->n; i++) {
        const struct checkpoint *cp = &cps->cps[i];
        if (cp->seq < rep->bad->seq && cp->seq >= lo && lookup(r, cp->seq) &&
            (!rep->good_before || cp->seq > rep->good_before->seq))
            rep->good_before = cp;
    }
}

static int print_json(const struct ctl_checkpoints *cps, const struct report *rep,
                      uint64_t rows, int64_t head)
{
    char t[DATETIME_FMT_MAX], h[2 * HASHCHAIN_LEN + 1];
    json_t *cj = json_pack("{s:s, s:I, s:I, s:I}", "key_id", cps->key_id, "signed",
                           (json_int_t)cps->n, "matched", (json_int_t)rep->checked,
                           "purged", (json_int_t)rep->purged);
    if (rep->newest) {
        fmt_time(rep->newest->time_ms, t);
        json_object_set_new(cj, "newest_seq", json_integer(rep->newest->seq));
        json_object_set_new(cj, "newest_time", json_string(t));
        if (!rep->truncated && head > rep->newest->seq)
            json_object_set_new(cj, "unsigned_rows", json_pack("[I, I]",
                                (json_int_t)rep->newest->seq + 1, (json_int_t)head));
    }
    const char *status = rep->bad ? "rewritten" : rep->truncated ? "truncated" : "ok";
    json_t *o = json_pack("{s:s, s:I, s:I, s:o}", "status", status, "rows", (json_int_t)rows,
                          "head", (json_int_t)head, "checkpoints", cj);
    if (rep->bad) {
        fmt_time(rep->bad->time_ms, t);
        digest_hex(rep->bad->hash, HASHCHAIN_LEN, h);
        json_object_set_new(o, "seq", json_integer(rep->bad->seq));
        json_object_set_new(o, "signed_time", json_string(t));
        json_object_set_new(o, "signed_hash", json_string(h));
        json_object_set_new(o, "chain_hash", json_string(rep->chain_hash));
        json_object_set_new(o, "rewritten_after", json_integer(rep->good_before ?
                                                              rep->good_before->seq : 0));
    }
    if (rep->truncated)
        json_object_set_new(o, "missing", json_pack("[I, I]", (json_int_t)head + 1,
                                                     (json_int_t)rep->newest->seq));
    ctl_print_json(o);
    return rep->bad || rep->truncated ? CTL_FAIL : 0;
}

static void print_rewritten(const struct report *rep)
{
    char t[DATETIME_FMT_MAX], h[2 * HASHCHAIN_LEN + 1];
    fmt_time(rep->bad->time_ms, t);
    digest_hex(rep->bad->hash, HASHCHAIN_LEN, h);
    printf("rewritten at or before seq %" PRId64 ": the chain's hash there differs from the "
           "checkpoint signed at %s\n", rep->bad->seq, t);
    if (rep->good_before)
        printf("  rows %" PRId64 "..%" PRId64 " were altered and the chain recomputed (seq %"
               PRId64 " still matches its checkpoint)\n", rep->good_before->seq + 1,
               rep->bad->seq, rep->good_before->seq);
    else
        printf("  rows 1..%" PRId64 " were altered and the chain recomputed (no earlier "
               "checkpoint matches)\n", rep->bad->seq);
    printf("  signed: %s\n  chain:  %s\n", h, rep->chain_hash);
}

static void print_truncated(const struct report *rep, int64_t head)
{
    char t[DATETIME_FMT_MAX];
    fmt_time(rep->newest->time_ms, t);
    printf("truncated: the checkpoint signed at %s names seq %" PRId64 ", but the chain "
           "ends at seq %" PRId64 ": rows %" PRId64 "..%" PRId64 " were cut off the end and "
           "chain_head moved back\n", t, rep->newest->seq, head, head + 1, rep->newest->seq);
}

static int print_text(const struct ctl_checkpoints *cps, const struct report *rep,
                      uint64_t rows, int64_t head)
{
    if (rep->bad)
        print_rewritten(rep);
    if (rep->truncated)
        print_truncated(rep, head);
    if (rep->bad || rep->truncated)
        return CTL_FAIL;
    printf("ok: %" PRIu64 " rows verified; %zu signed checkpoint%s (key %s) match%s", rows,
           cps->n, cps->n == 1 ? "" : "s", cps->key_id, cps->n == 1 ? "es" : "");
    if (rep->purged)
        printf(", %zu fall in purged rows", rep->purged);
    putchar('\n');
    if (!rep->newest) {
        printf("  no checkpoint yet: the whole chain is only as safe as the database\n");
        return 0;
    }
    char t[DATETIME_FMT_MAX];
    fmt_time(rep->newest->time_ms, t);
    if (head > rep->newest->seq)
        printf("  newest checkpoint: seq %" PRId64 " at %s; rows %" PRId64 "..%" PRId64
               " came after it and are only as safe as the database (a cut there is not "
               "detectable)\n", rep->newest->seq, t, rep->newest->seq + 1, head);
    else
        printf("  newest checkpoint: seq %" PRId64 " at %s (the head)\n", rep->newest->seq, t);
    return 0;
}

int ctl_checkpoints_check(struct ctl *c, const struct ctl_checkpoints *cps, int64_t lo,
                          int64_t hi, int64_t head, bool open_end, uint64_t rows)
{
    PGresult *r = NULL;
    int rc = stored_hashes(c, cps, lo, hi, &r);
    if (rc)
        return rc;
    struct report rep = { 0 };
    compare(cps, r, lo, hi, &rep);
    PQclear(r);
    /* Only a verify up to the head can tell a cut end. */
    rep.truncated = open_end && rep.newest && rep.newest->seq > head;
    return c->json ? print_json(cps, &rep, rows, head) : print_text(cps, &rep, rows, head);
}
