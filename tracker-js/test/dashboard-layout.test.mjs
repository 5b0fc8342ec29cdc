// What a person sees: every dashboard view at 1280, 1440 and 1920 pixels wide and at a phone's width, against a
// real `vtrack serve` filled through its beacon endpoint with realistic accounts (long company names and
// domains, owners with long names, every sales status, long campaign names and page paths). Fails when
//   - the page scrolls sideways (document.scrollingElement.scrollWidth > clientWidth), or anything sticks out
//     past the window's right edge;
//   - a table row's cells do not share one line: a cell starts lower than its row's first cell (a grid row
//     that wrapped, a header cell on a second header row), or text inside a cell breaks onto a second line
//     (each block in a cell — a name, its sub-line — is one line; nothing in it wraps);
//   - text overflows its cell: content past the cell's left or right edge, a cell past its table, a table
//     past its container; text that is clipped (scrollWidth > clientWidth) without an ellipsis and its full
//     text in a title attribute;
//   - a table's scrolling wrapper scrolls at a desktop width (on a phone a table may scroll inside its own
//     wrapper, never the page).
// On the phone the page must be laid out at the phone's width (its viewport meta tag honoured).
// Each run writes a full-page screenshot of every view at every width to
// $CARGO_TARGET_DIR/screenshots/dashboard/<view>-<width>.png (target/ of the repository by default), and where a
// table scrolls inside its wrapper (a phone) <view>-<width>-scrolled.png with the wrappers scrolled to the end.
//
// Environment: VTRACK_BIN (default ../target/debug/vtrack), CHROMIUM (default /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DESKTOP_UA, launchBrowser, repoDir, sleep, startVtrack } from './harness.mjs';

const TOKEN = 'layout-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const SITE = 'acme-site';
const WIDTHS = [
  { name: '1280', width: 1280, height: 900 },
  { name: '1440', width: 1440, height: 900 },
  { name: '1920', width: 1920, height: 1080 },
  { name: 'phone-390', width: 390, height: 844, phone: true },
];
export const screenshotDir = join(resolve(repoDir, process.env.CARGO_TARGET_DIR || 'target'), 'screenshots', 'dashboard');

const OWNERS = ['Alexandra Papadopoulou-Richter', 'Bo Chen', 'Maximilian von Oberhausen-Schwarzenberg'];

