/* tapclass.h — what a copied 1:1 message is for the compliance record
 * (docs/compliance.md, "What a tap copy becomes").
 *
 * A router tap copies every message that passes a client connection; not all
 * of them are something one user said to another:
 *  - traffic of confab's own room services (private messages, MAM results,
 *    invitations from a room): confabd records it as room events already;
 *  - replays the user's own account sends (carbon copies, MAM results from the
 *    user's archive): their content was recorded when it passed between users;
 *  - error stanzas: a bounce that carries no text is skipped; one carrying a
 *    body or subject (a server may return the original, a client may send
 *    one) was delivered, so it is kept, as type `error`, not `chat`;
 *  - bodiless chat states, receipts and chat markers: type `signal`, kept only
 *    with [archiver] record_signals.
 * Pure: the decision only (tests/unit/test_archiver.c). */
#ifndef CONFAB_ARCHIVER_TAPCLASS_H
#define CONFAB_ARCHIVER_TAPCLASS_H

#include <stdbool.h>
#include <stddef.h>

#include "xml.h"

enum tapclass { TAPCLASS_CHAT, TAPCLASS_ERROR, TAPCLASS_SIGNAL, TAPCLASS_SKIP };

struct tapclass_policy {
    bool record_signals;
    const char *const *room_services;   /* prepared domains of confab's room services */
    size_t nroom_services;
};

/* msg: the copied message; from, to: its sender and addressee as prepared
 * JIDs (to may be NULL: the user's own account). NULL policy: defaults. */
enum tapclass tapclass_of(const struct xml_node *msg, const char *from, const char *to,
                          const struct tapclass_policy *policy);
/* The event type a class is recorded as: "chat", "error", "signal"; NULL for
 * TAPCLASS_SKIP. */
const char *tapclass_event_type(enum tapclass c);

#endif
