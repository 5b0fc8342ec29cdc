// The dashboard against a hostile page, in a real Chromium: the page frames the dashboard, auto-submits a
// text/plain form at the status API, posts JSON at it with fetch, and reaches vtrack by a rebinding host
// name. The dashboard runs with no token on loopback (open), the setup the attacks first went after.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launchBrowser, openPage, pollRows, repoDir, startPageServer, startVtrack, DESKTOP_UA } from './harness.mjs';

const ACME = 'acme-robotics.example';
let vtrack;
let pages;
let browser;

before(async () => {
  const fixtures = join(repoDir, 'fixtures');
  vtrack = await startVtrack({
    extraArgs: ['--trusted-proxy', '127.0.0.1/32', '--companies', join(fixtures, 'companies.csv'),
      '--mmdb', join(fixtures, 'demo.mmdb'), '--asn-csv', join(fixtures, 'asn.csv')],
  });
  // One page view from Acme's range, so there is an account whose status the attacks go after.
  const r = await fetch(`${vtrack.origin}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': DESKTOP_UA, 'x-forwarded-for': '198.51.100.10' },
    body: JSON.stringify({ site: 'test', type: 'pageview', url: 'https://www.acme.test/pricing', vid: 'v1' }),
  });
  assert.equal(r.status, 202);
  const rows = await pollRows(vtrack, 'SELECT company_domain FROM accounts');
  assert.deepEqual(rows, [{ company_domain: ACME }]);
  pages = await startPageServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await vtrack?.stop();
});

const statuses = () => vtrack.sql('SELECT status FROM account_status');

test('another page cannot frame the dashboard', { timeout: 30_000 }, async () => {
  pages.pages.set('/frame', `<!doctype html><title>frame</title><iframe id=f src="${vtrack.origin}/" width=800 height=600></iframe>`);
  const { page, close } = await openPage(browser);
  const refused = [];
  page.on('console', (m) => refused.push(m.text()));
  const [dashboard] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${vtrack.origin}/`),
    page.goto(`${pages.origin}/frame`),
  ]);
  assert.equal(dashboard.status(), 200, 'the dashboard answered; the browser must refuse to show it');
  await page.waitForLoadState('load');
  const frame = page.frames().find((f) => f !== page.mainFrame());
  const inside = await frame.evaluate(() => Boolean(document.querySelector('[data-testid="nav"]'))).catch(() => false);
  assert.equal(inside, false, `the framed dashboard rendered (frame at ${frame.url()})`);
  assert.ok(refused.some((t) => /frame-ancestors|X-Frame-Options/.test(t)), refused.join('\n'));
  await close();
});

test('an auto-submitted cross-origin form and a cross-origin JSON fetch cannot set a status', { timeout: 30_000 }, async () => {
  const action = `${vtrack.origin}/api/accounts/${ACME}/status`;
  // The text/plain trick: the body becomes {"status":"lost","x":"="}, valid JSON, sent without a preflight.
  pages.pages.set(
    '/form',
    `<!doctype html><title>form</title><iframe name=sink></iframe>
     <form id=f method=post enctype="text/plain" action="${action}" target=sink>
     <input type=hidden name='{"status":"lost","x":"' value='"}'></form>
     <script>document.getElementById('f').submit()</script>`,
  );
  const { page, close } = await openPage(browser);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST'),
    page.goto(`${pages.origin}/form`),
  ]);
  // The browser marks it Sec-Fetch-Site: cross-site (without that header, text/plain alone gets 415).
  assert.equal(answer.status(), 403);
  // fetch with JSON needs a preflight vtrack never grants; a same-site sibling origin (127.0.0.1, another
  // port) is refused the same way.
  for (const origin of [pages.origin, pages.loopbackOrigin]) {
    await page.goto(`${origin}/form-none`).catch(() => {});
    const outcome = await page.evaluate(async (url) => {
      try {
        const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"lost"}' });
        return `answered ${r.status}`;
      } catch (e) {
        return 'blocked';
      }
    }, action);
    assert.equal(outcome, 'blocked', origin);
  }
  assert.deepEqual(await statuses(), [], 'no status was written');
  await close();
});

test('a rebinding host name cannot read the dashboard or its API', { timeout: 30_000 }, async () => {
  const { page, close } = await openPage(browser);
  // evil.test resolves to 127.0.0.1 in this browser, as an attacker's DNS would make it.
  for (const path of ['/', '/api/accounts']) {
    const r = await page.goto(`http://evil.test:${vtrack.port}${path}`);
    assert.equal(r.status(), 403, path);
    assert.ok(!(await r.text()).includes(ACME), path);
  }
  const own = await page.goto(`${vtrack.origin}/api/accounts`);
  assert.equal(own.status(), 200, 'the loopback name still works');
  await close();
});
