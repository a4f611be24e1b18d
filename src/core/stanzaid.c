/* stanzaid.c — XEP-0359 stanza-ids as one AES block of seq and room (stanzaid.h). */
#include "compat.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "servicekey.h"
#include "stanzaid.h"

struct stanzaid {
    EVP_CIPHER_CTX *enc, *dec;
};

static EVP_CIPHER_CTX *cipher(const unsigned char key[32], bool enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_CipherInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL, enc ? 1 : 0) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
        /* As for malloc (mem.h): without it nothing can be stored. */
        fprintf(stderr, "FATAL cannot set up the stanza-id cipher\n");
        abort();
    }
    return ctx;
}

struct stanzaid *stanzaid_new(const unsigned char service_key[32])
{
    unsigned char key[32];
    servicekey_derive(service_key, "stanza-id", key);
    struct stanzaid *s = xmalloc(sizeof *s);
    s->enc = cipher(key, true);
    s->dec = cipher(key, false);
    return s;
}

void stanzaid_free(struct stanzaid *s)
{
    if (!s)
        return;
    EVP_CIPHER_CTX_free(s->enc);
    EVP_CIPHER_CTX_free(s->dec);
    free(s);
}

/* ECB on one whole block: no state is carried between calls. */
static int block(EVP_CIPHER_CTX *ctx, const unsigned char in[16], unsigned char out[16])
{
    int len = 0;
    return EVP_CipherUpdate(ctx, out, &len, in, 16) && len == 16 ? 0 : -EIO;
}

static void room_tag(const char *room_jid, unsigned char tag[8])
{
    unsigned char md[32];
    SHA256((const unsigned char *)room_jid, strlen(room_jid), md);
    memcpy(tag, md, 8);
}

void stanzaid_encode(const struct stanzaid *s, const char *room_jid, uint64_t seq, char out[33])
{
    unsigned char in[16], ct[16];
    for (int i = 0; i < 8; i++)
        in[i] = (unsigned char)(seq >> (56 - 8 * i));
    room_tag(room_jid, in + 8);
    if (block(s->enc, in, ct) < 0)
        abort();
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[ct[i] >> 4];
        out[2 * i + 1] = hex[ct[i] & 15];
    }
    out[32] = '\0';
}

int stanzaid_decode(const struct stanzaid *s, const char *room_jid, const char *sid,
                    uint64_t *seq)
{
    unsigned char ct[16], pt[16], tag[8];
    if (!sid || strlen(sid) != 32)
        return -EINVAL;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(sid + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        ct[i] = (unsigned char)v;
    }
    room_tag(room_jid, tag);
    if (block(s->dec, ct, pt) < 0 || memcmp(pt + 8, tag, 8) != 0)
        return -EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | pt[i];
    *seq = v;
    return 0;
}
