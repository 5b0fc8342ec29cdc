// Automated browsers kept out, measured through the real tracker and a real `vtrack serve` that runs as in
// production (no --keep-automated): a headless Chromium that Playwright drives, with a desktop user agent that
// passes the user-agent bot filter, is dropped and counted under `automation`; the same Chromium run the way
// a person runs it (launchPersonBrowser: no automation flag, no remote debugging, no driver) is kept.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  DESKTOP_UA,
  chromiumPath,
  droppedEvents,
  launchBrowser,
  launchPersonBrowser,
  openPage,
  page,
  pollRows,
  sleep,
  startPageServer,
  startVtrack,
} from './harness.mjs';

let vtrack, pages, browser, src;
// What pages report to the page server about themselves (GET /report?…), by page.
const reports = new Map();

before(async () => {
  vtrack = await startVtrack({ site: 'test' });
  pages = await startPageServer();
  browser = await launchBrowser();
  src = `${vtrack.origin}/t.js`;
  pages.pages.set('/report', (req) => {
    const q = Object.fromEntries(new URL(req.url, 'http://x').searchParams);
    reports.set(q.page, q);
    return 'ok';
  });
});

after(async () => {
  await browser?.close();
  await pages?.stop();
  await vtrack?.stop();
});

const rowsFor = (token) => `SELECT type, path, title, email, visitor_id FROM events WHERE url LIKE '%/${token}%' ORDER BY ts, type`;

// A page that tells the page server what it sees of itself, then acts like a visitor: an SPA navigation, a
// custom event and a form fill, all through the real tracker.
const visitor = (token, { before = '' } = {}) =>
  page({
    title: `Visitor ${token}`,
    src,
    before,
    body: `<script>
      var seen = { page: '${token}', webdriver: String(navigator.webdriver), ua: navigator.userAgent };
      new Image().src = '/report?' + new URLSearchParams(seen);
      setTimeout(function () {
        history.pushState({}, '', '/${token}/pricing');
        document.title = 'Pricing ${token}';
        vtrack('event', 'trial_click', { plan: 'team' });
        vtrack('identify', 'pat@acme-robotics.example');
      }, 400);
    </script>`,
  });

// Something kept, from a client the server cannot tell from a person (no `auto`), sent after the events
// under test: once it is stored, anything sent before it would be too, so an empty answer is a real one.
async function keptAfter(token) {
  const r = await fetch(`${vtrack.origin}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': DESKTOP_UA },
    body: JSON.stringify({ site: 'test', type: 'pageview', url: `https://www.acme.test/${token}` }),
  });
  assert.equal(r.status, 202);
  assert.equal((await pollRows(vtrack, rowsFor(token))).length, 1, `the control was not stored:\n${vtrack.log()}`);
}

// What one visit sends, by type.
const VISIT = ['engagement', 'identify', 'pageview', 'pageview', 'trial_click'];

// The drop counts once `n` more automated events have been counted (or 10 s have passed).
async function droppedSince(before, n) {
  let now = before;
  for (let i = 0; i < 100 && now.automation - before.automation < n; i++) {
    await sleep(100);
    now = await droppedEvents(vtrack);
  }
  return now;
}

async function waitForReport(token) {
  for (let i = 0; i < 100 && !reports.has(token); i++) await sleep(100);
  const seen = reports.get(token);
  assert.ok(seen, `the page /${token}/home never reported`);
  return seen;
}

