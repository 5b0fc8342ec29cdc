// The npm package (@vtrack/tracker, tracker-js/package/) as an app gets it: `npm pack`, then the ecosystem's
// linters for packages and types (publint, @arethetypeswrong/cli) on the tarball, then a small single-page app
// in TypeScript, type-checked and bundled with esbuild against the tarball installed in a temporary directory,
// driven in Chromium against a real `vtrack serve`; and the package imported in plain Node, where there is no
// window, sends nothing and throws nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import {
  DESKTOP_UA,
  KEEP_AUTOMATED,
  launchBrowser,
  openPage,
  pollRows,
  sleep,
  startPageServer,
  startVtrack,
  trackerDir,
} from './harness.mjs';

const packageDir = join(trackerDir, 'package');
const bin = (name) => join(trackerDir, 'node_modules', '.bin', name);

let tmp, tarball, app, bundle, vtrack, pages, browser;

/** Runs a command; resolves with { code, stdout, stderr } whatever the exit code. */
function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 120_000, ...options }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

async function mustRun(cmd, args, options) {
  const r = await run(cmd, args, options);
  assert.equal(r.code, 0, `$ ${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

// The app: three routes on history.pushState, a button that tracks, a form that identifies. `spaConfig` (set
// by the page) says where vtrack is, under which path the app lives, and whether the router reports its own
// page views (autoPageviews: false).
const APP_TS = `
import { identify, init, pageview, track, type InitOptions } from '@vtrack/tracker';

declare global {
  interface Window {
    spaConfig: { endpoint: string; base: string; manual: boolean };
  }
}
const { endpoint, base, manual } = window.spaConfig;

// A component that tracks before the app has called init (effects run child first): kept, sent after.
track('spa_boot', { build: 'test' });

const routes: Record<string, { title: string; html: string }> = {
  '': { title: 'Home', html: '<h1>Home</h1>' },
  pricing: { title: 'Pricing', html: '<h1>Pricing</h1><button id="trial">Start trial</button>' },
  contact: {
    title: 'Contact',
    html: '<form id="contact"><input name="email" type="email"><button>Send</button></form><p id="thanks" hidden>Thanks</p>',
  },
};

function render(): void {
  const name = location.pathname.slice(base.length);
  const route = routes[name] ?? { title: 'Not found', html: '<h1>Not found</h1>' };
  document.getElementById('view')!.innerHTML = route.html;
  document.title = route.title + ' — Acme';
}

function navigate(path: string): void {
  history.pushState({}, '', path);
  render();
  // A router that reports its own page views.
  if (manual) pageview();
}

document.addEventListener('click', (e) => {
  const target = e.target as Element;
  const link = target.closest('a[data-route]');
  if (link) {
    e.preventDefault();
    navigate(link.getAttribute('href')!);
  } else if (target.id === 'trial') {
    track('trial_click', { plan: 'team', seats: 5 });
  }
});
document.addEventListener('submit', (e) => {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  identify((form.elements.namedItem('email') as HTMLInputElement).value);
  document.getElementById('thanks')!.hidden = false;
});
window.addEventListener('popstate', () => {
  render();
  if (manual) pageview();
});
// A filter that only records state in the URL; the router does not report it as a page view.
(window as unknown as { setFilter: (q: string) => void }).setFilter = (q) => history.replaceState({}, '', '?' + q);
render();
// After the first render, so that the first page view has its title.
const options: InitOptions = { site: 'test', endpoint, autoPageviews: !manual };
init(options);
if (manual) pageview();
`;

// What the declarations allow and refuse. Each @ts-expect-error must meet an error: declarations loosened to
// \`any\`, or a missing or misplaced .d.ts, fail the type check.
const TYPES_TS = `
import * as vtrack from '@vtrack/tracker';
import type { EventProps, InitOptions } from '@vtrack/tracker';

const full: InitOptions = {
  site: 'test',
  endpoint: 'https://vtrack.example.com',
  cookieless: true,
  respectDnt: true,
  allowLocalhost: false,
  autoPageviews: false,
};
vtrack.init(full);
vtrack.init({ site: 'test' });
vtrack.pageview();
vtrack.track('signup');
const props: EventProps = { plan: 'team', seats: 5, annual: true, tags: ['a'], nested: { x: null } };
vtrack.track('signup', props);
vtrack.identify('jo@acme.example');
const nothing: void = vtrack.track('x');
void nothing;

// @ts-expect-error the site is required
vtrack.init({});
// @ts-expect-error no such option
vtrack.init({ site: 'test', spa: true });
// @ts-expect-error autoPageviews is a boolean
vtrack.init({ site: 'test', autoPageviews: 'no' });
// @ts-expect-error an event has a name
vtrack.track();
// @ts-expect-error the name is a string
vtrack.track(42);
// @ts-expect-error props are an object
vtrack.track('x', 'plan=team');
// @ts-expect-error identify needs the email
vtrack.identify();
// @ts-expect-error pageview takes nothing
vtrack.pageview('/x');
// @ts-expect-error no other export
vtrack.default;
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: 'es2020',
    lib: ['es2020', 'dom'],
    module: 'esnext',
    moduleResolution: 'bundler',
    skipLibCheck: false,
    types: [],
  },
  include: ['src'],
};

