/* tls.c against an in-memory OpenSSL server: certificates from a CA made here
 * at run time (P-256), bytes moved by hand between the two sides. */
#include "unit.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "buf.h"
#include "tls.h"

struct pki {
    EVP_PKEY *ca_key, *other_key, *srv_key;
    X509 *ca, *other, *srv;
    char ca_file[64], other_file[64];
};

static struct pki pki;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    if (!issuer) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, issuer, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(X509 *x, char *path)
{
    strcpy(path, "/tmp/confab-test-tls-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static int setup(void **state)
{
    pki.ca_key = EVP_EC_gen("P-256");
    pki.other_key = EVP_EC_gen("P-256");
    pki.srv_key = EVP_EC_gen("P-256");
    if (!pki.ca_key || !pki.other_key || !pki.srv_key)
        return -1;
    pki.ca = make_cert(pki.ca_key, "test CA", NULL, NULL, NULL);
    pki.other = make_cert(pki.other_key, "other CA", NULL, NULL, NULL);
    pki.srv = make_cert(pki.srv_key, "router", pki.ca, pki.ca_key,
                        "DNS:router.test,IP:127.0.0.1");
    write_pem(pki.ca, pki.ca_file);
    write_pem(pki.other, pki.other_file);
    return 0;
}

static int teardown(void **state)
{
    unlink(pki.ca_file);
    unlink(pki.other_file);
    X509_free(pki.ca);
    X509_free(pki.other);
    X509_free(pki.srv);
    EVP_PKEY_free(pki.ca_key);
    EVP_PKEY_free(pki.other_key);
    EVP_PKEY_free(pki.srv_key);
    return 0;
}

/* ---- the server side ---- */

struct server {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
};

static void server_init(struct server *s)
{
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, pki.srv), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, pki.srv_key), 1);
    s->ssl = SSL_new(s->ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    SSL_set_accept_state(s->ssl);
}

static void server_free(struct server *s)
{
    SSL_free(s->ssl);
    SSL_CTX_free(s->ctx);
}

/* Whatever the server has to send, appended to out. */
static void server_output(struct server *s, struct buf *out)
{
    char *p = NULL;
    long n = BIO_get_mem_data(s->wbio, &p);
    if (n > 0)
        buf_append(out, p, (size_t)n);
    (void)BIO_reset(s->wbio);
}

/* Move bytes both ways until the client is established or fails. */
static enum tls_status handshake(struct tls *c, struct server *s)
{
    struct buf to_srv, to_cli, plain;
    buf_init(&to_srv);
    buf_init(&to_cli);
    buf_init(&plain);
    enum tls_status st = tls_start(c, &to_srv);
    for (int round = 0; round < 10 && st == TLS_OK; round++) {
        BIO_write(s->rbio, to_srv.data, (int)to_srv.len);
        buf_reset(&to_srv);
        (void)SSL_do_handshake(s->ssl);
        ERR_clear_error();
        server_output(s, &to_cli);
        st = tls_feed(c, to_cli.data, to_cli.len, &plain, &to_srv);
        buf_reset(&to_cli);
    }
    /* The client's last flight (Finished) still has to reach the server. */
    BIO_write(s->rbio, to_srv.data, (int)to_srv.len);
    (void)SSL_do_handshake(s->ssl);
    ERR_clear_error();
    assert_int_equal(plain.len, 0);
    buf_free(&to_srv);
    buf_free(&to_cli);
    buf_free(&plain);
    return st;
}

static struct tls *client(const char *ca, const char *name)
{
    char err[256] = "";
    struct tls_cfg cfg = { .ca_file = ca, .verify_name = name };
    struct tls *c = tls_new(&cfg, err, sizeof err);
    if (!c)
        fail_msg("tls_new: %s", err);
    return c;
}

