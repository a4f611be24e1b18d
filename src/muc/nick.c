/* nick.c — what makes a room nickname acceptable (XEP-0045 §7.2.7, §17.1),
 * and when two nicks are the same person to a reader: case, width,
 * compatibility forms, whitespace, invisible characters and confusable
 * scripts (UTS #39 skeletons from ICU's spoof checker) must not let one
 * occupant impersonate another. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stringprep.h>
#include <unicode/uspoof.h>

#include "jid.h"
#include "mem.h"
#include "muc.h"

/* White_Space and Default_Ignorable code points: a nick made only of these
 * looks empty and cannot be told apart (§17.1). */
static bool invisible(uint32_t c)
{
    static const uint32_t ranges[][2] = {
        { 0x0000, 0x0020 }, { 0x007F, 0x00A0 }, { 0x00AD, 0x00AD }, { 0x034F, 0x034F },
        { 0x061C, 0x061C }, { 0x115F, 0x1160 }, { 0x1680, 0x1680 }, { 0x17B4, 0x17B5 },
        { 0x180B, 0x180F }, { 0x2000, 0x200F }, { 0x2028, 0x202F }, { 0x205F, 0x206F },
        { 0x3000, 0x3000 }, { 0x3164, 0x3164 }, { 0xFE00, 0xFE0F }, { 0xFEFF, 0xFEFF },
        { 0xFFA0, 0xFFA0 }, { 0xFFF0, 0xFFF8 }, { 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A },
        { 0xE0000, 0xE0FFF },
    };
    for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
        if (c >= ranges[i][0] && c <= ranges[i][1])
            return true;
    return false;
}

/* Next code point of valid UTF-8 (jid_prep guarantees validity). */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c;
    int n;
    if (s[0] < 0x80) { c = s[0]; n = 1; }
    else if ((s[0] & 0xE0) == 0xC0) { c = s[0] & 0x1F; n = 2; }
    else if ((s[0] & 0xF0) == 0xE0) { c = s[0] & 0x0F; n = 3; }
    else { c = s[0] & 0x07; n = 4; }
    for (int i = 1; i < n && s[i]; i++)
        c = c << 6 | (s[i] & 0x3F);
    *p = s + n;
    return c;
}

const char *nick_refusal(const char *nick, size_t max_bytes, char **why)
{
    *why = NULL;
    if (!*nick) {
        *why = xstrdup("a nickname must not be empty");
        return "jid-malformed";
    }
    if (strlen(nick) > max_bytes) {
        *why = xasprintf("a nickname may be at most %zu bytes long (UTF-8); this one has %zu",
                         max_bytes, strlen(nick));
        return "not-acceptable";
    }
    /* A nick is stored (registrations, archives): RFC 3454 §7 wants stored
     * strings free of code points Unicode 3.2 did not assign. */
    if (!jid_resource_strict(nick)) {
        /* Prosody's words: clients and Prosody's tests match them. */
        *why = xstrdup("Nickname must pass strict validation");
        return "jid-malformed";
    }
    for (const unsigned char *p = (const unsigned char *)nick; *p;)
        if (!invisible(next_cp(&p)))
            return NULL;
    *why = xstrdup("a nickname needs at least one visible character");
    return "not-acceptable";
}

/* The checker is immutable once opened and costs a few hundred microseconds
 * to open: one for the process. */
static const USpoofChecker *spoof_checker(void)
{
    static USpoofChecker *sc;
    if (!sc) {
        UErrorCode st = U_ZERO_ERROR;
        sc = uspoof_open(&st);
        if (U_FAILURE(st)) {
            fprintf(stderr, "FATAL cannot open ICU's spoof checker: %s\n", u_errorName(st));
            abort();
        }
    }
    return sc;
}

/* UTS #39 §4 skeleton: strings that look alike share it (Cyrillic 'а' and
 * Latin 'a', 'rn' and 'm'). NULL when ICU cannot make one. */
static char *skeleton(const char *s)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t n = uspoof_getSkeletonUTF8(spoof_checker(), 0, s, -1, NULL, 0, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
        return NULL;
    char *out = xmalloc_keep((size_t)n + 1); /* an occupant keeps it */
    st = U_ZERO_ERROR;
    uspoof_getSkeletonUTF8(spoof_checker(), 0, s, -1, out, n + 1, &st);
    if (U_FAILURE(st)) {
        free(out);
        return NULL;
    }
    return out;
}

/* Case, width and compatibility folded, invisible characters dropped. */
static char *nick_fold_plain(const char *nick)
{
    /* Nameprep case-folds and applies NFKC (fullwidth "Ａ" is "a"); what it
     * refuses is folded by ASCII case only. */
    size_t cap = strlen(nick) * 4 + 16;
    char *buf = xmalloc(cap);
    strcpy(buf, nick);
    if (stringprep(buf, cap, STRINGPREP_NO_UNASSIGNED, stringprep_nameprep) != STRINGPREP_OK) {
        strcpy(buf, nick);
        for (char *p = buf; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    /* Then drop everything that cannot be seen. */
    char *out = xmalloc_keep(strlen(buf) + 1);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)buf; *p;) {
        const unsigned char *start = p;
        if (!invisible(next_cp(&p))) {
            memcpy(out + n, start, (size_t)(p - start));
            n += (size_t)(p - start);
        }
    }
    out[n] = '\0';
    free(buf);
    return out;
}

char *nick_fold(const char *nick)
{
    /* Folding first makes the skeleton blind to case as well as to script. */
    char *plain = nick_fold_plain(nick);
    char *sk = skeleton(plain);
    if (!sk)
        return plain;
    free(plain);
    return sk;
}

bool nick_taken_by_other(const struct room *room, const char *nick, const char *bare_jid)
{
    char *fold = nick_fold(nick);
    bool taken = false;
    for (const struct occupant *o = room->occupants; o && !taken; o = o->hh.next) {
        if (strcmp(o->bare_jid, bare_jid) == 0)
            continue;
        taken = strcmp(o->fold, fold) == 0;
    }
    for (const struct affiliation *a = room->affiliations; a && !taken; a = a->hh.next) {
        if (!a->nick || strcmp(a->jid, bare_jid) == 0)
            continue;
        char *f = nick_fold(a->nick);
        taken = strcmp(f, fold) == 0;
        free(f);
    }
    free(fold);
    return taken;
}
