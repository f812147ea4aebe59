/*
 * sync_internal.h - what the other files of sync/ (query.c) use of a
 * sync_t beyond sync.h; nothing outside sync/ includes it.
 */
#ifndef CHORUS_SYNC_INTERNAL_H
#define CHORUS_SYNC_INTERNAL_H

#include "sync/sync.h"

/* The 2PC store of the process (store_mongo.h), for view.h's readers;
 * it lives as long as the sync_t. */
const txn_store_t *sync_store(sync_t *sync);

#endif
