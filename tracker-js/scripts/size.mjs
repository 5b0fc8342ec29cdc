// Measures the built tracker the way its size is reported in README.md: bytes of dist/t.js, minified, and
// compressed with `gzip -9 -n` (no file name in the header). Fails if it is over the 1,500-byte budget, or if
// README.md's size table does not state the current figure.
//
//   npm run size               our script
//   npm run size -- --compare  also Plausible's and Umami's trackers from the npm registry, measured the same way
//                              (downloads two packages with `npm pack`, and terser through npx for Umami's build)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET = 1500;
const root = fileURLToPath(new URL('..', import.meta.url));

// GNU gzip when it is there (the figure anyone can reproduce by hand), else zlib at level 9.
function gzip9(file) {
  try {
    return execFileSync('gzip', ['-9', '-n', '-c', file], { maxBuffer: 64 << 20 }).length;
  } catch {
    return gzipSync(readFileSync(file), { level: 9 }).length;
  }
}

function row(name, file) {
  const raw = readFileSync(file).length;
  const gz = gzip9(file);
  console.log(`${name.padEnd(58)} ${String(raw).padStart(6)} B min  ${String(gz).padStart(6)} B gzip -9`);
  return gz;
}

const ours = row('vtrack dist/t.js', join(root, 'dist', 't.js'));

if (process.argv.includes('--compare')) {
  const dir = mkdtempSync(join(tmpdir(), 'vtrack-size-'));
  const sh = (cmd, args) => execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  try {
    // Plausible: the official npm build of its tracker (minified ES module, all optional features included).
    const plausible = '@plausible-analytics/tracker@0.4.6';
    sh('npm', ['pack', '--silent', plausible]);
    sh('tar', ['xzf', 'plausible-analytics-tracker-0.4.6.tgz', '-C', dir]);
    row(`Plausible ${plausible} plausible.js`, join(dir, 'package', 'plausible.js'));
    rmSync(join(dir, 'package'), { recursive: true });

    // Umami: the package ships its tracker's source and build config (rollup + terser, compress.evaluate
    // off), not the built script.js; minify it with terser the same way.
    const umami = 'umami@2.10.0';
    sh('npm', ['pack', '--silent', umami]);
    sh('tar', ['xzf', 'umami-2.10.0.tgz', '-C', dir, 'package/src/tracker/index.js']);
    const min = sh('npx', ['--yes', 'terser@5.51.2', 'package/src/tracker/index.js', '--compress', 'evaluate=false', '--mangle']);
    writeFileSync(join(dir, 'umami-script.js'), min);
    row(`Umami ${umami} src/tracker (terser, as its build does)`, join(dir, 'umami-script.js'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The figure in README.md must be today's: a change to the script that moves it fails here until the README
// says so too.
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const stated = readme.match(/^\| \*\*vtrack `dist\/t\.js`\*\* \| ([\d,]+) B \| \*\*([\d,]+) B\*\* \|$/m);
const rawNow = readFileSync(join(root, 'dist', 't.js')).length;
if (!stated || Number(stated[1].replace(/,/g, '')) !== rawNow || Number(stated[2].replace(/,/g, '')) !== ours) {
  console.error(
    `tracker-js/README.md states ${stated ? `${stated[1]} B / ${stated[2]} B` : 'no figure'} for dist/t.js; ` +
      `it is now ${rawNow.toLocaleString('en-US')} B / ${ours.toLocaleString('en-US')} B: update the size table`,
  );
  process.exitCode = 1;
}

if (ours > BUDGET) {
  console.error(`dist/t.js is ${ours} bytes gzipped, over the ${BUDGET}-byte budget`);
  process.exit(1);
}
