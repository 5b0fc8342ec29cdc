// Builds the tracker's two outputs from the one source in src/ (the tracking itself is src/core.js):
//   dist/t.js               the <script> tag, from src/tag.js: an IIFE; committed, ingest embeds it and
//                           serves it at GET /t.js
//   package/dist/index.js   the npm package @vtrack/tracker, from src/index.js: an ES module, with
//   package/dist/index.d.ts its declarations (src/index.d.ts); built, not committed (package/ runs this
//                           before `npm pack` and `npm publish`)
//
//   node scripts/build.mjs            write both
//   node scripts/build.mjs --check    build dist/t.js in memory and fail if the committed one differs (CI)
//   node scripts/build.mjs --package  write the package's files only
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tagOut = `${root}dist/t.js`;
const packageDist = `${root}package/dist`;

// Both are minified for the browsers of the last years (es2017) without a legal comment; the package is
// minified too so that what `npm run size` measures is what an app's bundle gets.
const common = {
  bundle: true,
  minify: true,
  target: ['es2017'],
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  logLevel: 'warning',
};

async function code(options) {
  const result = await build({ ...common, ...options });
  return result.outputFiles[0].text;
}

const tag = () => code({ entryPoints: [`${root}src/tag.js`], format: 'iife' });
const pkg = () => code({ entryPoints: [`${root}src/index.js`], format: 'esm', platform: 'neutral' });

if (process.argv.includes('--check')) {
  const built = await tag();
  let committed = '';
  try {
    committed = readFileSync(tagOut, 'utf8');
  } catch {}
  if (committed !== built) {
    console.error('tracker-js/dist/t.js is out of date with src/: run `npm --prefix tracker-js run build` and commit dist/t.js');
    process.exit(1);
  }
  console.log(`dist/t.js is up to date (${Buffer.byteLength(built)} bytes)`);
} else {
  if (!process.argv.includes('--package')) {
    const built = await tag();
    writeFileSync(tagOut, built);
    console.log(`wrote dist/t.js (${Buffer.byteLength(built)} bytes)`);
  }
  const built = await pkg();
  mkdirSync(packageDist, { recursive: true });
  writeFileSync(`${packageDist}/index.js`, built);
  copyFileSync(`${root}src/index.d.ts`, `${packageDist}/index.d.ts`);
  console.log(`wrote package/dist/index.js (${Buffer.byteLength(built)} bytes) and package/dist/index.d.ts`);
}
