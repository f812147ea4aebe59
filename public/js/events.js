/* The event types of the WebSocket stream.  Their one definition is the
 * table in server/domain/event_types.c; unit.test_event_types checks that
 * this list names exactly the types a browser can receive. */
export const EVENT = Object.freeze({
  TWEET_CREATED: 'tweet.created',
  TWEET_UPDATED: 'tweet.updated',
  TWEET_DELETED: 'tweet.deleted',
  FOLLOW: 'follow',
  LIKE: 'like',
  REPOST: 'repost',
  NOTIFICATION: 'notification',
  RELOAD: 'reload',
  ERROR: 'error',
  TRENDS: 'trends',
});

// The WebSocket close code of a session that ended (logged out, password
// changed, "log out my other sessions"): the page is logged out and does
// not reconnect. EVENT_CLOSE_SESSION_ENDED in server/domain/event_types.h.
export const CLOSE = Object.freeze({
  SESSION_ENDED: 4401,
});
