/* bench_sid.c — replica of muc.c's stanza-id scheme, for MAM pages at random positions (one-file swap once the cipher is in src/core). */
#include "compat.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* A replica of muc.c's stanza-id scheme (occupant key from the component
 * secret, HMAC-SHA256 "stanza-id", AES-256-ECB of seq and a room tag), so that
 * random pages can start anywhere in a big archive. It is checked against the
 * <last/> id confabd returns for the newest message before it is trusted;
 * when it does not match, the bench walks pages backwards instead. */
void sid_key(const char *domain, const char *secret, unsigned char out[32])
{
    unsigned char key[32];
    unsigned int len = 0;
    static const char label[] = "confab occupant-id v1";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, label, sizeof label) ||
        !EVP_DigestUpdate(ctx, domain, strlen(domain) + 1) ||
        !EVP_DigestUpdate(ctx, secret, strlen(secret)) || !EVP_DigestFinal_ex(ctx, key, &len))
        abort();
    EVP_MD_CTX_free(ctx);
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)"stanza-id", 9, out, &len);
}

void sid_encode(const unsigned char key[32], const char *room, uint64_t seq, char out[33])
{
    unsigned char in[16], ct[16], md[32];
    for (int i = 0; i < 8; i++)
        in[i] = (unsigned char)(seq >> (56 - 8 * i));
    SHA256((const unsigned char *)room, strlen(room), md);
    memcpy(in + 8, md, 8);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    if (!ctx || !EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL) ||
        !EVP_CIPHER_CTX_set_padding(ctx, 0) || !EVP_EncryptUpdate(ctx, ct, &n, in, 16))
        abort();
    EVP_CIPHER_CTX_free(ctx);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", ct[i]);
}