static void test_handshake_and_data_both_ways(void **state)
{
    struct server s;
    server_init(&s);
    struct tls *c = client(pki.ca_file, "router.test");
    assert_int_equal(handshake(c, &s), TLS_ESTABLISHED);
    assert_true(tls_established(c));
    assert_non_null(strstr(tls_describe(c), "TLSv1."));

    struct buf wire, plain;
    buf_init(&wire);
    buf_init(&plain);
    assert_int_equal(tls_write(c, "<stream:stream>", 15, &wire), TLS_OK);
    BIO_write(s.rbio, wire.data, (int)wire.len);
    char got[64];
    int n = SSL_read(s.ssl, got, sizeof got);
    assert_int_equal(n, 15);
    assert_memory_equal(got, "<stream:stream>", 15);

    assert_int_equal(SSL_write(s.ssl, "<handshake/>", 12), 12);
    buf_reset(&wire);
    server_output(&s, &wire);
    /* Fed a byte at a time: records split anywhere still decrypt. */
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < wire.len; i++)
        assert_int_equal(tls_feed(c, wire.data + i, 1, &plain, &out), TLS_OK);
    assert_int_equal(plain.len, 12);
    assert_memory_equal(plain.data, "<handshake/>", 12);

    /* The server ends the session: the client sees it. */
    (void)SSL_shutdown(s.ssl);
    buf_reset(&wire);
    server_output(&s, &wire);
    buf_reset(&plain);
    assert_int_equal(tls_feed(c, wire.data, wire.len, &plain, &out), TLS_CLOSED);
    buf_free(&out);
    buf_free(&wire);
    buf_free(&plain);
    tls_free(c);
    server_free(&s);
}

static void test_ip_address_name(void **state)
{
    struct server s;
    server_init(&s);
    struct tls *c = client(pki.ca_file, "127.0.0.1");
    assert_int_equal(handshake(c, &s), TLS_ESTABLISHED);
    tls_free(c);
    server_free(&s);
}

static void expect_rejected(const char *ca, const char *name, const char *why)
{
    struct server s;
    server_init(&s);
    struct tls *c = client(ca, name);
    assert_int_equal(handshake(c, &s), TLS_REJECTED);
    assert_false(tls_established(c));
    if (!strstr(tls_error(c), why))
        fail_msg("expected '%s' in '%s'", why, tls_error(c));
    tls_free(c);
    server_free(&s);
}

static void test_wrong_name_rejected(void **state)
{
    expect_rejected(pki.ca_file, "other.test", "hostname mismatch");
    expect_rejected(pki.ca_file, "127.0.0.2", "IP address mismatch");
    /* no partial wildcards, no suffix matches */
    expect_rejected(pki.ca_file, "xrouter.test", "hostname mismatch");
}

static void test_other_ca_rejected(void **state)
{
    expect_rejected(pki.other_file, "router.test", "unable to get local issuer certificate");
}

static void test_unreadable_ca_file(void **state)
{
    char err[256] = "";
    struct tls_cfg cfg = { .ca_file = "/nonexistent/ca.pem", .verify_name = "router.test" };
    assert_null(tls_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "cannot load the TLS CA file /nonexistent/ca.pem"));
    struct tls_cfg none = { .ca_file = pki.ca_file, .verify_name = "" };
    assert_null(tls_new(&none, err, sizeof err));
    assert_non_null(strstr(err, "no name"));
}

static void test_plaintext_peer_fails(void **state)
{
    struct tls *c = client(pki.ca_file, "router.test");
    struct buf out, plain;
    buf_init(&out);
    buf_init(&plain);
    assert_int_equal(tls_start(c, &out), TLS_OK);
    assert_true(out.len > 0);
    const char *xml = "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept'>";
    assert_int_equal(tls_feed(c, xml, strlen(xml), &plain, &out), TLS_FAILED);
    assert_true(*tls_error(c));
    assert_int_equal(tls_write(c, "x", 1, &out), TLS_FAILED); /* not established */
    buf_free(&out);
    buf_free(&plain);
    tls_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data_both_ways),
        cmocka_unit_test(test_ip_address_name),
        cmocka_unit_test(test_wrong_name_rejected),
        cmocka_unit_test(test_other_ca_rejected),
        cmocka_unit_test(test_unreadable_ca_file),
        cmocka_unit_test(test_plaintext_peer_fails),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
