/*
 * The list of tweets on screen (#timeline, in the #feed section every
 * tweet list shares: home, global, a profile's posts, a post and its
 * replies, search results). The list changes incrementally (prepend,
 * append, insert, replace one) so an open inline editor survives updates;
 * `state` (state.js) mirrors it. Live events are applied here too:
 * applyTweetEvent, applyRepostEvent, applyLikeEvent, tweetDeleted.
 * A list item is a tweet, or in the home feed a repost of one (with
 * reposted_by and reposted_at); the list shows each tweet once, as its
 * newest item (the home feed's answer does the same: docs/API.md), so a
 * new repost of a tweet on screen moves it up.
 */
import { api, ok } from './api.js';
import { el, h, relTime, renderTweet, scrollToTop, showMessage, statsNodes } from './dom.js';
import { EVENT } from './events.js';
import { syncSubscriptions } from './live.js';
import { findTweet, state, touch } from './state.js';

// Empty the list for a new route.
export function clearTimeline() {
  state.tweets = [];
  state.ids = new Set();
  state.next = null;
  state.loaded = false;
  state.versions = new Map();
  state.quoted = new Map();
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

// Timeline order: newest first by the item's time (a repost's, or the
// tweet's created_at), then id, as the server sorts. Times are RFC 3339
// with ms and ids 24 hex: fixed-width strings that compare as text.
const itemTime = (t) => t.reposted_at || t.created_at;
export function newer(a, b) {
  if (itemTime(a) !== itemTime(b)) return itemTime(a) > itemTime(b);
  return String(a.id) > String(b.id);
}

export const sameTweet = (a, b) => a.text === b.text && a.edited_at === b.edited_at &&
  a.like_count === b.like_count && a.reply_count === b.reply_count &&
  a.liked_by_me === b.liked_by_me && a.repost_count === b.repost_count &&
  a.quote_count === b.quote_count && a.reposted_by_me === b.reposted_by_me &&
  (a.reposted_by && a.reposted_by.username) === (b.reposted_by && b.reposted_by.username);

// Newer data t of the tweet an item shows (old, or none): the item stays
// what it is (the repost it is, with its "reposted by" line).
export const asItem = (old, t) => ({
  ...t,
  reposted_by: (old && old.reposted_by) || null,
  reposted_at: (old && old.reposted_at) || null,
});

// The same for an event's data, which does not carry the viewer's own
// marks: the item keeps them.
export const keepItem = (old, t) => ({
  ...asItem(old, t), liked_by_me: old.liked_by_me, reposted_by_me: old.reposted_by_me,
});

// The items of list, each tweet once (its first item: the newest), and
// none deleted while on screen.
export function uniqueItems(list) {
  const seen = new Set();
  return list.filter((t) => {
    const id = String(t.id);
    if (seen.has(id) || state.gone.has(id)) return false;
    seen.add(id);
    return true;
  });
}

// Add tweets not loaded yet at the top ('start') or bottom ('end').
export function addTweets(list, where) {
  const fresh = uniqueItems(list).filter((t) => !state.ids.has(String(t.id)));
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

// Whether item t is to be shown: its tweet is not deleted, and not on
// screen as the same or a newer item.
const wanted = (t) => {
  const id = String(t.id);
  if (state.gone.has(id)) return false;
  const shown = state.ids.has(id) && findTweet(id);
  return !shown || newer(t, shown);
};

// Insert one item at its place in the order: an unseen tweet, or a newer
// item (a repost) of one on screen, which then leaves its old place (but
// for one with an open editor or reply form, which keeps its place and
// draft), keeping the focus on the action that had it. One older than
// every loaded tweet while older pages exist is left to "Load more".
export function insertTweet(t) {
  const id = String(t.id);
  if (!wanted(t)) return false;
  const moved = state.ids.has(id); // then loaded pages reach its place
  const old = moved && findNode(id);
  if (old && old.querySelector('.editor, form.reply-box')) {
    updateShown(t);
    return false;
  }
  const control = focusedControl(old);
  if (moved) removeTweet(id, false);
  const i = state.tweets.findIndex((x) => newer(t, x));
  if (i < 0 && state.next && !moved) return false;
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
  if (control) control(node)?.focus({ preventScroll: true });
  return true;
}

// What finds control a (a post's button with a data-action) in a new
// drawing of its post: the same action (and image) in the post or in its
// quote.
function sameControl(a) {
  let sel = `[data-action="${CSS.escape(a.dataset.action)}"]`;
  if (a.dataset.index !== undefined) sel += `[data-index="${CSS.escape(a.dataset.index)}"]`;
  const inQuote = Boolean(a.closest('.quote'));
  return (fresh) => [...fresh.querySelectorAll(sel)].find((e) => Boolean(e.closest('.quote')) === inQuote) || null;
}

// When focus is inside node (a keyboard user on a post's like button or
// one of its images while a live update draws it again), what finds the
// same control in a new drawing of it; else null.
function focusedControl(node) {
  const a = document.activeElement;
  if (!node || !a || a === node || !node.contains(a) || !a.dataset.action) return null;
  return sameControl(a);
}

// Control btn (a post's button with a data-action) as the page shows it
// now: btn itself, or, when a live update has drawn its post again
// meanwhile (a dialog it opened was open), the same control in the new
// drawing; null when the post left the page. Where a dialog's focus goes
// back to.
export function currentControl(btn) {
  if (btn.isConnected) return btn;
  const li = btn.closest('li[data-id]');
  const node = li && findNode(li.dataset.id);
  return node && btn.dataset.action ? sameControl(btn)(node) : null;
}

// Replace one tweet in state and DOM; returns the new node. Focus inside
// the old node moves to the same control of the new one.
export function replaceTweet(t) {
  const id = String(t.id);
  const i = state.tweets.findIndex((x) => String(x.id) === id);
  if (i >= 0) state.tweets[i] = t;
  const node = findNode(id);
  const fresh = renderTweet(t);
  if (node) {
    const control = focusedControl(node);
    node.replaceWith(fresh);
    if (control) control(fresh)?.focus({ preventScroll: true });
  }
  return fresh;
}

// Apply newer data of a shown tweet. While its inline editor or reply
// form is open only the data (and the counts on screen) change, so
// Cancel/Save use fresh state and the draft survives.
export function updateShown(t) {
  const id = String(t.id);
  const i = state.tweets.findIndex((x) => String(x.id) === id);
  if (i < 0) return;
  const node = findNode(id);
  const form = node && node.querySelector('.editor, form.reply-box');
  if (form) { // keep the draft: only the data and the counts change
    state.tweets[i] = t;
    node.querySelector('.stats').replaceChildren(...statsNodes(t));
    if (form.classList.contains('reply-box')) node.querySelector('[data-action=reply]')?.setAttribute('aria-expanded', 'true');
  } else {
    replaceTweet(t);
  }
}

// Takes a tweet off the list; deleted (gone): for good.
export function removeTweet(id, gone = true) {
  id = String(id);
  if (gone) state.gone.add(id);
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
  state.pending = state.pending.filter(wanted);
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
  scrollToTop();
  el.feedTitle.focus({ preventScroll: true });
}

/* ---------- live events ---------- */

// A tweet.created or tweet.updated event (type) of a tweet at version.
export function applyTweetEvent(tweet, version, type) {
  const id = String(tweet.id);
  if (state.gone.has(id)) return;
  if (type === EVENT.TWEET_UPDATED) updateQuotes(tweet, version);
  const old = findTweet(id);
  const onTag = state.view && state.view.name === 'tag';
  const tagged = (t) => (t.entities || []).some((e) => e.type === 'hashtag' && sameTag(e.tag, state.view.tag));
  if (!old && onTag && type === EVENT.TWEET_UPDATED && tagged(tweet)) {
    tweetTagged(id, version);
    return;
  }
  if (old && onTag && type === EVENT.TWEET_UPDATED && !tagged(tweet)) {
    // An edit took the tag on screen out of its text: off the page.
    if (version <= (state.versions.get(id) || 0)) return;
    removeTweet(id, false);
    renderFeedChrome();
    syncSubscriptions();
    return;
  }
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
    if (v && (v.name === 'global' || (v.name === 'profile' && nameOf(t.author) === v.user.toLowerCase()))) {
      // The global timeline has every new tweet, a profile its user's
      // (the connection watches the timeline on these pages).
      state.versions.set(id, version);
      touch(id);
      showNew(t);
      return;
    }
    if (v && v.name === 'tag') { // a new tweet with the tag on screen
      if (!(t.entities || []).some((e) => e.type === 'hashtag' && sameTag(e.tag, v.tag))) return;
      state.versions.set(id, version);
      touch(id);
      showNew(t);
      return;
    }
    if (!v || v.name !== 'home' || !byFollowed(t.author)) return;
    // (The hub also sends replies to a watched tweet: the home feed only
    // shows my own tweets and those of people I follow.)
    if (!state.following && t.reply_to && !isMe(t.author)) return;
    state.versions.set(id, version);
    touch(id);
    showNew(t);
    return;
  }
  if (version <= (state.versions.get(id) || 0)) return;
  state.versions.set(id, version);
  touch(id);
  const t = keepItem(old, tweet);
  if (!sameTweet(old, t)) updateShown(t);
}

// An edit of a tweet that posts on screen quote: their cards show its new
// text, once per version (the connection watches quoted tweets too).
function updateQuotes(tweet, version) {
  const id = String(tweet.id);
  if (version <= (state.quoted.get(id) || 0)) return;
  state.quoted.set(id, version);
  for (const t of state.tweets) {
    if (t.quote && String(t.quote.id) === id && t.quote.available && t.quote.text !== tweet.text) {
      updateShown({ ...t, quote: { ...t.quote, text: tweet.text } });
    }
  }
}

// An edit gave tweet id the tag on screen: read as this viewer sees it
// (the event carries nobody's likes) and put at its place, which a page
// older than every one loaded leaves to "Load more".
async function tweetTagged(id, version) {
  const v = state.view;
  const r = await api('GET', `/api/tweet/${encodeURIComponent(id)}`);
  if (!ok(r) || state.view !== v || state.gone.has(id) || findTweet(id)) return;
  state.versions.set(id, version);
  touch(id);
  if (insertTweet(r.data)) {
    renderFeedChrome();
    syncSubscriptions();
  }
}

// Tags as the server folds them (simple case folding), near enough for
// matching an event to the page on screen.
const sameTag = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

const nameOf = (user) => String((user && user.username) || '').toLowerCase();
const isMe = (user) => Boolean(state.me) && nameOf(user) === state.me.username.toLowerCase();

// Whether the home feed shows what user (a {username}) writes or reposts:
// mine, or of someone I follow (while that list is loading: anyone the
// hub sent).
const byFollowed = (user) => isMe(user) || (state.following ? state.following.has(nameOf(user)) : true);

// A new item at the top: held while the reader is scrolled down (not to
// move the page under them), else inserted at its place.
function showNew(t) {
  if (window.scrollY > 200) {
    const id = String(t.id);
    state.pending = state.pending.filter((x) => String(x.id) !== id || !newer(t, x));
    if (!state.pending.some((x) => String(x.id) === id)) state.pending.push(t);
    renderPending();
    return;
  }
  if (insertTweet(t)) {
    renderFeedChrome();
    syncSubscriptions();
  }
}

// A repost event: item is the reposted tweet as a feed item of the
// repost (reposted_by, reposted_at), reposted false for an unrepost.
// The home feed gains or loses the item (a repost of a tweet on screen
// moves it up, as the tweet's newest item); my own repost (maybe in
// another tab) sets reposted_by_me where the tweet is shown. Counts come
// with the tweet's own tweet.updated event.
export function applyRepostEvent(item, reposted) {
  const id = String(item.id);
  if (state.gone.has(id)) return;
  const by = item.reposted_by || {};
  const mine = isMe(by);
  const old = findTweet(id);
  if (old && mine && old.reposted_by_me !== reposted) updateShown({ ...old, reposted_by_me: reposted });
  const v = state.view;
  if (!v || v.name !== 'home') return;
  const shown = findTweet(id);
  if (!reposted) {
    // Its item goes when it is this repost; the tweet itself stays, at its
    // own time, when its author is me or someone I follow (an older repost
    // of it by someone else I follow shows again on the next load).
    if (shown && shown.reposted_by && shown.reposted_by.username === by.username) {
      removeTweet(id, false);
      if (state.following && byFollowed(shown.author)) {
        insertTweet({ ...shown, reposted_by: null, reposted_at: null });
      }
    }
    state.pending = state.pending.filter((x) => !(String(x.id) === id && x.reposted_by));
    renderPending();
    renderFeedChrome();
    syncSubscriptions();
    return;
  }
  if (!byFollowed(by) || (shown && !newer(item, shown))) return;
  touch(id);
  showNew({ ...item, liked_by_me: Boolean(shown && shown.liked_by_me),
    reposted_by_me: mine || Boolean(shown && shown.reposted_by_me) });
}

// I liked or unliked a post (id), maybe in another tab.
export function applyLikeEvent(id, liked) {
  const old = findTweet(id);
  if (!old || state.gone.has(id) || old.liked_by_me === liked) return;
  // The count comes with its own tweet.updated event.
  updateShown({ ...old, liked_by_me: liked });
}

// A tweet was deleted (by us, or a tweet.deleted event): off the list for
// good, its replies on screen say so, its quotes on screen stay and show
// it unavailable (as the API does), and on its own page a notice says
// what happened (its reply box went with it).
export function tweetDeleted(id) {
  id = String(id);
  removeTweet(id);
  el.timeline.querySelectorAll(`.reply-to a[data-parent="${CSS.escape(id)}"]`).forEach((a) => {
    a.textContent = 'Replying to a deleted post';
  });
  for (const t of state.tweets) {
    if (t.quote && String(t.quote.id) === id && t.quote.available) updateShown({ ...t, quote: { id: t.quote.id, available: false } });
  }
  const v = state.view;
  if (v && v.name === 'tweet' && v.id === id && !document.getElementById('gone-note')) {
    el.view.prepend(h('div', { id: 'gone-note', class: 'card notice', role: 'status' },
      h('h2', null, 'This post was deleted'),
      h('p', { class: 'hint' }, 'Its author deleted it while you were reading. The replies stay.')));
  }
  renderFeedChrome();
  syncSubscriptions();
}

// A user's new display name and avatar (user: a profile) on every post
// on screen that names them: as author, reposter, author replied to.
export function updateAuthor(user) {
  const who = nameOf(user);
  const named = (u) => Boolean(u) && nameOf(u) === who;
  const fresh = (u) => (named(u) ? { ...u, display_name: user.display_name, avatar: user.avatar } : u);
  for (const t of state.tweets) {
    if (!named(t.author) && !named(t.reposted_by) && !named(t.reply_to_user)) continue;
    updateShown({ ...t, author: fresh(t.author), reposted_by: fresh(t.reposted_by), reply_to_user: fresh(t.reply_to_user) });
  }
}
