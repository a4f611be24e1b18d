/* The room's vCard-temp (XEP-0054) and avatar (XEP-0486).
 *
 * Anyone who can see the room reads its vCard: XEP-0486 wants the avatar
 * shown before joining, e.g. in a room list. Only owners set it. The avatar is
 * advertised as the SHA-1 of each PHOTO's BINVAL in muc#roominfo (the XEP-0153
 * hash), and a set is announced with status 104, as a configuration change.
 * XEP-0486 §5 discourages the vcard-temp:x:update presence from the room's
 * bare JID (clients took it for an occupant with an empty nick), so there is
 * none. */
#include "compat.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "form.h"
#include "mem.h"
#include "muc.h"
#include "reply.h"
#include "stanza.h"
#include "xstream.h"

void vcard_clear(struct room *room)
{
    xml_unref(room->vcard);
    free(room->avatar_hash);
    room->vcard = NULL;
    room->avatar_hash = NULL;
}

/* ---- reading ---- */

static void send_vcard(struct muc_req *r, const struct room *room)
{
    struct xml_node *res = stanza_iq_result(r->st);
    struct xml_node *vc = room->vcard ? xml_copy(room->vcard) : xml_new("vCard", NS_VCARD);
    /* A client showing the room's card shows its name when the owner gave none. */
    if (!xml_child(vc, "FN", NS_VCARD) && room->cfg.name && *room->cfg.name)
        xml_add_text_child(vc, "FN", NS_VCARD, room->cfg.name);
    xml_append(res, vc);
    muc_send(r->muc, res);
    xml_unref(res);
}

/* ---- the avatar hash ---- */

/* SHA-1 hex of base64 text (XML whitespace allowed anywhere, as MIME line
 * breaks are). Returns 0 or -EINVAL when the text is not base64. */
static int photo_sha1(const char *b64, char hex[41])
{
    size_t n = strlen(b64), k = 0;
    char *clean = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)b64[i]))
            clean[k++] = b64[i];
    clean[k] = '\0';
    int rc = -EINVAL;
    unsigned char *raw = xmalloc(k / 4 * 3 + 3);
    /* EVP_DecodeBlock counts padding as zero bytes: take them off again. */
    int len = k && k % 4 == 0 ? EVP_DecodeBlock(raw, (unsigned char *)clean, (int)k) : -1;
    if (len >= 0) {
        len -= (clean[k - 1] == '=') + (k > 1 && clean[k - 2] == '=');
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1(raw, (size_t)len, md);
        for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        rc = 0;
    }
    free(raw);
    free(clean);
    return rc;
}

/* Every PHOTO's hash, space-separated (XEP-0486 §4: several PHOTOs are one
 * image in several forms, all advertised). *out is NULL when there is no
 * BINVAL (an EXTVAL-only photo has no hash to give). */
static int photo_hashes(const struct xml_node *vc, char **out)
{
    struct buf b;
    buf_init(&b);
    int rc = 0;
    for (const struct xml_node *p = xml_first(vc); p && rc == 0; p = xml_next(p)) {
        const struct xml_node *bin = strcmp(p->name, "PHOTO") == 0 && p->ns &&
                                             strcmp(p->ns, NS_VCARD) == 0
                                         ? xml_child(p, "BINVAL", NS_VCARD)
                                         : NULL;
        if (!bin)
            continue;
        char *text = xml_text(bin), hex[41];
        rc = photo_sha1(text, hex);
        if (rc == 0)
            buf_printf(&b, "%s%s", b.len ? " " : "", hex);
        free(text);
    }
    size_t len = b.len;
    char *s = buf_steal(&b, NULL);
    if (rc < 0 || !len) {
        free(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

void vcard_roominfo(struct xml_node *form, const struct muc_req *r, const struct room *room)
{
    if (!room->avatar_hash || !roomkind_may_see_card(r->muc, room, r->from_bare))
        return;
    struct xml_node *f = form_add_field(form, "text-multi", "muc#roominfo_avatarhash",
                                        "Avatar hash", NULL);
    char *copy = xstrdup(room->avatar_hash), *save = NULL;
    for (char *h = strtok_r(copy, " ", &save); h; h = strtok_r(NULL, " ", &save))
        form_add_value(f, h);
    free(copy);
}

/* ---- setting ---- */

static void set_vcard(struct muc_req *r, struct room *room, const struct xml_node *vc)
{
    struct muc *m = r->muc;
    if (room_affiliation(room, r->from_bare) != AFFIL_OWNER) {
        muc_bounce(r, "forbidden", "only owners may set the room's vCard");
        return;
    }
    char *text = xml_to_string(vc, NULL);
    if (strlen(text) > VCARD_MAX_BYTES) {
        char why[96];
        snprintf(why, sizeof why, "the vCard is larger than %u bytes", VCARD_MAX_BYTES);
        muc_bounce(r, "not-acceptable", why);
        free(text);
        return;
    }
    char *hash = NULL;
    if (photo_hashes(vc, &hash) < 0) {
        muc_bounce(r, "bad-request", "a PHOTO's BINVAL is not base64");
        free(text);
        return;
    }
    /* XEP-0486 §3: an empty vCard unpublishes the avatar (and the card). */
    bool empty = !xml_first(vc);
    vcard_clear(room);
    if (!empty)
        room->vcard = xml_copy(vc);
    room->avatar_hash = hash;
    if (m->store->save_vcard)
        m->store->save_vcard(m->store->st, room, empty ? NULL : text, hash);
    free(text);
    muc_result_after_commit(m, r->st);
    /* XEP-0486 §3: occupants learn of it as of a configuration change. */
    static const int c104[] = { 104, 0 };
    message_room_notice(m, room, c104);
}

void vcard_handle(struct muc_req *r, struct room *room, const struct xml_node *vcard)
{
    if (strcmp(vcard->name, "vCard") != 0) {
        muc_bounce(r, "service-unavailable", NULL);
        return;
    }
    if (strcmp(stanza_type(r->st), "get") == 0 &&
        !roomkind_may_see_card(r->muc, room, r->from_bare))
        muc_bounce(r, "forbidden", "this room's vCard is for its members");
    else if (strcmp(stanza_type(r->st), "get") == 0)
        send_vcard(r, room);
    else
        set_vcard(r, room, vcard);
}

/* ---- from the store ---- */

/* The stored text back into a tree: it was serialised by us, so a failure
 * means a damaged row, which loses the card but not the room. */
static struct xml_node *parse_vcard(const char *text)
{
    return xstream_parse_stanza(NS_COMPONENT, text, strlen(text));
}

void vcard_from_store(struct room *room, struct store_room *rec)
{
    if (!rec->vcard)
        return;
    room->vcard = parse_vcard(rec->vcard);
    if (!room->vcard)
        return;
    room->avatar_hash = rec->photo_hash;
    rec->photo_hash = NULL;
}
