/* The stanza-id cipher confabd and confab-bench share (stanzaid.h, servicekey.h):
 * ids pinned to the values confabd has always minted, so archives keep paging
 * across upgrades and the bench keeps predicting them. */
#include "unit.h"

#include "servicekey.h"
#include "stanzaid.h"

#define DOMAIN "muc.example.org"
#define ROOM "room@muc.example.org"

static struct stanzaid *sid_for(const char *domain, const char *secret)
{
    unsigned char key[32];
    servicekey_from_secret(domain, secret, key);
    return stanzaid_new(key);
}

/* Computed independently (Python hashlib/hmac and `openssl enc -aes-256-ecb`). */
static void test_pinned_ids(void **state)
{
    struct stanzaid *s = sid_for(DOMAIN, "s3cret");
    char id[33];
    stanzaid_encode(s, ROOM, 1, id);
    assert_string_equal(id, "8a2eeb181e2b181a6ddd61aeccd0009e");
    stanzaid_encode(s, ROOM, 42, id);
    assert_string_equal(id, "b66d208f397ad5f103d3023acd34d1b9");
    stanzaid_encode(s, ROOM, (1ULL << 40) + 7, id);
    assert_string_equal(id, "64451a74cdc127e1fb7d6e2bac1bd554");
    stanzaid_free(s);
}

static void test_round_trip_bound_to_room(void **state)
{
    struct stanzaid *s = sid_for(DOMAIN, "s3cret"), *other = sid_for(DOMAIN, "other");
    char id[33];
    uint64_t seq = 0;
    stanzaid_encode(s, ROOM, 12345, id);
    assert_int_equal(stanzaid_decode(s, ROOM, id, &seq), 0);
    assert_true(seq == 12345);
    assert_int_equal(stanzaid_decode(s, "other@" DOMAIN, id, &seq), -EINVAL);
    assert_int_equal(stanzaid_decode(other, ROOM, id, &seq), -EINVAL);
    assert_int_equal(stanzaid_decode(s, ROOM, "short", &seq), -EINVAL);
    assert_int_equal(stanzaid_decode(s, ROOM, NULL, &seq), -EINVAL);
    assert_int_equal(stanzaid_decode(s, ROOM, "zz2eeb181e2b181a6ddd61aeccd0009e", &seq), -EINVAL);
    stanzaid_free(other);
    stanzaid_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_ids),
        cmocka_unit_test(test_round_trip_bound_to_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
