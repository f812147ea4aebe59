// A populated Chorus: people with names, bios and a few posts each, who
// follow one another, a conversation (a post, replies and replies to
// them), likes, reposts and a quote, hashtags, mentions, links and a post
// in Arabic; most people have an avatar, two a header image, and some
// posts have one to four images (drawn by images.mjs). All through the
// public API (docs/API.md), as people would write it. The browser test (spa.test.mjs) seeds it before its
// screenshots, so the README shows a realistic instance rather than test
// payloads; on its own:
//
//   node tests/e2e/seed.mjs http://localhost:8080
//
// seeds the server given (scripts/run.sh's) and prints the people and
// their password. Usernames that are taken get a suffix.

import { avatarImage, headerImage, jupiter, lagoon, neon, palette, pasta } from './images.mjs';

export const PASSWORD = 'chorus demo 2026';

const PEOPLE = [
  ['maya', 'Maya Okafor', 'Urban ecologist in Lagos. Birds, bikes and rooftop gardens.'],
  ['tomas', 'Tomás Ferreira', 'Backend engineer. Coffee, C and long walks by the river.'],
  ['lena', 'Lena Fischer', 'Product designer in Berlin. Typography nerd, plant parent.'],
  ['arjun', 'Arjun Mehta', 'Amateur astronomer, full-time dad, part-time telescope mechanic.'],
  ['sofia', 'Sofia Rossi', 'Chef at a tiny trattoria in Bologna. Pasta opinions included.'],
  ['kenji', 'Kenji Watanabe', 'Photographer. Trains, rain and neon.'],
  ['amara', 'Amara Diallo', 'Climate reporter. Tips welcome, DMs open.'],
  ['layla', 'ليلى حداد', 'مصممة جرافيك من بيروت. القهوة أولاً.'],
];

// Pictures: an avatar (avatarImage's n) and a header (headerImage's n);
// amara and layla keep the drawn avatar.
const AVATARS = { maya: 0, tomas: 1, lena: 2, kenji: 3, sofia: 5, arjun: 4 };
const HEADERS = { maya: 0, lena: 1 };

// Who follows whom (by username).
const FOLLOWS = {
  maya: ['tomas', 'lena', 'arjun', 'sofia', 'kenji'],
  tomas: ['maya', 'lena', 'arjun'],
  lena: ['maya', 'kenji', 'layla', 'sofia'],
  arjun: ['maya', 'tomas', 'amara'],
  sofia: ['maya', 'lena', 'kenji'],
  kenji: ['maya', 'lena', 'sofia'],
  amara: ['maya', 'arjun', 'tomas'],
  layla: ['lena', 'maya'],
};