// name, domain, network class, country, how many people, visits each, pages, campaign, status history (oldest first)
const LONG = 'consolidated-intl-freight-forwarding-logistics-holdings.example';
const COMPANIES = [
  {
    name: 'Consolidated International Freight Forwarding & Logistics Holdings GmbH & Co. KG',
    domain: LONG,
    country: 'DE',
    class: 'business',
    people: 5,
    visits: 4,
    pages: [
      '/pricing',
      '/products/fleet-telematics/cold-chain-temperature-monitoring/integrations',
      '/case-studies/pharmaceutical-distribution-gdp-compliance-at-scale',
      '/demo',
      '/pricing/enterprise',
      '/docs/api/v2/webhooks/signature-verification',
    ],
    campaign: ['linkedin', 'paid-social', '2026-q4-enterprise-cold-chain-webinar-retargeting-emea'],
    email: true,
  },
  {
    name: 'Acme Robotics',
    domain: 'acme-robotics.example',
    country: 'US',
    class: 'business',
    people: 4,
    visits: 3,
    pages: ['/', '/pricing', '/demo', '/products/fleet', '/docs/api'],
    campaign: ['linkedin', 'paid-social', 'q4-fleet-launch'],
    status: [['contacted', 'intro call booked with the head of operations']],
  },
  {
    name: 'Universitätsklinikum Schleswig-Holstein, Campus Kiel – Zentrale Beschaffung und Logistik',
    domain: 'uksh-campus-kiel-zentrale-beschaffung-logistik.example',
    country: 'DE',
    class: 'education',
    people: 3,
    visits: 2,
    pages: ['/products/cold-chain', '/case-studies/pharma', '/pricing'],
    campaign: ['google', 'cpc', 'cold-chain-hospitals-dach-exact-match'],
    status: [['contacted', 'sent the cold-chain brochure'], ['qualified', 'pilot with two wards']],
  },
  {
    name: 'Globex Logistics',
    domain: 'globex.example',
    country: 'GB',
    class: 'business',
    people: 2,
    visits: 3,
    pages: ['/blog/route-planning', '/blog/ev-fleets', '/products/fleet', '/pricing'],
    campaign: ['newsletter', 'email', 'november-digest'],
    status: [['contacted', 'asked for the case study'], ['qualified', 'pilot with two depots'], ['won', 'signed for 40 vehicles']],
  },
  {
    name: 'Department of Transportation, Office of Freight Management and Operations',
    domain: 'ops.freight-management.transportation.gov.example',
    country: 'US',
    class: 'government',
    people: 2,
    visits: 2,
    pages: ['/security', '/docs/compliance/fedramp-moderate-authorization-package', '/pricing'],
    status: [['contacted', 'procurement asked for a quote'], ['lost', 'went with the incumbent']],
  },
  {
    name: 'Initech',
    domain: 'initech.example',
    country: 'US',
    class: 'business',
    people: 2,
    visits: 2,
    pages: ['/careers', '/pricing', '/about'],
  },
  {
    name: 'Société Générale de Transport Frigorifique et d’Entreposage Sous Température Dirigée',
    domain: 'sgtf-transport-frigorifique-entreposage.example',
    country: 'FR',
    class: 'business',
    people: 2,
    visits: 3,
    pages: ['/products/cold-chain', '/demo', '/pricing', '/case-studies/pharma'],
    campaign: ['google', 'cpc', 'cold-chain'],
  },
  {
    name: 'Nordic Cold Chain Solutions AB',
    domain: 'nordic-coldchain.example',
    country: 'SE',
    class: 'business',
    people: 1,
    visits: 2,
    pages: ['/', '/about'],
  },
  {
    name: 'Wayne Enterprises',
    domain: 'wayne-enterprises.example',
    country: 'US',
    class: 'business',
    people: 1,
    visits: 1,
    pages: ['/', '/blog/research'],
    campaign: ['twitter', 'social', 'brand'],
  },
  {
    name: 'Stark Industries',
    domain: 'stark-industries.example',
    country: 'US',
    class: 'business',
    people: 3,
    visits: 1,
    pages: ['/docs', '/docs/api', '/docs/sdk'],
    campaign: ['google', 'cpc', 'developer-program-api-sdk-documentation-search'],
  },
];

let vtrack;
let hooks;
let browser;
let workDir;
const pageErrors = [];

/** A webhook receiver: alerts are delivered to it, so the account page lists deliveries. */
async function startHooks() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, stop: () => new Promise((r) => server.close(r)) };
}

async function api(path, init = {}) {
  const r = await fetch(`${vtrack.origin}${path}`, { ...init, headers: { ...AUTH, ...(init.headers || {}) } });
  const text = await r.text();
  assert.ok(r.ok, `${init.method || 'GET'} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** Posts one beacon request as a visitor at `ip`; retries while throttled. */
async function beacon(ip, events) {
  for (let i = 0; ; i++) {
    const r = await fetch(`${vtrack.origin}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'user-agent': DESKTOP_UA, 'x-forwarded-for': ip },
      body: JSON.stringify(events),
    });
    if (r.status === 202) return;
    if (r.status !== 429 && r.status !== 503) assert.fail(`POST /v1/events from ${ip}: ${r.status} ${await r.text()}`);
    if (i > 50) assert.fail(`POST /v1/events from ${ip} still throttled`);
    await sleep(200);
  }
}

/** Weeks of visits from every company, the latest a few hours ago, so some accounts turned hot a while back. */
async function replay() {
  const now = Date.now();
  let n = 0;
  let seed = 20261123;
  const rand = (k) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % k;
  };
  for (const [c, company] of COMPANIES.entries()) {
    for (let p = 0; p < company.people; p++) {
      const ip = `198.51.${100 + Math.floor(c / 4)}.${(c % 4) * 64 + 1 + p}`;
      const vid = `visitor-${c}-${p}`;
      for (let v = 0; v < company.visits; v++) {
        const daysAgo = (company.visits - 1 - v) * 6 + rand(2);
        let ts = now - daysAgo * 86_400_000 - (2 * 3_600_000 + rand(3_600_000));
        let referrer = 'https://www.google.com/';
        const pages = 2 + rand(Math.max(1, company.pages.length - 1));
        for (let i = 0; i < pages; i++) {
          const path = company.pages[(p + v + i) % company.pages.length];
          let url = `https://www.acme-telematics.example${path}`;
          if (i === 0 && company.campaign) {
            const [s, m, k] = company.campaign;
            url += `?utm_source=${s}&utm_medium=${m}&utm_campaign=${k}`;
          }
          const title = `${path === '/' ? 'Fleet telematics for cold-chain logistics' : path.split('/').pop().replace(/-/g, ' ')} — Acme Telematics`;
          const engaged = 5_000 + rand(120_000);
          const events = [
            { site: SITE, type: 'pageview', url, ref: referrer, title, vid, eid: `e-${n++}`, ts },
            { site: SITE, type: 'engagement', url, vid, eid: `e-${n++}`, ts: ts + engaged, eng_ms: engaged },
          ];
          if (company.email && path === '/demo' && p === 0) {
            events.push({ site: SITE, type: 'identify', url, vid, eid: `e-${n++}`, ts: ts + engaged, email: `jordan.lee-whitaker@${company.domain}` });
          }
          await beacon(ip, events);
          referrer = url;
          ts += engaged + 2_000;
        }
      }
    }
  }
}

