/* Signed checkpoints of the chain head: the line format is exact, a line
 * verifies only with the key that signed it and only unaltered, and the
 * archiver's key file is refused when others may read it. */
#include "unit.h"

#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"

/* RFC 8032 §7.1, TEST 1: a fixed key, so signatures are fixed too (Ed25519
 * is deterministic). */
static const unsigned char seed[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

/* Signed with the key above: seq 1042, hash 00 01 02 … 1f, 2026-02-03T09:01:00.250Z
 * (the signature checks with `openssl pkeyutl -verify -rawin` too). */
static const char vector[] =
    "confab-checkpoint-1 seq=1042 "
    "hash=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "
    "time=2026-02-03T09:01:00.250Z key=21fe31dfa154a261 sig="
    "E1jyjE8h9iGGugeLhGuMEgXOK5NttOSHQ+woQ05y2Yv6Cu1EzN0Sa/GI+ujA5xn8LM+FaEFIapnYg7xNM/XMBQ==";

static EVP_PKEY *fixed_key(void)
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof seed);
    assert_non_null(k);
    return k;
}

static struct checkpoint sample(void)
{
    struct checkpoint cp = { .seq = 1042, .time_ms = 1770109260250 };
    for (int i = 0; i < HASHCHAIN_LEN; i++)
        cp.hash[i] = (unsigned char)i;
    return cp;
}

static void signed_line(EVP_PKEY *k, char line[CHECKPOINT_LINE_MAX])
{
    struct checkpoint cp = sample();
    assert_int_equal(checkpoint_sign(k, &cp), 0);
    checkpoint_format(&cp, line);
}

/* The fixed key and the sample checkpoint signed with it, for the tests that
 * take the good line apart. */
struct signed_fx {
    EVP_PKEY *k;
    char line[CHECKPOINT_LINE_MAX];
};

static int signed_setup(void **state)
{
    struct signed_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->k = fixed_key();
    signed_line(f->k, f->line);
    *state = f;
    return 0;
}

static int signed_teardown(void **state)
{
    struct signed_fx *f = *state;
    EVP_PKEY_free(f->k);
    free(f);
    return 0;
}

static void test_format_and_round_trip(void **state)
{
    const struct signed_fx *f = *state;
    EVP_PKEY *k = f->k;
    const char *line = f->line;
    assert_string_equal(line, vector);
    struct checkpoint cp, want = sample();
    assert_int_equal(checkpoint_parse(line, &cp), 0);
    assert_int_equal(cp.seq, 1042);
    assert_int_equal(cp.time_ms, want.time_ms);
    assert_memory_equal(cp.hash, want.hash, HASHCHAIN_LEN);
    assert_string_equal(cp.key_id, "21fe31dfa154a261");
    assert_int_equal(checkpoint_verify(k, &cp), 0);
    /* As read from the file. */
    char nl[CHECKPOINT_LINE_MAX + 2];
    snprintf(nl, sizeof nl, "%s\n", line);
    assert_int_equal(checkpoint_parse(nl, &cp), 0);
    assert_int_equal(checkpoint_verify(k, &cp), 0);
}

/* Change one field of a good line: the signature no longer matches. */
static void test_altered_lines_fail(void **state)
{
    const struct signed_fx *f = *state;
    EVP_PKEY *k = f->k;
    const char *line = f->line;
    const char *const from[] = { "seq=1042", "hash=00", "time=2026-02-03T09:01:00.250Z" };
    const char *const to[] = { "seq=1043", "hash=01", "time=2026-02-03T09:01:00.251Z" };
    for (size_t i = 0; i < 3; i++) {
        char bad[CHECKPOINT_LINE_MAX];
        snprintf(bad, sizeof bad, "%s", line);
        char *p = strstr(bad, from[i]);
        assert_non_null(p);
        memcpy(p, to[i], strlen(to[i]));
        struct checkpoint cp;
        assert_int_equal(checkpoint_parse(bad, &cp), 0);
        assert_int_equal(checkpoint_verify(k, &cp), -EBADMSG);
    }
    /* A forged line: the right key id, a signature made up. */
    struct checkpoint cp = sample();
    checkpoint_key_id(k, cp.key_id);
    memset(cp.sig, 0x5a, sizeof cp.sig);
    assert_int_equal(checkpoint_verify(k, &cp), -EBADMSG);
}