before(
  async () => {
    tmp = mkdtempSync(join(tmpdir(), 'vtrack-package-test-'));
    // `npm pack` builds the package first (its prepack script), from the same source as dist/t.js.
    await mustRun('npm', ['pack', '--pack-destination', tmp], { cwd: packageDir });
    const packed = readdirSync(tmp).filter((f) => f.endsWith('.tgz'));
    assert.equal(packed.length, 1, packed.join());
    tarball = join(tmp, packed[0]);

    // The app, with the tarball installed as an app installs a package (offline: it has no dependencies).
    app = join(tmp, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'spa', private: true, type: 'module' }));
    await mustRun('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app });
    writeFileSync(join(app, 'src', 'app.ts'), APP_TS);
    writeFileSync(join(app, 'src', 'types.ts'), TYPES_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    const built = await build({
      absWorkingDir: app,
      entryPoints: ['src/app.ts'],
      bundle: true,
      format: 'iife',
      minify: true,
      target: ['es2017'],
      write: false,
      logLevel: 'silent',
    });
    bundle = built.outputFiles[0].text;
    assert.ok(!bundle.includes('</script'), 'the bundle can be inlined');

    vtrack = await startVtrack({ site: 'test', extraArgs: [KEEP_AUTOMATED] });
    pages = await startPageServer();
    browser = await launchBrowser();
    for (const [base, manual] of [['/spa/', false], ['/spa-manual/', true]]) {
      const config = JSON.stringify({ endpoint: vtrack.origin, base, manual });
      pages.pages.set(
        `${base}*`,
        `<!doctype html><html><head><meta charset="utf-8"><title>Acme</title></head><body>
        <nav><a data-route href="${base}">Home</a> <a data-route href="${base}pricing">Pricing</a>
        <a data-route href="${base}contact">Contact</a></nav><main id="view"></main>
        <script>window.spaConfig = ${config};</script><script>${bundle}</script></body></html>`,
      );
    }
  },
  { timeout: 300_000 },
);

after(async () => {
  await browser?.close();
  await pages?.stop();
  await vtrack?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the packed package: its files, no dependencies, and publint has nothing to say', async () => {
  const listing = await mustRun('tar', ['tzf', tarball]);
  assert.deepEqual(listing.stdout.trim().split('\n').sort(), [
    'package/LICENSE',
    'package/README.md',
    'package/dist/index.d.ts',
    'package/dist/index.js',
    'package/package.json',
  ]);
  const manifest = JSON.parse(readFileSync(join(app, 'node_modules', '@vtrack', 'tracker', 'package.json'), 'utf8'));
  assert.equal(manifest.private, undefined);
  assert.equal(manifest.sideEffects, false);
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.dependencies, undefined, 'no run-time dependencies');
  assert.ok(manifest.license && manifest.version);
  const buf = readFileSync(tarball);
  const { messages, pkg } = await publint({
    pack: { tarball: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) },
    level: 'suggestion',
    strict: true,
  });
  assert.deepEqual(
    messages.map((m) => `${m.type}: ${formatMessage(m, pkg, { color: false })}`),
    [],
    'publint on the tarball',
  );
});