before(
  async () => {
    rmSync(screenshotDir, { recursive: true, force: true });
    mkdirSync(screenshotDir, { recursive: true });
    workDir = mkdtempSync(join(tmpdir(), 'vtrack-layout-test-'));
    hooks = await startHooks();
    const csv = ['cidr,name,domain,class'];
    for (const [c, company] of COMPANIES.entries()) {
      csv.push(`198.51.${100 + Math.floor(c / 4)}.${(c % 4) * 64}/26,"${company.name}",${company.domain},${company.class}`);
    }
    writeFileSync(join(workDir, 'companies.csv'), `${csv.join('\n')}\n`);
    const countries = COMPANIES.map((c, i) => `198.51.${100 + Math.floor(i / 4)}.${(i % 4) * 64},198.51.${100 + Math.floor(i / 4)}.${(i % 4) * 64 + 63},${c.country}`);
    writeFileSync(join(workDir, 'countries.csv'), `${countries.join('\n')}\n`);
    const q = (s) => JSON.stringify(s);
    writeFileSync(
      join(workDir, 'vtrack.toml'),
      [
        '[server]',
        'trusted_proxies = ["127.0.0.0/8"]',
        'client_clock_window = "35d"',
        '[resolve]',
        `companies = [${q(join(workDir, 'companies.csv'))}]`,
        `country_csv = [${q(join(workDir, 'countries.csv'))}]`,
        '[dashboard]',
        `token = ${q(TOKEN)}`,
        '[scoring.stages]',
        'warm = 40.0',
        'hot = 150.0',
        '[alerts]',
        'on_return_visit = true',
        '[[alerts.webhooks]]',
        `url = ${q(`http://127.0.0.1:${hooks.port}/hooks/vtrack/alerts/sales-team-emea`)}`,
        'secret = "layout"',
        ...OWNERS.flatMap((o) => ['[[owners]]', `name = ${q(o)}`]),
        '[[assign]]',
        'countries = ["DE", "AT", "CH"]',
        `owner = ${q(OWNERS[0])}`,
        '[[assign]]',
        `team = [${OWNERS.map(q).join(', ')}]`,
        '[sla]',
        'hot_followup = "1h"',
      ].join('\n'),
    );
    vtrack = await startVtrack({
      site: SITE,
      extraArgs: ['--config', join(workDir, 'vtrack.toml'), '--durability', 'memory'],
    });
    await replay();
    // Every company is an account once processing caught up.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { accounts } = await api('/api/accounts');
      if (accounts.length === COMPANIES.length) break;
      if (Date.now() > deadline) assert.fail(`${accounts.length} of ${COMPANIES.length} accounts after 60 s:\n${vtrack.log()}`);
      await sleep(250);
    }
    for (const company of COMPANIES) {
      for (const [status, note] of company.status || []) {
        await api(`/api/accounts/${encodeURIComponent(company.domain)}/status`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ status, note, by: OWNERS[1] }),
        });
      }
    }
    const { accounts } = await api('/api/accounts');
    const statuses = new Set(accounts.map((a) => a.status));
    for (const s of ['new', 'contacted', 'qualified', 'won', 'lost']) assert.ok(statuses.has(s), `an account is ${s}`);
    assert.ok(accounts.some((a) => a.stage === 'hot' && a.overdue > 0), `an overdue hot account: ${JSON.stringify(accounts)}`);
    assert.ok(accounts.every((a) => OWNERS.includes(a.owner)), 'every account has an owner');
    browser = await launchBrowser();
  },
  { timeout: 180_000 },
);

