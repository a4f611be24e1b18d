/* ctlchan.h — confabd's end of the control channel (docs/operations.md,
 * "Control channel"): confabctl's NOTIFY confab_control into the engine, and
 * this daemon's status into the daemons table every few seconds. */
#ifndef CONFAB_MUC_CTLCHAN_H
#define CONFAB_MUC_CTLCHAN_H

struct daemon;
struct muc;
struct pg_store;
struct ctlchan;

struct ctlchan *ctlchan_start(struct daemon *d, struct muc *m, struct pg_store *s);
/* Before the store stops: marks this daemon stopped (best effort). */
void ctlchan_stop(struct ctlchan *c);

#endif
