/* servicekey.c — keys derived from the component secret (servicekey.h). */
#include "compat.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "servicekey.h"

void servicekey_from_secret(const char *domain, const char *secret, unsigned char key[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    /* The terminating NUL is hashed too: changing it changes every id. */
    static const char label[] = "confab occupant-id v1";
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, label, sizeof label) ||
        !EVP_DigestUpdate(ctx, domain, strlen(domain) + 1) ||
        !EVP_DigestUpdate(ctx, secret, strlen(secret)) || !EVP_DigestFinal_ex(ctx, key, &len)) {
        fprintf(stderr, "FATAL OpenSSL SHA-256 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
}

void servicekey_derive(const unsigned char key[32], const char *label, unsigned char out[32])
{
    unsigned int len = 0;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)label, strlen(label), out, &len);
}