test('arethetypeswrong finds the types for every module resolution', async () => {
  // ESM only, so a require() from CommonJS gets the module only through Node's require(esm) or import();
  // that one rule is expected. Everything else (types found, in the right format, for node10, node16 from
  // CommonJS and ESM, and bundlers) must hold.
  const r = await run(bin('attw'), [tarball, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout);
  // (The JSON lists the ignored problem too.)
  const problems = Object.keys(report.problems).filter((kind) => kind !== 'CJSResolvesToESM');
  assert.deepEqual(problems, [], JSON.stringify(report.problems, null, 2));
  const resolutions = report.analysis.entrypoints['.'].resolutions;
  assert.deepEqual(
    Object.fromEntries(Object.entries(resolutions).map(([kind, x]) => [kind, x.resolution?.fileName])),
    Object.fromEntries(['node10', 'node16-cjs', 'node16-esm', 'bundler'].map((kind) => [kind, '/node_modules/@vtrack/tracker/dist/index.d.ts'])),
    'each resolution finds the declarations',
  );
});

test('an app type-checks against the packed declarations, and their misuses do not', async () => {
  const r = await run(bin('tsc'), ['-p', app]);
  assert.equal(r.code, 0, `tsc:\n${r.stdout}${r.stderr}`);
});

test('imported in plain Node (no window), it throws nothing and sends nothing', async () => {
  const script = `
    const calls = [];
    globalThis.fetch = (...args) => { calls.push(String(args[0])); return Promise.resolve(new Response('')); };
    const outcome = { threw: null };
    try {
      const vtrack = await import('@vtrack/tracker');
      outcome.exports = Object.keys(vtrack).sort();
      // Before init, as a server renders a component that tracks, then init as the app does.
      vtrack.track('ssr_event', { where: 'server' });
      vtrack.init({ site: 'test', endpoint: ${JSON.stringify(vtrack.origin)}, allowLocalhost: true });
      vtrack.pageview();
      vtrack.track('ssr_event', { where: 'server' });
      vtrack.identify('ssr@acme-robotics.example');
      vtrack.init(undefined);
    } catch (e) {
      outcome.threw = String(e && e.stack || e);
    }
    await new Promise((r) => setTimeout(r, 300));
    outcome.calls = calls;
    outcome.window = typeof window;
    console.log(JSON.stringify(outcome));
  `;
  const r = await mustRun(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
  const outcome = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(outcome, {
    threw: null,
    exports: ['identify', 'init', 'pageview', 'track'],
    calls: [],
    window: 'undefined',
  });
  // Nor did anything reach the store: a later event is stored, the server-side ones are not.
  const control = await fetch(`${vtrack.origin}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': DESKTOP_UA },
    body: JSON.stringify({ site: 'test', type: 'ssr_control', url: 'https://www.acme.test/ssr' }),
  });
  assert.equal(control.status, 202);
  await pollRows(vtrack, "SELECT 1 FROM events WHERE type = 'ssr_control'");
  assert.deepEqual(
    await vtrack.sql("SELECT type FROM events WHERE type = 'ssr_event' OR email LIKE 'ssr@%'"),
    [],
  );
});

// One visit of the SPA under `base`: home, pricing (a tracked button), contact (a form), back, a filter kept
// in the URL by replaceState; returns what the store has for it and the beacons that left the browser.
async function visit(base) {
  const p = await openPage(browser);
  await p.page.goto(`${pages.origin}${base}`);
  await pollRows(vtrack, `SELECT 1 FROM events WHERE path = '${base}' AND type = 'pageview'`);
  await sleep(300);
  await p.page.click('a[href$="pricing"]');
  await p.page.click('#trial');
  await sleep(200);
  await p.page.click('a[href$="contact"]');
  await p.page.fill('input[name=email]', 'jo.buyer@acme-robotics.example');
  await p.page.click('#contact button');
  await p.page.waitForSelector('#thanks:not([hidden])');
  await sleep(200);
  await p.page.goBack();
  await sleep(200);
  await p.page.evaluate(() => window.setFilter('plan=annual'));
  await sleep(200);
  await p.page.evaluate(() => history.pushState({}, '', 'contact'));
  const query = `SELECT type, path, url, referrer, title, email, props, visitor_id FROM events WHERE path LIKE '${base}%'`;
  await pollRows(vtrack, query, (rs) => rs.some((r) => r.type === 'identify') && rs.filter((r) => r.type === 'pageview').length >= 4);
  await sleep(1000);
  const rows = await vtrack.sql(query);
  assert.deepEqual(p.errors, []);
  await p.close();
  return { rows, beacons: p.beacons };
}

const rel = (u) => (u.startsWith(pages.origin) ? u.slice(pages.origin.length) : u);
const views = (rows) => rows.filter((r) => r.type === 'pageview').map((r) => [rel(r.url), rel(r.referrer), r.title]).sort();

function commonChecks(base, { rows, beacons }) {
  // The custom event with its properties, the identify, and the event tracked before init.
  const trial = rows.filter((r) => r.type === 'trial_click');
  assert.equal(trial.length, 1, JSON.stringify(rows));
  assert.deepEqual(JSON.parse(trial[0].props), { plan: 'team', seats: 5 });
  assert.equal(trial[0].path, `${base}pricing`);
  const id = rows.filter((r) => r.type === 'identify');
  assert.deepEqual(id.map((r) => [r.email, r.path]), [['jo.buyer@acme-robotics.example', `${base}contact`]]);
  assert.equal(rows.filter((r) => r.type === 'spa_boot').length, 1, 'the call made before init()');
  assert.equal(new Set(rows.map((r) => r.visitor_id)).size, 1, 'one visitor throughout');
  // Engaged time of the views left.
  assert.ok(rows.some((r) => r.type === 'engagement'), JSON.stringify(rows));
  // The same wire format as t.js: these fields and no others (auto: Playwright drives this browser).
  const pv = beacons.find((b) => b.type === 'pageview');
  assert.deepEqual(Object.keys(pv).sort(), ['auto', 'eid', 'ref', 'site', 'title', 'ts', 'type', 'url', 'vid']);
  assert.equal(pv.auto, 1);
}

test('the SPA bundled against the package: page views on route changes, a custom event, identify', { timeout: 60_000 }, async () => {
  const seen = await visit('/spa/');
  commonChecks('/spa/', seen);
  assert.deepEqual(
    views(seen.rows),
    [
      ['/spa/', '', 'Home — Acme'],
      ['/spa/pricing', '/spa/', 'Pricing — Acme'],
      ['/spa/contact', '/spa/pricing', 'Contact — Acme'],
      ['/spa/pricing', '/spa/contact', 'Pricing — Acme'],
      // Automatic page views count every URL change, the filter's replaceState and a pushState the router
      // did not make included.
      ['/spa/pricing?plan=annual', '/spa/pricing', 'Pricing — Acme'],
      ['/spa/contact', '/spa/pricing?plan=annual', 'Pricing — Acme'],
    ].sort(),
    JSON.stringify(seen.rows),
  );
});

test('autoPageviews: false leaves page views to the router', { timeout: 60_000 }, async () => {
  const seen = await visit('/spa-manual/');
  commonChecks('/spa-manual/', seen);
  // The router's page views only: not the filter's replaceState, not the pushState it did not report.
  assert.deepEqual(
    views(seen.rows),
    [
      ['/spa-manual/', '', 'Home — Acme'],
      ['/spa-manual/pricing', '/spa-manual/', 'Pricing — Acme'],
      ['/spa-manual/contact', '/spa-manual/pricing', 'Contact — Acme'],
      ['/spa-manual/pricing', '/spa-manual/contact', 'Pricing — Acme'],
    ].sort(),
    JSON.stringify(seen.rows),
  );
});
