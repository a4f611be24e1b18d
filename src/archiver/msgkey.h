/* msgkey.h — the stable key of one 1:1 message across its copies.
 *
 * A router tap copies a message between two local users twice (as sent:
 * direction in; as delivered: out, once per receiving resource). Every copy
 * of one message gets the same key, computed from what all copies share:
 * the bare sender and bare addressee, the type, the stanza id, body, subject
 * and thread. A message without an id uses the 10-second window of its time
 * instead: its copies are milliseconds apart (at a window's edge they get two
 * keys and are shown as two messages, never one too few). Because the content
 * is in the key, a client reusing an id for another text gets another key:
 * no message can hide behind another one's key. Pure. */
#ifndef CONFAB_ARCHIVER_MSGKEY_H
#define CONFAB_ARCHIVER_MSGKEY_H

#include <stdint.h>

#include "digest.h"

#define MSGKEY_WINDOW_MS 10000

struct msgkey_in {
    const char *from, *to;            /* JIDs (the resource is ignored); to may be NULL */
    const char *type;                 /* the message's type ("normal" when absent) */
    const char *id;                   /* stanza id, or NULL */
    const char *body, *subject, *thread;
    int64_t time_ms;                  /* used only without an id */
};

/* Lowercase hex SHA-256 of the canonical bytes (msgkey.c says which). */
void msgkey_compute(const struct msgkey_in *in, char out[DIGEST_HEX_LEN]);

#endif
