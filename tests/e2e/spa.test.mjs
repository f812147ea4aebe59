// Chorus browser end-to-end test: the single-page app in public/, driven by
// headless Chromium through playwright-core, with two users on two servers
// (and others through the API), on a populated instance (seed.mjs).
// axe-core checks the main views and the dialogs for WCAG 2.1 A/AA
// violations, in light and dark. Besides what people do (post, reply,
// like, repost, quote, edit, delete, follow, search, notifications, tag
// pages), it checks what the page is made of: the desktop and phone
// layouts, compact cards, the first view's transferred bytes and caching,
// titles, the favicon, right-to-left text, reduced motion, live updates
// of every list, and the session ending anywhere.
//
//   CHORUS_TEST_URL_A=... CHORUS_TEST_URL_B=... node tests/e2e/spa.test.mjs
//
// Normally run by ctest (test e2e.spa, label e2e) from scripts/test.sh.
// Environment: CHORUS_TEST_URL_A, CHORUS_TEST_URL_B (required),
//   CHORUS_CHROMIUM (default /usr/bin/chromium).
// Writes screenshots of the seeded instance (desktop 1280 and 1920, phone
// 390 x 844, light and dark) to var/e2e-screenshots/*.png, or to
// CHORUS_E2E_SHOTS_DIR (docs/screenshots to refresh the README's pictures).
// Last line: "e2e: N passed, M failed"; exit status 1 on any failure.
import { chromium } from 'playwright-core';
import { PASSWORD as SEED_PASSWORD, seed } from './seed.mjs';
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
// a page whose session ended gets 401s (it logs out), a missing post or
// user is a 404 the page says, and a refused registration a 409.
const errors = [];
function watch(page, tag) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url || '';
    const path = url ? new URL(url).pathname : '';
    const text = m.text();
    if (/^\/api\//.test(path) && /\b401\b/.test(text)) return;
    if (/^\/api\/(tweet\/[0-9a-f]{24}(\/replies)?|users\/\w+(\/tweets)?)$/.test(path) && /\b404\b/.test(text)) return;
    if (path === '/api/register' && /\b409\b/.test(text)) return;
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
async function shot(page, name, fullPage = false) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
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

// axeClean in light, then in dark (prefers-color-scheme), then light again.
// The scheme changes with reduced motion on: colours change at once, not
// through a transition that axe would catch halfway.
async function axeBoth(page, what) {
  await axeClean(page, `${what} (light)`);
  await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
  try {
    await axeClean(page, `${what} (dark)`);
  } finally {
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' });
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'no-preference' });
  }
}

// Logs page in at base as username.
async function login(page, base, username, password) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#auth:not([hidden])');
  await page.fill('#auth-user', username);
  await page.fill('#auth-pass', password);
  await page.click('#login');
  await page.waitForSelector('#compose:not([hidden])');
  await waitLive(page);
}

// Follows a link of the page (a client-side navigation) to path.
async function go(page, base, path) {
  await page.evaluate((p) => {
    const a = document.createElement('a');
    a.href = p;
    document.body.append(a);
    a.click();
    a.remove();
  }, path);
  await page.waitForURL(`${base}${path}`);
}

// The API as someone outside the browser: register, then write.
async function apiUser(base, name) {
  const ctx = await browser.newContext();
  const r = await ctx.request.post(`${base}/api/register`,
    { data: { username: name, password: 'tinfoil kazoo 42' }, headers: { Origin: base } });
  assert(r.status() === 201, `${name} could not register: ${r.status()}`);
  const send = async (method, path, data) => {
    const res = await ctx.request.fetch(`${base}${path}`, { method, data, headers: { Origin: base } });
    return { status: res.status(), data: await res.json().catch(() => null) };
  };
  return { ctx, name, send, post: async (text, extra = {}) => {
    const res = await send('POST', '/api/tweet', { text, ...extra });
    assert(res.status === 201, `${name} could not post: ${res.status}`);
    return res.data.id;
  } };
}

