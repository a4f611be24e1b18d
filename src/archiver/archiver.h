/* archiver.h — confab-archiver's service, free of I/O. The compliance intake
 * (events from confabd, copies of 1:1 messages) is built on this. */
#ifndef CONFAB_ARCHIVER_H
#define CONFAB_ARCHIVER_H

#include "service.h"

struct archiver;

struct archiver *archiver_new(const char *domain, service_send_fn *send, void *ud);
void archiver_free(struct archiver *a);
void archiver_handle(struct archiver *a, const struct xml_node *st);

#endif
