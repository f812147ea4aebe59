// Chorus browser end-to-end test: the single-page app in public/, driven by
// headless Chromium through playwright-core, with two users on two servers
// (and a third through the API). axe-core checks the main views and the
// dialogs for WCAG 2.1 A/AA violations.
//
//   CHORUS_TEST_URL_A=... CHORUS_TEST_URL_B=... node tests/e2e/spa.test.mjs
//
// Normally run by ctest (test e2e.spa, label e2e) from scripts/test.sh.
// Environment: CHORUS_TEST_URL_A, CHORUS_TEST_URL_B (required),
//   CHORUS_CHROMIUM (default /usr/bin/chromium).
// Writes screenshots of the main views to var/e2e-screenshots/*.png, or to
// CHORUS_E2E_SHOTS_DIR (docs/screenshots to refresh the README's pictures).
// Last line: "e2e: N passed, M failed"; exit status 1 on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = resolve(ROOT, process.env.CHORUS_E2E_SHOTS_DIR || join('var', 'e2e-screenshots'));
const URL_A = (process.env.CHORUS_TEST_URL_A || '').replace(/\/$/, '');
const URL_B = (process.env.CHORUS_TEST_URL_B || '').replace(/\/$/, '');
const CHROMIUM = process.env.CHORUS_CHROMIUM || '/usr/bin/chromium';
const WAIT = 10_000; // every explicit wait
const AXE_SRC = readFileSync(join(ROOT, 'tests', 'e2e', 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

let passed = 0;
let failed = 0;
const finish = (code) => {
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  process.exit(code);
};
if (!URL_A || !URL_B) {
  console.error('e2e: CHORUS_TEST_URL_A and CHORUS_TEST_URL_B must be set (run scripts/test.sh)');
  failed++;
  finish(1);
}

const sfx = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`.slice(-8);
const USER_A = `ea_${sfx}`;
const USER_B = `eb_${sfx}`;
const WORD = `zebra${sfx}`; // unique search word
const XSS = '<img src=x onerror="window.__xss=1">';

// Console errors that are expected: /api/me answers 401 when logged out,
// there is no favicon, and a reply's deleted parent is a 404.
const errors = [];
function watch(page, tag) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url || '';
    const text = m.text();
    if (/\/api\/me(\?|$)/.test(url) && /401/.test(text)) return;
    if (/favicon\.ico/.test(url) && /404/.test(text)) return;
    // "Replying to @x" looks the parent up; a deleted parent is a 404 the
    // page handles (it says so). Other tests sharing the database leave
    // replies to deleted tweets on the timeline.
    if (/\/api\/tweet\/[0-9a-f]{24}$/.test(url) && /404/.test(text)) return;
    errors.push(`${tag} console error: ${text} @ ${url}`);
  });
  page.on('pageerror', (e) => errors.push(`${tag} page error: ${e.message}`));
  page.on('dialog', (d) => d.accept()); // delete confirmation
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    throw e;
  }
}
const assert = (cond, msg) => { if (!cond) throw new Error(`assertion failed: ${msg}`); };

const waitLive = (page) => page.waitForFunction(
  () => document.querySelector('#live-status')?.textContent === 'Live', null, { timeout: WAIT });
const tweetLi = (page, text) => page.locator('#timeline li.tweet', { has: page.locator('.text', { hasText: text }) });
async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

// axe-core on the page as it is now: no WCAG 2.1 A/AA violation. The
// script is evaluated through the DevTools protocol (the page's CSP allows
// no injected <script>).
async function axeClean(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SRC);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ${
      v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  assert(found.length === 0, `${what}: axe found\n  ${found.join('\n  ')}`);
}

async function register(page, base, name) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#auth:not([hidden])');
  await page.fill('#auth-user', name);
  await page.fill('#auth-pass', 'tinfoil kazoo 42');
  await page.click('#register');
  await page.waitForSelector('#compose:not([hidden])');
  await page.waitForFunction((n) => document.querySelector('#me-name')?.textContent.includes(n), name);
  await waitLive(page);
}

// Posts text from the compose form; shown: what the list shows of it
// (the text, unless it has a URL the page shortens).
async function post(page, text, shown = text) {
  await page.fill('#compose-text', text);
  await page.click('#post');
  await tweetLi(page, shown).first().waitFor();
}

// The client's ES modules (public/js), read from the files: all of them,
// those reachable from main.js through static imports, and an import
// cycle if there is one (the modules are layered: none imports back).
const JS_DIR = join(ROOT, 'public', 'js');
function moduleGraph() {
  const files = readdirSync(JS_DIR).filter((f) => f.endsWith('.js')).sort();
  const done = new Set();
  const open = [];
  let cycle = null;
  const visit = (f) => {
    if (open.includes(f)) { cycle ??= open.slice(open.indexOf(f)).concat(f).join(' -> '); return; }
    if (done.has(f)) return;
    open.push(f);
    const src = readFileSync(join(JS_DIR, f), 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+'\.\/([\w-]+\.js)'/gm)) visit(m[1]);
    open.pop();
    done.add(f);
  };
  visit('main.js');
  return { files, reached: [...done].sort(), cycle };
}

let browser;
try {
  mkdirSync(SHOTS, { recursive: true });
  // launch() gives Chromium a fresh temporary --user-data-dir (removed on close).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-dev-shm-usage'],
  });
  const ctxA = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const ctxB = await browser.newContext({ viewport: { width: 900, height: 900 } });
  for (const c of [ctxA, ctxB]) { c.setDefaultTimeout(WAIT); c.setDefaultNavigationTimeout(WAIT * 2); }
  const pa = await ctxA.newPage(); watch(pa, 'A');
  const pb = await ctxB.newPage(); watch(pb, 'B');

  await step('the page loads its ES modules: JavaScript Content-Type, no errors', async () => {
    const { files, reached, cycle } = moduleGraph();
    assert(JSON.stringify(files) === JSON.stringify(reached),
      `public/js has modules main.js does not import (${files.filter((f) => !reached.includes(f))})`);
    assert(!cycle, `import cycle: ${cycle}`);
    const got = new Map(); // file -> "status content-type"
    const onResponse = (res) => {
      const m = /\/js\/([\w-]+\.js)$/.exec(new URL(res.url()).pathname);
      if (m) got.set(m[1], `${res.status()} ${res.headers()['content-type'] || ''}`);
    };
    pa.on('response', onResponse);
    await pa.goto(`${URL_A}/`);
    await pa.waitForSelector('#auth:not([hidden])');
    pa.off('response', onResponse);
    for (const f of files) {
      const r = got.get(f);
      assert(r, `/js/${f} was not fetched`);
      assert(/^200 (text|application)\/javascript\b/.test(r), `/js/${f}: ${r}`);
    }
    const preloads = await pa.$$eval('link[rel=modulepreload]', (ls) => ls.map((l) => l.getAttribute('href')));
    const want = files.filter((f) => f !== 'main.js').map((f) => `/js/${f}`);
    assert(JSON.stringify(preloads.slice().sort()) === JSON.stringify(want),
      `index.html's modulepreload links ${preloads} are not the modules ${want}`);
    assert(errors.length === 0, `\n  ${errors.join('\n  ')}`);
  });

  await step('register user A on server A and user B on server B', async () => {
    await register(pa, URL_A, USER_A);
    await register(pb, URL_B, USER_B);
  });

  await step('B follows A from A\'s profile page', async () => {
    await pb.goto(`${URL_B}/u/${USER_A}`);
    await pb.waitForSelector('.profile h2');
    await pb.click('[data-action=follow]');
    await pb.waitForSelector('[data-action=follow][aria-pressed=true]');
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await waitLive(pb);
  });

  const T1 = `first post ${WORD}`;
  // The causal token (chorus_seen): set by the server on each write's answer
  // and raised by the page from every live event.
  const seenOf = async (ctx) =>
    Number((await ctx.cookies()).find((c) => c.name === 'chorus_seen')?.value || 0);
  await step('A posts; B\'s home feed shows it live', async () => {
    const before = await seenOf(ctxB);
    await post(pa, T1);
    await tweetLi(pb, T1).waitFor({ timeout: WAIT });
    assert(pb.url() === `${URL_B}/`, `B was not reloaded away from home (${pb.url()})`);
    const a = await seenOf(ctxA), b = await seenOf(ctxB);
    assert(a > 0, 'A\'s post set no chorus_seen cookie');
    assert(b > before, `B's chorus_seen did not rise with the live event (${before} -> ${b})`);
  });

  await step('B likes it; A\'s page shows the like count', async () => {
    await tweetLi(pb, T1).locator('[data-action=like]').click();
    await tweetLi(pb, T1).locator('[data-action=like][aria-pressed=true]').waitFor();
    await tweetLi(pa, T1).locator('.stats', { hasText: '1 like' }).waitFor();
  });

  await step('B replies on the tweet page; A\'s reply count changes', async () => {
    await tweetLi(pb, T1).locator('a.replies').click();
    await pb.waitForURL(/\/t\/[0-9a-f]{24}$/);
    await pb.waitForSelector('#timeline li.focus');
    await pb.fill('#reply-text', `a reply from bob ${WORD}`);
    await pb.click('.reply-box button[type=submit]');
    await tweetLi(pb, 'a reply from bob').waitFor();
    await pb.locator('#timeline li.focus .replies', { hasText: '1 reply' }).waitFor();
    await tweetLi(pa, T1).locator('.stats', { hasText: '1 reply' }).waitFor();
    await shot(pb, 'tweet');
  });

  await step('back and forward navigation', async () => {
    const tweetUrl = pb.url();
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, T1).waitFor();
    await pb.goForward();
    await pb.waitForURL(tweetUrl);
    await pb.waitForSelector('#timeline li.focus');
    await tweetLi(pb, 'a reply from bob').waitFor();
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, T1).waitFor();
    await waitLive(pb);
  });

  const T1E = `edited post ${WORD}`;
  await step('A edits the tweet; B sees the new text', async () => {
    const li = tweetLi(pa, T1);
    await li.locator('[data-action=edit]').click();
    await li.locator('.editor textarea').fill(T1E);
    await li.locator('.editor button[type=submit]').click();
    await tweetLi(pa, T1E).waitFor();
    await tweetLi(pb, T1E).waitFor();
    await tweetLi(pb, T1).filter({ hasNotText: T1E }).waitFor({ state: 'detached' });
  });

  await step('A deletes the tweet; it disappears from B\'s page', async () => {
    await tweetLi(pa, T1E).locator('[data-action=delete]').click();
    await tweetLi(pa, T1E).waitFor({ state: 'detached' });
    await tweetLi(pb, T1E).waitFor({ state: 'detached' });
  });

  // ---- conversation: entities, reposts, quotes, edit history, tags ----
  const TAG = `Chorus${sfx}`;
  const LONG_URL = `https://example.org/a/long/path/${sfx}/that/the/page/shortens`;
  const TE = `hello @${USER_B} #${TAG} ${LONG_URL}`;
  await step('entities are links: a mention, a hashtag, a shortened URL', async () => {
    await post(pa, TE, `hello @${USER_B}`);
    const li = tweetLi(pb, `hello @${USER_B}`);
    await li.waitFor();
    const got = await li.evaluate((n) => {
      const a = (sel) => n.querySelector(`.text ${sel}`);
      return {
        mention: a('a.mention')?.getAttribute('href'),
        tag: a('a.hashtag')?.getAttribute('href'),
        url: a('a.url')?.getAttribute('href'),
        rel: a('a.url')?.getAttribute('rel'),
        shown: a('a.url')?.textContent,
        text: n.querySelector('.text').textContent,
      };
    });
    assert(got.mention === `/u/${USER_B}`, `mention links to ${got.mention}`);
    assert(got.tag === `/tags/${TAG.toLowerCase()}`, `hashtag links to ${got.tag}`);
    assert(got.url === LONG_URL, `URL links to ${got.url}`);
    assert(got.rel === 'noopener noreferrer nofollow', `URL rel is ${got.rel}`);
    assert(got.shown.endsWith('…') && got.shown.length < LONG_URL.length, `URL shown as ${got.shown}`);
    assert(got.text.startsWith(`hello @${USER_B} #${TAG} `), `text shown as ${got.text}`);
    await axeClean(pb, 'home with entity links');
  });

  await step('a quote: B quotes A\'s post in a dialog; A sees the count', async () => {
    const li = tweetLi(pb, `hello @${USER_B}`);
    await li.locator('[data-action=quote]').click();
    const dialog = pb.locator('dialog[open]');
    await dialog.waitFor();
    assert(await pb.evaluate(() => document.activeElement?.tagName) === 'TEXTAREA', 'focus is not in the quote form');
    await dialog.locator('.quote', { hasText: `#${TAG}` }).waitFor();
    await axeClean(pb, 'the quote dialog');
    await dialog.locator('textarea').fill(`so true ${WORD}`);
    await dialog.locator('button[type=submit]').click();
    await dialog.waitFor({ state: 'detached' });
    const quote = tweetLi(pb, `so true ${WORD}`);
    await quote.locator('.quote', { hasText: `hello @${USER_B}` }).waitFor();
    await tweetLi(pa, `hello @${USER_B}`).locator('.stats', { hasText: '1 quote' }).waitFor();
  });

  await step('the edit history: A edits; B opens "(edited)" with the keyboard', async () => {
    const li = tweetLi(pa, `hello @${USER_B}`);
    await li.locator('[data-action=edit]').click();
    await li.locator('.editor textarea').fill(`${TE} (fixed)`);
    await li.locator('.editor button[type=submit]').click();
    const edited = tweetLi(pb, '(fixed)').locator('[data-action=history]');
    await edited.waitFor();
    await edited.focus();
    await pb.keyboard.press('Enter');
    const dialog = pb.locator('dialog[open]');
    await dialog.locator('.history li').nth(1).waitFor();
    const versions = await dialog.locator('.history li .text').allTextContents();
    assert(versions.length === 2 && versions[0].endsWith('(fixed)') && versions[1] === TE,
      `history shows ${JSON.stringify(versions)}`);
    await dialog.locator('.current').first().waitFor();
    await axeClean(pb, 'the edit history dialog');
    await pb.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert(await pb.evaluate(() => document.activeElement?.dataset.action) === 'history',
      'focus did not return to the "(edited)" button');
  });

  await step('reposts: A reposts C\'s post; B sees it "reposted by" A, live', async () => {
    // C posts through the API only; A finds the post on the global timeline.
    const ctxC = await browser.newContext();
    const userC = `ec_${sfx}`;
    const asC = (path, data) => ctxC.request.post(`${URL_A}${path}`, { data, headers: { Origin: URL_A } });
    assert((await asC('/api/register', { username: userC, password: 'tinfoil kazoo 42' })).status() === 201,
      'C could not register');
    const TC = `carol's post ${WORD}`;
    const made = await asC('/api/tweet', { text: TC });
    assert(made.status() === 201, 'C could not post');
    const cid = (await made.json()).id;
    await pa.click('#nav-global');
    await pa.waitForURL(`${URL_A}/global`);
    const onA = tweetLi(pa, TC);
    await pb.evaluate(() => window.scrollTo(0, 0)); // new items go on top
    await onA.locator('[data-action=repost]').click();
    await onA.locator('[data-action=repost][aria-pressed=true]', { hasText: '1 repost' }).waitFor();
    const onB = tweetLi(pb, TC);
    await onB.locator('.reposted-by', { hasText: 'reposted' }).waitFor();
    // C edits the post: B's item takes the new text and stays a repost.
    const put = await ctxC.request.put(`${URL_A}/api/tweet/${cid}`,
      { data: { text: `${TC} (edited)` }, headers: { Origin: URL_A } });
    assert(put.status() === 200, 'C could not edit');
    await tweetLi(pb, `${TC} (edited)`).locator('.reposted-by').waitFor();
    await axeClean(pb, 'home with a repost');
    // A undoes it: the item leaves B's feed.
    await onA.locator('[data-action=repost]').click();
    await onA.locator('[data-action=repost][aria-pressed=false]').waitFor();
    await tweetLi(pb, TC).waitFor({ state: 'detached' });
    await ctxC.close();
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await waitLive(pa);
  });

  await step('a tag page: B follows the hashtag link; new posts come live', async () => {
    await tweetLi(pb, '(fixed)').locator('a.hashtag').click();
    await pb.waitForURL(`${URL_B}/tags/${TAG.toLowerCase()}`);
    await pb.locator('#view h2', { hasText: `#${TAG.toLowerCase()}` }).waitFor();
    await tweetLi(pb, '(fixed)').waitFor();
    await waitLive(pb);
    const TT = `another #${TAG.toUpperCase()} post ${WORD}`;
    await post(pa, TT);
    await tweetLi(pb, TT).waitFor();
    assert(await pb.locator('#trends:not([hidden]) a[href^="/tags/"]').count() > 0, 'no trends box');
    await axeClean(pb, 'the tag page');
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await waitLive(pb);
  });

  await step('XSS payload in a display name and a tweet renders as text', async () => {
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
    await pa.click('.edit-profile summary');
    await pa.fill('#pf-name', XSS);
    await pa.click('.profile-form button[type=submit]');
    await pa.locator('.profile h2', { hasText: XSS }).waitFor();
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await waitLive(pa);
    const TX = `xss ${WORD} ${XSS}`;
    await post(pa, TX);
    const li = tweetLi(pb, TX);
    await li.waitFor();
    await li.locator('a.name', { hasText: XSS }).waitFor();
    for (const [tag, page] of [['A', pa], ['B', pb]]) {
      const r = await tweetLi(page, TX).evaluate((n) => ({
        imgs: n.querySelectorAll('img').length,
        text: n.querySelector('.text').textContent,
        name: n.querySelector('a.name').textContent,
      }));
      assert(r.imgs === 0, `${tag}: <img> element created inside the tweet`);
      assert(r.text === TX, `${tag}: tweet text shown as "${r.text}"`);
      assert(r.name === XSS, `${tag}: display name shown as "${r.name}"`);
      assert(await page.locator('.profile h2 img, .profile img[src=x], img[src=x]').count() === 0,
        `${tag}: an <img src=x> exists in the page`);
      assert(await page.evaluate(() => window.__xss) === undefined, `${tag}: window.__xss is set`);
    }
    await shot(pb, 'home');
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await tweetLi(pa, TX).waitFor();
    assert(await pa.locator('.profile h2').textContent() === XSS, 'A: profile name not shown as text');
    assert(await pa.locator('.profile img, #timeline img').count() === 0, 'A: <img> on the profile page');
    assert(await pa.evaluate(() => window.__xss) === undefined, 'A: window.__xss is set on the profile');
    await axeClean(pa, 'profile');
    await shot(pa, 'profile');
  });

  await step('search finds a tweet by a word', async () => {
    await pb.click('#nav-search');
    await pb.waitForURL(/\/search/);
    await pb.fill('#search-q', WORD);
    await pb.press('#search-q', 'Enter');
    await pb.waitForURL(/\/search\?q=/);
    await tweetLi(pb, `xss ${WORD}`).waitFor();
    await tweetLi(pb, 'a reply from bob').waitFor();
    assert(await pb.evaluate(() => window.__xss) === undefined, 'B: window.__xss is set on search');
    await axeClean(pb, 'search');
    await shot(pb, 'search');
  });

  await step('A\'s notifications list the follow, like and reply', async () => {
    await pa.click('#nav-notifications');
    await pa.waitForURL(`${URL_A}/notifications`);
    await pa.locator('#notes li.note', { hasText: 'replied to your post' }).waitFor();
    await pa.locator('#notes li.note', { hasText: 'liked your post' }).waitFor();
    await pa.locator('#notes li.note', { hasText: 'quoted your post' }).waitFor();
    await axeClean(pa, 'notifications');
    await shot(pa, 'notifications');
    await pa.goBack();
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
  });

  await step('A\'s followers page lists B; B\'s following page lists A', async () => {
    await pa.click('.profile .counts a[href$="/followers"]');
    await pa.waitForURL(`${URL_A}/u/${USER_A}/followers`);
    await pa.locator('ul.users li.user', { hasText: `@${USER_B}` }).waitFor();
    await pa.goto(`${URL_A}/u/${USER_B}/following`);
    await pa.locator('ul.users li.user', { hasText: `@${USER_A}` }).waitFor();
    await pa.click(`ul.users li.user a.name`);
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await pa.waitForSelector('.profile h2');
  });

  await step('A changes the password: A\'s other session (on B) is logged out live', async () => {
    const ctxA2 = await browser.newContext({ viewport: { width: 900, height: 900 } });
    ctxA2.setDefaultTimeout(WAIT);
    const pa2 = await ctxA2.newPage(); watch(pa2, 'A2');
    // Closed with CLOSE.SESSION_ENDED, the page logs out without trying
    // to connect again (a reconnect would be refused, then /api/me asked).
    let sockets = 0;
    pa2.on('websocket', () => { sockets++; });
    const login = async (password) => {
      sockets = 0;
      await pa2.goto(`${URL_B}/`);
      await pa2.waitForSelector('#auth:not([hidden])');
      await pa2.fill('#auth-user', USER_A);
      await pa2.fill('#auth-pass', password);
      await pa2.click('#login');
      await pa2.waitForSelector('#compose:not([hidden])');
      await waitLive(pa2);
    };
    const loggedOut = async () => {
      await pa2.waitForSelector('#auth:not([hidden])');
      await pa2.locator('#msg-text', { hasText: 'Your session ended' }).waitFor();
      assert(sockets === 1, `A2: ${sockets} WebSockets opened for one session`);
    };
    await login('tinfoil kazoo 42');
    await pa.click('.account summary');
    await pa.fill('#pw-current', 'tinfoil kazoo 42');
    await pa.fill('#pw-new', 'marimba zest 77');
    await pa.click('.password-form button[type=submit]');
    await pa.locator('#msg-text', { hasText: 'Password changed' }).waitFor();
    await loggedOut();
    assert(await pa.locator('#me-name').textContent() === `@${USER_A}`, 'A: logged out by its own password change');
    await waitLive(pa);
    // The new password logs in; "Log out other sessions" ends that session too.
    await login('marimba zest 77');
    await pa.click('[data-action=end-sessions]');
    await pa.locator('#msg-text', { hasText: 'other sessions are logged out' }).waitFor();
    await loggedOut();
    await shot(pa, 'account');
    await ctxA2.close();
  });

  await step('no unexpected console errors', async () => {
    assert(errors.length === 0, `\n  ${errors.join('\n  ')}`);
  });
} catch (e) {
  if (failed === 0) { failed++; console.log(`FAIL setup: ${e && e.stack ? e.stack : e}`); }
  if (errors.length) console.log(`console errors so far:\n  ${errors.join('\n  ')}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
finish(failed ? 1 : 0);
