/*
 * The people pages: /u/<name>/followers and /u/<name>/following.
 */
import { PAGE, withQuery } from './api.js';
import { el, h, renderUser, userHref } from './dom.js';
import { pagedList } from './paged.js';

export async function loadPeople(v, g) {
  const list = h('ul', { class: 'users', 'aria-labelledby': 'people-title' });
  el.view.append(h('div', { class: 'card' },
    h('h2', { id: 'people-title', tabindex: '-1' }, v.rel === 'followers' ? `People following @${v.user}` : `People @${v.user} follows`),
    h('p', null, h('a', { href: userHref(v.user) }, `Back to @${v.user}`)),
    list));
  document.title = `${v.title} of @${v.user} · Chorus`;
  await pagedList(list, (before) => withQuery(`/api/users/${encodeURIComponent(v.user)}/${v.rel}`, { limit: PAGE, before }),
    renderUser, v.rel === 'followers' ? 'No followers yet.' : 'Not following anyone yet.', g);
}
