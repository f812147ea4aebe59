/*
 * The page's state, shared by every module.
 * - `state.me` is the user (or null); `state.tweets` the tweets of the list
 *   on screen (#timeline; deduplicated by id, in the view's order) and
 *   `state.next` the cursor of the older ones; `state.loaded` whether the
 *   view's first page has been merged (live items may come before it).
 * - REST answers carry no version, events do: an event only applies when
 *   its version is newer than the one known for that tweet (REST = 0); a
 *   REST answer does not overwrite a tweet that an event (or our own
 *   action) changed after the request was sent (`touch`/`touchedSince`,
 *   ordered by `nextTick`).
 * - Every route change starts a new generation (`newRoute`): an answer
 *   that comes back in a later generation than its request is dropped.
 */

export const state = {
  me: null, tweets: [], ids: new Set(), next: null, loaded: false, fetching: false, again: false,
  versions: new Map(), // tweet id -> last event version applied (REST: none = 0)
  quoted: new Map(),   // quoted tweet id -> last event version its quote cards show
  touched: new Map(),  // tweet id -> tick of the last change not from REST
  gone: new Set(),     // ids deleted while on screen: never re-added
  view: null,          // the current route: {name, title, src, asc, ...}
  pending: [],         // new home-feed tweets held while scrolled down
  unread: 0,           // unread notifications (nav badge)
  following: null,     // lowercased usernames I follow (null: not loaded yet)
};

let gen = 0;   // bumped on every route change
let tick = 0;  // orders REST requests against other changes

export const routeGen = () => gen;
export const newRoute = () => ++gen;

export const nextTick = () => ++tick;
export const touch = (id) => state.touched.set(String(id), nextTick());
export const touchedSince = (id, t0) => (state.touched.get(String(id)) || 0) > t0;

export const findTweet = (id) => state.tweets.find((t) => String(t.id) === id);

// Whether view v has the compose form: the home and global timelines.
export const composes = (v) => Boolean(v) && (v.name === 'home' || v.name === 'global');
