/* Signed checkpoints of the compliance chain's head (checkpoint.h). */
#include "compat.h"

#include <inttypes.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "datetime.h"

#define SIG_B64_LEN 88 /* 64 bytes in base64, with its "==" */

int checkpoint_key_mode_ok(const char *path, char *why, size_t whylen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        snprintf(why, whylen, "%s", strerror(e));
        return -e;
    }
    /* The key is the only thing the database's owner does not have: a copy
     * readable by another account would let that account sign a rewritten
     * chain. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, whylen, "mode %04o lets group or others read it; it must be readable "
                 "by the archiver only (chmod 600)", (unsigned)(st.st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

static bool is_ed25519(EVP_PKEY *k)
{
    return EVP_PKEY_get_id(k) == EVP_PKEY_ED25519;
}

int checkpoint_key_load(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    char why[160];
    *out = NULL;
    int rc = checkpoint_key_mode_ok(path, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return rc;
    }
    FILE *fp = fopen(path, "r");
    if (!fp) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    if (!k || !is_ed25519(k)) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "%s: not a PEM Ed25519 private key (make one with "
                 "'confabctl compliance keygen' or 'openssl genpkey -algorithm ed25519')", path);
        return -EINVAL;
    }
    *out = k;
    return 0;
}

int checkpoint_pubkey_load(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    EVP_PKEY *k = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    if (!k) {
        rewind(fp);
        k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    }
    fclose(fp);
    if (!k || !is_ed25519(k)) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "%s: not a PEM Ed25519 public key", path);
        return -EINVAL;
    }
    *out = k;
    return 0;
}

EVP_PKEY *checkpoint_keygen(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &k) <= 0)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    return k;
}

void checkpoint_key_id(EVP_PKEY *key, char out[CHECKPOINT_KEYID_HEX + 1])
{
    unsigned char raw[32], md[32];
    size_t n = sizeof raw;
    memset(raw, 0, sizeof raw);
    if (EVP_PKEY_get_raw_public_key(key, raw, &n) <= 0)
        n = 0;
    EVP_Digest(raw, n, md, NULL, EVP_sha256(), NULL);
    for (size_t i = 0; i < CHECKPOINT_KEYID_HEX / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The signed bytes: the line up to (not including) " sig=". */
static int message(const struct checkpoint *cp, char *out, size_t cap)
{
    char hex[2 * HASHCHAIN_LEN + 1], t[DATETIME_FMT_MAX];
    for (size_t i = 0; i < HASHCHAIN_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", cp->hash[i]);
    datetime_format(cp->time_ms, t);
    return snprintf(out, cap, CHECKPOINT_TAG " seq=%" PRId64 " hash=%s time=%s key=%s", cp->seq,
                    hex, t, cp->key_id);
}

int checkpoint_sign(EVP_PKEY *key, struct checkpoint *cp)
{
    char msg[CHECKPOINT_LINE_MAX];
    checkpoint_key_id(key, cp->key_id);
    int n = message(cp, msg, sizeof msg);
    size_t siglen = sizeof cp->sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    /* Ed25519 signs the message itself: no digest is named. */
    bool ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) > 0 &&
              EVP_DigestSign(md, cp->sig, &siglen, (const unsigned char *)msg, (size_t)n) > 0 &&
              siglen == sizeof cp->sig;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -EIO;
}

void checkpoint_format(const struct checkpoint *cp, char out[CHECKPOINT_LINE_MAX])
{
    int n = message(cp, out, CHECKPOINT_LINE_MAX);
    char b64[SIG_B64_LEN + 1];
    EVP_EncodeBlock((unsigned char *)b64, cp->sig, sizeof cp->sig);
    snprintf(out + n, CHECKPOINT_LINE_MAX - (size_t)n, " sig=%s", b64);
}

int checkpoint_parse(const char *line, struct checkpoint *cp)
{
    char hex[2 * HASHCHAIN_LEN + 1], t[40], b64[SIG_B64_LEN + 1];
    int end = -1;
    memset(cp, 0, sizeof *cp);
    size_t len = strcspn(line, "\r\n");
    if (len >= CHECKPOINT_LINE_MAX || strspn(line + len, "\r\n") != strlen(line + len))
        return -EINVAL;
    if (sscanf(line, CHECKPOINT_TAG " seq=%" SCNd64 " hash=%64[0-9a-f] time=%39[^ ] "
               "key=%16[0-9a-f] sig=%88[A-Za-z0-9+/=]%n", &cp->seq, hex, t, cp->key_id, b64,
               &end) != 5 || end != (int)len)
        return -EINVAL;
    unsigned char raw[SIG_B64_LEN];
    if (cp->seq < 1 || hashchain_parse_bytea(hex, cp->hash) < 0 ||
        datetime_parse(t, &cp->time_ms) < 0 || strlen(b64) != SIG_B64_LEN ||
        EVP_DecodeBlock(raw, (const unsigned char *)b64, SIG_B64_LEN) < CHECKPOINT_SIG_LEN)
        return -EINVAL;
    memcpy(cp->sig, raw, sizeof cp->sig);
    /* Only the canonical spelling: no second line that means the same. */
    char again[CHECKPOINT_LINE_MAX];
    checkpoint_format(cp, again);
    return strlen(again) == len && memcmp(again, line, len) == 0 ? 0 : -EINVAL;
}

int checkpoint_verify(EVP_PKEY *pub, const struct checkpoint *cp)
{
    char id[CHECKPOINT_KEYID_HEX + 1], msg[CHECKPOINT_LINE_MAX];
    checkpoint_key_id(pub, id);
    if (strcmp(id, cp->key_id) != 0)
        return -ENOKEY;
    int n = message(cp, msg, sizeof msg);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub) > 0 &&
              EVP_DigestVerify(md, cp->sig, sizeof cp->sig, (const unsigned char *)msg,
                               (size_t)n) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -EBADMSG;
}
