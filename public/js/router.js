/*
 * The routes: which URL shows which view, and moving between them without
 * a page load (history.pushState; Back and Forward come as popstate).
 * Every view has the same frame: a header part (#view, drawn by the
 * view's module, see VIEWS) above the tweet list (#feed, loaded by
 * feed.js from the route's `src`; hidden when the route has none).
 * Back and Forward come back to a list as it was left: every history
 * entry has a key (history.state.key), and leaving an entry keeps a
 * snapshot of its list (the items, "Load more"'s cursor, the scroll
 * position), which popstate restores before it asks for what is new.
 */
import { withQuery } from './api.js';
import { el, h, hideMessage } from './dom.js';
import { loadNewest } from './feed.js';
import { syncSubscriptions } from './live.js';
import { loadNotifications } from './notifications.js';
import { loadPeople } from './people.js';
import { loadProfile } from './profile.js';
import { renderSearch } from './search.js';
import { composes, newRoute, routeGen, state } from './state.js';
import { loadTrends, renderTagView } from './tags.js';
import { clearTimeline, renderFeedChrome, renderTimeline } from './timeline.js';

// What each route draws in #view: (route, its generation) -> anything.
const VIEWS = {
  profile: loadProfile,
  search: renderSearch,
  tag: renderTagView,
  notifications: (v, g) => loadNotifications(g),
  people: loadPeople,
  notfound: renderNotFound,
};

// The route of a URL: {name, title (of the list), src (the list's API
// path, if it has a list), asc (oldest first), ...the URL's parameters}.
function routeOf(path, search) {
  const q = new URLSearchParams(search);
  let m;
  if (path === '/' || path === '/index.html') {
    return state.me ? { name: 'home', title: 'Home', src: '/api/feed' }
      : { name: 'global', title: 'Global timeline', src: '/api/tweet' };
  }
  if (path === '/global') return { name: 'global', title: 'Global timeline', src: '/api/tweet' };
  if ((m = path.match(/^\/u\/([A-Za-z0-9_]{1,30})\/(followers|following)\/?$/))) {
    return { name: 'people', user: m[1], rel: m[2], title: m[2] === 'followers' ? 'Followers' : 'Following' };
  }
  if ((m = path.match(/^\/u\/([A-Za-z0-9_]{1,30})\/?$/))) {
    return { name: 'profile', user: m[1], title: 'Posts', src: `/api/users/${encodeURIComponent(m[1])}/tweets` };
  }
  if ((m = path.match(/^\/t\/([0-9a-fA-F]{24})\/?$/))) {
    return { name: 'tweet', id: m[1], title: 'Post and replies', src: `/api/tweet/${m[1]}/replies`, asc: true };
  }
  if (path === '/search') {
    const text = (q.get('q') || '').trim();
    return { name: 'search', q: text, title: 'Posts', src: text ? withQuery('/api/search', { q: text, type: 'tweets' }) : null };
  }
  if ((m = path.match(/^\/tags\/([^/]+)\/?$/))) {
    let tag;
    try { tag = decodeURIComponent(m[1]); } catch (e) { tag = ''; }
    if (tag) return { name: 'tag', tag, title: `Posts with #${tag}`, src: `/api/tags/${encodeURIComponent(tag)}` };
  }
  if (path === '/notifications') return { name: 'notifications', title: 'Notifications' };
  return { name: 'notfound', title: 'Page not found' };
}

// Snapshots of the lists of history entries left: key -> {url, tweets,
// next, versions, scrollY}; the newest SNAPSHOTS kept.
const SNAPSHOTS = 30;
const snapshots = new Map();
let currentKey = '';
const newKey = () => `${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 8)}`;

function saveSnapshot() {
  const v = state.view;
  if (!v || !v.src || !state.tweets.length || !currentKey) return;
  snapshots.delete(currentKey);
  snapshots.set(currentKey, {
    url: v.url, tweets: state.tweets.slice(), next: state.next,
    versions: new Map(state.versions), scrollY: window.scrollY,
  });
  while (snapshots.size > SNAPSHOTS) snapshots.delete(snapshots.keys().next().value);
}

