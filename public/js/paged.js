/*
 * A list loaded page by page with a "Load more" button (people,
 * notifications, users found by a search).
 */
import { api, errorMessage, itemsOf, ok } from './api.js';
import { h } from './dom.js';
import { fail } from './session.js';
import { routeGen } from './state.js';

// Fills list with pages of url(before) (items rendered by render), and a
// "Load more" button under it while the answer has a next cursor.  Returns
// after the first page; false if it could not be loaded.  g is the route
// generation the list belongs to: answers that come back later are dropped.
export async function pagedList(list, url, render, emptyText, g) {
  const more = h('button', { type: 'button', class: 'btn ghost more-items', hidden: '' }, 'Load more');
  list.after(more);
  let next = null;
  const load = async () => {
    more.disabled = true;
    const r = await api('GET', url(next));
    if (g !== routeGen()) return false;
    more.disabled = false;
    if (!ok(r)) {
      if (!next) list.replaceChildren(h('li', { class: 'hint' }, errorMessage(r)));
      else fail(r);
      return false;
    }
    const items = itemsOf(r);
    if (!next && !items.length) list.replaceChildren(h('li', { class: 'hint' }, emptyText));
    else list.append(...items.map(render));
    next = r.data.next || null;
    more.hidden = !next;
    return true;
  };
  more.addEventListener('click', load);
  return load();
}
