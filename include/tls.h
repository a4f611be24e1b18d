/* tls.h — one TLS client session over memory BIOs, free of I/O.
 *
 * The owner moves bytes: ciphertext from the network goes in with tls_feed(),
 * plaintext for the peer goes in with tls_write(); both append the ciphertext
 * to send to a caller's buffer, and tls_feed() appends the plaintext that
 * became readable to another. Nothing here touches a socket, so the libuv loop
 * never blocks on TLS. Certificates are always verified: the chain against the
 * CA file (or the system store) and the name (a DNS name, or an IP address
 * literal, which is matched against the certificate's IP SANs). */
#ifndef CONFAB_TLS_H
#define CONFAB_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct tls_cfg {
    const char *ca_file;     /* PEM file of trusted CAs; NULL or "" = the system store */
    const char *verify_name; /* name the certificate must carry; also sent as SNI */
};

enum tls_status {
    TLS_OK = 0,        /* nothing to report */
    TLS_ESTABLISHED,   /* the handshake completed during this call */
    TLS_CLOSED,        /* the peer sent close_notify */
    TLS_FAILED,        /* handshake or protocol failure: tls_error() says why */
    TLS_REJECTED,      /* the peer's certificate failed verification: tls_error() */
};

struct tls;

/* A client session; NULL (with *err, a static-ish message in errbuf) when the
 * context cannot be set up, e.g. an unreadable CA file. */
struct tls *tls_new(const struct tls_cfg *cfg, char *errbuf, size_t errlen);
void tls_free(struct tls *s);
/* Begin the handshake: the ClientHello is appended to cipher_out. */
enum tls_status tls_start(struct tls *s, struct buf *cipher_out);
/* Ciphertext from the peer. */
enum tls_status tls_feed(struct tls *s, const char *data, size_t len, struct buf *plain_out,
                         struct buf *cipher_out);
/* Encrypt plaintext for the peer (only once established). */
enum tls_status tls_write(struct tls *s, const char *data, size_t len, struct buf *cipher_out);
/* Append a close_notify alert (best effort). */
void tls_close(struct tls *s, struct buf *cipher_out);
bool tls_established(const struct tls *s);
/* Why the last call failed. Borrowed until the next call. */
const char *tls_error(const struct tls *s);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" once established. Borrowed. */
const char *tls_describe(const struct tls *s);

#endif
