/* muc.h — confabd's multi-user chat service (XEP-0045), free of I/O.
 * Stanzas from the router go in through muc_handle(); replies and broadcasts
 * leave through the send callback. */
#ifndef CONFAB_MUC_H
#define CONFAB_MUC_H

#include "service.h"

#define NS_MUC "http://jabber.org/protocol/muc"

struct muc;

/* domain and name are copied. */
struct muc *muc_new(const char *domain, const char *name, service_send_fn *send, void *ud);
void muc_free(struct muc *m);
/* Change the disco identity name (SIGHUP). */
void muc_set_name(struct muc *m, const char *name);
void muc_handle(struct muc *m, const struct xml_node *st);

#endif
