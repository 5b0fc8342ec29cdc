// The <script> tag build: bundled by `npm run build` into dist/t.js, which ingest serves at GET /t.js.
//
//   <script async src="https://HOST/t.js" data-site="KEY"></script>
//
// Options on the tag: data-api (base URL to post to; default: the origin this file came from),
// data-cookieless (no persistent visitor id), data-respect-dnt (honour DNT and GPC),
// data-allow-localhost (send from localhost, 127.x and file: pages too), data-manual (no automatic page
// views; count them with vtrack('pageview')).
//
// The tracking itself is src/core.js, shared with the npm package; this only reads the tag's attributes
// (its `dataset` is the options object: an attribute that is there is on), takes over the page's queue
// stub and publishes `window.vtrack`.
import { safe, tracker } from './core.js';

safe(function () {
  var w = window;
  var stub = w.vtrack;
  // Loaded twice on one page: the first copy already tracks.
  if (stub && stub.l) return;
  var d = document;
  var script = d.currentScript || d.querySelector('script[data-site]');
  var o = script.dataset;
  // Calls made through the page's stub before this loaded are replayed.
  w.vtrack = tracker(w, o, o.api || new URL(script.src).origin, (stub && stub.q) || []);
  w.vtrack.l = 1;
})();
