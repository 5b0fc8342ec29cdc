// Test harness: a real `vtrack serve`, a tiny page server on another loopback port, and Debian's Chromium
// driven by playwright-core. Tests read back what reached the store with `vtrack sql`.
//
// A Chromium that Playwright drives says so to every page (navigator.webdriver), and the server drops what
// the tracker reports as automated. Tests that drive the browser to test the tracker's behaviour therefore
// start the server with KEEP_AUTOMATED (`--keep-automated`, a test-only switch); the automation tests
// (automation.test.mjs) start it without, and open pages in a person's browser too (launchPersonBrowser).
//
// Environment:
//   VTRACK_BIN   the vtrack binary (default: ../target/debug/vtrack from tracker-js/, i.e. the workspace's)
//   CHROMIUM     the browser (default: /usr/bin/chromium)
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const trackerDir = resolve(here, '..');
export const repoDir = resolve(trackerDir, '..');
export const vtrackBin = resolve(process.env.VTRACK_BIN || join(repoDir, 'target', 'debug', 'vtrack'));
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// A desktop Chrome user agent: the server drops bot user agents (HeadlessChrome among them) silently.
export const DESKTOP_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

// Pages are served as http://www.acme.test:PORT/..., a name Chromium resolves to 127.0.0.1 through
// --host-resolver-rules: a realistic customer origin (not localhost, not a secure context), so the script's
// localhost rule and its non-crypto.randomUUID fallback are exercised as on a real site.
export const SITE_HOST = 'www.acme.test';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `vtrack serve` flag for tests that drive Chromium with Playwright: keep the events the tracker reports as
 * automated, which a real server drops (`[server] keep_automated`, testing only).
 */
export const KEEP_AUTOMATED = '--keep-automated';

/** A free TCP port on 127.0.0.1 (nothing listens on it once this returns). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createNetServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

function run(bin, args, timeout = 30_000) {
  return new Promise((res, rej) => {
    execFile(bin, args, { timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ${bin} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
        rej(err);
      } else res(stdout);
    });
  });
}

/** Starts `vtrack serve` on a free port with a temporary data dir; resolves once it serves /t.js. */
export async function startVtrack({ site = 'test', extraArgs = [] } = {}) {
  if (!existsSync(vtrackBin)) {
    throw new Error(
      `no vtrack binary at ${vtrackBin}: build it with \`cargo build -p vtrack\` in the workspace, or set VTRACK_BIN`,
    );
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'vtrack-tracker-test-'));
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--site', site, ...extraArgs];
  const proc = spawn(vtrackBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  let log = '';
  proc.stdout.on('data', (b) => (log += b));
  proc.stderr.on('data', (b) => (log += b));
  let exited = null;
  proc.on('exit', (code, signal) => (exited = { code, signal }));

  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`vtrack serve exited early (${JSON.stringify(exited)}):\n${log}`);
    try {
      const r = await fetch(`${origin}/t.js`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`vtrack serve did not answer GET /t.js within 60 s:\n${log}`);
    }
    await sleep(200);
  }

  return {
    origin,
    port,
    dataDir,
    log: () => log,
    /** Runs `vtrack sql --format json` against the store and returns the rows. */
    async sql(query) {
      const out = await run(vtrackBin, ['sql', '--data-dir', dataDir, '--format', 'json', query]);
      const text = out.trim();
      return text ? JSON.parse(text) : [];
    },
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = Date.now();
        while (!exited && Date.now() - t < 5000) await sleep(50);
        if (!exited) proc.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls `query` until `done(rows)` holds (default: at least one row) or `timeout` ms pass; returns the last
 * rows either way, so the caller's assertion shows what was there. Ingest processes asynchronously.
 */
export async function pollRows(vtrack, query, done = (rows) => rows.length > 0, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let rows = [];
  for (;;) {
    rows = await vtrack.sql(query);
    if (done(rows) || Date.now() > deadline) return rows;
    await sleep(250);
  }
}

/** A page server on its own loopback port: `pages.set(path, html)`, then open `${origin}${path}`. */
export async function startPageServer() {
  const pages = new Map();
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const page = pages.get(path) ?? [...pages.entries()].find(([p]) => p.endsWith('/*') && path.startsWith(p.slice(0, -1)))?.[1];
    if (page === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(typeof page === 'function' ? page(req) : page);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    pages,
    port,
    origin: `http://${SITE_HOST}:${port}`,
    loopbackOrigin: `http://127.0.0.1:${port}`,
    stop: () => new Promise((r) => server.close(r)),
  };
}

const STUB = '<script>window.vtrack=window.vtrack||function(){(vtrack.q=vtrack.q||[]).push(arguments)}</script>';

/**
 * An HTML page embedding t.js the way customers do.
 *   src      the script URL (normally `${vtrack.origin}/t.js`)
 *   attrs    extra attributes on the script tag, e.g. { 'data-cookieless': '' }
 *   before   HTML placed after the queue stub and before the script tag (e.g. early vtrack calls)
 */
export function page({ title = 'Test page', src, site = 'test', attrs = {}, stub = true, before = '', body = '' }) {
  const attrText = Object.entries(attrs)
    .map(([k, v]) => (v === '' ? ` ${k}` : ` ${k}="${v}"`))
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
${stub ? STUB : ''}${before}
<script async src="${src}" data-site="${site}"${attrText}></script>
</head><body>${body}</body></html>`;
}

/** Launches Debian's Chromium, headless, with *.test names resolved to 127.0.0.1. */
export async function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: install it with \`apt-get install -y chromium\` or set CHROMIUM`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--host-resolver-rules=MAP *.test 127.0.0.1',
      // The context's userAgent does not cover beacons sent while a page unloads: those carry the browser's
      // own default (HeadlessChrome), which the server drops as a bot. Set the default too.
      `--user-agent=${DESKTOP_UA}`,
    ],
  });
}

