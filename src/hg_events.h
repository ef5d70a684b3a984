/*
 * hg_events.h
 *    Whether a job's event (a NOTIFY on its owner's channel) may be sent now:
 *    only while the server's NOTIFY queue has room (hg_events.c says why).
 */
#ifndef HG_EVENTS_H
#define HG_EVENTS_H

/*
 * True while the NOTIFY queue is below heimdall_gen.event_queue_limit of its
 * size.  False means: send no event, the commit that would carry it must
 * not fail for it; a WARNING says so, at most once every 10 s per process.
 */
extern bool hg_event_queue_has_room(void);

#endif							/* HG_EVENTS_H */
