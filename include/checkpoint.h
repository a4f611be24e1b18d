/* checkpoint.h — signed checkpoints of the compliance hash chain's head.
 *
 * The hash chain (hashchain.h) has no key: whoever controls the database can
 * cut its newest rows and move chain_head back, or rewrite a row and
 * recompute every later hash, and the chain still verifies. A checkpoint is
 * the archiver's signed statement "at TIME the chain's row SEQ had hash HASH",
 * made with an Ed25519 key that never enters the database and written to a
 * file the operator ships elsewhere. `confabctl compliance verify
 * --checkpoints` then checks the chain against them: a rewritten row changes
 * the hash at every later signed seq, and a cut chain ends before the newest
 * signed seq.
 *
 * One checkpoint is one line of text (no newline inside):
 *
 *   confab-checkpoint-1 seq=N hash=HEX64 time=UTC key=KEYID sig=BASE64
 *
 * The signature (Ed25519, RFC 8032, pure: no pre-hash) covers the exact bytes
 * before " sig="; KEYID is the first 8 bytes of SHA-256 of the raw 32-byte
 * public key, in hex, so a verifier tells a line signed by another key from a
 * forged one. Parsing is strict: a line is accepted only if formatting its
 * fields again gives the same bytes.
 *
 * Pure apart from reading key files; single-threaded. */
#ifndef CONFAB_CHECKPOINT_H
#define CONFAB_CHECKPOINT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "hashchain.h"

#define CHECKPOINT_TAG "confab-checkpoint-1"
#define CHECKPOINT_SIG_LEN 64
#define CHECKPOINT_KEYID_HEX 16
/* Longest line, NUL included (the fields are bounded). */
#define CHECKPOINT_LINE_MAX 320

struct checkpoint {
    int64_t seq;
    unsigned char hash[HASHCHAIN_LEN];
    int64_t time_ms;
    char key_id[CHECKPOINT_KEYID_HEX + 1];
    unsigned char sig[CHECKPOINT_SIG_LEN];
};

/* 0 when only the owner may access path; else -EPERM (group or others may),
 * or -errno from stat(), with why filled ("mode 0644: ..."). */
MUST_CHECK int checkpoint_key_mode_ok(const char *path, char *why, size_t whylen);
/* The archiver's private key: a PEM Ed25519 private key that only the owner
 * may read. 0, or a negative errno with err filled (naming the file). */
MUST_CHECK int checkpoint_key_load(const char *path, EVP_PKEY **out, char *err, size_t errlen);
/* A verifier's key: a PEM Ed25519 public key (or the private key, whose public
 * half is used). */
MUST_CHECK int checkpoint_pubkey_load(const char *path, EVP_PKEY **out, char *err,
                                      size_t errlen);
/* A fresh Ed25519 key pair, or NULL. */
EVP_PKEY *checkpoint_keygen(void);
/* The key id of key (private or public): 16 hex digits. */
void checkpoint_key_id(EVP_PKEY *key, char out[CHECKPOINT_KEYID_HEX + 1]);

/* Sign seq, hash and time_ms of cp with key: fills cp->key_id and cp->sig.
 * 0 or -EIO. */
MUST_CHECK int checkpoint_sign(EVP_PKEY *key, struct checkpoint *cp);
/* The line of a signed checkpoint, without a newline. */
void checkpoint_format(const struct checkpoint *cp, char out[CHECKPOINT_LINE_MAX]);
/* Parse one line (a trailing "\n" or "\r\n" is allowed). 0 or -EINVAL. */
MUST_CHECK int checkpoint_parse(const char *line, struct checkpoint *cp);
/* 0 when cp was signed by pub; -ENOKEY when it names another key id;
 * -EBADMSG when the signature does not match (a forged or altered line). */
MUST_CHECK int checkpoint_verify(EVP_PKEY *pub, const struct checkpoint *cp);

#endif
