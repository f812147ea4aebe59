/*
 * hub.h - which WebSocket client of this server gets which event.
 *
 * The hub sits between the event log (events.h: every committed change,
 * in sequence order, on every server) and this server's WebSocket clients
 * (ws.h).  A client is a logged-in user and session (the session cookie,
 * checked at the upgrade; the hub keeps the session's id, sessions_id,
 * never the token) with: the users they follow (loaded when they connect, kept
 * up to date by "follow" events), the tweets they have on screen and the
 * tag pages they show, and whether they watch the timeline (messages
 * {"type":"subscribe"|"unsubscribe", "tweets":[id...], "tags":[tag...],
 * "timeline":true}, any of the three; ?timeline=1 on the upgrade's URL
 * too); at most
 * HUB_MAX_SUBSCRIPTIONS tweets and HUB_MAX_TAGS tags; tags as
 * tags_parse takes them, others ignored; and ?tags=a,b on the upgrade's
 * URL, watched before a resume's backlog is read), and the last sequence
 * number sent.  An event reaches a client when its audience names the
 * user, or an author the user follows (or is), or a tweet or a tag the
 * client watches, or, for a new tweet, when the client watches the
 * timeline.  Messages are {"seq", "type", "data"} with seq strictly
 * increasing per client; "type" and "data" are the event's own (types in
 * event_types.h, data made at publication: event_payloads.h), and the
 * hub adds only the framing.  Its own messages are the control types:
 * {"type":"reload"} (below) and, for a client message it cannot read,
 * {"seq":0,"type":"error","data":{"message"}}.
 *
 * Resume: a client that connects with ?since=N first gets, in order, every
 * event after N that it may see (from the log, and from the bells for
 * numbers whose log copy is not written yet: events_read_since), then the
 * live ones; live events that arrive meanwhile are held (before the
 * client's followees are loaded, every event that names an author, and
 * follows, whose effect on the followees is replayed) and sent after,
 * without duplicates.  An N this server has not delivered yet (the client
 * saw it on another server) is waited for first, HUB_RESUME_CATCH_UP_MS
 * at most.  When that cannot be done exactly (N has left the log or is
 * still beyond its head, the backlog reaches HUB_RESUME_MAX events,
 * or more than HUB_HELD_MAX were held) it gets {"type":"reload"} instead,
 * with the head as its seq, and goes on live from there.
 *
 * Trends: a client that connects with ?trends=1 gets
 * {"seq":0,"type":"trends","data":{"items":[{tag, count}]}} (the API's GET
 * /api/trends) once it is live (after its backlog: also after a resume) and
 * whenever they change.  The hub's worker computes them from this server's
 * read model as applied (reads_trends, READS_APPLIED; none while it loads;
 * the database with --read-model 0) after tweet events, at most every
 * HUB_TRENDS_MIN_MS (or 20 times as long as a computation took), and every
 * HUB_TRENDS_EVERY_MS as the 24-hour window moves on; every server computes
 * the same trends from the same events.  seq 0: they are a state, not an
 * event of the log, and leave the client's resume point where it is.
 *
 * Ended sessions: a "session.ended" event (event_types.h: for the hubs)
 * closes every client of a session it ends with
 * EVENT_CLOSE_SESSION_ENDED at once, dropping what is still queued
 * (ws_server_close_now), and nothing is sent to it after; since events
 * come in sequence order, nothing numbered after the ending reaches it.
 * A client whose upgrade was accepted but which is not open yet is closed
 * when it opens, and an upgrade whose lookup raced any ending is refused
 * (the client tries again): sessions.h says why this makes every
 * WebSocket of an ended session closed once the ending is answered.
 *
 * Threads: ws callbacks run on the WebSocket service threads (several at
 * once, one per loop), events on the event poller thread, resumes and
 * trends on the hub's own worker; one mutex guards the client list.  Nothing
 * that can block for long runs on a service thread except a session lookup
 * that the read model's session cache cannot answer (reads_session with
 * READS_APPLIED; with --read-model 0 every upgrade asks the database).
 */
#ifndef CHORUS_HUB_H
#define CHORUS_HUB_H

#include <stdbool.h>

#include "server/readmodel/reads.h"
#include "server/realtime/hub_message.h"
#include "server/realtime/ws.h"
#include "sync/base/db.h"
#include "sync/events/events.h"
#include "sync/sync.h"

#define HUB_TRENDS_MIN_MS 250     /* between two computations, at least */
#define HUB_TRENDS_EVERY_MS 60000 /* and at most, for the window's end */
#define HUB_HELD_MAX 1000
#define HUB_RESUME_MAX 10000
/* A resume from a number this server has not delivered yet waits for its
 * poller this long at most (a gap is waited out after 0.5 s). */
#define HUB_RESUME_CATCH_UP_MS 2000

typedef struct hub hub_t;

/* reads: the session resolver of the upgrades and the source of the
 * trends (borrowed; it must outlive the hub's worker: hub_stop).
 * test_resume_delay_ms: 0, or (tests only) how long each resume job waits
 * between reading its backlog and going live, to widen the window in which
 * hub_on_event holds the client's live events. */
hub_t *hub_new(db_t *db, sync_t *sync, reads_t *reads,
               int test_resume_delay_ms);
/* Stops the hub's worker (resumes, trends) and waits for it: after this
 * the hub no longer reads `reads`, which may then go.  Events may still be
 * handed to hub_on_event until hub_destroy.  Idempotent; NULL is a no-op. */
void hub_stop(hub_t *hub);

/* Stops the worker if hub_stop has not, then frees the hub and its
 * clients.  No hub_on_event may run or follow. */
void hub_destroy(hub_t *hub);

/* The WebSocket callbacks (ctx is the hub). */
void hub_ws_callbacks(hub_t *hub, ws_callbacks_t *cb);
void hub_set_ws(hub_t *hub, ws_server_t *ws);

/* An events_listener_fn (ctx is the hub): sends the event to the
 * clients its audience names.  Types for the read models and hubs only
 * (event_types.h) reach nobody; "session.ended" closes the clients of
 * what it ends; a type the table does not know goes by its audience like
 * any other. */
void hub_on_event(void *ctx, const event_t *event);

#endif