// How many posts of the list are wholly inside the viewport.
const postsOnScreen = (page) => page.evaluate(() => [...document.querySelectorAll('#timeline li.tweet')]
  .filter((li) => { const r = li.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }).length);

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
  const DESKTOP = { width: 1280, height: 800 };
  const newContext = async (opts = {}) => {
    const c = await browser.newContext({ viewport: DESKTOP, ...opts });
    c.setDefaultTimeout(WAIT);
    c.setDefaultNavigationTimeout(WAIT * 2);
    return c;
  };
  const ctxA = await newContext();
  const ctxB = await newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const pa = await ctxA.newPage(); watch(pa, 'A');
  const pb = await ctxB.newPage(); watch(pb, 'B');

  await step('the page loads its ES modules under one version: JavaScript Content-Type, no errors', async () => {
    const { files, reached, cycle } = moduleGraph();
    assert(JSON.stringify(files) === JSON.stringify(reached),
      `public/js has modules main.js does not import (${files.filter((f) => !reached.includes(f))})`);
    assert(!cycle, `import cycle: ${cycle}`);
    const got = new Map(); // file -> "status content-type"
    const onResponse = (res) => {
      const m = /^\/v\/[0-9a-f]{16}\/js\/([\w-]+\.js)$/.exec(new URL(res.url()).pathname);
      if (m) got.set(m[1], `${res.status()} ${res.headers()['content-type'] || ''}`);
    };
    pa.on('response', onResponse);
    await pa.goto(`${URL_A}/`);
    await pa.waitForSelector('#auth:not([hidden])');
    pa.off('response', onResponse);
    for (const f of files) {
      const r = got.get(f);
      assert(r, `/v/<version>/js/${f} was not fetched`);
      assert(/^200 (text|application)\/javascript\b/.test(r), `/js/${f}: ${r}`);
    }
    const preloads = await pa.$$eval('link[rel=modulepreload]', (ls) => ls.map((l) => l.getAttribute('href')));
    const versions = new Set(preloads.map((h) => /^\/v\/([0-9a-f]{16})\//.exec(h)?.[1]));
    assert(versions.size === 1 && !versions.has(undefined), `modulepreload links of several versions: ${preloads}`);
    const want = files.filter((f) => f !== 'main.js').map((f) => `/js/${f}`);
    const named = preloads.map((h) => h.replace(/^\/v\/[0-9a-f]{16}/, '')).sort();
    assert(JSON.stringify(named) === JSON.stringify(want),
      `index.html's modulepreload links ${named} are not the modules ${want}`);
    assert(errors.length === 0, `\n  ${errors.join('\n  ')}`);
  });

  // ---- a populated instance, and its pictures ----
  let S; // what seed() made
  const shotAs = async (who, path, name, { viewport = DESKTOP, scheme = 'light', ready, full = false } = {}) => {
    const ctx = await newContext({ viewport, colorScheme: scheme });
    const p = await ctx.newPage(); watch(p, `shot ${name}`);
    await login(p, URL_A, S.people[who].username, SEED_PASSWORD);
    if (path !== '/') await go(p, URL_A, path);
    await p.locator('#timeline li.tweet, #notes li.note').first().waitFor();
    if (ready) await ready(p);
    await p.evaluate(() => document.getElementById('msg-close')?.click());
    await p.evaluate(() => document.activeElement?.blur());
    await shot(p, name, full);
    return { ctx, p };
  };
  await step('a populated instance: people with names, a conversation; its screenshots', async () => {
    S = await seed(URL_A, sfx.slice(-4));
    const conv = `/t/${S.conversation}`;
    const whoReady = (p) => p.locator('#who:not([hidden]) li.user').first().waitFor();
    let r = await shotAs('maya', '/', 'home', { ready: whoReady });
    // Density: a desktop screen shows 5 or more posts, as Mastodon and
    // Bluesky do.
    const n = await postsOnScreen(r.p);
    assert(n >= 5, `only ${n} posts fit on a 1280 x 800 screen`);
    await r.ctx.close();
    r = await shotAs('maya', '/', 'home-1920-dark', { viewport: { width: 1920, height: 1080 }, scheme: 'dark', ready: whoReady });
    await r.ctx.close();
    r = await shotAs('tomas', conv, 'tweet', { ready: (p) => tweetLi(p, 'old jetty').waitFor() });
    await r.ctx.close();
    r = await shotAs('maya', `/u/${S.people.lena.username}`, 'profile-dark', { scheme: 'dark' });
    await r.ctx.close();
    r = await shotAs('maya', '/notifications', 'notifications');
    await r.ctx.close();
    r = await shotAs('arjun', '/tags/birding', 'tag');
    await r.ctx.close();
    const PHONE = { width: 390, height: 844 };
    r = await shotAs('maya', '/', 'phone-home', { viewport: PHONE });
    await r.ctx.close();
    r = await shotAs('kenji', conv, 'phone-tweet-dark', { viewport: PHONE, scheme: 'dark',
      ready: (p) => tweetLi(p, 'old jetty').waitFor() });
    await r.ctx.close();
  });

  await step('the first view transfers under 100 KB, gzipped; versioned files are cached for good', async () => {
    const ctx = await newContext();
    const p = await ctx.newPage(); watch(p, 'first view');
    const seen = [];
    p.on('response', (res) => seen.push(res));
    await p.goto(`${URL_A}/`);
    await p.locator('#timeline li.tweet').first().waitFor();
    await p.waitForLoadState('networkidle');
    const sizes = await p.evaluate(() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
      .map((e) => ({ name: e.name, transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize })));
    const total = sizes.reduce((a, e) => a + e.transfer, 0);
    console.log(`     first view: ${sizes.length} responses, ${total} bytes transferred`);
    assert(total > 0 && total < 100 * 1024, `the first view transferred ${total} bytes`);
    let statics = 0;
    for (const res of seen) {
      const path = new URL(res.url()).pathname;
      const hdr = res.headers();
      if (path.startsWith('/v/')) {
        statics++;
        assert(/immutable/.test(hdr['cache-control'] || '') && /max-age=31536000/.test(hdr['cache-control']),
          `${path}: Cache-Control ${hdr['cache-control']}`);
        if (/\.(js|css|svg)$/.test(path)) assert(hdr['content-encoding'] === 'gzip', `${path}: not gzipped`);
      } else if (path === '/') {
        assert(hdr['cache-control'] === 'no-cache', `index.html: Cache-Control ${hdr['cache-control']}`);
        assert(hdr['content-encoding'] === 'gzip', 'index.html: not gzipped');
      }
    }
    assert(statics >= 20, `only ${statics} versioned files fetched`);
    // Again: the versioned files come from the cache, nothing transferred.
    await p.goto(`${URL_A}/global`);
    await p.locator('#timeline li.tweet').first().waitFor();
    const again = await p.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => new URL(e.name).pathname.startsWith('/v/')).map((e) => [e.name, e.transferSize]));
    assert(again.length >= 20 && again.every(([, t]) => t === 0), `fetched again: ${again.filter(([, t]) => t > 0).map(([n]) => n)}`);
    // The favicon is an SVG of ours.
    const icon = await p.getAttribute('link[rel=icon]', 'href');
    const fav = await ctx.request.get(`${URL_A}${icon}`);
    assert(fav.status() === 200 && fav.headers()['content-type'] === 'image/svg+xml', `favicon ${icon}: ${fav.status()}`);
    await ctx.close();
  });

  await step('register user A on server A and user B on server B', async () => {
    await register(pa, URL_A, USER_A);
    await register(pb, URL_B, USER_B);
  });

  await step('a new account lands on people to follow and the way to the global timeline', async () => {
    const card = pb.locator('.onboarding');
    await card.waitFor();
    assert(await card.locator('a[href="/global"]').count() === 1, 'no link to the global timeline');
    await card.locator('li.user').first().waitFor();
    assert(await card.locator('li.user').count() >= 3, 'fewer than 3 people suggested');
    // The display name is the handle by default: shown once.
    assert(await pb.locator('#me-name').textContent() === `@${USER_B}`, 'header');
    assert(pb.url() === `${URL_B}/` && await pb.title() === 'Home · Chorus', `title ${await pb.title()}`);
    await axeBoth(pb, 'a new account\'s home');
    // Following a suggestion fills the home feed with their posts.
    const first = card.locator('button[data-action=follow-user]').first();
    const who = await first.getAttribute('data-user');
    await first.click();
    await card.locator(`button[data-user="${who}"][aria-pressed=true]`).waitFor();
    await pb.locator('#timeline li.tweet .meta .handle', { hasText: `@${who}` }).first().waitFor();
    // And Maya, from her profile: her posts name her, then her handle.
    const maya = S.people.maya.username;
    await go(pb, URL_B, `/u/${maya}`);
    await pb.locator('.profile h2', { hasText: 'Maya Okafor' }).waitFor();
    if (await pb.getAttribute('[data-action=follow]', 'aria-pressed') !== 'true') {
      await pb.click('[data-action=follow]');
      await pb.waitForSelector('[data-action=follow][aria-pressed=true]');
    }
    const meta = await tweetLi(pb, 'malachite kingfisher').locator('.meta').first().textContent();
    assert(meta.includes('Maya Okafor') && meta.includes(`@${maya}`), `card names: ${meta}`);
  });

  await step('B follows A from A\'s profile page', async () => {
    await go(pb, URL_B, `/u/${USER_A}`);
    await pb.waitForSelector('.profile h2');
    assert(await pb.title() === `@${USER_A} · Chorus`, `profile title ${await pb.title()}`);
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

  await step('compact cards: avatar, name, handle, time, text, icon actions with counts', async () => {
    const li = tweetLi(pb, T1);
    const card = await li.evaluate((n) => ({
      avatar: Boolean(n.querySelector('.tw > .avatar')),
      name: n.querySelector('a.name')?.textContent,
      handles: n.querySelector('.meta').textContent.split('@').length - 1,
      time: Boolean(n.querySelector('a.when time[datetime]')),
      dir: n.querySelector('.text')?.getAttribute('dir'),
      nameDir: n.querySelector('a.name')?.getAttribute('dir'),
      actions: [...n.querySelectorAll('.actions button[data-action]')].map((b) => b.dataset.action),
      labelled: [...n.querySelectorAll('.actions button')].every((b) => b.textContent.trim() || b.getAttribute('aria-label')),
      icons: n.querySelectorAll('.actions svg.icon').length,
      height: n.getBoundingClientRect().height,
    }));
    assert(card.avatar && card.time, `card parts: ${JSON.stringify(card)}`);
    assert(card.name === `@${USER_A}` && card.handles === 1, `the default name repeats the handle: ${JSON.stringify(card)}`);
    assert(card.dir === 'auto' && card.nameDir === 'auto', 'user text without dir="auto"');
    for (const a of ['reply', 'repost', 'like', 'quote', 'share']) assert(card.actions.includes(a), `no ${a} action`);
    assert(card.labelled && card.icons >= 5, 'actions without icons or names');
    assert(card.height < 130, `a one-line post is ${card.height} px tall`);
  });

  await step('B likes it; A\'s page shows the like count', async () => {
    await tweetLi(pb, T1).locator('[data-action=like]').click();
    await tweetLi(pb, T1).locator('[data-action=like][aria-pressed=true]').waitFor();
    await tweetLi(pa, T1).locator('.stats', { hasText: '1 like' }).waitFor();
  });

  await step('B replies on the tweet page; A\'s reply count changes', async () => {
    await tweetLi(pb, T1).locator('a.when').click();
    await pb.waitForURL(/\/t\/[0-9a-f]{24}$/);
    await pb.waitForSelector('#timeline li.focus');
    await pb.waitForFunction(() => document.title.includes('first post'));
    await pb.fill('#reply-text', `a reply from bob ${WORD}`);
    await pb.click('#timeline li.focus .reply-box button[type=submit]');
    await tweetLi(pb, 'a reply from bob').waitFor();
    await pb.locator('#timeline li.focus .replies', { hasText: '1 reply' }).waitFor();
    await tweetLi(pa, T1).locator('.stats', { hasText: '1 reply' }).waitFor();
    assert(await tweetLi(pb, 'a reply from bob').locator('.reply-to', { hasText: `Replying to @${USER_A}` }).count() === 1,
      'the reply does not say whom it replies to');
    await axeBoth(pb, 'a post and its replies');
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

  await step('B replies right from the home timeline', async () => {
    const TR = `short post to answer ${WORD}`;
    await post(pa, TR);
    const li = tweetLi(pb, TR);
    await li.waitFor();
    await li.locator('[data-action=reply]').click();
    const form = li.locator('form.reply-box');
    await form.waitFor();
    assert(await pb.evaluate(() => document.activeElement?.tagName) === 'TEXTAREA', 'the reply form is not focused');
    await axeBoth(pb, 'a reply form in the home timeline');
    await form.locator('textarea').fill(`answered from the timeline ${WORD}`);
    await form.locator('button[type=submit]').click();
    await form.waitFor({ state: 'detached' });
    await li.locator('.stats', { hasText: '1 reply' }).waitFor();
    const mine = tweetLi(pb, 'answered from the timeline');
    await mine.waitFor();
    assert(await mine.locator('.reply-to', { hasText: `Replying to @${USER_A}` }).count() === 1, 'no "Replying to"');
    await tweetLi(pa, TR).locator('.stats', { hasText: '1 reply' }).waitFor();
  });

  await step('share: the link to a post is copied', async () => {
    const li = tweetLi(pb, T1);
    const id = await li.getAttribute('data-id');
    await li.locator('[data-action=share]').click();
    await pb.locator('#msg-text', { hasText: 'Link copied' }).waitFor();
    const copied = await pb.evaluate(() => navigator.clipboard.readText());
    assert(copied === `${URL_B}/t/${id}`, `copied ${copied}`);
  });

  await step('a post of 280 user-perceived characters with 👩‍👩‍👧‍👦 is counted as the server counts it', async () => {
    const FAMILY = '👩‍👩‍👧‍👦';
    const text = `${'x'.repeat(279 - WORD.length - 1)} ${WORD}`.slice(0, 279);
    await pa.fill('#compose-text', `${text}${FAMILY}`);
    const count = async () => (await pa.locator('#compose-count').textContent()).match(/^-?\d+/)[0];
    assert(await count() === '0', `counter says ${await count()} for 280 characters`);
    assert(!(await pa.isDisabled('#post')), 'Post is disabled at 280 characters');
    await pa.fill('#compose-text', `${text}${FAMILY}y`);
    assert(await count() === '-1' && await pa.isDisabled('#post'), 'Post is enabled at 281 characters');
    await pa.fill('#compose-text', `${text}${FAMILY}`);
    await pa.click('#post');
    await tweetLi(pa, FAMILY).first().waitFor();
    assert(await pa.locator('#msg.error').count() === 0, 'the server refused 280 characters');
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

  await step('a post deleted while someone reads its page: a notice, no reply box', async () => {
    const id = await tweetLi(pb, T1E).getAttribute('data-id');
    await tweetLi(pb, T1E).locator('a.when').click();
    await pb.waitForURL(`${URL_B}/t/${id}`);
    await pb.locator('#reply-text').waitFor();
    await waitLive(pb);
    await tweetLi(pa, T1E).locator('[data-action=delete]').click();
    await tweetLi(pa, T1E).waitFor({ state: 'detached' });
    await pb.locator('#gone-note', { hasText: 'This post was deleted' }).waitFor();
    assert(await pb.locator('#reply-text').count() === 0, 'the reply box stayed');
    assert(await pb.locator('#timeline li.focus').count() === 0, 'the post stayed');
    await pb.locator('.reply-to', { hasText: 'Replying to a deleted post' }).first().waitFor();
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, T1E).waitFor({ state: 'detached' });
    await waitLive(pb);
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
    await axeBoth(pb, 'the tag page');
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
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await tweetLi(pa, TX).waitFor();
    assert(await pa.locator('.profile h2').textContent() === XSS, 'A: profile name not shown as text');
    assert(await pa.locator('.profile img, #timeline img').count() === 0, 'A: <img> on the profile page');
    assert(await pa.evaluate(() => window.__xss) === undefined, 'A: window.__xss is set on the profile');
    await axeBoth(pa, 'profile');
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
    await axeBoth(pb, 'search');
  });

  await step('A\'s notifications list the follow, like and reply', async () => {
    await pa.click('#nav-notifications');
    await pa.waitForURL(`${URL_A}/notifications`);
    await pa.locator('#notes li.note', { hasText: 'replied to your post' }).first().waitFor();
    await pa.locator('#notes li.note', { hasText: 'liked your post' }).first().waitFor();
    await pa.locator('#notes li.note', { hasText: 'quoted your post' }).first().waitFor();
    await axeBoth(pa, 'notifications');
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


  await step('the global timeline and a profile update live; replies name their parent, no request each', async () => {
    const parents = [];
    const onRequest = (req) => { if (/\/api\/tweet\/[0-9a-f]{24}$/.test(new URL(req.url()).pathname)) parents.push(req.url()); };
    pb.on('request', onRequest);
    await pb.click('#nav-global');
    await pb.waitForURL(`${URL_B}/global`);
    await tweetLi(pb, 'answered from the timeline').waitFor();
    await waitLive(pb);
    pb.off('request', onRequest);
    assert(parents.length === 0, `the global timeline asked for ${parents.length} parents: ${parents}`);
    assert(await pb.locator('#timeline .reply-to').count() >= 2, 'too few replies on the global timeline');
    assert(await tweetLi(pb, 'answered from the timeline').locator('.reply-to', { hasText: `Replying to @${USER_A}` }).count() === 1,
      'a reply does not name its parent\'s author');
    assert(await pb.title() === 'Global timeline · Chorus', `title ${await pb.title()}`);
    const L = await apiUser(URL_A, `el_${sfx}`);
    const TL = `live on the global timeline ${WORD}`;
    await L.post(TL);
    await tweetLi(pb, TL).waitFor(); // B follows nobody called el_
    await go(pb, URL_B, `/u/${L.name}`);
    await tweetLi(pb, TL).waitFor();
    await waitLive(pb);
    const other = `not on that profile ${WORD}`;
    await pa.click('#nav-home');
    await pa.waitForURL(`${URL_A}/`);
    await post(pa, other);
    const TP = `live on my profile ${WORD}`;
    await L.post(TP);
    await tweetLi(pb, TP).waitFor();
    assert(await tweetLi(pb, other).count() === 0, 'another user\'s post came onto the profile');
    await L.ctx.close();
  });

  await step('"Show N new posts" stays in sight while the reader is scrolled down', async () => {
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, 'malachite kingfisher').first().waitFor();
    await waitLive(pb);
    await pb.evaluate(() => window.scrollTo(0, 900));
    assert(await pb.evaluate(() => window.scrollY) > 600, 'the home feed is too short to scroll');
    const TN = `a new post while scrolled ${WORD}`;
    await post(pa, TN);
    await pb.locator('#new-tweets:not([hidden])').waitFor();
    const box = await pb.evaluate(() => {
      const r = document.getElementById('new-tweets').getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, h: innerHeight, text: document.getElementById('new-tweets').textContent };
    });
    assert(box.top >= 0 && box.bottom <= box.h, `the button is out of sight: ${JSON.stringify(box)}`);
    assert(box.text === 'Show 1 new post', box.text);
    assert(await tweetLi(pb, TN).count() === 0, 'the post was inserted under the reader');
    await pb.click('#new-tweets');
    await tweetLi(pb, TN).waitFor();
    await pb.waitForFunction(() => window.scrollY < 50);
  });

  await step('Back brings a list back as it was: "Load more" pages and the scroll position', async () => {
    const K = await apiUser(URL_A, `ek_${sfx}`);
    for (let i = 1; i <= 25; i++) await K.post(`numbered post ${i} of 25`);
    await K.ctx.close();
    await go(pb, URL_B, `/u/${K.name}`);
    await tweetLi(pb, 'numbered post 25 of').waitFor();
    await pb.waitForSelector('#more:not([hidden])');
    assert(await pb.locator('#timeline li.tweet').count() === 20, 'the first page is not 20 posts');
    await pb.click('#more');
    await tweetLi(pb, 'numbered post 1 of').waitFor();
    await pb.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const y = await pb.evaluate(() => window.scrollY);
    assert(y > 1500, `scrolled to ${y} only`);
    await tweetLi(pb, 'numbered post 3 of').locator('a.when').click();
    await pb.waitForURL(/\/t\/[0-9a-f]{24}$/);
    await pb.waitForSelector('#timeline li.focus');
    await pb.goBack();
    await pb.waitForURL(`${URL_B}/u/${K.name}`);
    await tweetLi(pb, 'numbered post 1 of').waitFor();
    assert(await pb.locator('#timeline li.tweet').count() === 25, 'the second page is gone');
    await pb.waitForFunction((want) => Math.abs(window.scrollY - want) <= 2, y);
  });

  await step('a new display name shows on one\'s own posts at once', async () => {
    await pa.click('#nav-profile');
    await pa.waitForURL(`${URL_A}/u/${USER_A}`);
    await tweetLi(pa, 'not on that profile').waitFor();
    await pa.click('.edit-profile summary');
    await pa.fill('#pf-name', 'Ann Example');
    await pa.click('.profile-form button[type=submit]');
    await pa.locator('.profile h2', { hasText: 'Ann Example' }).waitFor();
    const names = await pa.$$eval('#timeline li.tweet .meta > a.name', (as) => as.map((a) => a.textContent));
    assert(names.length > 0 && names.every((n) => n === 'Ann Example'), `names on the profile: ${names}`);
    assert(await pa.title() === `Ann Example (@${USER_A}) · Chorus`, `title ${await pa.title()}`);
  });

  await step('errors are said once: no such user, a missing post without a reply box, one message at a time', async () => {
    await go(pb, URL_B, `/u/nobody_${sfx}`);
    await pb.locator('#view h2', { hasText: 'No such user' }).waitFor();
    assert(await pb.getByText('No such user', { exact: true }).count() === 1, '"No such user" shown more than once');
    assert(await pb.isHidden('#msg'), `a message too: ${await pb.textContent('#msg-text')}`);
    assert(await pb.title() === 'No such user · Chorus', `title ${await pb.title()}`);
    await go(pb, URL_B, '/t/0123456789abcdef01234567');
    await pb.locator('#view h2', { hasText: 'This post does not exist' }).waitFor();
    assert(await pb.locator('.reply-box, #reply-text').count() === 0, 'a reply box for a missing post');
    assert(await pb.isHidden('#msg'), 'a message too');
    // A refused registration's message goes when the next attempt fails
    // the form's own check.
    const ctx = await newContext();
    const p = await ctx.newPage(); watch(p, 'errors');
    await p.goto(`${URL_A}/`);
    await p.waitForSelector('#auth:not([hidden])');
    await p.fill('#auth-user', USER_A);
    await p.fill('#auth-pass', 'tinfoil kazoo 42');
    await p.click('#register');
    await p.locator('#msg.error').waitFor();
    await p.fill('#auth-pass', 'short');
    await p.click('#login');
    await p.waitForSelector('#msg', { state: 'hidden' });
    await ctx.close();
  });

  await step('offline: the status says so, and Live again once back online', async () => {
    await pb.click('#nav-home');
    await waitLive(pb);
    await ctxB.setOffline(true);
    await pb.waitForFunction(() => document.querySelector('#live-status')?.textContent === 'Offline');
    await ctxB.setOffline(false);
    await waitLive(pb);
  });

  await step('each view has its own title; right-to-left text; reduced motion', async () => {
    const titles = new Map();
    for (const [path, want] of [['/', 'Home · Chorus'], ['/global', 'Global timeline · Chorus'],
      ['/search', 'Search · Chorus'], ['/notifications', 'Notifications · Chorus'], ['/tags/birding', '#birding · Chorus'],
      [`/u/${S.people.maya.username}`, `Maya Okafor (@${S.people.maya.username}) · Chorus`],
      [`/t/${S.conversation}`, 'Maya Okafor: “Saw a malachite kingfisher on the lagoon…” · Chorus']]) {
      await go(pb, URL_B, path);
      await pb.waitForFunction((t) => document.title === t, want).catch(async () => {
        throw new Error(`${path}: title "${await pb.title()}", expected "${want}"`);
      });
      titles.set(path, await pb.title());
    }
    assert(new Set(titles.values()).size === titles.size, 'two views share a title');
    await go(pb, URL_B, `/u/${S.people.layla.username}`);
    const rtl = tweetLi(pb, 'صباح الخير');
    await rtl.waitFor();
    const dir = (loc) => loc.evaluate((n) => getComputedStyle(n).direction);
    assert(await dir(rtl.locator('.text')) === 'rtl', 'an Arabic post is not right to left');
    assert(await dir(pb.locator('.profile .bio')) === 'rtl' && await dir(pb.locator('.profile h2')) === 'rtl',
      'an Arabic name and bio are not right to left');
    await go(pb, URL_B, `/u/${S.people.maya.username}`);
    const ltr = tweetLi(pb, 'old jetty');
    await ltr.waitFor();
    assert(await dir(ltr.locator('.text')) === 'ltr', 'an English post is not left to right');
    const motion = () => pb.evaluate(() => getComputedStyle(document.querySelector('#timeline .act')).transitionDuration);
    assert(await motion() !== '0s', 'no transition to reduce');
    await pb.emulateMedia({ reducedMotion: 'reduce' });
    assert(await motion() === '0s', 'reduced motion still moves');
    await pb.emulateMedia({ reducedMotion: 'no-preference' });
  });

  await step('desktop layouts (1280, 1920): navigation, timeline, side column; phone (390 x 844): one line', async () => {
    const layout = () => pb.evaluate(() => {
      const box = (sel) => { const n = document.querySelector(sel); const r = n && n.getBoundingClientRect(); return r && r.width ? { x: r.x, y: r.y, w: r.width, h: r.height, right: r.right, bottom: r.bottom } : null; };
      return { rail: box('.rail'), main: box('.main'), side: box('.side'), search: box('#side-q'), trends: box('#trends'),
        who: box('#who'), width: innerWidth, scroll: document.documentElement.scrollWidth,
        nav: [...document.querySelectorAll('.nav a:not([hidden])')].map((a) => a.getBoundingClientRect()).map((r) => ({ y: r.y, h: r.height })),
        me: box('#me-name') };
    });
    await pb.click('#nav-home');
    await pb.waitForURL(`${URL_B}/`);
    await tweetLi(pb, 'malachite kingfisher').first().waitFor();
    for (const width of [1280, 1920]) {
      await pb.setViewportSize({ width, height: 900 });
      await pb.locator('#who:not([hidden]) li.user').first().waitFor();
      const l = await layout();
      assert(l.rail && l.main && l.side && l.search && l.trends && l.who, `${width}: a column or box is missing: ${JSON.stringify(l)}`);
      assert(l.rail.right <= l.main.x && l.main.right <= l.side.x, `${width}: columns overlap`);
      assert(l.main.w >= 560 && l.main.w <= 600, `${width}: the timeline is ${l.main.w} px wide`);
      assert(Math.abs(l.rail.x - (width - l.side.right)) < 40, `${width}: not centred`);
      assert(l.scroll <= width, `${width}: scrolls sideways`);
    }
    await axeBoth(pb, 'home at 1920');
    await pb.setViewportSize({ width: 390, height: 844 });
    const l = await layout();
    assert(l.rail.h <= 60, `the phone's bar is ${l.rail.h} px tall`);
    assert(l.me && l.me.w > 20, 'the handle is not shown on a phone');
    const mid = (b) => b.y + b.h / 2;
    for (const n of l.nav.concat([l.me])) {
      assert(Math.abs(mid(n) - mid(l.rail)) < 8, `the handle and the navigation are not on one line: ${JSON.stringify(l)}`);
    }
    assert(!l.side, 'a side column on a phone');
    assert(l.scroll <= 390, `the phone scrolls sideways (${l.scroll})`);
    await axeBoth(pb, 'home on a phone');
    await pb.setViewportSize(DESKTOP);
  });

  await step('logged out in one tab: the other server\'s tab drops the user and its socket at once', async () => {
    const pa3 = await ctxA.newPage(); watch(pa3, 'A3');
    const sockets = [];
    pa3.on('websocket', (ws) => sockets.push(ws));
    await pa3.goto(`${URL_B}/`);
    await pa3.waitForSelector('#compose:not([hidden])');
    await waitLive(pa3);
    await pa.click('#logout');
    await pa.waitForSelector('#auth:not([hidden])');
    await pa3.waitForSelector('#auth:not([hidden])');
    await pa3.waitForSelector('#session', { state: 'hidden' });
    await pa3.waitForFunction(() => document.querySelector('#live-status')?.textContent !== 'Live');
    assert(sockets.length >= 1, 'no WebSocket was opened');
    await Promise.all(sockets.map((w) => (w.isClosed() ? null : w.waitForEvent('close'))));
    await pa3.click('#nav-home');
    await pa3.waitForURL(`${URL_B}/`);
    assert(await pa3.locator('#msg-text', { hasText: 'not logged in' }).count() === 0, '"You are not logged in" while logged out');
    assert(await pa3.isHidden('#nav-notifications') && await pa3.isHidden('#session'), 'the header still shows the account');
    await pa3.close();
    await login(pa, URL_A, USER_A, 'tinfoil kazoo 42');
    await pa.click('#nav-profile');
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
    const loginA2 = async (password) => {
      sockets = 0;
      await login(pa2, URL_B, USER_A, password);
    };
    const loggedOut = async () => {
      await pa2.waitForSelector('#auth:not([hidden])');
      await pa2.locator('#msg-text', { hasText: 'Your session ended' }).waitFor();
      assert(sockets === 1, `A2: ${sockets} WebSockets opened for one session`);
    };
    await loginA2('tinfoil kazoo 42');
    await pa.click('.account summary');
    await pa.fill('#pw-current', 'tinfoil kazoo 42');
    await pa.fill('#pw-new', 'marimba zest 77');
    await pa.click('.password-form button[type=submit]');
    await pa.locator('#msg-text', { hasText: 'Password changed' }).waitFor();
    await loggedOut();
    assert(await pa.locator('#me-name').textContent() === `@${USER_A}`, 'A: logged out by its own password change');
    await waitLive(pa);
    // The new password logs in; "Log out other sessions" ends that session too.
    await loginA2('marimba zest 77');
    await pa.click('[data-action=end-sessions]');
    await pa.locator('#msg-text', { hasText: 'other sessions are logged out' }).waitFor();
    await loggedOut();
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
