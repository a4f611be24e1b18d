/* reply.h — the MUC engine's output, for every handler (reply.c).
 *
 * muc.c routes stanzas in; this is how anything leaves: stanzas through
 * struct muc_io, error replies that come from the room, and IQ results that
 * wait until the store has committed what they confirm. The muc_ prefix is
 * the engine's: these are its output as every handler knows it. */
#ifndef CONFAB_MUC_REPLY_H
#define CONFAB_MUC_REPLY_H

#include <stddef.h>

struct muc;
struct muc_req;
struct room;
struct xml_node;

/* ---- to the router (struct muc_io) ---- */
void muc_send(struct muc *m, const struct xml_node *st);
/* st without 'to': one copy to each of to[0..n), serialised once. */
void muc_send_each(struct muc *m, const struct xml_node *st, const char *const *to, size_t n);
/* Bytes that already are one complete stanza (history replay, MAM results). */
void muc_send_raw(struct muc *m, const char *data, size_t len);

/* ---- errors from the room (never in answer to an error, nor without 'from') ---- */
void muc_bounce(struct muc_req *r, const char *condition, const char *text);
/* The same with an error type other than the condition's default. */
void muc_bounce_type(struct muc_req *r, const char *condition, const char *type,
                     const char *text);
/* The error reply muc_bounce sends (type NULL: the condition's default). */
struct xml_node *muc_error(const struct muc_req *r, const char *condition, const char *type,
                           const char *text);

/* ---- IQ results once durable ---- */
/* Answer iq with a result once everything written so far is durable (at once
 * without a store); a failed commit answers resource-constraint instead. */
void muc_result_after_commit(struct muc *m, const struct xml_node *iq);
/* The same with a prepared result (e.g. a command's <command/>). */
void muc_result_after_commit_with(struct muc *m, const struct xml_node *iq,
                                  struct xml_node *reply);
/* The same, then the room's status-code notice (0-terminated codes; none or
 * NULL: no notice): §10.2.1 notices follow the owner's result, as Prosody. */
void muc_result_then_notice(struct muc *m, const struct xml_node *iq, const struct room *room,
                            const int *codes);

#endif
