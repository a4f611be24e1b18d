/* purge_digest.h — the SQL that digests the texts a purge removes, shared by
 * confabd's retention sweep and confabctl's history purge / rooms clear /
 * rooms destroy, so every `purge` event's texts-sha256 means the same thing:
 *
 *   SHA-256 over the removed messages in seq order, each text as a netstring
 *   "<UTF-8 byte length>:<text>," (the empty text for a message without a
 *   body), lowercase hex.
 *
 * An officer recomputes it from the archived `groupchat` events of that seq
 * range (docs/compliance.md, "Purges"). body and seq name the columns of the
 * rows removed (an aggregate: use it in a query grouped per purge event). */
#ifndef CONFAB_PURGE_DIGEST_H
#define CONFAB_PURGE_DIGEST_H

#define PURGE_TEXTS_SHA256(body, seq) \
    "encode(sha256(convert_to(string_agg(octet_length(coalesce(" body ", ''))::text || ':' " \
    "|| coalesce(" body ", '') || ',', '' ORDER BY " seq "), 'UTF8')), 'hex')"

#endif
