// The npm package's entry (@vtrack/tracker): the same tracker as the <script> tag (src/core.js), started by
// init() instead of by a tag's attributes. Types: src/index.d.ts.
//
// Safe where there is no window (server-side rendering, tests in Node, workers): importing does nothing,
// and every call does nothing and sends nothing there. Nothing here throws.
import { tracker } from './core.js';

// The command function of the tracker init() started; until then calls wait in `early` (in a browser only,
// so a server that renders many requests keeps nothing). A component's effect may run before the app's
// init(); its call is not lost.
let command;
const early = [];
const browser = () => typeof window != 'undefined' && typeof document != 'undefined';

function call(...args) {
  try {
    if (command) command(...args);
    else if (browser() && early.length < 100) early.push(args);
  } catch (e) {}
}

/** Starts tracking; see index.d.ts. Only the first call in a page counts. */
export function init(options) {
  try {
    if (command || !browser()) return;
    const o = options || {};
    // The core reads options by presence, as a tag's data-* attributes are.
    const flag = (on) => (on ? '' : undefined);
    command = tracker(
      window,
      {
        site: o.site ? String(o.site) : '',
        cookieless: flag(o.cookieless),
        respectDnt: flag(o.respectDnt),
        allowLocalhost: flag(o.allowLocalhost),
        manual: flag(o.autoPageviews === false),
      },
      o.endpoint ? String(o.endpoint) : '',
      early,
    );
  } catch (e) {}
}

/** Counts a page view of the current URL, unless it is the one counted last. */
export function pageview() {
  call('pageview');
}

/** A custom event: its name (≤ 64 characters) and, optionally, properties (a JSON object, ≤ 4 KiB). */
export function track(name, props) {
  call('event', name, props);
}

/** Links the visitor to a contact (a form fill): the email address they gave. */
export function identify(email) {
  call('identify', email);
}
