/*
 * The live connection (docs/REALTIME.md). Logged in, the page keeps a
 * WebSocket open; it resumes with ?since=<last seq> after a drop (backoff
 * 1 s doubling to 30 s, with jitter, reset once a connection stayed up
 * 5 s) and watches the newest 500 tweets on screen, so their edits, counts
 * and deletions come live, and the tag of a tag page on screen, so its new
 * posts do (also in the resume's URL: ?tags=), and the timeline while
 * the global timeline or a profile is on screen, so their new posts do
 * (?timeline=1); it asks for the trends (?trends=1). Offline (the
 * browser's offline event) the socket is closed and the status says so;
 * back online it reconnects at once. Every event raises the causal token
 * (chorus_seen). Closed with CLOSE.SESSION_ENDED (or refused with 401
 * while /api/me says logged out), the page logs out instead of
 * reconnecting. What an event does to the page is not decided here: each
 * one goes to the `event` hook and a resync (after a resume, or a
 * `reload` from the server) to the `resync` hook, both set by main.js
 * with setLiveHooks().
 */
import { api, ok } from './api.js';
import { el, h, showMessage } from './dom.js';
import { CLOSE, EVENT } from './events.js';
import { setUser } from './session.js';
import { state } from './state.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const STABLE_MS = 5000;       // open this long before the backoff resets
const MAX_SUBS = 500;         // server limit of watched tweets (and 10 tags)
const SUB_CHUNK = 100;        // ids per message (inbound frames <= 4 KiB)

const live = {
  wanted: false,       // logged in: keep a connection up
  ws: null, url: null, open: false, everOpen: false,
  lastSeq: 0, attempt: 0, timer: 0, openedAt: 0,
  subscribed: new Set(),
  tags: new Set(),     // tags this connection watches
  timeline: false,     // whether this connection watches the timeline
};

const hooks = {
  event: () => {},
  resync: () => {},
};

// event(type, data) for each event; resync() when the page's data may
// have missed some.
export function setLiveHooks({ event, resync }) {
  hooks.event = event;
  hooks.resync = resync;
}

export const isLive = () => live.open;

// The status line in the session bar (#live-status), and a reconnect when
// the network comes back.
export function initLive() {
  el.liveStatus = h('span', { id: 'live-status', class: 'live', role: 'status', 'aria-live': 'polite' });
  el.session.append(el.liveStatus);
  window.addEventListener('online', onOnline);
  window.addEventListener('offline', onOffline);
}

function setLiveStatus(text, on) {
  if (el.liveStatus.textContent !== text) {
    el.liveStatus.replaceChildren(...(text ? [h('span', { class: 'live-text' }, text)] : []));
  }
  el.liveStatus.classList.toggle('on', on);
  el.liveStatus.title = text;
}

export function startLive() {
  if (live.wanted) return;
  live.wanted = true;
  live.attempt = 0;
  live.everOpen = false;
  setLiveStatus('Connecting…', false);
  connect();
}

// Closes the socket, if any, without its close event (nothing follows).
function dropSocket(reason) {
  const ws = live.ws;
  live.ws = null;
  live.open = false;
  live.subscribed.clear();
  live.tags.clear();
  live.timeline = false;
  if (ws) {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try { ws.close(1000, reason); } catch (e) { /* already closed */ }
  }
}

export function stopLive() {
  live.wanted = false;
  clearTimeout(live.timer);
  live.timer = 0;
  dropSocket('logout');
  live.lastSeq = 0;
  setLiveStatus('', false);
}

