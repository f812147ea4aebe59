/*
 * Hashtags: the tag page's header (/tags/<tag>; its posts are the
 * timeline, which feed.js loads and timeline.js keeps live) and the
 * trends box (#trends): the tags used by the most people in the last 24
 * hours, loaded with GET /api/trends and replaced by each live `trends`
 * message.
 */
import { api, ok } from './api.js';
import { el, h, tagHref } from './dom.js';

export function renderTagView(v) {
  el.view.append(h('div', { class: 'card tag-head' },
    h('h2', { tabindex: '-1' }, `#${v.tag}`),
    h('p', { class: 'hint' }, 'Posts with this tag, newest first; new ones appear as they are posted.')));
}

// The trends box shows items ({tag, count}), hidden when there are none.
export function renderTrends(items) {
  const list = Array.isArray(items) ? items : [];
  el.trendsList.replaceChildren(...list.map((t) => h('li', null,
    h('a', { href: tagHref(t.tag) }, `#${t.tag}`), ' ',
    h('span', { class: 'hint' }, `${t.count} ${t.count === 1 ? 'person' : 'people'}`))));
  el.trends.hidden = list.length === 0;
}

export async function loadTrends() {
  const r = await api('GET', '/api/trends');
  if (ok(r)) renderTrends(r.data && r.data.items);
}
