/* compliance.h — the events confabd reports to confab-archiver
 * (docs/compliance-protocol.md), built from engine state. Free of I/O: an event
 * goes to the store's outbox (in the transaction of the change it records, or
 * on its own) or, with the memory store, to m->compliance_sink; src/muc/outbox.c
 * sends it and deletes it once the archiver has committed it.
 *
 * Every function is a no-op (and compliance_event returns NULL) while
 * m->compliance_on is false, so hooks in the engine need no condition. */
#ifndef CONFAB_MUC_COMPLIANCE_H
#define CONFAB_MUC_COMPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "muc.h"

#define NS_COMPLIANCE "urn:confab:compliance:0"
#define NS_FORWARD "urn:xmpp:forward:0"
#define COMPLIANCE_UUID_LEN 37

/* A fresh <event/> of type on room (NULL: none) at time now, with a new UUID
 * v4 as its id; NULL when compliance is off. The caller adds children and
 * hands it to compliance_emit / compliance_attach, which take it. */
struct xml_node *compliance_event(struct muc *m, const char *type, const struct room *room,
                                  int64_t now);
/* <actor/> or <target/> (el): any of jid, nick, role, affil may be NULL. */
void compliance_party(struct xml_node *ev, const char *el, const char *jid, const char *nick,
                      const char *role, const char *affil);
/* <actor/> for the sender of r, as occupant occ (NULL when not in the room). */
void compliance_actor_req(struct xml_node *ev, const struct muc_req *r, const struct room *room,
                          const struct occupant *occ);
/* <target/> for occupant occ, with its first session's real JID. */
void compliance_target_occ(struct xml_node *ev, const struct room *room,
                           const struct occupant *occ);
void compliance_reason(struct xml_node *ev, const char *reason);
/* <recipients/>: the real full JIDs the stanza was delivered to. */
void compliance_recipients(struct xml_node *ev, const struct room *room,
                           const char *const *jids, size_t n);
/* <detail/> holding a copy of x (NULL: an empty detail is not added). */
void compliance_detail(struct xml_node *ev, const struct xml_node *x);
/* XEP-0297 <forwarded/> with a copy of st in jabber:client and, when stamp_ms
 * >= 0, a XEP-0203 delay. */
void compliance_forward(struct xml_node *ev, const struct xml_node *st, int64_t stamp_ms);
/* <detail><ref id/></detail>: the stanza this event records is forwarded by
 * event id (one request, many events: the stanza is archived once). */
void compliance_ref(struct xml_node *ev, const char *id);
/* The first event of a request (*ref empty) forwards st and leaves its id in
 * ref; every later one refers to it. */
void compliance_forward_once(struct xml_node *ev, const struct xml_node *st, int64_t stamp_ms,
                             char ref[COMPLIANCE_UUID_LEN]);
/* An event larger than max bytes: its forwarded stanza becomes the stanza's
 * element and attributes, a message's body and subject when they fit, and
 * <omitted bytes sha256/> for the rest. true when it changed ev. */
bool compliance_shrink(struct xml_node *ev, size_t max);

/* <detail/> with the room's resulting configuration form (password blanked). */
void compliance_config_detail(struct xml_node *ev, const struct muc *m, const struct room *room);
/* A `leave` of session jid of occ (st: the unavailable presence, or NULL). */
void compliance_leave(struct muc *m, const struct room *room, const struct occupant *occ,
                      const char *jid, const struct xml_node *st);

/* Attach an `affiliation` (or `ban`) event for bare jid, acted by the sender of
 * the stanza being handled (m->req); compliance_flush after the change. */
void compliance_affiliation(struct muc *m, const struct room *room, const char *jid,
                            enum muc_affil affil, const char *reason);

/* The event as text; raw (may be NULL) is an already serialised <message
 * (without namespace, as history stores it) forwarded with its delay stamp. */
char *compliance_serialize(const struct xml_node *ev, const char *raw, size_t raw_len,
                           int64_t stamp_ms, const char *to, size_t *len);

/* Record ev on its own (join, leave, private message, …). Takes ev. */
void compliance_emit(struct muc *m, struct xml_node *ev);
/* The same for an event whose forwarded stanza is raw bytes (history). */
void compliance_emit_raw(struct muc *m, struct xml_node *ev, const char *raw, size_t raw_len,
                         int64_t stamp_ms, const char *to);
/* Record ev with the next store write (same transaction); compliance_flush
 * after the change writes it alone if the change wrote nothing. Takes ev. */
void compliance_attach(struct muc *m, struct xml_node *ev);
void compliance_flush(struct muc *m);

/* Should new messages be refused now? Pure: strict policy only, when the
 * backlog exceeds max_backlog or the archiver has left events unanswered
 * since stalled_since_ms (0: nothing waiting) for timeout_ms or more. */
bool compliance_unhealthy(uint64_t backlog, uint64_t max_backlog, int64_t now_ms,
                          int64_t stalled_since_ms, uint64_t timeout_ms);
bool compliance_should_refuse(bool strict, uint64_t backlog, uint64_t max_backlog,
                              int64_t now_ms, int64_t stalled_since_ms, uint64_t timeout_ms);
/* Engine side of the policy: true when the message must be refused (and the
 * sender was answered wait/resource-constraint). */
bool compliance_refused(struct muc_req *r);

#endif
