/* digest.h — SHA-256 and lowercase hex, the one implementation every daemon
 * and confabctl use (stanza digests, replaced-text hashes, chain hashes). */
#ifndef CONFAB_DIGEST_H
#define CONFAB_DIGEST_H

#include <stddef.h>

#define DIGEST_LEN 32
#define DIGEST_HEX_LEN (2 * DIGEST_LEN + 1)

/* SHA-256 of the concatenation of n parts (each len bytes). Aborts if
 * OpenSSL has no SHA-256: nothing sensible could follow. */
void digest_sha256(const void *const *parts, const size_t *lens, size_t n,
                   unsigned char out[DIGEST_LEN]);
/* n bytes as 2n lowercase hex digits and a NUL. */
void digest_hex(const unsigned char *b, size_t n, char *out);
/* hex(SHA-256(data)). */
void digest_sha256_hex(const char *data, size_t len, char out[DIGEST_HEX_LEN]);

#endif