async function call(base, method, path, body, cookie) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined || method !== 'GET') headers['Content-Type'] = 'application/json';
  if (cookie) headers.Cookie = cookie;
  const res = await fetch(`${base}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  const set = res.headers.getSetCookie ? res.headers.getSetCookie() : [];
  const session = set.map((c) => c.split(';')[0]).find((c) => c.startsWith('chorus_session='));
  return { status: res.status, data, session };
}

// Uploads the PNG bytes as name (POST /api/media) with its alt text;
// the upload's id. Sent again (up to twice) when the connection fails
// without an answer: a kept-alive connection the server closed meanwhile
// (it closes the longest idle of an address that reaches its cap of
// connections, docs/OPERATIONS.md) fails as the body is written.
async function upload(base, cookie, bytes, name, alt = '') {
  const send = () => {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: 'image/png' }), name);
    if (alt) form.append('alt', alt);
    return fetch(`${base}/api/media`, { method: 'POST', headers: { Cookie: cookie, Origin: base }, body: form });
  };
  const res = await send().catch(send).catch(send);
  const data = await res.json().catch(() => null);
  if (res.status !== 201) throw new Error(`seed: cannot upload ${name}: ${res.status} ${JSON.stringify(data)}`);
  return data.id;
}

// Seeds base (a server's URL). suffix: appended to usernames that are
// taken. Returns {people: {maya: {username, cookie, display_name}, ...},
// posts: {name: id}, conversation: id of its first post}.
export async function seed(base, suffix = Date.now().toString(36).slice(-4)) {
  // Every picture drawn first: the requests then follow one another.
  const pic = {
    avatar: Object.fromEntries(Object.entries(AVATARS).map(([name, n]) => [name, avatarImage(n)])),
    header: Object.fromEntries(Object.entries(HEADERS).map(([name, n]) => [name, headerImage(n)])),
    pasta: pasta(), jupiter: jupiter(), lagoon: lagoon(),
    palettes: [0, 1, 2].map((n) => palette(n)), neon: [0, 0.4, 0.8, 0.2].map((hue) => neon(hue)),
  };
  const people = {};
  for (const [name, display, bio] of PEOPLE) {
    let username = name;
    let r = await call(base, 'POST', '/api/register', { username, password: PASSWORD });
    if (r.status === 409) {
      username = `${name}_${suffix}`;
      r = await call(base, 'POST', '/api/register', { username, password: PASSWORD });
    }
    if (r.status !== 201) throw new Error(`seed: cannot register ${username}: ${r.status} ${JSON.stringify(r.data)}`);
    const cookie = r.session;
    const pictures = {};
    if (pic.avatar[name]) pictures.avatar = await upload(base, cookie, pic.avatar[name], 'avatar.png');
    if (pic.header[name]) pictures.header = await upload(base, cookie, pic.header[name], 'header.png');
    const p = await call(base, 'PATCH', '/api/me', { display_name: display, bio, ...pictures }, cookie);
    if (p.status !== 200) throw new Error(`seed: cannot set ${username}'s profile: ${p.status}`);
    people[name] = { username, cookie, display_name: display };
  }
  const as = (name) => people[name].cookie;
  const at = (name) => `@${people[name].username}`;
  const posts = {};
  // The ids of images uploaded by name: [[png bytes, alt text], ...], one
  // at a time (a server takes a few uploads at once: 503 busy).
  const images = async (name, list) => {
    const ids = [];
    for (const [i, [bytes, alt]] of list.entries()) ids.push(await upload(base, as(name), bytes, `photo-${i + 1}.png`, alt));
    return ids;
  };
  const post = async (key, name, text, extra = {}) => {
    const r = await call(base, 'POST', '/api/tweet', { text, ...extra }, as(name));
    if (r.status !== 201) throw new Error(`seed: ${name} cannot post: ${r.status} ${JSON.stringify(r.data)}`);
    posts[key] = r.data.id;
    return r.data.id;
  };
  for (const [who, list] of Object.entries(FOLLOWS)) {
    for (const whom of list) {
      const r = await call(base, 'POST', `/api/users/${people[whom].username}/follow`, undefined, as(who));
      if (r.status !== 200) throw new Error(`seed: ${who} cannot follow ${whom}: ${r.status}`);
    }
  }

  // Older posts first: the newest ends up on top.
  await post('amara1', 'amara', 'New report out today: how three West African cities are adapting their drainage to heavier rain. Thread and full text: https://example.org/reports/rain-ready-cities #climate');
  await post('sofia1', 'sofia', 'Fresh tagliatelle, butter, sage, a little lemon zest. That is the whole recipe. Do not let anyone tell you otherwise. #pasta',
    { media: await images('sofia', [[pic.pasta, 'A nest of tagliatelle on a white plate with three sage leaves, on a wooden table.']]) });
  await post('kenji1', 'kenji', 'Last train out of Shinjuku, rain on the window, everyone quiet. Some nights the city feels like a held breath. #photography');
  await post('layla1', 'layla', 'صباح الخير من بيروت ☕️ أعمل اليوم على هوية بصرية جديدة لمخبز صغير في الحي. #تصميم',
    { media: await images('layla', [[pic.palettes[0], 'لوحة ألوان: أزرق داكن وأخضر مزرق وأصفر وبرتقالي وأحمر'],
      [pic.palettes[1], 'لوحة ألوان ثانية بدرجات هادئة'], [pic.palettes[2], 'لوحة ألوان ثالثة']]) });
  await post('arjun1', 'arjun', 'Clear skies tonight! Jupiter and three of its moons through the 8-inch, my daughter named them all after her cats. #astronomy',
    { media: await images('arjun', [[pic.jupiter, 'Jupiter, banded in cream and rust, with three small moons in a line to its right.']]) });
  await post('tomas1', 'tomas', `Rewrote our feed cache this week: 40% fewer database reads and the p99 finally under 20 ms. ${at('lena')} the new loading state you designed hides the rest ✨`);
  await post('lena1', 'lena', 'Hot take: a good empty state is worth more than a good onboarding flow. Show people what to do, not what they are missing. #design');

  // The conversation.
  const first = await post('conv', 'maya', 'Saw a malachite kingfisher on the lagoon this morning, first one this year 🐦 Anyone else out #birding this weekend?',
    { media: await images('maya', [[pic.lagoon, 'The lagoon at sunrise: the sun low over dark hills, its light on the water, an old jetty on the left.']]) });
  const t1 = await post('conv_r1', 'tomas', `${at('maya')} Jealous! Only pigeons on my balcony. Which part of the lagoon?`, { reply_to: first });
  await post('conv_r2', 'maya', `${at('tomas')} The boardwalk near the old jetty, just after sunrise. Bring binoculars and patience.`, { reply_to: first });
  await post('conv_r2b', 'tomas', `${at('maya')} Deal. Binoculars ordered 😄`, { reply_to: t1 });
  await post('conv_r3', 'arjun', `${at('maya')} Beautiful. We will try the jetty on Sunday, my kids have been asking to see "the blue bird" for weeks.`, { reply_to: first });
  await post('conv_r4', 'amara', `${at('maya')} Lovely. Mind if I quote this in a piece on urban wetlands? The lagoon keeps surprising people.`, { reply_to: first });

  await post('kenji2', 'kenji', `Printing the rain series this week. 12 photos, one wall. Thanks ${at('lena')} for helping me pick the sequence.`,
    { media: await images('kenji', [[pic.neon[0], 'Pink and cyan neon signs blurred by rain at night.'],
      [pic.neon[1], 'Yellow and violet neon over a wet street.'], [pic.neon[2], 'Green and orange lights through falling rain.'],
      [pic.neon[3], 'Neon reflections on a puddle.']]) });
  await post('quote1', 'lena', 'This is exactly why I keep a notebook by the window.', { quote_of: first });
  await post('sofia2', 'sofia', `Tonight's special: risotto with the last of the wild asparagus. ${at('maya')} there is a table for you if you bring kingfisher stories.`);

  // Likes and reposts.
  const likes = {
    conv: ['tomas', 'lena', 'arjun', 'sofia', 'kenji', 'amara'],
    conv_r2: ['tomas', 'arjun'],
    lena1: ['maya', 'tomas', 'kenji', 'layla'],
    arjun1: ['maya', 'amara', 'tomas'],
    kenji1: ['lena', 'sofia', 'maya'],
    sofia1: ['maya', 'kenji'],
    amara1: ['maya', 'arjun'],
    tomas1: ['lena'],
  };
  for (const [key, names] of Object.entries(likes)) {
    for (const name of names) await call(base, 'POST', `/api/tweet/${posts[key]}/like`, undefined, as(name));
  }
  for (const [key, name] of [['amara1', 'maya'], ['conv', 'lena'], ['kenji1', 'sofia'], ['lena1', 'tomas']]) {
    await call(base, 'POST', `/api/tweet/${posts[key]}/repost`, undefined, as(name));
  }
  return { people, posts, conversation: first };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = (process.argv[2] || '').replace(/\/$/, '');
  if (!base) {
    console.error('usage: node tests/e2e/seed.mjs http://localhost:8080');
    process.exit(2);
  }
  const r = await seed(base);
  console.log(`seeded ${base}: ${Object.values(r.people).map((p) => `@${p.username}`).join(' ')} (password "${PASSWORD}")`);
}