after(async () => {
  await browser?.close();
  await vtrack?.stop();
  await hooks?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/**
 * Runs in the page: every layout problem of what is on screen, as sentences. `phone`: tables may scroll
 * inside their own wrapper.
 */
function layoutProblems({ phone }) {
  const problems = [];
  const style = (el) => getComputedStyle(el);
  const rendered = (el) => el.getClientRects().length > 0 && style(el).visibility !== 'hidden';
  const clean = (s) => String(s || '').replace(/\s+/g, ' ').trim();
  const short = (s) => {
    const t = clean(s);
    return t.length > 60 ? `${t.slice(0, 57)}…` : t;
  };
  const describe = (el) => {
    const tid = el.closest('[data-testid]');
    const where = tid && tid !== el ? ` in [data-testid=${tid.dataset.testid}]` : '';
    const id = el.dataset && el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
    return `<${el.tagName.toLowerCase()}${id}> "${short(el.textContent)}"${where}`;
  };
  const se = document.scrollingElement;
  const viewportRight = se.clientWidth;
  // A page without a fitting viewport meta tag is laid out wider than a phone and shown shrunk.
  if (phone && se.clientWidth !== window.screen.width) {
    problems.push(`the page is laid out ${se.clientWidth} px wide on a ${window.screen.width} px phone (no viewport meta tag?)`);
  }
  if (se.scrollWidth > se.clientWidth) {
    problems.push(`the page scrolls sideways: document.scrollingElement.scrollWidth ${se.scrollWidth} > clientWidth ${se.clientWidth}`);
  }
  const scroller = (el) => ['auto', 'scroll'].includes(style(el).overflowX);
  const clipper = (el) => style(el).overflowX !== 'visible';

  // Clipping and scrolling, anywhere on the page.
  for (const el of document.body.querySelectorAll('*')) {
    if (!rendered(el) || !clipper(el) || el.scrollWidth <= el.clientWidth) continue;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) continue; // a control scrolls its own value
    if (scroller(el)) {
      if (!phone) problems.push(`${describe(el)} scrolls sideways at a desktop width: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
      else if (!el.querySelector('table')) problems.push(`${describe(el)} scrolls sideways and holds no table: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
      continue;
    }
    // Cut text is fine as an ellipsis that a title spells out in full; anything else is text lost.
    const s = style(el);
    const texts = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) if (clean(t.data)) texts.push(clean(t.data));
    const titled = el.closest('[title]');
    const title = titled ? clean(titled.getAttribute('title')) : '';
    const ellipsis = s.textOverflow === 'ellipsis' && /nowrap|pre/.test(s.whiteSpace) && texts.length > 0;
    if (!ellipsis || !texts.every((t) => title.includes(t))) {
      problems.push(
        `${describe(el)} cuts its content${ellipsis ? ' with an ellipsis but no title holding its full text' : ' without an ellipsis'}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`,
      );
    }
  }

  // Nothing outside a scroller or a clipping box sticks out past the window's right edge (named by the
  // innermost boxes that do, not each of their ancestors).
  const sticksOut = (el) => {
    if (!rendered(el)) return false;
    let a = el.parentElement;
    while (a && a !== document.body && !clipper(a)) a = a.parentElement;
    if (a && a !== document.body) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > viewportRight + 0.5;
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (!sticksOut(el) || [...el.children].some(sticksOut)) continue;
    problems.push(`${describe(el)} sticks out past the window's right edge: right ${el.getBoundingClientRect().right.toFixed(1)} > ${viewportRight}`);
  }

  /** The line fragments of a cell: text runs and atomic inline boxes, each with the block it is laid out in. */
  function fragments(cell) {
    const out = [];
    const blockOf = (node) => {
      let b = node.parentElement;
      while (b !== cell && /^(inline|contents)$/.test(style(b).display)) b = b.parentElement;
      return b;
    };
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT, {
      acceptNode: (n) => {
        if (n.nodeType === Node.TEXT_NODE) return clean(n.data) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP;
        if (!rendered(n)) return NodeFilter.FILTER_REJECT;
        const d = style(n).display;
        // An atomic inline (a badge, a sparkline, a control): one fragment of its parent block's line.
        if (/^inline-/.test(d) || ((d === 'inline') && /^(svg|img|input|select|button|textarea)$/i.test(n.tagName))) return NodeFilter.FILTER_ACCEPT;
        return NodeFilter.FILTER_SKIP;
      },
    });
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.nodeType === Node.TEXT_NODE) {
        const range = document.createRange();
        range.selectNodeContents(n);
        const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
        out.push({ node: n, block: blockOf(n), rects, text: clean(n.data) });
      } else {
        out.push({ node: n, block: blockOf(n), rects: [n.getBoundingClientRect()], text: clean(n.textContent) || n.tagName.toLowerCase() });
      }
    }
    return out;
  }

  /** The nearest box between `node` (exclusive) and `cell` (inclusive) that clips, or null. */
  function clippedWithin(node, cell) {
    for (let a = node.parentElement; a; a = a.parentElement) {
      if (clipper(a)) return a;
      if (a === cell) return null;
    }
    return null;
  }

  const view = document.getElementById('view') || document.body;
  for (const table of view.querySelectorAll('table')) {
    if (!rendered(table)) continue;
    const tname = table.dataset.testid || (table.closest('[data-testid]') ? `table in ${table.closest('[data-testid]').dataset.testid}` : 'table');
    const tr = table.getBoundingClientRect();
    // The table within its container (a scrolling wrapper is checked above).
    let box = table.parentElement;
    while (box && /^(inline|contents)$/.test(style(box).display)) box = box.parentElement;
    if (box && !scroller(box)) {
      const br = box.getBoundingClientRect();
      if (tr.right > br.right + 0.5 || tr.left < br.left - 0.5) {
        problems.push(`${tname}: the table (${tr.left.toFixed(0)}–${tr.right.toFixed(0)}) extends past its container (${br.left.toFixed(0)}–${br.right.toFixed(0)})`);
      }
    }
    const headers = [...table.querySelectorAll('thead tr:first-child > th')].map((th) => clean(th.textContent) || '(blank)');
    const rows = [...table.querySelectorAll('tr')].filter((row) => row.closest('table') === table && rendered(row));
    rows.forEach((row, ri) => {
      const rowName = row.parentElement.tagName === 'THEAD' ? 'the header row' : `row ${ri}${row.dataset.domain ? ` (${row.dataset.domain})` : ''}`;
      const cells = [...row.children].filter((c) => /^(TD|TH)$/.test(c.tagName) && rendered(c));
      if (cells.length === 0) return;
      const top = cells[0].getBoundingClientRect().top;
      cells.forEach((cell, ci) => {
        const col = cells.length > 1 ? headers[ci] || `column ${ci + 1}` : 'its cell';
        const where = `${tname}, ${rowName}, ${col}`;
        const cr = cell.getBoundingClientRect();
        if (Math.abs(cr.top - top) > 1) {
          problems.push(`${where}: the cell is not on the row's line (its top ${cr.top.toFixed(1)}, the row's ${top.toFixed(1)}) — it wrapped onto a line of its own`);
        }
        if (cr.right > tr.right + 0.5) problems.push(`${where}: the cell (right ${cr.right.toFixed(1)}) extends past the table's right edge ${tr.right.toFixed(1)}`);
        const frags = fragments(cell);
        // Each block of the cell is one line: its fragments overlap vertically, and no text run breaks.
        const byBlock = new Map();
        for (const f of frags) {
          if (f.rects.length === 0) continue;
          if (f.node.nodeType === Node.TEXT_NODE) {
            const tops = f.rects.map((r) => r.top);
            if (Math.max(...tops) - Math.min(...tops) > 1) {
              problems.push(`${where}: "${short(f.text)}" wraps onto ${new Set(tops.map(Math.round)).size} lines`);
              continue;
            }
          }
          if (!byBlock.has(f.block)) byBlock.set(f.block, []);
          byBlock.get(f.block).push(f);
        }
        for (const list of byBlock.values()) {
          const rects = list.flatMap((f) => f.rects);
          const maxTop = Math.max(...rects.map((r) => r.top));
          const minBottom = Math.min(...rects.map((r) => r.bottom));
          if (maxTop > minBottom - 1) {
            problems.push(`${where}: "${short(list.map((f) => f.text).join(' '))}" does not fit on one line`);
          }
        }
        // Nothing past the cell's edges unless a box inside the cell clips it (checked above).
        for (const f of frags) {
          if (clippedWithin(f.node, cell)) continue;
          for (const r of f.rects) {
            if (r.right > cr.right + 0.5 || r.left < cr.left - 0.5) {
              problems.push(`${where}: "${short(f.text)}" overflows the cell (${r.left.toFixed(0)}–${r.right.toFixed(0)} in ${cr.left.toFixed(0)}–${cr.right.toFixed(0)})`);
              break;
            }
          }
        }
      });
    });
  }
  return [...new Set(problems)];
}