test('a Playwright-driven headless Chromium with a desktop user agent is dropped and counted as automation', async () => {
  pages.pages.set('/driven/*', visitor('driven'));
  const before = await droppedEvents(vtrack);
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}/driven/home`);
  const seen = await waitForReport('driven');
  // A person's user agent, so the user-agent filter lets it through; only the page can see the driver.
  assert.equal(seen.ua, DESKTOP_UA);
  assert.equal(seen.webdriver, 'true');
  // The visit's five beacons (page view, the engaged time of the view left, SPA page view, event, identify),
  // each carrying `auto` with bit 1.
  for (let i = 0; i < 50 && p.beacons.length < VISIT.length; i++) await sleep(100);
  assert.deepEqual(p.beacons.map((b) => b.type).sort(), VISIT);
  assert.ok(p.beacons.every((b) => b.auto === 1), JSON.stringify(p.beacons));
  // All answered as a bot is (202), counted under their own reason.
  const now = await droppedSince(before, VISIT.length);
  assert.equal(now.automation - before.automation, VISIT.length, JSON.stringify({ before, now }));
  assert.equal(now.bot, before.bot, 'counted as automation, not as a user-agent bot');
  await p.close();
  await keptAfter('ctl-driven');
  assert.deepEqual(await vtrack.sql(rowsFor('driven')), []);
});

test('the same Chromium run as a person runs it is kept', async () => {
  pages.pages.set('/person/*', visitor('person'));
  const before = await droppedEvents(vtrack);
  const person = await launchPersonBrowser(`${pages.origin}/person/home`);
  try {
    const seen = await waitForReport('person');
    assert.equal(seen.ua, DESKTOP_UA);
    assert.equal(seen.webdriver, 'false', 'nothing drives this browser');
    const rows = await pollRows(vtrack, rowsFor('person'), (rs) => rs.length >= VISIT.length);
    assert.deepEqual(
      rows.map((r) => [r.type, r.path]).sort(),
      [
        ['engagement', '/person/home'],
        ['identify', '/person/pricing'],
        ['pageview', '/person/home'],
        ['pageview', '/person/pricing'],
        ['trial_click', '/person/pricing'],
      ],
      `${JSON.stringify(rows)}\n${person.log().slice(-2000)}`,
    );
    assert.equal(rows.find((r) => r.type === 'identify').email, 'pat@acme-robotics.example');
    assert.equal(new Set(rows.map((r) => r.visitor_id)).size, 1);
    assert.deepEqual(await droppedEvents(vtrack), before, 'nothing of it dropped');
  } finally {
    await person.close();
  }
});

test("a test runner's global on a person's browser is dropped too (Cypress, whose Electron leaves webdriver unset)", async () => {
  pages.pages.set('/runner/*', visitor('runner', { before: '<script>window.Cypress = { version: "13.0.0" };</script>' }));
  const before = await droppedEvents(vtrack);
  const person = await launchPersonBrowser(`${pages.origin}/runner/home`);
  try {
    const seen = await waitForReport('runner');
    assert.equal(seen.webdriver, 'false');
    const now = await droppedSince(before, VISIT.length);
    assert.equal(now.automation - before.automation, VISIT.length, JSON.stringify({ before, now }));
  } finally {
    await person.close();
  }
  await keptAfter('ctl-runner');
  assert.deepEqual(await vtrack.sql(rowsFor('runner')), []);
});

// The harness does not use a Chromium under remote debugging (chromium.connectOverCDP without
// --enable-automation) as a person's browser: current Chromium sets navigator.webdriver for remote debugging
// alone, and the tracker reports it. Should Chromium stop doing so, this fails and says so.
test('Chromium under remote debugging, even without --enable-automation, reports webdriver and is dropped', async () => {
  pages.pages.set('/debugged/*', visitor('debugged'));
  const profile = mkdtempSync(join(tmpdir(), 'vtrack-debugged-'));
  const proc = spawn(
    chromiumPath,
    ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--host-resolver-rules=MAP *.test 127.0.0.1',
      `--user-agent=${DESKTOP_UA}`, `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const gone = new Promise((r) => proc.on('exit', r));
  try {
    const ws = await new Promise((resolve, reject) => {
      let err = '';
      proc.stderr.on('data', (b) => {
        err += b;
        const m = err.match(/DevTools listening on (ws:\S+)/);
        if (m) resolve(m[1]);
      });
      proc.on('exit', () => reject(new Error(`Chromium exited:\n${err}`)));
    });
    const before = await droppedEvents(vtrack);
    const cdp = await chromium.connectOverCDP(ws);
    const tab = await cdp.contexts()[0].newPage();
    await tab.goto(`${pages.origin}/debugged/home`);
    const seen = await waitForReport('debugged');
    assert.equal(seen.webdriver, 'true', 'Chromium no longer sets navigator.webdriver under remote debugging');
    const now = await droppedSince(before, VISIT.length);
    assert.equal(now.automation - before.automation, VISIT.length, JSON.stringify({ before, now }));
    await cdp.close();
  } finally {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {}
    await gone;
    rmSync(profile, { recursive: true, force: true });
  }
});
