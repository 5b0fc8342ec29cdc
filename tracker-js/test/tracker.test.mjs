// Browser tests of t.js against a real `vtrack serve`: Debian's Chromium loads pages from a page server on one
// loopback port, the script from vtrack on another (so beacons are real cross-origin requests), and every test
// checks what reached the store through `vtrack sql`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KEEP_AUTOMATED,
  freePort,
  trackerDir,
  launchBrowser,
  openPage,
  page,
  pollRows,
  sleep,
  startPageServer,
  startVtrack,
} from './harness.mjs';

let vtrack, pages, browser, src;

before(async () => {
  // Playwright drives this Chromium and the tracker reports it (navigator.webdriver): keep those events here,
  // where the tracker's behaviour is under test. automation.test.mjs tests the drop itself.
  vtrack = await startVtrack({ site: 'test', extraArgs: [KEEP_AUTOMATED] });
  pages = await startPageServer();
  browser = await launchBrowser();
  src = `${vtrack.origin}/t.js`;
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await vtrack?.stop();
});

// Every test uses its own path prefix, so its rows are told apart by URL.
const rowsFor = (token, extra = '') =>
  `SELECT event_id, site, ts, type, visitor_id, url, path, referrer, title, utm_source, utm_medium, utm_campaign, ` +
  `eng_ms, email, props FROM events WHERE url LIKE '%/${token}%' ${extra} ORDER BY ts, event_id`;

const ID = /^[A-Za-z0-9._:-]{1,64}$/;