/** The views the dashboard has (app.js's router), each opened from a fresh page and ready. */
function views() {
  const ready = (testid) => `[data-testid="${testid}"][data-state="ready"]`;
  return [
    { name: 'sign-in', path: '/', signedOut: true, ready: 'form input[name="token"]' },
    { name: 'accounts', path: '/#/accounts', ready: ready('accounts-table') },
    { name: 'account', path: `/#/account/${encodeURIComponent(LONG)}`, ready: '[data-view="account"][data-state="ready"]' },
    { name: 'account-short', path: '/#/account/acme-robotics.example', ready: '[data-view="account"][data-state="ready"]' },
    { name: 'live', path: '/#/live', ready: '[data-testid="live-table"][data-state="ready"] tbody tr' },
    { name: 'campaigns', path: '/#/campaigns', ready: ready('campaigns-table') },
    { name: 'funnel-weeks', path: '/#/funnel?period=week', ready: ready('funnel-table') },
    { name: 'funnel-months', path: '/#/funnel?period=month', ready: ready('funnel-table') },
  ];
}

for (const size of WIDTHS) {
  test(`every view at ${size.name} px: no sideways scroll, one line per table row, no text past its cell`, { timeout: 120_000 }, async () => {
    const found = [];
    // A phone is emulated as one (its viewport meta tag honoured, touch, overlay scrollbars).
    const newContext = async () => {
      const context = await browser.newContext({
        viewport: { width: size.width, height: size.height },
        userAgent: DESKTOP_UA,
        ...(size.phone ? { isMobile: true, hasTouch: true } : {}),
      });
      context.setDefaultTimeout(15_000);
      return context;
    };
    // Signed in once (the cookie the dashboard sets), then each view on a page of its own.
    const signedIn = await newContext();
    const signIn = await signedIn.newPage();
    await signIn.goto(`${vtrack.origin}/?token=${TOKEN}`);
    await signIn.waitForSelector('[data-testid="accounts-table"][data-state="ready"]');
    await signIn.close();
    try {
      for (const v of views()) {
        const context = v.signedOut ? await newContext() : signedIn;
        const page = await context.newPage();
        try {
          page.on('pageerror', (e) => pageErrors.push(`${v.name} at ${size.name}: ${e}`));
          await page.goto(`${vtrack.origin}${v.path}`);
          await page.waitForSelector(v.ready);
          await page.evaluate(() => document.fonts.ready);
          await page.screenshot({ path: join(screenshotDir, `${v.name}-${size.name}.png`), fullPage: true });
          const problems = await page.evaluate(layoutProblems, { phone: Boolean(size.phone) });
          // What a table hides beyond its wrapper's right edge is seen after scrolling it: a second picture,
          // checked again.
          const scrolled = await page.evaluate(() => {
            let any = false;
            for (const w of document.querySelectorAll('#view .table-wrap')) {
              if (w.scrollWidth > w.clientWidth) {
                w.scrollLeft = w.scrollWidth;
                any = true;
              }
            }
            return any;
          });
          if (scrolled) {
            await page.screenshot({ path: join(screenshotDir, `${v.name}-${size.name}-scrolled.png`), fullPage: true });
            problems.push(...(await page.evaluate(layoutProblems, { phone: Boolean(size.phone) })));
          }
          for (const p of new Set(problems)) found.push(`${v.name} at ${size.name} px: ${p}`);
        } finally {
          await page.close();
          if (context !== signedIn) await context.close();
        }
      }
    } finally {
      await signedIn.close();
    }
    assert.deepEqual(pageErrors, []);
    assert.equal(found.length, 0, `${found.length} layout problems (screenshots in ${screenshotDir}):\n${found.join('\n')}`);
  });
}

test('a screenshot of every view at every width was written', () => {
  const files = readdirSync(screenshotDir).filter((f) => !f.endsWith('-scrolled.png')).sort();
  const expected = WIDTHS.flatMap((s) => views().map((v) => `${v.name}-${s.name}.png`)).sort();
  assert.deepEqual(files, expected);
});
