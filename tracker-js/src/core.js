// The tracker itself: what is sent, when, and in which wire format. Both builds are bundled from it,
//   src/tag.js   → dist/t.js               the <script> tag (reads its data-* attributes)
//   src/index.js → package/dist/index.js  the npm package (init, pageview, track, identify)
// so the tag and the package cannot drift apart. Importing it does nothing: `tracker` starts one.
//
// Wire format: POST {api}/v1/events with one JSON object per request, sent as text/plain (sendBeacon,
// no CORS preflight), falling back to fetch(keepalive). See tracker-js/README.md.
//
// Rule: nothing here may throw into the page. Every entry point (the command function, each event listener,
// the history wrappers) runs inside `safe` or a try block; the builds wrap their own set-up the same way.
//
// Every byte here is paid for by every page view of every customer (dist/t.js has a gzipped budget,
// scripts/size.mjs): arrow functions and presence checks (`!= null`) are chosen for size.

/** Runs fn, swallowing any error; the page must never see one of ours. */
export function safe(fn) {
  return (a, b, c) => {
    try {
      return fn(a, b, c);
    } catch (e) {}
  };
}

/**
 * Starts tracking in window `w` and returns the command function `(cmd, a, b)`: ('event', name, props),
 * ('identify', email), ('pageview'). It never throws.
 *
 *   o      the options, each on when present (not null/undefined), as the tag's `dataset` has them:
 *          site (the key; required), cookieless, respectDnt, allowLocalhost, and manual (no automatic page
 *          views: neither on start nor on URL changes; only ('pageview') counts one)
 *   api    base URL to post to: events go to `{api}/v1/events`
 *   queue  calls made before (argument lists), replayed in order once tracking starts
 *
 * When tracking is off (no site, a localhost page without allowLocalhost, DNT or GPC with respectDnt) it
 * returns a function that does nothing, and has touched nothing.
 */
export function tracker(w, o, api, queue) {
  var site = o.site;
  var auto = o.manual == null;
  var d = w.document;
  var nav = w.navigator;
  var loc = w.location;
  var endpoint = api.replace(/\/+$/, '') + '/v1/events';

  if (
    !site ||
    (o.allowLocalhost == null && (/^(localhost|127\.|\[::1\]$|$)/.test(loc.hostname) || loc.protocol == 'file:')) ||
    (o.respectDnt != null && (nav.doNotTrack == '1' || nav.globalPrivacyControl))
  )
    return () => {};

  var now = Date.now;
  // An id per event: crypto.randomUUID in secure contexts, else time and 50-odd random bits.
  var uuid = (c) =>
    (c = w.crypto) && c.randomUUID ? c.randomUUID() : now().toString(36) + Math.random().toString(36).slice(2);

  // What the page can see of automation, as bits: 1 navigator.webdriver, which the WebDriver standard sets
  // and Chromium sets under --enable-automation (Playwright, Puppeteer, chromedriver) and under remote
  // debugging; 2 a test runner's global: Cypress (whose default browser, Electron, leaves webdriver unset),
  // Nightmare, PhantomJS. A headless browser's own name (HeadlessChrome) is in the request's User-Agent,
  // which ingest already checks. Sent as `auto` when any is set; ingest drops those events and counts them.
  var automation = nav.webdriver | (2 * !!(w.Cypress || w.__nightmare || w._phantom));

  // The visitor id: first-party, in localStorage; none at all in cookieless mode (the server then
  // derives a daily one) or when storage is blocked.
  var vid = '';
  if (o.cookieless == null) {
    try {
      var ls = w.localStorage;
      vid = ls.getItem('vtrack_vid') || '';
      if (!/^[\w.:-]{1,64}$/.test(vid)) ls.setItem('vtrack_vid', (vid = uuid()));
    } catch (e) {
      vid = '';
    }
  }

  // State of the current page view: its URL and title, engaged milliseconds not yet sent, and when the
  // current visible stretch began (0 while hidden).
  var page, title, engaged, since;

  var send = (type, extra) => {
    var body = JSON.stringify(
      Object.assign(
        {
          site: site,
          type: type,
          url: loc.href.slice(0, 4096),
          ref: d.referrer.slice(0, 4096),
          title: d.title.slice(0, 300),
          vid: vid,
          eid: uuid(),
          ts: now(),
          // Left out of the JSON when 0 (undefined), so a person's beacons carry no extra field.
          auto: automation || void 0
        },
        extra
      )
    );
    // sendBeacon posts text/plain (no preflight) and survives the page going away; it returns false
    // when the browser will not queue it.
    if (!(nav.sendBeacon && nav.sendBeacon(endpoint, body))) {
      fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' })['catch'](() => {});
    }
  };

  // Sends the engaged time gathered since the last engagement beacon for the current page, if any.
  // (Whole milliseconds: Date.now differences.)
  var flush = () => {
    if (since) engaged += now() - since;
    since = 0;
    if (engaged > 0 && page) send('engagement', { url: page, title: title, eng_ms: Math.min(engaged, 864e5) });
    engaged = 0;
  };

  // A page view, unless the URL is the one already counted (replaceState with the same URL, the popstate
  // and hashchange pair of one back-navigation).
  var view = () => {
    var href = loc.href.slice(0, 4096);
    if (href == page) return;
    var prev = page;
    if (prev) flush();
    page = href;
    title = d.title.slice(0, 300);
    engaged = 0;
    since = d.visibilityState == 'hidden' ? 0 : now();
    // On an SPA navigation the page we came from is the referrer, as it would be for a full load.
    send('pageview', prev ? { ref: prev } : {});
  };

  // Hidden or left: send the engaged time. Shown again: count time again; restored from the back/forward
  // cache (the page was left, and is back without a load, which no router sees): a new page view.
  var onVisibility = (e) => {
    if (e.type == 'pagehide' || d.visibilityState == 'hidden') flush();
    else if (e.persisted) {
      page = 0;
      view();
    } else if (!since) since = now();
  };

  var run = (cmd, a, b) => {
    if (cmd == 'event' && a) send(String(a).slice(0, 64), b && typeof b == 'object' ? { props: b } : {});
    else if (cmd == 'identify' && a) send('identify', { email: String(a).trim() });
    else if (cmd == 'pageview') view();
  };

  // Calls wait in the queue until tracking starts.
  var started;
  var command = (...args) => {
    try {
      if (started) run(...args);
      else queue.push(args);
    } catch (e) {}
  };

  var on = (target, type, fn) => target.addEventListener(type, safe(fn));

  var start = () => {
    if (started) return;
    started = 1;
    if (auto) {
      // A navigation's page view is deferred a tick, so the title the router sets right after it (in its own
      // popstate listener too, whichever listens first) is the one recorded.
      var later = () => setTimeout(safe(view), 0);
      var H = w.history;
      ['pushState', 'replaceState'].forEach((m) => {
        var orig = H[m];
        H[m] = function () {
          var r = orig.apply(this, arguments);
          later();
          return r;
        };
      });
      on(w, 'popstate', later);
      on(w, 'hashchange', later);
      view();
    }
    on(d, 'visibilitychange', onVisibility);
    on(w, 'pagehide', onVisibility);
    on(w, 'pageshow', onVisibility);
    while (queue.length) command(...queue.shift());
  };

  // A page the browser prerenders (speculation rules) may never be shown: start when it is.
  if (d.prerendering) on(d, 'prerenderingchange', start);
  else start();
  return command;
}