/**
 * A fresh browser context (own cookies and storage) and page. It records uncaught page errors, and the
 * bodies of the event beacons the page sent, so tests can show both sides: what left the browser and what
 * the store kept.
 */
export async function openPage(browser, { initScript, contextOptions = {} } = {}) {
  const context = await browser.newContext({ userAgent: DESKTOP_UA, ...contextOptions });
  if (initScript) await context.addInitScript(initScript);
  const pg = await context.newPage();
  const errors = [];
  const beacons = [];
  pg.on('pageerror', (e) => errors.push(e));
  context.on('request', (req) => {
    if (req.method() === 'POST' && req.url().endsWith('/v1/events')) {
      try {
        beacons.push(JSON.parse(req.postData() || 'null'));
      } catch {
        beacons.push(req.postData());
      }
    }
  });
  return { context, page: pg, errors, beacons, close: () => context.close() };
}

/**
 * Chromium started the way a person's browser runs: the same binary and flags as launchBrowser (headless,
 * the desktop user agent, *.test names mapped to loopback) but nothing that automates it: no
 * --enable-automation, no remote debugging (in current Chromium either one sets navigator.webdriver), no
 * driver. It opens `url` and the page does the rest by itself; tests read what it did from the store and
 * from what it reports to the page server. `close()` stops it and removes its profile.
 */
export async function launchPersonBrowser(url) {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: install it with \`apt-get install -y chromium\` or set CHROMIUM`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'vtrack-person-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--host-resolver-rules=MAP *.test 127.0.0.1',
    `--user-agent=${DESKTOP_UA}`,
    `--user-data-dir=${profile}`,
    url,
  ];
  // Its own process group, so that stopping it stops its renderers too.
  const proc = spawn(chromiumPath, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let log = '';
  proc.stderr.on('data', (b) => (log += b));
  let exited = false;
  const gone = new Promise((r) => proc.on('exit', () => r((exited = true))));
  return {
    log: () => log,
    async close() {
      if (!exited) {
        try {
          process.kill(-proc.pid, 'SIGTERM');
        } catch {}
        await Promise.race([gone, sleep(5000)]);
        if (!exited) {
          try {
            process.kill(-proc.pid, 'SIGKILL');
          } catch {}
          await gone;
        }
      }
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The server's `vtrack_ingest_events_dropped_total` by reason, read from /metrics.
 */
export async function droppedEvents(vtrack) {
  const text = await (await fetch(`${vtrack.origin}/metrics`)).text();
  const counts = {};
  for (const m of text.matchAll(/^vtrack_ingest_events_dropped_total\{reason="(\w+)"\} (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}
