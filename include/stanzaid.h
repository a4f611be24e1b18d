/* stanzaid.h — XEP-0359 stanza-ids for a room's messages (§6-7): opaque on
 * the wire, decodable by whoever holds the service key.
 *
 * An id is one AES-256 block of the message's seq (8 bytes, big-endian) and
 * the first 8 bytes of SHA-256(room JID), under HMAC-SHA256(service key,
 * "stanza-id"), as 32 hex digits. Without the key nobody can count messages or
 * guess ids; with it an id maps back to seq for MAM keyset paging and is bound
 * to its room. confabd mints and reads them; confab-bench predicts them to
 * start MAM pages anywhere in an archive. */
#ifndef CONFAB_STANZAID_H
#define CONFAB_STANZAID_H

#include <stdint.h>

struct stanzaid;

/* The key schedules, made once: per message they cost a tenth of the time. */
struct stanzaid *stanzaid_new(const unsigned char service_key[32]);
void stanzaid_free(struct stanzaid *s);
void stanzaid_encode(const struct stanzaid *s, const char *room_jid, uint64_t seq, char out[33]);
/* 0 and *seq, or -EINVAL: not an id of ours, or of another room. */
int stanzaid_decode(const struct stanzaid *s, const char *room_jid, const char *sid,
                    uint64_t *seq);

#endif