export function initRouter() {
  if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
  currentKey = (history.state && history.state.key) || newKey();
  history.replaceState({ key: currentKey }, '');
  document.addEventListener('click', onLinkClick);
  window.addEventListener('popstate', (e) => {
    saveSnapshot();
    currentKey = (e.state && e.state.key) || newKey();
    if (!e.state) history.replaceState({ key: currentKey }, '');
    hideMessage();
    renderRoute(false, snapshots.get(currentKey));
  });
}

// Same-origin app links are followed without a page load; modified clicks
// (new tab, middle click) and API links keep their normal behaviour.
function onLinkClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}

export function navigate(url) {
  saveSnapshot();
  if (url !== location.pathname + location.search) {
    currentKey = newKey();
    history.pushState({ key: currentKey }, '', url);
  }
  hideMessage();
  renderRoute(true);
}

// The title of a view (a profile's and a post's are made precise once
// they are loaded).
function titleOf(v) {
  if (v.name === 'home' || v.name === 'global') return `${v.title} · Chorus`;
  if (v.name === 'tag') return `#${v.tag} · Chorus`;
  if (v.name === 'search') return v.q ? `Search: ${v.q} · Chorus` : 'Search · Chorus';
  if (v.name === 'profile') return `@${v.user} · Chorus`;
  if (v.name === 'people') return `${v.title} of @${v.user} · Chorus`;
  if (v.name === 'tweet') return 'Post · Chorus';
  return `${v.title} · Chorus`;
}

// Show the view of the current URL: reset the list, draw the view's header, load.
// moved: reached by a link (scroll to the top, focus the view's heading);
// snap: the list as this history entry left it (Back, Forward).
export async function renderRoute(moved, snap) {
  const v = routeOf(location.pathname, location.search);
  v.url = location.pathname + location.search;
  newRoute();
  const g = routeGen();
  state.view = v;
  clearTimeline();
  const restore = Boolean(snap) && snap.url === v.url && Boolean(v.src);
  el.empty.textContent = v.name === 'tweet' ? 'No replies yet.' : 'No posts yet.';
  loadTrends();
  el.view.replaceChildren();
  el.feedTitle.textContent = v.title;
  el.compose.hidden = !state.me || !composes(v);
  el.feed.hidden = !v.src;
  document.title = titleOf(v);
  for (const [id, name] of [['navHome', 'home'], ['navGlobal', 'global'], ['navSearch', 'search'],
    ['navNotifications', 'notifications']]) {
    if (v.name === name && !(name === 'global' && location.pathname === '/')) el[id].setAttribute('aria-current', 'page');
    else el[id].removeAttribute('aria-current');
  }
  if (v.name === 'profile' && state.me && v.user.toLowerCase() === state.me.username.toLowerCase()) {
    el.navProfile.setAttribute('aria-current', 'page');
  } else el.navProfile.removeAttribute('aria-current');
  if (restore) {
    state.tweets = snap.tweets.filter((t) => !state.gone.has(String(t.id)));
    state.ids = new Set(state.tweets.map((t) => String(t.id)));
    state.next = snap.next;
    state.loaded = true;
    state.versions = snap.versions;
    renderTimeline();
  } else {
    renderFeedChrome();
    el.empty.hidden = true;
    syncSubscriptions();
  }
  if (moved) window.scrollTo(0, 0);

  const drawn = VIEWS[v.name]?.(v, g);
  if (moved) focusView();
  if (restore) {
    await drawn; // the view's header (a profile) is above the list
    if (g !== routeGen()) return;
    window.scrollTo(0, snap.scrollY);
    await loadNewest('reload');
  } else if (v.src) await loadNewest('init');
}

function renderNotFound() {
  el.view.append(h('div', { class: 'card notice' }, h('h2', { tabindex: '-1' }, 'Page not found'),
    h('p', null, h('a', { href: '/' }, 'Go to the home page'))));
}

function focusView() {
  const head = el.view.querySelector('h2') || (el.feed.hidden ? null : el.feedTitle);
  if (head) { if (!head.hasAttribute('tabindex')) head.setAttribute('tabindex', '-1'); head.focus({ preventScroll: true }); }
}
