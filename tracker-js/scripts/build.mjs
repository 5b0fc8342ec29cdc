// Builds src/t.js into dist/t.js (the file ingest embeds and serves at GET /t.js).
//   node scripts/build.mjs          write dist/t.js
//   node scripts/build.mjs --check  build in memory and fail if dist/t.js differs (CI runs this)
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/t.js`;

const result = await build({
  entryPoints: [`${root}src/t.js`],
  bundle: false,
  minify: true,
  target: ['es2017'],
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  logLevel: 'warning',
});
const code = result.outputFiles[0].text;

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(out, 'utf8');
  } catch {}
  if (committed !== code) {
    console.error('tracker-js/dist/t.js is out of date with src/t.js: run `npm --prefix tracker-js run build` and commit dist/t.js');
    process.exit(1);
  }
  console.log(`dist/t.js is up to date (${Buffer.byteLength(code)} bytes)`);
} else {
  writeFileSync(out, code);
  console.log(`wrote dist/t.js (${Buffer.byteLength(code)} bytes)`);
}