// The WebSocket's address from GET /api/config, which is relative to this
// page: {ws_port, ws_path} on the page's own host name (a server's own
// WebSocket port), or with ws_port null on the page's own host and port
// (nginx's /ws). Nothing in it comes from the request's Host header.
function wsUrl({ ws_port: port, ws_path: path }) {
  if (typeof path !== 'string' || !path.startsWith('/')) return null;
  if (port !== null && !(Number.isInteger(port) && port > 0 && port < 65536)) return null;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${port === null ? location.host : `${location.hostname}:${port}`}${path}`;
}

async function connect() {
  live.timer = 0;
  if (!live.wanted || live.ws) return;
  if (navigator.onLine === false) { setLiveStatus('Offline', false); return; } // 'online' reconnects
  if (!live.url) {
    const r = await api('GET', '/api/config');
    if (!live.wanted || live.ws) return;
    live.url = ok(r) && r.data ? wsUrl(r.data) : null;
    if (!live.url) { scheduleReconnect(); return; }
  }
  const q = ['trends=1'];
  if (live.lastSeq > 0) q.push(`since=${live.lastSeq}`);
  const tags = wantedTags();
  if (tags.length) q.push(`tags=${tags.map(encodeURIComponent).join(',')}`);
  if (wantedTimeline()) q.push('timeline=1');
  const url = `${live.url}${live.url.includes('?') ? '&' : '?'}${q.join('&')}`;
  let ws;
  try { ws = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
  live.ws = ws;
  ws.onopen = () => onLiveOpen(ws);
  ws.onmessage = (e) => onLiveMessage(e);
  ws.onclose = (e) => onLiveClose(ws, e.code);
  ws.onerror = () => { /* a close event follows; it reconnects */ };
}

function onLiveOpen(ws) {
  if (ws !== live.ws) return;
  const resumed = live.everOpen;
  live.open = true;
  live.everOpen = true;
  live.openedAt = Date.now();
  live.subscribed.clear();  // a new connection watches no tweet yet
  live.tags = new Set(wantedTags()); // its URL named these
  live.timeline = wantedTimeline();
  setLiveStatus('Live', true);
  syncSubscriptions();
  // After a drop: pick up what the resume cannot carry (counts of watched
  // tweets, posts of people not followed) from the newest page.
  if (resumed) hooks.resync();
}

// The session ended (logged out elsewhere, a password change): this page
// is logged out, and does not reconnect.
export function sessionEnded() {
  stopLive();
  if (!state.me) return;
  setUser(null);
  showMessage('Your session ended. Please log in again.');
}

async function onLiveClose(ws, code) {
  if (ws !== live.ws) return;
  const wasOpen = live.open;
  live.ws = null;
  live.open = false;
  live.subscribed.clear();
  live.tags.clear();
  live.timeline = false;
  if (!live.wanted) return;
  if (code === CLOSE.SESSION_ENDED) { sessionEnded(); return; }
  if (navigator.onLine === false) { setLiveStatus('Offline', false); return; }
  setLiveStatus('Reconnecting…', false);
  if (wasOpen && Date.now() - live.openedAt >= STABLE_MS) live.attempt = 0;
  if (!wasOpen) {
    // Refused before opening: maybe the session ended (401 at the upgrade).
    const me = await api('GET', '/api/me');
    if (!live.wanted || live.ws) return;
    if (me.status === 401) { sessionEnded(); return; }
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  if (!live.wanted || live.timer) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** live.attempt);
  live.attempt = Math.min(live.attempt + 1, 10);
  const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5));
  live.timer = setTimeout(connect, delay);
}

// Reconnect at once when the network comes back.
function onOnline() {
  if (live.wanted && !live.ws) {
    clearTimeout(live.timer);
    live.attempt = 0;
    setLiveStatus('Connecting…', false);
    connect();
  }
}

// Offline: a socket may look open for a long while before it notices;
// none is kept, and the status says so until the network is back.
function onOffline() {
  if (!live.wanted) return;
  clearTimeout(live.timer);
  live.timer = 0;
  dropSocket('offline');
  setLiveStatus('Offline', false);
}

function liveSend(msg) {
  if (live.ws && live.open && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify(msg));
}

// Watch the newest MAX_SUBS tweets on screen and the tweets they quote
// (a quoted tweet's deletion shows in its quotes): send only the
// difference from what this connection already watches, in small frames.
export function syncSubscriptions() {
  if (!live.open) return;
  const want = new Set();
  for (const t of state.tweets) { // newest first: each, then what it quotes
    for (const id of [t.id, t.quote && t.quote.available ? t.quote.id : null]) {
      if (id && want.size < MAX_SUBS) want.add(String(id));
    }
  }
  const drop = [...live.subscribed].filter((id) => !want.has(id));
  const add = [...want].filter((id) => !live.subscribed.has(id));
  for (let i = 0; i < drop.length; i += SUB_CHUNK) {
    liveSend({ type: 'unsubscribe', tweets: drop.slice(i, i + SUB_CHUNK) });
  }
  for (let i = 0; i < add.length; i += SUB_CHUNK) {
    liveSend({ type: 'subscribe', tweets: add.slice(i, i + SUB_CHUNK) });
  }
  drop.forEach((id) => live.subscribed.delete(id));
  add.forEach((id) => live.subscribed.add(id));
  const tags = wantedTags();
  const dropTags = [...live.tags].filter((t) => !tags.includes(t));
  const addTags = tags.filter((t) => !live.tags.has(t));
  if (dropTags.length) liveSend({ type: 'unsubscribe', tags: dropTags });
  if (addTags.length) liveSend({ type: 'subscribe', tags: addTags });
  live.tags = new Set(tags);
  const timeline = wantedTimeline();
  if (timeline !== live.timeline) liveSend({ type: timeline ? 'subscribe' : 'unsubscribe', timeline: true });
  live.timeline = timeline;
}

// The tags to watch: the tag page's on screen, if any.
const wantedTags = () => (state.view && state.view.name === 'tag' ? [state.view.tag] : []);

// Every new tweet: the global timeline and profiles show them live.
const wantedTimeline = () => Boolean(state.view) && (state.view.name === 'global' || state.view.name === 'profile');

// The causal token (docs/READMODEL.md 4b): the newest event this page has
// seen live, sent with every request as the chorus_seen cookie, so a page
// the other server answers (behind a load balancer) includes it too. The
// server sets the same cookie on the answer to each of our writes.
function noteSeen(seq) {
  if (!(seq > 0)) return;
  const m = /(?:^|;\s*)chorus_seen=(\d+)/.exec(document.cookie);
  if (m && Number(m[1]) >= seq) return;
  document.cookie = `chorus_seen=${seq}; Path=/; Max-Age=60; SameSite=Lax`;
}

function onLiveMessage(e) {
  let msg;
  try { msg = JSON.parse(e.data); } catch (err) { return; }
  if (!msg || typeof msg !== 'object') return;
  const seq = Number(msg.seq) || 0;
  noteSeen(seq);
  if (msg.type === EVENT.RELOAD) { // the resume point has left the server's log
    live.lastSeq = seq;
    hooks.resync();
    return;
  }
  if (seq > live.lastSeq) live.lastSeq = seq;
  hooks.event(msg.type, msg.data || {});
}
