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

/* One builder per event type: the handler's one call. Those that record a
 * stored change attach (the caller's next store write takes the event, then
 * compliance_flush); the others emit. r is the stanza being handled. */

/* `create` of a room the sender of r just made (emitted). */
void compliance_create(const struct muc_req *r, const struct room *room);
/* `join` of the sender of r as occ (emitted). */
void compliance_join(const struct muc_req *r, const struct room *room,
                     const struct occupant *occ);
/* `nick`: occ, the sender of r, becomes nick (emitted). */
void compliance_nick(const struct muc_req *r, const struct room *room,
                     const struct occupant *occ, const char *nick);
/* A `leave` of session jid of occ (st: the unavailable presence, or NULL). */
void compliance_leave(struct muc *m, const struct room *room, const struct occupant *occ,
                      const char *jid, const struct xml_node *st);
/* A `leave` of each of occ's sessions (removed by the room, not by themselves). */
void compliance_leave_all(struct muc *m, const struct room *room, const struct occupant *occ);
/* `groupchat` msg from occ delivered to to[0..n); stored: it goes with the
 * message's row (attached), else it is emitted. */
void compliance_groupchat(const struct muc_req *r, const struct room *room,
                          const struct occupant *occ, const struct xml_node *msg,
                          const char *const *to, size_t n, bool stored);
/* `moderate`: actor (real JID, nick) took down the message with stanza-id sid
 * (XEP-0425, or XEP-0424 by its sender); detail names it and carries the
 * SHA-256 of the text replaced; request is the IQ or retraction forwarded.
 * Attached: the tombstone's write follows. */
void compliance_moderate(struct muc *m, const struct room *room, int64_t now,
                         const char *actor_jid, const char *actor_nick,
                         const struct xml_node *request, const char *sid, const char *text,
                         const char *reason);
/* `subject` set by occ with msg (attached: the room row follows). */
void compliance_subject(const struct muc_req *r, const struct room *room,
                        const struct occupant *occ, const struct xml_node *msg);
/* `private` message msg from occ to target's sessions to[0..n) (emitted). */
void compliance_private(const struct muc_req *r, const struct room *room,
                        const struct occupant *occ, const struct occupant *target,
                        const struct xml_node *msg, const char *const *to, size_t n);
/* `iq` relayed between occupants: actor's iq to target_jid (emitted). */
void compliance_iq(const struct muc_req *r, const struct room *room,
                   const struct occupant *actor, const char *target_jid,
                   const char *target_nick, const struct xml_node *iq);
/* `history`: stored message e served to session to (emitted). */
void compliance_history(struct muc *m, const struct room *room, const struct hist_entry *e,
                        const char *to, int64_t now);
/* `invite` of invitee by the sender of r (occ: NULL when not in the room). */
void compliance_invite(const struct muc_req *r, const struct room *room,
                       const struct occupant *occ, const char *invitee, const char *reason);
/* `decline` of inviter's invitation by the sender of r (emitted). */
void compliance_decline(const struct muc_req *r, const struct room *room, const char *inviter,
                        const char *reason);
/* `mam`: the sender of r queried the archive with query (emitted). */
void compliance_mam(const struct muc_req *r, const struct room *room,
                    const struct xml_node *query);
/* `kick` (role none) or `role` change of target by actor (emitted); the
 * request's first event forwards r's stanza, the others refer to it (ref). */
void compliance_role(const struct muc_req *r, const struct room *room,
                     const struct occupant *actor, const struct occupant *target,
                     enum muc_role role, const char *reason, char ref[COMPLIANCE_UUID_LEN]);
/* `affiliation` (or `ban`) of bare jid set by actor's request (attached),
 * forwarded once per request like compliance_role. */
void compliance_affiliation_req(const struct muc_req *r, const struct room *room,
                                const struct occupant *actor, const char *jid,
                                enum muc_affil affil, const char *reason,
                                char ref[COMPLIANCE_UUID_LEN]);
/* Attach an `affiliation` (or `ban`) event for bare jid, acted by the sender of
 * the stanza being handled (m->req) or the service; compliance_flush after the
 * change. Inside a configuration form it refers to the form's event. */
void compliance_affiliation(struct muc *m, const struct room *room, const char *jid,
                            enum muc_affil affil, const char *reason);
/* A `config` event in two steps: begin before the form's affiliation lists
 * are applied (their events refer to it), compliance_config once the room has
 * its new configuration (attached: the room row follows). Takes ev. */
struct xml_node *compliance_config_begin(const struct muc_req *r, const struct room *room);
void compliance_config(const struct muc_req *r, const struct room *room, struct xml_node *ev);
/* `destroy` events for owner_destroy_room, which attaches them to the
 * deletion: by the sender of r (§10.9; detail: its <destroy/>), by an ad-hoc
 * command of actor (iq), and (attached here) by the service when the last
 * occupant left a temporary room. */
struct xml_node *compliance_destroy(const struct muc_req *r, const struct room *room,
                                    const char *reason, const struct xml_node *detail);
struct xml_node *compliance_destroy_command(struct muc *m, const struct room *room,
                                            const char *actor, const struct xml_node *iq,
                                            int64_t now);
void compliance_destroy_empty(struct muc *m, const struct room *room);

/* `wall`: an ethical wall (wall.h) removed occupant nick (action "removed",
 * emitted) or revoked bare jid's affiliation old (action "revoked", attached:
 * the affiliation's row follows), acted by the service. */
void compliance_wall(struct muc *m, const struct room *room, const char *jid, const char *nick,
                     enum muc_affil old, const char *action, const char *reason, bool attach);
/* The same for an affiliation the store revoked in a room not in memory (emitted). */
void compliance_wall_stored(struct muc *m, const char *room_jid, const char *jid,
                            enum muc_affil old, const char *reason);

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