static void test_other_key(void **state)
{
    (void)state;
    EVP_PKEY *k = fixed_key(), *other = checkpoint_keygen();
    assert_non_null(other);
    char line[CHECKPOINT_LINE_MAX];
    signed_line(other, line);
    struct checkpoint cp;
    assert_int_equal(checkpoint_parse(line, &cp), 0);
    assert_int_equal(checkpoint_verify(k, &cp), -ENOKEY);
    assert_int_equal(checkpoint_verify(other, &cp), 0);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

static void test_malformed_lines(void **state)
{
    const char *line = ((const struct signed_fx *)*state)->line;
    const char *const tail = strstr(line, " hash=");
    char bad[2 * CHECKPOINT_LINE_MAX];
    struct checkpoint cp;
    const char *const heads[] = { "confab-checkpoint-2 seq=1042", "confab-checkpoint-1 seq=0",
                                  "confab-checkpoint-1 seq=-4", "confab-checkpoint-1  seq=1042",
                                  "confab-checkpoint-1 seq=01042", "" };
    for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
        snprintf(bad, sizeof bad, "%s%s", heads[i], tail);
        assert_int_equal(checkpoint_parse(bad, &cp), -EINVAL);
    }
    snprintf(bad, sizeof bad, "%s trailing", line);
    assert_int_equal(checkpoint_parse(bad, &cp), -EINVAL);
    snprintf(bad, sizeof bad, "%s\nsecond", line);
    assert_int_equal(checkpoint_parse(bad, &cp), -EINVAL);
    snprintf(bad, sizeof bad, "%s", line);
    bad[strlen(bad) - 3] = '\0'; /* a short signature */
    assert_int_equal(checkpoint_parse(bad, &cp), -EINVAL);
    snprintf(bad, sizeof bad, "%s", line);
    char *h = strstr(bad, "hash=") + 5;
    h[0] = 'A'; /* upper-case hex is not the canonical spelling */
    assert_int_equal(checkpoint_parse(bad, &cp), -EINVAL);
    assert_int_equal(checkpoint_parse("", &cp), -EINVAL);
}

static void write_pem(const char *path, EVP_PKEY *k, bool priv, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(priv ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_PUBKEY(f, k));
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_checkpoint.XXXXXX", priv[128], pub[128], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(priv, sizeof priv, "%s/key.pem", dir);
    snprintf(pub, sizeof pub, "%s/key.pub", dir);
    EVP_PKEY *k = fixed_key(), *loaded = NULL;
    write_pem(priv, k, true, 0640);
    write_pem(pub, k, false, 0644);
    /* Readable by the group: refused, naming the file and the mode. */
    assert_int_equal(checkpoint_key_load(priv, &loaded, err, sizeof err), -EPERM);
    assert_null(loaded);
    assert_non_null(strstr(err, priv));
    assert_non_null(strstr(err, "0640"));
    assert_int_equal(chmod(priv, 0600), 0);
    assert_int_equal(checkpoint_key_load(priv, &loaded, err, sizeof err), 0);
    char a[CHECKPOINT_KEYID_HEX + 1], b[CHECKPOINT_KEYID_HEX + 1];
    checkpoint_key_id(k, a);
    checkpoint_key_id(loaded, b);
    assert_string_equal(a, b);
    EVP_PKEY_free(loaded);
    /* The verifier reads the public key, or the private one. */
    assert_int_equal(checkpoint_pubkey_load(pub, &loaded, err, sizeof err), 0);
    checkpoint_key_id(loaded, b);
    assert_string_equal(a, b);
    EVP_PKEY_free(loaded);
    assert_int_equal(checkpoint_pubkey_load(priv, &loaded, err, sizeof err), 0);
    EVP_PKEY_free(loaded);
    /* A public key is not a private key; a missing file names itself. */
    assert_int_equal(chmod(pub, 0600), 0);
    assert_int_equal(checkpoint_key_load(pub, &loaded, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "Ed25519 private key"));
    unlink(pub);
    assert_int_equal(checkpoint_pubkey_load(pub, &loaded, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, pub));
    unlink(priv);
    rmdir(dir);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_and_round_trip, signed_setup, signed_teardown),
        cmocka_unit_test_setup_teardown(test_altered_lines_fail, signed_setup, signed_teardown),
        cmocka_unit_test(test_other_key),
        cmocka_unit_test_setup_teardown(test_malformed_lines, signed_setup, signed_teardown),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