// A page that is tracked, opened after a page that must not be: once its page view is stored, anything the
// untracked page had sent would be stored too (it was sent earlier), so "no rows" is a real answer.
async function trackedControl(token) {
  pages.pages.set(`/${token}`, page({ title: 'Control', src }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/${token}`);
  const rows = await pollRows(vtrack, rowsFor(token, "AND type = 'pageview'"));
  assert.equal(rows.length, 1, `the control page view was not stored; server log:\n${vtrack.log()}`);
  await p.close();
}

test('ingest serves the committed dist/t.js at /t.js', async () => {
  const r = await fetch(src);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /javascript/);
  const served = Buffer.from(await r.arrayBuffer());
  const built = readFileSync(join(trackerDir, 'dist', 't.js'));
  // The binary embeds dist/t.js at compile time: a mismatch means it was built before the last change.
  assert.ok(served.equals(built), 'GET /t.js differs from tracker-js/dist/t.js: rebuild vtrack (cargo build -p vtrack)');
});

test('a page view reaches the store with URL, UTM tags, referrer, title and a first-party visitor id', async () => {
  pages.pages.set('/pv-basic', page({ title: 'Pricing — Acme', src }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/pv-basic?utm_source=newsletter&utm_medium=email&utm_campaign=q3-launch`, {
    referer: 'https://search.example/results?q=pipelines',
  });
  const rows = await pollRows(vtrack, rowsFor('pv-basic', "AND type = 'pageview'"));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  const [r] = rows;
  assert.equal(r.type, 'pageview');
  assert.equal(r.site, 'test');
  assert.equal(r.url, `${pages.origin}/pv-basic?utm_source=newsletter&utm_medium=email&utm_campaign=q3-launch`);
  assert.equal(r.path, '/pv-basic');
  assert.equal(r.title, 'Pricing — Acme');
  assert.match(r.referrer, /^https:\/\/search\.example\//);
  assert.equal(r.utm_source, 'newsletter');
  assert.equal(r.utm_medium, 'email');
  assert.equal(r.utm_campaign, 'q3-launch');
  assert.match(r.event_id, ID);
  // The visitor id is the one the script keeps in the site's own localStorage.
  const vid = await p.page.evaluate(() => localStorage.getItem('vtrack_vid'));
  assert.match(vid, ID);
  assert.equal(r.visitor_id, vid);
  // A second page load in the same browser keeps the visitor id; each event gets its own id.
  await p.page.reload();
  const again = await pollRows(vtrack, rowsFor('pv-basic', "AND type = 'pageview'"), (rs) => rs.length >= 2);
  assert.equal(again.length, 2, JSON.stringify(again));
  assert.deepEqual(again.map((r) => r.visitor_id), [vid, vid]);
  assert.notEqual(again[0].event_id, again[1].event_id);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('SPA navigation: pushState, replaceState, hash change and back each count once, with engaged time', async () => {
  pages.pages.set(
    '/spa/*',
    page({
      title: 'SPA home',
      src,
      body: `<script>
        // Like a router: change the URL, then render and set the title.
        function go(path, title) { history.pushState({}, '', path); document.title = title; }
      </script>`,
    }),
  );
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/spa/home`);
  await pollRows(vtrack, rowsFor('spa/', "AND type = 'pageview'"));
  await sleep(300);
  await p.page.evaluate(() => go('/spa/pricing', 'SPA pricing'));
  await sleep(150);
  // Same URL again (routers do this to save scroll state): no new page view.
  await p.page.evaluate(() => history.replaceState({ scroll: 10 }, '', location.href));
  await sleep(150);
  await p.page.evaluate(() => {
    location.hash = 'faq';
  });
  await sleep(150);
  await p.page.evaluate(() => history.back());
  await sleep(150);
  // A different URL through replaceState is a page view too.
  await p.page.evaluate(() => history.replaceState(null, '', '/spa/pricing?plan=team'));

  const views = await pollRows(vtrack, rowsFor('spa/', "AND type = 'pageview'"), (rs) => rs.length >= 5);
  await sleep(1000);
  const settled = await vtrack.sql(rowsFor('spa/', "AND type = 'pageview'"));
  // The store keeps whole seconds, so the order is read from the referrer chain: each SPA view's referrer is
  // the view it was navigated from. Exactly these five views, no duplicates.
  const rel = (u) => (u.startsWith(pages.origin) ? u.slice(pages.origin.length) : u);
  assert.deepEqual(
    settled.map((r) => [rel(r.url), rel(r.referrer)]).sort(),
    [
      ['/spa/home', ''],
      ['/spa/pricing', '/spa/home'],
      ['/spa/pricing#faq', '/spa/pricing'],
      ['/spa/pricing', '/spa/pricing#faq'],
      ['/spa/pricing?plan=team', '/spa/pricing'],
    ].sort(),
    JSON.stringify(views),
  );
  // The title recorded is the new view's, set right after pushState.
  const pricing = settled.find((r) => rel(r.url) === '/spa/pricing' && rel(r.referrer) === '/spa/home');
  assert.equal(pricing.title, 'SPA pricing');
  assert.equal(new Set(settled.map((r) => r.visitor_id)).size, 1);

  // Leaving /spa/home for /spa/pricing sent its engaged time (about 300 ms, measured on the client).
  const eng = await pollRows(vtrack, rowsFor('spa/', "AND type = 'engagement'"), (rs) => rs.length >= 4);
  const home = eng.filter((r) => r.url === `${pages.origin}/spa/home`);
  assert.equal(home.length, 1, JSON.stringify(eng));
  assert.ok(home[0].eng_ms >= 250 && home[0].eng_ms < 10_000, `eng_ms ${home[0].eng_ms}`);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('data-manual: no automatic page views, only those vtrack("pageview") counts', async () => {
  pages.pages.set(
    '/manual/*',
    page({
      title: 'Manual',
      src,
      attrs: { 'data-manual': '' },
      body: `<script>function go(path, title) { history.pushState({}, '', path); document.title = title; }</script>`,
    }),
  );
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/manual/home`);
  await sleep(300);
  // A router that reports its own page views: it navigates, then counts.
  await p.page.evaluate(() => {
    go('/manual/pricing', 'Manual pricing');
    vtrack('pageview');
  });
  await sleep(150);
  // Navigations nobody reports are not counted: not pushState, not a hash change, not back.
  await p.page.evaluate(() => go('/manual/docs', 'Manual docs'));
  await p.page.evaluate(() => {
    location.hash = 'faq';
  });
  await p.page.evaluate(() => history.back());
  await sleep(300);
  await p.page.evaluate(() => vtrack('event', 'manual_done'));
  const rows = await pollRows(vtrack, rowsFor('manual/'), (rs) => rs.some((r) => r.type === 'manual_done'));
  await sleep(500);
  const settled = await vtrack.sql(rowsFor('manual/', "AND type = 'pageview'"));
  assert.deepEqual(
    settled.map((r) => [r.path, r.title]),
    [['/manual/pricing', 'Manual pricing']],
    JSON.stringify(rows),
  );
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('engaged time is sent once when the page is left', async () => {
  pages.pages.set('/eng-leave', page({ title: 'Engagement', src }));
  pages.pages.set('/eng-next', '<!doctype html><title>elsewhere</title>');
  const p = await openPage(browser);
  const t0 = Date.now();
  await p.page.goto(`${pages.origin}/eng-leave`);
  await pollRows(vtrack, rowsFor('eng-leave', "AND type = 'pageview'"));
  await sleep(1200);
  await p.page.goto(`${pages.origin}/eng-next`);
  const spent = Date.now() - t0;
  const rows = await pollRows(vtrack, rowsFor('eng-leave', "AND type = 'engagement'"));
  await sleep(1000);
  const settled = await vtrack.sql(rowsFor('eng-leave', "AND type = 'engagement'"));
  assert.equal(settled.length, 1, JSON.stringify(settled));
  assert.equal(settled[0].url, `${pages.origin}/eng-leave`);
  assert.ok(settled[0].eng_ms >= 1100 && settled[0].eng_ms <= spent, `eng_ms ${settled[0].eng_ms}, spent ${spent}`);
  assert.equal(settled[0].visitor_id, (await vtrack.sql(rowsFor('eng-leave', "AND type = 'pageview'")))[0].visitor_id);
  assert.ok(rows.length >= 1);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('hiding the tab sends the engaged time so far; coming back and leaving sends only the rest', async () => {
  pages.pages.set('/eng-hide', page({ title: 'Engagement hide', src }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/eng-hide`);
  await pollRows(vtrack, rowsFor('eng-hide', "AND type = 'pageview'"));
  await sleep(600);
  // Headless tabs are always visible, so switch the page's visibility the way the browser reports it.
  const setVisibility = (state) =>
    p.page.evaluate((s) => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
      document.dispatchEvent(new Event('visibilitychange'));
    }, state);
  await setVisibility('hidden');
  const first = await pollRows(vtrack, rowsFor('eng-hide', "AND type = 'engagement'"));
  assert.equal(first.length, 1, JSON.stringify(first));
  assert.ok(first[0].eng_ms >= 500 && first[0].eng_ms < 10_000, `eng_ms ${first[0].eng_ms}`);
  // Time while hidden is not engaged time.
  await sleep(1500);
  await setVisibility('visible');
  await sleep(400);
  await p.page.close({ runBeforeUnload: true });
  const both = await pollRows(vtrack, rowsFor('eng-hide', "AND type = 'engagement'"), (rs) => rs.length >= 2);
  assert.equal(both.length, 2, JSON.stringify(both));
  const second = both.find((r) => r.event_id !== first[0].event_id);
  assert.ok(second.eng_ms >= 300 && second.eng_ms < 1400, `second eng_ms ${second.eng_ms} (hidden time counted?)`);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('a page restored from the back/forward cache counts a new page view', async () => {
  pages.pages.set('/bfcache', page({ title: 'Back again', src }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/bfcache`);
  await pollRows(vtrack, rowsFor('bfcache', "AND type = 'pageview'"));
  await sleep(300);
  // Headless Chromium keeps no page in its back/forward cache here, so fire the two events the browser fires
  // when a page goes into it and comes back out.
  await p.page.evaluate(() => {
    dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }));
    dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }));
  });
  const views = await pollRows(vtrack, rowsFor('bfcache', "AND type = 'pageview'"), (rs) => rs.length >= 2);
  assert.equal(views.length, 2, JSON.stringify(views));
  const eng = await pollRows(vtrack, rowsFor('bfcache', "AND type = 'engagement'"));
  assert.equal(eng.length, 1, JSON.stringify(eng));
  assert.ok(eng[0].eng_ms >= 250, `eng_ms ${eng[0].eng_ms}`);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('a prerendered page sends nothing until it is shown', async () => {
  const early = `<script>vtrack('event', 'prerender_early');</script>`;
  pages.pages.set('/prerender', page({ title: 'Prerendered', src, before: early }));
  // Chromium prerenders only pages that speculation rules ask for; play the part of the browser instead:
  // document.prerendering is true until activation, which fires prerenderingchange.
  const initScript = () => {
    window.__prerendering = true;
    Object.defineProperty(Document.prototype, 'prerendering', { configurable: true, get: () => window.__prerendering });
  };
  const p = await openPage(browser, { initScript });
  await p.page.goto(`${pages.origin}/prerender`, { waitUntil: 'load' });
  await p.page.evaluate(() => {
    vtrack('event', 'prerender_later');
    history.pushState(null, '', '/prerender/step');
  });
  await sleep(800);
  assert.deepEqual(p.beacons, [], 'sent while prerendering');
  const activated = Date.now();
  await p.page.evaluate(() => {
    window.__prerendering = false;
    document.dispatchEvent(new Event('prerenderingchange'));
  });
  const rows = await pollRows(vtrack, rowsFor('prerender'), (rs) => rs.length >= 3);
  assert.deepEqual(
    rows.map((r) => r.type).sort(),
    ['pageview', 'prerender_early', 'prerender_later'],
    JSON.stringify(rows),
  );
  // One page view, of the URL shown at activation, sent after it.
  const view = rows.find((r) => r.type === 'pageview');
  assert.equal(view.url, `${pages.origin}/prerender/step`);
  // (The store keeps whole seconds of UTC.)
  const viewMs = Date.parse(`${view.ts.replace(' ', 'T')}Z`);
  assert.ok(viewMs >= Math.floor(activated / 1000) * 1000, `page view at ${view.ts}, before activation at ${new Date(activated).toISOString()}`);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('without sendBeacon, fetch(keepalive) delivers, including on leaving the page', async () => {
  pages.pages.set('/no-beacon', page({ title: 'No beacon', src }));
  pages.pages.set('/no-beacon-next', '<!doctype html><title>next</title>');
  // As in a browser with beacons turned off (Firefox's beacon.enabled = false).
  const initScript = () => {
    delete Navigator.prototype.sendBeacon;
  };
  const p = await openPage(browser, { initScript });
  await p.page.goto(`${pages.origin}/no-beacon`);
  assert.equal(await p.page.evaluate(() => typeof navigator.sendBeacon), 'undefined');
  await p.page.evaluate(() => vtrack('event', 'no_beacon_click', { via: 'fetch' }));
  await sleep(700);
  await p.page.goto(`${pages.origin}/no-beacon-next`);
  const rows = await pollRows(vtrack, rowsFor('no-beacon', "AND url NOT LIKE '%next%'"), (rs) => rs.length >= 3);
  assert.deepEqual(rows.map((r) => r.type).sort(), ['engagement', 'no_beacon_click', 'pageview'], JSON.stringify(rows));
  assert.ok(rows.find((r) => r.type === 'engagement').eng_ms >= 600);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('identify from a contact form links the email to the visitor', async () => {
  pages.pages.set(
    '/identify-form',
    page({
      title: 'Contact',
      src,
      body: `<form id="f"><input name="email" type="email"><button>Send</button></form><p id="done" hidden>thanks</p>
        <script>document.getElementById('f').addEventListener('submit', function (e) {
          e.preventDefault(); vtrack('identify', this.email.value); document.getElementById('done').hidden = false; });</script>`,
    }),
  );
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/identify-form`);
  await pollRows(vtrack, rowsFor('identify-form', "AND type = 'pageview'"));
  await p.page.fill('input[name=email]', 'jo.buyer@acme-robotics.example');
  await p.page.click('button');
  await p.page.waitForSelector('#done:not([hidden])');
  const rows = await pollRows(vtrack, rowsFor('identify-form', "AND type = 'identify'"));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0].email, 'jo.buyer@acme-robotics.example');
  const [view] = await vtrack.sql(rowsFor('identify-form', "AND type = 'pageview'"));
  assert.ok(rows[0].visitor_id);
  assert.equal(rows[0].visitor_id, view.visitor_id);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('a custom event carries its name and props', async () => {
  pages.pages.set(
    '/custom-event',
    page({
      title: 'Trial',
      src,
      body: `<button id="trial">Start trial</button>
        <script>document.getElementById('trial').onclick = function () {
          vtrack('event', 'trial_click', { plan: 'business', seats: 25, annual: true }); };</script>`,
    }),
  );
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/custom-event`);
  await pollRows(vtrack, rowsFor('custom-event', "AND type = 'pageview'"));
  await p.page.click('#trial');
  const rows = await pollRows(vtrack, rowsFor('custom-event', "AND type = 'trial_click'"));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  const props = typeof rows[0].props === 'string' ? JSON.parse(rows[0].props) : rows[0].props;
  assert.deepEqual(props, { plan: 'business', seats: 25, annual: true });
  assert.equal(rows[0].title, 'Trial');
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('cookieless mode sends no visitor id and writes no cookie or storage; the server derives one', async () => {
  pages.pages.set('/cookieless', page({ title: 'Cookieless', src, attrs: { 'data-cookieless': '' } }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/cookieless`);
  const rows = await pollRows(vtrack, rowsFor('cookieless', "AND type = 'pageview'"));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  // What left the browser: no visitor id.
  const sent = p.beacons.filter((b) => b && b.type === 'pageview');
  assert.equal(sent.length, 1);
  assert.equal(sent[0].vid, '');
  // What the store has: a visitor id the server derived (daily, not persisted in the browser).
  assert.match(rows[0].visitor_id, ID);
  // Nothing persistent in the browser, for the page's origin or the collector's.
  assert.deepEqual(await p.page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, '']);
  assert.deepEqual(await p.context.cookies(), []);
  assert.deepEqual(p.errors, []);
  await p.close();

  // A fresh browser (same network and user agent, same day) is counted as the same visitor.
  const q = await openPage(browser);
  await q.page.goto(`${pages.origin}/cookieless?again=1`);
  const two = await pollRows(vtrack, rowsFor('cookieless', "AND type = 'pageview'"), (rs) => rs.length >= 2);
  assert.equal(two.length, 2, JSON.stringify(two));
  assert.equal(two[1].visitor_id, two[0].visitor_id);
  await q.close();
});

test('Do Not Track and Global Privacy Control are respected with data-respect-dnt', async () => {
  pages.pages.set('/dnt-on', page({ title: 'DNT', src, attrs: { 'data-respect-dnt': '' } }));
  pages.pages.set('/gpc-on', page({ title: 'GPC', src, attrs: { 'data-respect-dnt': '' } }));
  pages.pages.set('/dnt-ignored', page({ title: 'DNT not asked', src }));
  const calls = `<script>vtrack('event', 'early'); vtrack('identify', 'dnt@acme.example');</script>`;
  pages.pages.set('/dnt-calls', page({ title: 'DNT calls', src, attrs: { 'data-respect-dnt': '' }, before: calls }));

  const dnt = () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { configurable: true, get: () => '1' });
  const gpc = () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { configurable: true, get: () => true });

  const a = await openPage(browser, { initScript: dnt });
  await a.page.goto(`${pages.origin}/dnt-on`);
  await a.page.goto(`${pages.origin}/dnt-calls`);
  await a.page.evaluate(() => vtrack('event', 'later', { x: 1 }));
  const b = await openPage(browser, { initScript: gpc });
  await b.page.goto(`${pages.origin}/gpc-on`);
  await sleep(300);
  await a.page.close();
  await b.page.close();

  // Without data-respect-dnt the same DNT browser is tracked: the attribute is what decides.
  const c = await openPage(browser, { initScript: dnt });
  await c.page.goto(`${pages.origin}/dnt-ignored`);
  const tracked = await pollRows(vtrack, rowsFor('dnt-ignored'));
  assert.equal(tracked.length, 1, JSON.stringify(tracked));
  await c.close();
  await trackedControl('ctl-dnt');

  for (const token of ['dnt-on', 'dnt-calls', 'gpc-on']) {
    assert.deepEqual(await vtrack.sql(rowsFor(token)), [], `${token} was stored`);
  }
  assert.deepEqual(a.beacons, []);
  assert.deepEqual(b.beacons, []);
  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.close();
  await b.close();
});

test('nothing is sent from localhost or 127.x unless data-allow-localhost is set', async () => {
  pages.pages.set('/local-off', page({ title: 'Local', src }));
  pages.pages.set('/local-on', page({ title: 'Local allowed', src, attrs: { 'data-allow-localhost': '' } }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.loopbackOrigin}/local-off`);
  await p.page.evaluate(() => vtrack('event', 'local_click'));
  await p.page.goto(`${pages.loopbackOrigin}/local-on`);
  const on = await pollRows(vtrack, rowsFor('local-on'));
  assert.equal(on.length, 1, JSON.stringify(on));
  assert.equal(on[0].url, `${pages.loopbackOrigin}/local-on`);
  // A secure context (127.0.0.1): the event id is a crypto.randomUUID.
  assert.match(on[0].event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await trackedControl('ctl-local');
  assert.deepEqual(await vtrack.sql(rowsFor('local-off')), []);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('calls made before the script loads are queued and sent', async () => {
  const early = `<script>
    vtrack('event', 'early_signup', { step: 1 });
    vtrack('identify', 'early.bird@globex.example');
  </script>`;
  pages.pages.set('/queued', page({ title: 'Queued', src, before: early }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/queued`);
  const rows = await pollRows(vtrack, rowsFor('queued'), (rs) => rs.length >= 3);
  const byType = Object.fromEntries(rows.map((r) => [r.type, r]));
  assert.deepEqual(Object.keys(byType).sort(), ['early_signup', 'identify', 'pageview'], JSON.stringify(rows));
  assert.equal(rows.length, 3);
  assert.equal(byType.identify.email, 'early.bird@globex.example');
  const props = byType.early_signup.props;
  assert.deepEqual(typeof props === 'string' ? JSON.parse(props) : props, { step: 1 });
  assert.equal(new Set(rows.map((r) => r.visitor_id)).size, 1);
  assert.deepEqual(p.errors, []);
  await p.close();
});

test('a page whose script host is down, or whose collector is down, still works without errors', async () => {
  const downPort = await freePort();
  const app = `<button id="b">Buy</button><p id="out"></p>
    <script>document.getElementById('b').onclick = function () {
      vtrack('event', 'buy_click', { n: 1 }); vtrack('identify', 'x@acme.example');
      document.getElementById('out').textContent = 'bought'; };</script>`;
  // The script itself cannot be loaded: the stub keeps queueing, the page goes on.
  pages.pages.set('/down-script', page({ title: 'Script down', src: `http://127.0.0.1:${downPort}/t.js`, body: app }));
  // The script loads, but the collector it posts to is down.
  pages.pages.set(
    '/down-api',
    page({ title: 'API down', src, attrs: { 'data-api': `http://127.0.0.1:${downPort}` }, body: app }),
  );
  for (const path of ['/down-script', '/down-api']) {
    const p = await openPage(browser);
    await p.page.goto(`${pages.origin}${path}`, { waitUntil: 'load' });
    await sleep(300);
    await p.page.click('#b');
    assert.equal(await p.page.textContent('#out'), 'bought');
    await p.page.evaluate(() => history.pushState(null, '', '?step=2'));
    await sleep(200);
    await p.page.close({ runBeforeUnload: true });
    assert.deepEqual(p.errors, [], `${path}: ${p.errors.join('\n')}`);
    await p.close();
  }
  await trackedControl('ctl-down');
  assert.deepEqual(await vtrack.sql(rowsFor('down-')), []);
});

test('without JavaScript, the noscript pixel records the page view', async () => {
  const pixel = `<noscript><img src="${vtrack.origin}/v1/p.gif?site=test" referrerpolicy="no-referrer-when-downgrade" alt="" width="1" height="1"></noscript>`;
  pages.pages.set('/noscript', page({ title: 'No JS', src, body: pixel }));
  const p = await openPage(browser, { contextOptions: { javaScriptEnabled: false } });
  await p.page.goto(`${pages.origin}/noscript?utm_source=pixel`, { waitUntil: 'load' });
  const rows = await pollRows(vtrack, rowsFor('noscript'));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0].type, 'pageview');
  assert.equal(rows[0].url, `${pages.origin}/noscript?utm_source=pixel`);
  assert.equal(rows[0].utm_source, 'pixel');
  await p.close();
});

test('bad calls never throw into the page, and tracking goes on after them', async () => {
  pages.pages.set('/bad-calls', page({ title: 'Bad calls', src }));
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/bad-calls`);
  await pollRows(vtrack, rowsFor('bad-calls', "AND type = 'pageview'"));
  const results = await p.page.evaluate(() => {
    const circular = {};
    circular.self = circular;
    const calls = [
      [],
      ['event'],
      ['event', ''],
      ['event', 'circular', circular],
      ['identify'],
      ['no-such-command', 1, 2],
      [{ toString() { throw new Error('boom'); } }],
    ];
    return calls.map((args) => {
      try {
        vtrack(...args);
        return 'ok';
      } catch (e) {
        return String(e);
      }
    });
  });
  assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  await p.page.evaluate(() => vtrack('event', 'after_bad_calls'));
  const rows = await pollRows(vtrack, rowsFor('bad-calls', "AND type = 'after_bad_calls'"));
  assert.equal(rows.length, 1);
  assert.deepEqual(p.errors, []);
  await p.close();
});
