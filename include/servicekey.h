/* servicekey.h — the keys confabd derives from its component secret: one
 * service key (occupant-ids, XEP-0421) and, from it, one key a use (stanza-ids,
 * sealed IQ ids). Users never see the secret, so none of these can be guessed;
 * it survives restarts, so neither do the ids change. confab-bench derives the
 * same keys from the same secret to predict stanza-ids. */
#ifndef CONFAB_SERVICEKEY_H
#define CONFAB_SERVICEKEY_H

/* SHA-256 of a versioned label, the domain and the secret. */
void servicekey_from_secret(const char *domain, const char *secret, unsigned char key[32]);
/* HMAC-SHA256(key, label): independent keys for independent uses. */
void servicekey_derive(const unsigned char key[32], const char *label, unsigned char out[32]);

#endif
