/* digest.c — SHA-256 and hex (digest.h). */
#include "compat.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "digest.h"

void digest_sha256(const void *const *parts, const size_t *lens, size_t n,
                   unsigned char out[DIGEST_LEN])
{
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(ctx, parts[i], lens[i]);
    if (!ok || !EVP_DigestFinal_ex(ctx, out, &len)) {
        fprintf(stderr, "FATAL OpenSSL SHA-256 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
}

void digest_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void digest_sha256_hex(const char *data, size_t len, char out[DIGEST_HEX_LEN])
{
    unsigned char md[DIGEST_LEN];
    const void *parts[] = { data };
    digest_sha256(parts, &len, 1, md);
    digest_hex(md, DIGEST_LEN, out);
}
