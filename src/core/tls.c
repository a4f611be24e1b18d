/* tls.c — one OpenSSL client session over memory BIOs, free of I/O (tls.h). */
#include "compat.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "tls.h"

struct tls {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer, owned by ssl */
    BIO *wbio; /* ciphertext for the peer, owned by ssl */
    char *verify_name;
    bool established;
    char error[512];
    char describe[128];
};

static bool is_ip_literal(const char *name)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* OpenSSL reports through a per-thread queue: take its newest entry, and
 * clear it so that a later failure is not blamed on this one. */
static void set_error(struct tls *s, const char *what)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last) {
        char detail[256];
        ERR_error_string_n(last, detail, sizeof detail);
        snprintf(s->error, sizeof s->error, "%s: %s", what, detail);
    } else {
        snprintf(s->error, sizeof s->error, "%s", what);
    }
}

static bool setup_ctx(struct tls *s, const struct tls_cfg *cfg)
{
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx) {
        set_error(s, "cannot create a TLS context");
        return false;
    }
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
    if (cfg->ca_file && *cfg->ca_file) {
        if (SSL_CTX_load_verify_locations(s->ctx, cfg->ca_file, NULL) != 1) {
            char what[300];
            snprintf(what, sizeof what, "cannot load the TLS CA file %s", cfg->ca_file);
            set_error(s, what);
            return false;
        }
    } else if (SSL_CTX_set_default_verify_paths(s->ctx) != 1) {
        set_error(s, "cannot load the system's trusted CA certificates");
        return false;
    }
    return true;
}

static bool setup_ssl(struct tls *s)
{
    s->ssl = SSL_new(s->ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->rbio || !s->wbio) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        s->rbio = s->wbio = NULL;
        set_error(s, "cannot create a TLS session");
        return false;
    }
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    SSL_set_connect_state(s->ssl);
    X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);
    if (is_ip_literal(s->verify_name)) {
        /* An address is checked against the IP SANs; SNI carries names only. */
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, s->verify_name) != 1) {
            set_error(s, "cannot set the address to verify");
            return false;
        }
    } else {
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(s->ssl, s->verify_name) != 1 ||
            SSL_set_tlsext_host_name(s->ssl, s->verify_name) != 1) {
            set_error(s, "cannot set the name to verify");
            return false;
        }
    }
    return true;
}

struct tls *tls_new(const struct tls_cfg *cfg, char *errbuf, size_t errlen)
{
    struct tls *s = xcalloc(1, sizeof *s);
    s->verify_name = xstrdup(cfg->verify_name ? cfg->verify_name : "");
    if (!*s->verify_name) {
        snprintf(s->error, sizeof s->error, "no name to verify the TLS certificate against");
    } else if (setup_ctx(s, cfg) && setup_ssl(s)) {
        return s;
    }
    snprintf(errbuf, errlen, "%s", s->error);
    tls_free(s);
    return NULL;
}

void tls_free(struct tls *s)
{
    if (!s)
        return;
    SSL_free(s->ssl); /* frees both BIOs */
    SSL_CTX_free(s->ctx);
    free(s->verify_name);
    free(s);
}

static void drain(struct tls *s, struct buf *cipher_out)
{
    char *p = NULL;
    long n = BIO_get_mem_data(s->wbio, &p);
    if (n > 0) {
        buf_append(cipher_out, p, (size_t)n);
        (void)BIO_reset(s->wbio);
    }
}

/* A failed SSL call: a certificate problem is the operator's to fix (wrong CA,
 * wrong name), anything else is the peer's or the network's. */
static enum tls_status failed(struct tls *s, int r, const char *during)
{
    int err = SSL_get_error(s->ssl, r);
    if (err == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        snprintf(s->error, sizeof s->error, "the router closed the TLS session");
        return TLS_CLOSED;
    }
    long vr = SSL_get_verify_result(s->ssl);
    if (!s->established && vr != X509_V_OK) {
        ERR_clear_error();
        snprintf(s->error, sizeof s->error,
                 "the router's TLS certificate was rejected: %s (expected name %s)",
                 X509_verify_cert_error_string(vr), s->verify_name);
        return TLS_REJECTED;
    }
    set_error(s, during);
    return TLS_FAILED;
}

static enum tls_status handshake(struct tls *s, struct buf *cipher_out)
{
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    drain(s, cipher_out);
    if (r == 1) {
        s->established = true;
        snprintf(s->describe, sizeof s->describe, "%s %s", SSL_get_version(s->ssl),
                 SSL_get_cipher_name(s->ssl));
        return TLS_ESTABLISHED;
    }
    int err = SSL_get_error(s->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return TLS_OK;
    return failed(s, r, "TLS handshake failed");
}

enum tls_status tls_start(struct tls *s, struct buf *cipher_out)
{
    return handshake(s, cipher_out);
}

static enum tls_status read_plain(struct tls *s, struct buf *plain_out, struct buf *cipher_out)
{
    char chunk[16384];
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(s->ssl, chunk, sizeof chunk);
        if (r > 0) {
            buf_append(plain_out, chunk, (size_t)r);
            continue;
        }
        drain(s, cipher_out); /* e.g. an answer to a key update */
        int err = SSL_get_error(s->ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            return TLS_OK;
        return failed(s, r, "TLS read failed");
    }
}

enum tls_status tls_feed(struct tls *s, const char *data, size_t len, struct buf *plain_out,
                         struct buf *cipher_out)
{
    if (len && BIO_write(s->rbio, data, (int)len) != (int)len) {
        set_error(s, "cannot buffer TLS input");
        return TLS_FAILED;
    }
    enum tls_status st = TLS_OK;
    if (!s->established) {
        st = handshake(s, cipher_out);
        if (st != TLS_ESTABLISHED)
            return st;
    }
    /* Application data may have come in the same read as the handshake's end. */
    enum tls_status rs = read_plain(s, plain_out, cipher_out);
    return rs != TLS_OK ? rs : st;
}

enum tls_status tls_write(struct tls *s, const char *data, size_t len, struct buf *cipher_out)
{
    if (!s->established) {
        snprintf(s->error, sizeof s->error, "TLS write before the handshake completed");
        return TLS_FAILED;
    }
    while (len) {
        int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
        ERR_clear_error();
        /* A memory BIO always takes everything: no partial writes to resume. */
        int r = SSL_write(s->ssl, data, chunk);
        if (r <= 0) {
            drain(s, cipher_out);
            return failed(s, r, "TLS write failed");
        }
        data += r;
        len -= (size_t)r;
    }
    drain(s, cipher_out);
    return TLS_OK;
}

void tls_close(struct tls *s, struct buf *cipher_out)
{
    if (!s->established)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl);
    ERR_clear_error();
    drain(s, cipher_out);
}

bool tls_established(const struct tls *s)
{
    return s->established;
}

const char *tls_error(const struct tls *s)
{
    return s->error;
}

const char *tls_describe(const struct tls *s)
{
    return s->describe;
}
