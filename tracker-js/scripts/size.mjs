// Measures the built tracker the way its size is reported in README.md: bytes of dist/t.js, minified, and
// compressed with `gzip -9 -n` (no file name in the header); the same for the npm package's module
// (package/dist/index.js, built here first). Fails if either is over its budget (t.js 1,300 bytes, the
// package 1,500), or if README.md's size table does not state the current figures.
//
//   npm run size               our script and package
//   npm run size -- --compare  also Plausible's and Umami's trackers from the npm registry, measured the same way
//                              (downloads two packages with `npm pack`, and terser through npx for Umami's build)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

// Gzipped bytes. t.js is on every page of every customer; the package is what an app's bundle adds.
const BUDGET = 1300;
const PACKAGE_BUDGET = 1500;
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
// The package is not committed: build it from the same source first.
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--package'], { stdio: 'ignore' });
const packageFile = join(root, 'package', 'dist', 'index.js');
const pkg = row('vtrack npm package package/dist/index.js', packageFile);

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

// The figures in README.md must be today's: a change to the script that moves them fails here until the README
// says so too.
const readme = readFileSync(join(root, 'README.md'), 'utf8');
function stated(label, file, gz) {
  const escaped = label.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
  const found = readme.match(new RegExp(`^\\| \\*\\*${escaped}\\*\\*[^|]* \\| ([\\d,]+) B \\| \\*\\*([\\d,]+) B\\*\\* \\|$`, 'm'));
  const rawNow = readFileSync(file).length;
  if (!found || Number(found[1].replace(/,/g, '')) !== rawNow || Number(found[2].replace(/,/g, '')) !== gz) {
    console.error(
      `tracker-js/README.md states ${found ? `${found[1]} B / ${found[2]} B` : 'no figure'} for ${label}; ` +
        `it is now ${rawNow.toLocaleString('en-US')} B / ${gz.toLocaleString('en-US')} B: update the size table`,
    );
    process.exitCode = 1;
  }
}
stated('vtrack `dist/t.js`', join(root, 'dist', 't.js'), ours);
stated('vtrack npm package `@vtrack/tracker`', packageFile, pkg);

if (ours > BUDGET) {
  console.error(`dist/t.js is ${ours} bytes gzipped, over the ${BUDGET}-byte budget`);
  process.exitCode = 1;
}
if (pkg > PACKAGE_BUDGET) {
  console.error(`package/dist/index.js is ${pkg} bytes gzipped, over the ${PACKAGE_BUDGET}-byte budget`);
  process.exitCode = 1;
}
