/* fuzz_jid.c — libFuzzer target: any JID that parses must survive
 * jid_format and parse back to an equal JID, and the single-part preparers
 * must be idempotent. Preparation that is not a fixed point would let two
 * spellings of one address compare unequal after a round trip through a
 * database or the wire. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct jid *j, bool bare)
{
    struct jid again;
    char *s = jid_format(j, bare);

    if (jid_parse(&again, s) != 0)
        abort();
    if (bare ? (!jid_bare_equal(j, &again) || again.resource) : !jid_equal(j, &again))
        abort();
    jid_clear(&again);
    free(s);
}

/* prep must map its own output to itself. */
static void check_idempotent(int (*prep)(const char *, char **), const char *in)
{
    char *once, *twice;

    if (prep(in, &once) != 0)
        return;
    if (prep(once, &twice) != 0 || strcmp(once, twice) != 0)
        abort();
    free(once);
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xmalloc(size + 1);
    struct jid j;

    memcpy(s, data, size);
    s[size] = '\0';
    if (jid_parse(&j, s) == 0) {
        if (!j.domain)
            abort();
        check_round_trip(&j, false);
        check_round_trip(&j, true);
    } else if (j.node || j.domain || j.resource) {
        abort();
    }
    jid_clear(&j);
    check_idempotent(jid_prep_domain, s);
    check_idempotent(jid_prep_resource, s);
    free(s);
    return 0;
}
