/* mem_store.h — the memory backend of store.h, the engine's store without a database. */
#ifndef CONFAB_MUC_MEM_STORE_H
#define CONFAB_MUC_MEM_STORE_H

#include "store.h"

struct muc;

/* Fill ops with the memory backend of m: every operation completes inside
 * the call; compliance events go to m->compliance_sink. muc_new does this
 * for every engine (muc_set_store may replace it). */
void mem_store_init(struct muc_store *ops, struct muc *m);

#endif
