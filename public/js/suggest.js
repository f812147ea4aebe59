/*
 * People to follow (GET /api/suggestions): the side column's "Who to
 * follow" box (#who), and the welcome a new account's empty home feed
 * shows instead of nothing: people to follow and the way to the global
 * timeline. A Follow button of either follows at once and says so; what
 * a follow changes in the feed is the follow hook's (main.js), so this
 * module needs nothing above it.
 */
import { api, itemsOf, ok } from './api.js';
import { el, h, renderUser, showMessage } from './dom.js';
import { fail } from './session.js';
import { routeGen, state } from './state.js';

let followed = () => {};

// fn(username) after a Follow button followed someone.
export function onSuggestionFollowed(fn) { followed = fn; }

// The side box: a few people, hidden when there are none.
export async function loadWho() {
  const who = state.me && state.me.username;
  const r = await api('GET', '/api/suggestions?limit=5');
  if (!ok(r) || (state.me && state.me.username) !== who) return;
  const items = itemsOf(r);
  el.whoList.replaceChildren(...items.map((u) => renderUser(u, Boolean(state.me))));
  el.who.hidden = items.length === 0;
}

// The home feed of someone who follows nobody yet (or whose people have
// not posted): a welcome with people to follow, in #view. g: the route's
// generation.
export async function renderOnboarding(g) {
  const list = h('ul', { class: 'users', 'aria-labelledby': 'welcome-people' });
  const card = h('section', { class: 'card onboarding', 'aria-labelledby': 'welcome-title' },
    h('h2', { id: 'welcome-title', tabindex: '-1' }, 'Welcome to Chorus'),
    h('p', null, 'Your home feed shows the posts of the people you follow, live. Start with a few of them, or ',
      h('a', { href: '/global', class: 'to-global' }, 'explore the global timeline'), ' to see everyone.'),
    h('h3', { id: 'welcome-people' }, 'People to follow'),
    list);
  el.view.append(card);
  el.empty.hidden = true;
  const r = await api('GET', '/api/suggestions?limit=8');
  if (g !== routeGen()) return;
  const items = itemsOf(r);
  if (!items.length) list.replaceWith(h('p', { class: 'hint' }, 'Nobody to suggest yet: be the first to post.'));
  else list.replaceChildren(...items.map((u) => renderUser(u, true)));
}

// A Follow button of a suggestion (data-user): follows, then says so.
export async function followSuggested(btn) {
  const name = btn.dataset.user;
  if (!name || btn.getAttribute('aria-pressed') === 'true') return;
  btn.disabled = true;
  const r = await api('POST', `/api/users/${encodeURIComponent(name)}/follow`);
  btn.disabled = false;
  if (!ok(r)) { fail(r); return; }
  for (const b of document.querySelectorAll(`button[data-action=follow-user][data-user="${CSS.escape(name)}"]`)) {
    b.setAttribute('aria-pressed', 'true');
    b.classList.add('ghost');
    b.textContent = 'Following';
    b.setAttribute('aria-label', `Following @${name}`);
  }
  showMessage(`You follow @${r.data.username}.`, 'info');
  followed(r.data.username);
}
