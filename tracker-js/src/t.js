// vtrack embed script. Built by `npm run build` into dist/t.js, which ingest serves at GET /t.js.
//
//   <script async src="https://HOST/t.js" data-site="KEY"></script>
//
// Options on the tag: data-api (base URL to post to; default: the origin this file came from),
// data-cookieless (no persistent visitor id), data-respect-dnt (honour DNT and GPC),
// data-allow-localhost (send from localhost, 127.x and file: pages too).
//
// Wire format: POST {api}/v1/events with one JSON object per request, sent as text/plain (sendBeacon,
// no CORS preflight), falling back to fetch(keepalive). See tracker-js/README.md.
//
// Rule: nothing here may throw into the page. Every entry point (load, the public function, each event
// listener, the history wrappers) runs inside `safe`.
(function (w, d, nav, loc) {
  // Runs fn, swallowing any error; the page must never see one of ours.
  function safe(fn) {
    return function (a, b, c) {
      try {
        return fn(a, b, c);
      } catch (e) {}
    };
  }

  safe(function () {
    var stub = w.vtrack;
    // Loaded twice on one page: the first copy already tracks.
    if (stub && stub.l) return;

    var script = d.currentScript || d.querySelector('script[data-site]');
    var has = function (name) {
      return script.hasAttribute('data-' + name);
    };
    var site = script.getAttribute('data-site');
    var endpoint = (script.getAttribute('data-api') || new URL(script.src).origin).replace(/\/+$/, '') + '/v1/events';

    var off =
      !site ||
      (!has('allow-localhost') && /^(localhost|127\.|\[::1\]$|$)/.test(loc.hostname)) ||
      (!has('allow-localhost') && loc.protocol == 'file:') ||
      (has('respect-dnt') && (nav.doNotTrack == '1' || nav.globalPrivacyControl));

    var now = Date.now;
    var rnd = function () {
      return Math.random().toString(36).slice(2);
    };
    var uuid = function () {
      var c = w.crypto;
      return c && c.randomUUID ? c.randomUUID() : now().toString(36) + rnd() + rnd();
    };

    // The visitor id: first-party, in localStorage; none at all in cookieless mode (the server then
    // derives a daily one) or when storage is blocked.
    var vid = '';
    if (!off && !has('cookieless')) {
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

    var send = function (type, extra) {
      var ev = {
        site: site,
        type: type,
        url: loc.href.slice(0, 4096),
        ref: d.referrer.slice(0, 4096),
        title: d.title.slice(0, 300),
        vid: vid,
        eid: uuid(),
        ts: now()
      };
      for (var k in extra) ev[k] = extra[k];
      var body = JSON.stringify(ev);
      // sendBeacon posts text/plain (no preflight) and survives the page going away; it returns false
      // when the browser will not queue it.
      if (!(nav.sendBeacon && nav.sendBeacon(endpoint, body))) {
        fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit' })['catch'](function () {});
      }
    };

    // Sends the engaged time gathered since the last engagement beacon for the current page, if any.
    var flush = function () {
      if (since) engaged += now() - since;
      since = 0;
      if (engaged > 0 && page) {
        send('engagement', { url: page, title: title, eng_ms: Math.min(Math.round(engaged), 864e5) });
      }
      engaged = 0;
    };

    // A page view, unless the URL is the one already counted (replaceState with the same URL, the popstate
    // and hashchange pair of one back-navigation).
    var view = function () {
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
    // cache (the page was left, and is back without a load): a new page view.
    var onVisibility = function (e) {
      if (e.type == 'pagehide' || d.visibilityState == 'hidden') flush();
      else if (e.persisted) {
        page = 0;
        view();
      } else if (!since) since = now();
    };

    var api = function (cmd, a, b) {
      if (cmd == 'event' && a) send(String(a).slice(0, 64), b && typeof b == 'object' ? { props: b } : {});
      else if (cmd == 'identify' && a) send('identify', { email: String(a).trim() });
      else if (cmd == 'pageview') view();
    };

    // Calls wait in the queue (the page's stub's, or this one) until tracking starts.
    var queue = (stub && stub.q) || [];
    var started;
    w.vtrack = function () {
      try {
        if (off) return;
        if (started) api.apply(0, arguments);
        else queue.push(arguments);
      } catch (e) {}
    };
    w.vtrack.l = 1;
    if (off) return;

    var on = function (target, type, fn) {
      target.addEventListener(type, safe(fn));
    };

    var start = function () {
      if (started) return;
      started = 1;
      var H = w.history;
      ['pushState', 'replaceState'].forEach(function (m) {
        var orig = H[m];
        H[m] = function () {
          var r = orig.apply(this, arguments);
          // Deferred a tick so a title set right after the navigation is the one recorded.
          setTimeout(safe(view), 0);
          return r;
        };
      });
      on(w, 'popstate', view);
      on(w, 'hashchange', view);
      on(d, 'visibilitychange', onVisibility);
      on(w, 'pagehide', onVisibility);
      on(w, 'pageshow', onVisibility);
      view();
      while (queue.length) w.vtrack.apply(0, queue.shift());
    };

    // A page the browser prerenders (speculation rules) may never be shown: start when it is.
    if (d.prerendering) on(d, 'prerenderingchange', start);
    else start();
  })();
})(window, document, navigator, location);
