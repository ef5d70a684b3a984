/*
 * hg_events.h
 *    Whether a job's event (a NOTIFY on its owner's channel) may be sent now:
 *    only while the server's NOTIFY queue has room, and only on a channel
 *    already made (hg_events.c says why).
 */
#ifndef HG_EVENTS_H
#define HG_EVENTS_H

#include "utils/palloc.h"

/*
 * True while the NOTIFY queue is below heimdall_gen.event_queue_limit of its
 * size.  False means: send no event, the commit that would carry it must
 * not fail for it; a WARNING says so, at most once every 10 s per process.
 */
extern bool hg_event_queue_has_room(void);

/*
 * The channel of role, copied into result_context; NULL while the role has
 * no committed one (hg_events.c: never made here, so never waited for).
 * The caller is connected to SPI.
 */
extern char *hg_event_channel_of(Oid role, MemoryContext result_context);

/* A NOTIFY on role's channel, sent at commit: only with room in the queue and a channel to send it on. */
extern void hg_send_event(Oid role, const char *payload);

/*
 * For a background process's transaction that commits at once (a worker's
 * batch, the launcher's round): takes the lock that a commit carrying
 * NOTIFYs takes (hg_events.c says why) if it comes free within ms
 * milliseconds (0: only if free now), and holds it to the commit; false
 * when another session held it, and then the event is not sent.  Never in
 * a user's transaction: taken before its commit, it would hold every
 * NOTIFY of the cluster until that ends.
 */
extern bool hg_event_commit_lock_within_ms(int ms);

/* How long a status event (not a progress event) may wait for that lock. */
#define HG_STATUS_EVENT_LOCK_MS 100

#endif							/* HG_EVENTS_H */
