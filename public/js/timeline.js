/*
 * The list of tweets on screen (#timeline, in the #feed section every
 * tweet list shares: home, global, a profile's posts, a post and its
 * replies, search results). The list changes incrementally (prepend,
 * append, insert, replace one) so an open inline editor survives updates;
 * `state` (state.js) mirrors it. Live events are applied here too:
 * applyTweetEvent, applyLikeEvent, tweetDeleted.
 */
import { el, relTime, renderTweet, showMessage, statsNodes } from './dom.js';
import { EVENT } from './events.js';
import { syncSubscriptions } from './live.js';
import { findTweet, state, touch } from './state.js';

// Empty the list for a new route.
export function clearTimeline() {
  state.tweets = [];
  state.ids = new Set();
  state.next = null;
  state.versions = new Map();
  state.pending = [];
  state.fetching = false;
  state.again = false;
  renderPending();
  el.timeline.replaceChildren();
}

export function renderTimeline() {
  el.timeline.replaceChildren(...state.tweets.map(renderTweet));
  renderFeedChrome();
  syncSubscriptions();
}

export const refreshTimes = () => el.timeline.querySelectorAll('time').forEach((n) => {
  n.textContent = relTime(n.getAttribute('datetime'));
});

export function renderFeedChrome() {
  el.empty.hidden = state.tweets.length > 0;
  el.more.hidden = !state.next;
}

export const findNode = (id) => el.timeline.querySelector(`li[data-id="${CSS.escape(id)}"]`);

// Timeline order: newest first by (created_at, id), as the server sorts.
// Both are fixed-width strings (RFC 3339 with ms, 24 hex), so they compare as text.
export function newer(a, b) {
  if (a.created_at !== b.created_at) return a.created_at > b.created_at;
  return String(a.id) > String(b.id);
}

export const sameTweet = (a, b) => a.text === b.text && a.edited_at === b.edited_at &&
  a.like_count === b.like_count && a.reply_count === b.reply_count &&
  a.liked_by_me === b.liked_by_me;

// Add tweets not loaded yet at the top ('start') or bottom ('end').
export function addTweets(list, where) {
  const fresh = list.filter((t) => !state.ids.has(String(t.id)) && !state.gone.has(String(t.id)));
  fresh.forEach((t) => state.ids.add(String(t.id)));
  const nodes = fresh.map(renderTweet);
  if (where === 'start') {
    state.tweets = fresh.concat(state.tweets);
    el.timeline.prepend(...nodes);
  } else {
    state.tweets = state.tweets.concat(fresh);
    el.timeline.append(...nodes);
  }
  renderFeedChrome();
  syncSubscriptions();
  return fresh.length;
}

// Insert one unseen tweet at its place in the order. One older than every
// loaded tweet while older pages exist is left to "Load more".
export function insertTweet(t) {
  const id = String(t.id);
  if (state.ids.has(id) || state.gone.has(id)) return false;
  const i = state.tweets.findIndex((x) => newer(t, x));
  if (i < 0 && state.next) return false;
  const node = renderTweet(t);
  if (i < 0) {
    state.tweets.push(t);
    el.timeline.append(node);
  } else {
    const before = findNode(String(state.tweets[i].id));
    state.tweets.splice(i, 0, t);
    if (before) before.before(node); else el.timeline.append(node);
  }
  state.ids.add(id);
  return true;
}

// Replace one tweet in state and DOM; returns the new node.
export function replaceTweet(t) {
  const id = String(t.id);
  const i = state.tweets.findIndex((x) => String(x.id) === id);
  if (i >= 0) state.tweets[i] = t;
  const node = findNode(id);
  const fresh = renderTweet(t);
  if (node) node.replaceWith(fresh);
  return fresh;
}

// Apply newer data of a shown tweet. While its inline editor is open only
// the data (and the counts on screen) change, so Cancel/Save use fresh state
// and the draft survives.
export function updateShown(t) {
  const id = String(t.id);
  const i = state.tweets.findIndex((x) => String(x.id) === id);
  if (i < 0) return;
  const node = findNode(id);
  if (node && node.querySelector('.editor')) {
    state.tweets[i] = t;
    node.querySelector('.stats').replaceChildren(...statsNodes(t));
  } else {
    replaceTweet(t);
  }
}

export function removeTweet(id) {
  id = String(id);
  state.gone.add(id);
  if (!state.ids.has(id)) return;
  state.ids.delete(id);
  state.tweets = state.tweets.filter((t) => String(t.id) !== id);
  state.versions.delete(id);
  const node = findNode(id);
  if (node) {
    if (node.querySelector('.editor')) showMessage('The post you were editing was deleted.', 'info');
    node.remove();
  }
}

/* ---------- new home-feed tweets held while scrolled down ---------- */

function renderPending() {
  state.pending = state.pending.filter((t) => !state.ids.has(String(t.id)) && !state.gone.has(String(t.id)));
  const n = state.pending.length;
  el.newTweets.hidden = n === 0;
  el.newTweets.textContent = `Show ${n} new ${n === 1 ? 'post' : 'posts'}`;
}

export function showPending() {
  const list = state.pending;
  state.pending = [];
  for (const t of list) insertTweet(t);
  renderPending();
  renderFeedChrome();
  syncSubscriptions();
  window.scrollTo(0, 0);
  el.feedTitle.focus();
}

/* ---------- live events ---------- */

// A tweet.created or tweet.updated event (type) of a tweet at version.
export function applyTweetEvent(tweet, version, type) {
  const id = String(tweet.id);
  if (state.gone.has(id)) return;
  const old = findTweet(id);
  if (!old) {
    if (type !== EVENT.TWEET_CREATED) return; // not on screen
    const v = state.view;
    // Events carry liked_by_me false: a new tweet cannot be liked by me yet.
    const t = { ...tweet, liked_by_me: false };
    if (v && v.name === 'tweet' && String(t.reply_to) === v.id) {
      // A reply to the post on screen: the list is oldest first, append it
      // when the last page is loaded (else "Load more" brings it).
      if (state.next || state.ids.has(id)) return;
      state.versions.set(id, version);
      touch(id);
      addTweets([t], 'end');
      return;
    }
    if (!v || v.name !== 'home') return;
    // The hub also sends replies to a watched tweet: the home feed only
    // shows my own tweets and those of people I follow.
    const author = String((t.author && t.author.username) || '').toLowerCase();
    const mine = state.me && author === state.me.username.toLowerCase();
    if (!mine && (state.following ? !state.following.has(author) : t.reply_to)) return;
    state.versions.set(id, version);
    touch(id);
    if (window.scrollY > 200) { // scrolled down: do not move the page under the reader
      if (!state.pending.some((x) => String(x.id) === id)) state.pending.push(t);
      renderPending();
      return;
    }
    if (insertTweet(t)) {
      renderFeedChrome();
      syncSubscriptions();
    }
    return;
  }
  if (version <= (state.versions.get(id) || 0)) return;
  state.versions.set(id, version);
  touch(id);
  const t = { ...tweet, liked_by_me: old.liked_by_me };
  if (!sameTweet(old, t)) updateShown(t);
}

// I liked or unliked a post (id), maybe in another tab.
export function applyLikeEvent(id, liked) {
  const old = findTweet(id);
  if (!old || state.gone.has(id) || old.liked_by_me === liked) return;
  // The count comes with its own tweet.updated event.
  updateShown({ ...old, liked_by_me: liked });
}

// A tweet was deleted (by us, or a tweet.deleted event): off the list for good.
export function tweetDeleted(id) {
  removeTweet(id);
  renderFeedChrome();
  syncSubscriptions();
}
