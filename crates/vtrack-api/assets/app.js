// vtrack dashboard: a single page, hash-routed, no framework, no build step (ES2020).
//
// Views: #/accounts (default), #/account/{domain}, #/live, #/campaigns. All data comes from the JSON API
// (crates/vtrack-api/API.md) on the same origin, authenticated by the HttpOnly cookie the server set when
// the dashboard was opened with /?token=…. Every value from the API is untrusted (company names come from IP
// databases): it reaches the page only through esc() or textContent.
'use strict';

(function () {
  const view = document.getElementById('view');
  const siteLabel = document.getElementById('site-label');

  // ?site=KEY on the page URL is passed through to every API call; without it the server picks its default.
  const SITE = new URLSearchParams(location.search).get('site') || '';
  const STATUSES = ['new', 'contacted', 'qualified', 'won', 'lost'];
  const CLASSES = ['business', 'education', 'government', 'isp', 'hosting', 'unknown'];
  // How an account was identified, surest first (the API's `id_source`).
  const ID_SOURCES = ['ranges', 'contact', 'rdap', 'rdns', 'mmdb', 'asn'];
  const ID_LABELS = {
    ranges: 'your ranges',
    contact: 'a contact’s email',
    rdap: 'registry (RDAP)',
    rdns: 'reverse DNS',
    mmdb: 'IP database',
    asn: 'network (AS)',
  };
  function identifiedBy(a) {
    if (!a.id_source) return '';
    return `identified by ${ID_LABELS[a.id_source] || a.id_source} (${Number(a.id_confidence) || 0}%)`;
  }
  // The network class with how sure it is (0-100): an account below `[alerts] min_class_confidence` is
  // shown but alerts nobody until evidence lifts it.
  function classLabel(a) {
    if (!a.class) return '';
    const sure = Number(a.class_confidence) || 0;
    return sure ? `${a.class} ${sure}%` : a.class;
  }
  const ACCOUNT_CLASSES = new Set(['business', 'education', 'government']);
  const LIMITS = ['100', '1000', '10000'];
  const LIVE_MINUTES = 5;
  const LIVE_EVERY_MS = 5000;
  const DEBOUNCE_MS = 250;

  let gen = 0; // bumped on every route change: async work started for an older view drops its result
  let cleanups = []; // run when the current view is left (timers, in-flight requests)
  let knownStages = ['cold', 'warm', 'hot']; // replaced by the server's list once known

  // ---------------------------------------------------------------------------------------------------------
  // Helpers

  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
  /** HTML-escapes any value for text and quoted attribute contexts; null and undefined become ''. */
  function esc(v) {
    return v == null ? '' : String(v).replace(/[&<>"'`]/g, (c) => ESC[c]);
  }

  function num(v) {
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  }
  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const scoreFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const fmtInt = (v) => (v == null ? '–' : intFmt.format(num(v)));
  const fmtScore = (v) => (v == null ? '–' : scoreFmt.format(num(v)));
  const dash = '<span class="muted">–</span>';

  function fmtDuration(ms) {
    const s = Math.round(num(ms) / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
  }

  /** The time of day of a `YYYY-MM-DD HH:MM:SS` string. */
  function timeOf(ts) {
    const m = /(\d{2}:\d{2}:\d{2})/.exec(ts == null ? '' : String(ts));
    return m ? m[1] : String(ts == null ? '' : ts);
  }

  function options(values, selected, anyLabel) {
    const list = values.slice();
    if (selected && !list.includes(selected)) list.push(selected);
    let html = anyLabel == null ? '' : `<option value="">${esc(anyLabel)}</option>`;
    for (const v of list) html += `<option value="${esc(v)}"${v === selected ? ' selected' : ''}>${esc(v)}</option>`;
    return html;
  }

  /** `?site=…&k=v…` with empty values left out. */
  function query(params) {
    const q = new URLSearchParams();
    if (SITE) q.set('site', SITE);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== '' && v != null) q.set(k, String(v));
    }
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  function accountHref(domain) {
    return `#/account/${encodeURIComponent(domain)}`;
  }

  // Stage names come from the server's config: known names get their colour, others one by rank.
  function stageClass(stage, stages) {
    if (stage === 'hot' || stage === 'warm' || stage === 'cold') return `stage-${stage}`;
    const list = stages || knownStages;
    const i = list.indexOf(stage);
    if (i < 0) return '';
    if (i === list.length - 1) return 'stage-rank-hi';
    return i === 0 ? 'stage-rank-lo' : 'stage-rank-mid';
  }
  function stageBadge(stage, stages, extra = '') {
    if (!stage) return dash;
    return `<span class="badge ${stageClass(stage, stages)}" data-stage="${esc(stage)}" title="${esc(stage)}"${extra}>${esc(stage)}</span>`;
  }
  function statusBadge(status, extra = '') {
    const s = status || 'new';
    const cls = STATUSES.includes(s) ? `status-${s}` : '';
    return `<span class="badge ${cls}" data-status="${esc(s)}"${extra}>${esc(s)}</span>`;
  }

  function campaignHtml(c) {
    if (!c || (!c.source && !c.medium && !c.campaign)) return dash;
    const full = [c.source, c.medium, c.campaign].map((x) => x || '(none)').join(' / ');
    return `<div class="campaign" title="${esc(full)}">${esc(c.campaign || '(none)')}<div class="muted">${esc(
      c.source || '(none)',
    )} / ${esc(c.medium || '(none)')}</div></div>`;
  }

  const SPARK_W = 90;
  const SPARK_H = 22;
  /** An inline SVG sparkline of daily page views (oldest first). Only numbers reach the markup. */
  function sparkline(activity) {
    if (!Array.isArray(activity) || activity.length === 0) return dash;
    const vals = activity.map(num);
    let max = 0;
    let total = 0;
    for (const v of vals) {
      if (v > max) max = v;
      total += v;
    }
    const step = vals.length > 1 ? SPARK_W / (vals.length - 1) : 0;
    let pts = '';
    for (let i = 0; i < vals.length; i++) {
      const x = Math.round(i * step * 10) / 10;
      const y = max > 0 ? Math.round((SPARK_H - 2 - (vals[i] / max) * (SPARK_H - 4)) * 10) / 10 : SPARK_H - 2;
      pts += `${x},${y} `;
    }
    const label = `${intFmt.format(total)} page views in ${vals.length} days`;
    return `<svg class="spark" width="${SPARK_W}" height="${SPARK_H}" viewBox="0 0 ${SPARK_W} ${SPARK_H}" role="img" aria-label="${label}"><title>${label}</title><polyline points="${pts.trim()}"/></svg>`;
  }

  /** Bar widths are set through the CSSOM (not style attributes), so a strict CSP on the page is fine. */
  function applyBarWidths(root) {
    for (const el of root.querySelectorAll('[data-w]')) el.style.width = `${Math.max(0, Math.min(100, num(el.dataset.w)))}%`;
  }

  // ---------------------------------------------------------------------------------------------------------
  // API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, params, init = {}) {
    let res;
    try {
      res = await fetch(path + query(params), {
        credentials: 'same-origin',
        ...init,
        headers: { Accept: 'application/json', ...(init.headers || {}) },
      });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, `The server did not answer (${e && e.message ? e.message : e}).`);
    }
    const text = await res.text();
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!res.ok) {
      const msg = body && typeof body.error === 'string' ? body.error : `HTTP ${res.status} ${res.statusText}`.trim();
      throw new ApiError(res.status, msg);
    }
    if (body === null || typeof body !== 'object') throw new ApiError(res.status, 'The server did not answer with JSON.');
    return body;
  }

  // Who is signed in (GET /api/me): shown in the header; a viewer's write controls are disabled, and a
  // named person's writes are recorded under their name, so the free-text "by" is not asked.
  let ME = null;
  const meLoaded = api('/api/me')
    .then((m) => {
      ME = m;
      const el = document.getElementById('who');
      if (el) {
        el.textContent = m.name ? `${m.name} · ${m.role}` : m.role;
        el.dataset.role = m.role;
      }
      showSitePicker(Array.isArray(m.sites) ? m.sites : []);
    })
    .catch(() => {});

  // The sites this person may see (GET /api/me), when there is a choice: picking one reloads the page on
  // ?site=KEY, the view kept. The server refuses (403) any other site whatever the address bar says.
  function showSitePicker(sites) {
    const picker = document.getElementById('site-picker');
    if (!picker || sites.length < 2) return;
    const current = SITE || sites[0];
    picker.replaceChildren(
      ...sites.map((key) => {
        const o = document.createElement('option');
        o.value = key;
        o.textContent = key;
        o.selected = key === current;
        return o;
      }),
    );
    picker.hidden = false;
    siteLabel.hidden = true;
    picker.addEventListener('change', () => {
      const q = new URLSearchParams(location.search);
      q.set('site', picker.value);
      location.assign(`/?${q.toString()}${location.hash}`);
    });
  }

  function isAbort(e) {
    return e && e.name === 'AbortError';
  }

  function errorHtml(err) {
    if (err && err.status === 401) {
      return `<div class="message auth" data-testid="auth-required" role="alert">Token required: open /?token=… <span class="muted small">(the dashboard token from the server's <code>[dashboard]</code> config)</span></div>`;
    }
    const msg = err && err.message ? err.message : String(err);
    return `<div class="message error" data-testid="error" role="alert">${esc(msg)}</div>`;
  }

  function setState(state) {
    view.dataset.state = state;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Router

  function parseHash() {
    let h = location.hash.replace(/^#/, '');
    if (!h.startsWith('/')) h = `/${h}`;
    const qi = h.indexOf('?');
    const path = qi < 0 ? h : h.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1));
    const parts = path.split('/').filter(Boolean);
    const name = parts[0] || 'accounts';
    let arg = '';
    if (parts.length > 1) {
      try {
        arg = decodeURIComponent(parts.slice(1).join('/'));
      } catch {
        arg = parts.slice(1).join('/');
      }
    }
    return { name, arg, params };
  }

  function setNav(name) {
    const section = name === 'account' ? 'accounts' : name;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function route() {
    gen++;
    for (const f of cleanups.splice(0)) {
      try {
        f();
      } catch {
        /* a cleanup must not stop the next view */
      }
    }
    const r = parseHash();
    setNav(r.name);
    view.dataset.view = r.name;
    setState('loading');
    window.scrollTo(0, 0);
    if (r.name === 'account' && r.arg) return renderAccount(r.arg);
    if (r.name === 'live') return renderLive();
    if (r.name === 'campaigns') return renderCampaigns();
    if (r.name === 'funnel') return renderFunnel(r.params);
    view.dataset.view = 'accounts';
    setNav('accounts');
    return renderAccounts(r.params);
  }

  function setSiteLabel(site) {
    siteLabel.textContent = site ? `site: ${site}` : '';
  }

  // ---------------------------------------------------------------------------------------------------------
  // #/accounts

  const FILTERS = ['stage', 'class', 'identified_by', 'country', 'campaign', 'status', 'q', 'limit'];
  const TEXT_FILTERS = new Set(['country', 'campaign', 'q']);

  function topPagesHtml(pages) {
    if (!Array.isArray(pages) || pages.length === 0) return dash;
    let html = '<ul class="pages">';
    for (const p of pages.slice(0, 3)) {
      html += `<li title="${esc(p.path)}: ${fmtInt(p.views)} views, ${fmtScore(p.points)} points">${esc(p.path)} <span class="muted">${fmtInt(
        p.views,
      )}</span></li>`;
    }
    return `${html}</ul>`;
  }

  function lastSeenHtml(ts) {
    const s = String(ts);
    const i = s.indexOf(' ');
    return i < 0 ? esc(s) : `${esc(s.slice(0, i))}<div class="muted">${esc(s.slice(i + 1))}</div>`;
  }

  /** The owner, and how late the follow-up is when it is overdue (`[sla] hot_followup`). */
  function ownerHtml(a) {
    const owner = a.owner ? `<span class="owner-name" data-testid="owner" title="${esc(a.owner)}">${esc(a.owner)}</span>` : dash;
    const late = num(a.overdue) > 0
      ? ` <span class="badge bad" data-testid="overdue" title="follow-up was due ${esc(a.followup_due || '')}">${esc(fmtDuration(num(a.overdue) * 1000))} late</span>`
      : '';
    return owner + late;
  }

  // Each cell names its column (data-col), so app.css can leave columns out at narrower widths.
  function accountRowHtml(a, stages) {
    const d = a.domain == null ? '' : String(a.domain);
    const name = a.name || d;
    const sub = [d, classLabel(a), a.country, identifiedBy(a)].filter(Boolean).join(' · ');
    return (
      `<tr class="clickable" role="row" tabindex="0" data-domain="${esc(d)}" data-stage="${esc(a.stage)}" data-status="${esc(a.status || 'new')}">` +
      `<td data-col="account"><a class="acct-name" href="${esc(accountHref(d))}" title="${esc(name)}">${esc(name)}</a>` +
      `<div class="acct-domain" title="${esc(sub)}">${esc(sub)}</div></td>` +
      `<td data-col="stage">${stageBadge(a.stage, stages)}</td>` +
      `<td class="num" data-col="score">${fmtScore(a.score)}</td>` +
      `<td data-col="activity">${sparkline(a.activity)}</td>` +
      `<td class="num" data-col="visitors">${fmtInt(a.visitors)}</td>` +
      `<td class="num" data-col="sessions">${fmtInt(a.sessions)}</td>` +
      `<td class="small nowrap" data-col="last-seen">${a.last_seen ? lastSeenHtml(a.last_seen) : dash}</td>` +
      `<td data-col="pages">${topPagesHtml(a.top_pages)}</td>` +
      `<td data-col="first-touch">${campaignHtml(a.first_campaign)}</td>` +
      `<td data-col="last-touch">${campaignHtml(a.last_campaign)}</td>` +
      `<td data-col="status">${statusBadge(a.status)}</td>` +
      `<td data-col="owner">${ownerHtml(a)}</td>` +
      '</tr>'
    );
  }

  function renderAccounts(params) {
    const myGen = gen;
    document.title = 'Accounts · vtrack';
    const f = {};
    for (const k of FILTERS) f[k] = params.get(k) || '';
    if (!f.limit) f.limit = '1000';

    view.innerHTML = `
      <h1>Accounts <span class="sub" data-testid="accounts-count"></span></h1>
      <form class="filters" data-testid="filters" autocomplete="off">
        <label>Stage <select name="stage" data-testid="filter-stage">${options(knownStages, f.stage, 'any')}</select></label>
        <label>Network class <select name="class" data-testid="filter-class">${options(CLASSES, f.class, 'any')}</select></label>
        <label>Identified by <select name="identified_by" data-testid="filter-identified-by">${options(ID_SOURCES, f.identified_by, 'any')}</select></label>
        <label>Country <input type="text" name="country" class="short" maxlength="8" placeholder="DE" value="${esc(f.country)}" data-testid="filter-country"></label>
        <label>Campaign <input type="text" name="campaign" placeholder="utm_campaign" value="${esc(f.campaign)}" data-testid="filter-campaign"></label>
        <label>Sales status <select name="status" data-testid="filter-status">${options(STATUSES, f.status, 'any')}</select></label>
        <label>Search <input type="search" name="q" placeholder="name or domain" value="${esc(f.q)}" data-testid="filter-q"></label>
        <label>Rows <select name="limit" data-testid="filter-limit">${options(LIMITS, f.limit, null)}</select></label>
        <div class="actions"><a class="button secondary" href="#" data-testid="csv-link" download>Download CSV</a></div>
      </form>
      <div data-testid="accounts-message"></div>
      <div class="table-wrap">
        <table class="rows-table" role="table" data-testid="accounts-table" data-state="loading">
          <thead><tr role="row">
            <th data-col="account">Account</th><th data-col="stage">Stage</th><th class="num" data-col="score">Score</th>
            <th data-col="activity" title="page views per day, last 30 days">Activity</th>
            <th class="num" data-col="visitors">Visitors</th><th class="num" data-col="sessions">Sessions</th>
            <th data-col="last-seen">Last seen</th><th data-col="pages">Top pages</th>
            <th data-col="first-touch">First touch</th><th data-col="last-touch">Last touch</th>
            <th data-col="status">Status</th><th data-col="owner">Owner</th>
          </tr></thead>
          <tbody data-testid="accounts-body"></tbody>
        </table>
      </div>`;

    const form = view.querySelector('form');
    const table = view.querySelector('table');
    const tbody = table.tBodies[0];
    const countEl = view.querySelector('[data-testid="accounts-count"]');
    const msgEl = view.querySelector('[data-testid="accounts-message"]');
    const csv = view.querySelector('[data-testid="csv-link"]');
    const stageSelect = form.elements.namedItem('stage');
    let ctrl = null;
    let timer = null;

    function current() {
      const out = {};
      for (const k of FILTERS) {
        const el = form.elements.namedItem(k);
        let v = el ? String(el.value).trim() : '';
        if (k === 'country') v = v.toUpperCase();
        out[k] = v;
      }
      return out;
    }

    async function load() {
      clearTimeout(timer);
      const fl = current();
      // The filters live in the hash too, so a reload or a shared link keeps them. replaceState fires no
      // hashchange, so the form (and the focus in it) stays.
      const hq = new URLSearchParams();
      for (const k of FILTERS) if (fl[k] && !(k === 'limit' && fl[k] === '1000')) hq.set(k, fl[k]);
      const hs = hq.toString();
      const hash = `#/accounts${hs ? `?${hs}` : ''}`;
      if (location.hash !== hash) history.replaceState(history.state, '', hash);
      csv.href = `/api/accounts${query({ ...fl, format: 'csv' })}`;

      if (ctrl) ctrl.abort();
      ctrl = new AbortController();
      table.dataset.state = 'loading';
      table.setAttribute('aria-busy', 'true');
      let data;
      try {
        data = await api('/api/accounts', fl, { signal: ctrl.signal });
      } catch (e) {
        if (isAbort(e) || myGen !== gen) return;
        table.dataset.state = 'error';
        table.removeAttribute('aria-busy');
        msgEl.innerHTML = errorHtml(e);
        setState('error');
        return;
      }
      if (myGen !== gen) return;
      msgEl.innerHTML = '';
      if (Array.isArray(data.stages) && data.stages.length) {
        const stages = data.stages.map(String);
        if (stages.join('\n') !== knownStages.join('\n')) {
          knownStages = stages;
          stageSelect.innerHTML = options(knownStages, stageSelect.value, 'any');
        }
      }
      if (!SITE) setSiteLabel(data.site);
      const accounts = Array.isArray(data.accounts) ? data.accounts : [];
      // One string, one innerHTML: fast for 10,000 rows; clicks are handled once on the tbody.
      const parts = new Array(accounts.length);
      for (let i = 0; i < accounts.length; i++) parts[i] = accountRowHtml(accounts[i] || {}, knownStages);
      tbody.innerHTML = parts.length
        ? parts.join('')
        : '<tr class="empty-row"><td colspan="12" class="empty" data-testid="accounts-empty">No accounts match these filters.</td></tr>';
      const total = data.total == null ? accounts.length : num(data.total);
      countEl.textContent =
        total > accounts.length ? `${fmtInt(accounts.length)} of ${fmtInt(total)}` : `${fmtInt(accounts.length)}`;
      table.dataset.state = 'ready';
      table.removeAttribute('aria-busy');
      setState('ready');
    }

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      load();
    });
    form.addEventListener('input', (e) => {
      const name = e.target && e.target.name;
      clearTimeout(timer);
      if (TEXT_FILTERS.has(name)) timer = setTimeout(load, DEBOUNCE_MS);
      else load();
    });

    function open(tr, newTab) {
      const href = accountHref(tr.dataset.domain);
      if (newTab) window.open(href, '_blank', 'noopener');
      else location.hash = href;
    }
    tbody.addEventListener('click', (e) => {
      if (e.target.closest('a')) return; // links navigate by themselves
      const tr = e.target.closest('tr[data-domain]');
      if (!tr || !tbody.contains(tr)) return;
      if (window.getSelection && String(window.getSelection()).length > 0) return; // selecting text, not opening
      open(tr, e.ctrlKey || e.metaKey);
    });
    tbody.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || e.target.tagName !== 'TR') return;
      const tr = e.target.closest('tr[data-domain]');
      if (tr) open(tr, false);
    });

    cleanups.push(() => {
      clearTimeout(timer);
      if (ctrl) ctrl.abort();
    });
    load();
  }

  // ---------------------------------------------------------------------------------------------------------
  // #/account/{domain}

  function barsHtml(items, labelOf, metaOf, valueOf, fillClass, testid) {
    if (!Array.isArray(items) || items.length === 0) return `<p class="muted" data-testid="${testid}-empty">None yet.</p>`;
    let max = 0;
    for (const it of items) max = Math.max(max, num(valueOf(it)));
    let html = `<ul class="bars" data-testid="${testid}">`;
    for (const it of items) {
      const w = max > 0 ? Math.round((num(valueOf(it)) / max) * 1000) / 10 : 0;
      const label = labelOf(it);
      html +=
        `<li data-key="${esc(label)}"><span class="label" title="${esc(label)}">${esc(label)}</span>` +
        `<span class="track"><span class="fill ${fillClass}" data-w="${w}"></span></span>` +
        `<span class="meta">${metaOf(it)}</span></li>`;
    }
    return `${html}</ul>`;
  }

  function statusRowHtml(s) {
    return (
      `<li data-status="${esc(s.status)}">${statusBadge(s.status)} <span class="small">by ${esc(s.set_by || '–')}, ${esc(
        s.set_at || '',
      )}</span>` +
      (s.note ? `<div class="small">${esc(s.note)}</div>` : '') +
      (s.score != null ? `<div class="small muted">score then: ${fmtScore(s.score)}</div>` : '') +
      '</li>'
    );
  }

  function ownerHistoryHtml(history) {
    if (!Array.isArray(history) || history.length === 0) return '<p class="muted">No owner yet.</p>';
    const row = (o) =>
      `<li data-reason="${esc(o.reason)}"><b>${esc(o.owner)}</b> <span class="small">from ${esc(o.previous || 'nobody')}, ${
        o.reason === 'rule' ? 'by the rules' : `by ${esc(o.changed_by || '–')}`
      }, ${esc(o.changed_at || '')}</span></li>`;
    return `<ul class="list">${history.map(row).join('')}</ul>`;
  }

  function statusHistoryHtml(history) {
    if (!Array.isArray(history) || history.length === 0) return '<p class="muted" data-testid="status-history-empty">No status set yet.</p>';
    return `<ul class="list">${history.map(statusRowHtml).join('')}</ul>`;
  }

  function alertsHtml(alerts) {
    if (!Array.isArray(alerts) || alerts.length === 0) return '<p class="muted">No alerts raised.</p>';
    let html =
      '<table class="fixed alerts"><colgroup><col class="c-raised"><col><col class="c-score"><col class="c-deliveries"></colgroup>' +
      '<thead><tr><th>Raised</th><th>Alert</th><th class="num">Score</th><th>Deliveries</th></tr></thead><tbody>';
    for (const al of alerts) {
      let del = '';
      const ds = Array.isArray(al.deliveries) ? al.deliveries : [];
      for (const d of ds) {
        const ok = d.status === 'delivered';
        const bad = d.status === 'failed' || d.status === 'error' || d.status === 'dead';
        const details = [
          d.attempts != null ? `${fmtInt(d.attempts)} attempt${num(d.attempts) === 1 ? '' : 's'}` : '',
          d.http_status != null ? `HTTP ${d.http_status}` : '',
          d.delivered_at || '',
          d.last_error || '',
        ]
          .filter(Boolean)
          .join(' · ');
        del +=
          `<div class="small" data-delivery-status="${esc(d.status)}"><div class="cut" title="${esc(`${d.status || '?'}: ${d.receiver}${d.webhook ? ` (${d.webhook})` : ''}`)}">` +
          `<span class="badge ${ok ? 'ok' : bad ? 'bad' : ''}">${esc(d.status || '?')}</span> <span>${esc(d.receiver)}</span></div>` +
          `<div class="muted cut" title="${esc(details)}">${esc(details)}</div></div>`;
      }
      html +=
        `<tr data-alert-id="${esc(al.alert_id)}"><td class="small">${al.raised_at ? lastSeenHtml(al.raised_at) : dash}</td>` +
        `<td><div class="cut" title="${esc(al.kind)}">${esc(al.kind)}</div>${al.stage ? `<div>${stageBadge(al.stage)}</div>` : ''}</td>` +
        `<td class="num">${fmtScore(al.score)}</td>` +
        `<td>${del || '<span class="muted small">no webhook</span>'}</td></tr>`;
    }
    return `<div class="table-wrap plain">${html}</tbody></table></div>`;
  }

  function sessionHtml(s) {
    const evs = Array.isArray(s.pages) ? s.pages : [];
    // Engagement events carry the time spent on the page view before them; fold them into it.
    const items = [];
    for (const ev of evs) {
      if (ev.type === 'engagement') {
        for (let i = items.length - 1; i >= 0; i--) {
          if (items[i].type === 'pageview' && items[i].path === ev.path) {
            items[i].eng = num(items[i].eng) + num(ev.eng_ms);
            break;
          }
        }
        continue;
      }
      items.push({ ...ev, eng: num(ev.eng_ms) });
    }
    let list = '';
    for (const it of items) {
      if (it.type === 'pageview' || !it.type) {
        list +=
          `<li class="pv" data-type="pageview" data-path="${esc(it.path)}"><span class="t" title="${esc(it.ts)}">${esc(timeOf(it.ts))}</span>` +
          `<span class="p" title="${esc(it.path)}">${esc(it.path)}</span><span class="ti" title="${esc(it.title)}">${esc(it.title)}</span>` +
          `<span class="e">${it.eng > 0 ? fmtDuration(it.eng) : ''}</span></li>`;
      } else {
        list +=
          `<li class="other" data-type="${esc(it.type)}"><span class="t" title="${esc(it.ts)}">${esc(timeOf(it.ts))}</span>` +
          `<span class="p">${esc(it.type)}</span><span class="ti" title="${esc(it.name || it.title || it.path)}">${esc(it.name || it.title || it.path)}</span><span class="e"></span></li>`;
      }
    }
    const utm = [s.utm_source, s.utm_medium, s.utm_campaign].filter(Boolean).map(esc).join(' / ');
    return (
      `<article class="session" data-testid="session" data-session-id="${esc(s.session_id)}">` +
      `<div class="session-head"><span class="when">${esc(s.started_at)}</span>` +
      `<span class="muted">${fmtInt(s.pageviews)} page view${num(s.pageviews) === 1 ? '' : 's'}</span>` +
      (s.engaged_ms != null ? `<span class="muted">engaged ${fmtDuration(s.engaged_ms)}</span>` : '') +
      `<span class="badge">${s.is_return ? 'return visit' : 'first visit'}</span>` +
      `<span class="muted small" title="visitor id">visitor ${esc(s.visitor_id)}</span>` +
      (utm ? `<span class="small">campaign: ${utm}</span>` : '') +
      (s.referrer ? `<span class="small muted" title="referrer">from ${esc(s.referrer)}</span>` : '') +
      `</div><ol class="session-events">${list || '<li class="other">no events</li>'}</ol></article>`
    );
  }

  async function renderAccount(domain) {
    const myGen = gen;
    document.title = `${domain} · vtrack`;
    const enc = encodeURIComponent(domain);
    view.innerHTML = `<p class="small"><a href="#/accounts" data-testid="back">← Accounts</a></p><p class="muted">Loading ${esc(domain)}…</p>`;
    let data;
    try {
      data = await api(`/api/accounts/${enc}`);
    } catch (e) {
      if (myGen !== gen) return;
      const msg = e && e.status === 404 ? `No account ${domain} on this site.` : null;
      view.innerHTML =
        '<p class="small"><a href="#/accounts" data-testid="back">← Accounts</a></p>' +
        (msg ? `<div class="message error" data-testid="error" role="alert">${esc(msg)}</div>` : errorHtml(e));
      setState('error');
      return;
    }
    if (myGen !== gen) return;

    const a = data.account || {};
    const bd = data.breakdown || {};
    const status = data.status || null;
    const current = (status && status.status) || a.status || 'new';
    const history = Array.isArray(data.status_history) ? data.status_history : [];
    const sessions = Array.isArray(data.sessions) ? data.sessions : [];
    const contacts = Array.isArray(a.contacts) ? a.contacts : [];
    if (a.name) document.title = `${a.name} · vtrack`;
    await meLoaded;
    if (myGen !== gen) return;
    const canWrite = !ME || ME.can_write !== false;
    const named = Boolean(ME && ME.name);
    const lock = canWrite ? '' : ' disabled';
    const readOnly = canWrite
      ? ''
      : `<p class="muted small" data-testid="read-only">Read-only: ${esc(ME.name || 'you')} ${ME.name ? 'is' : 'are'} a ${esc(ME.role)}.</p>`;
    const byField = (id) =>
      named
        ? ''
        : `<label for="${id}">by</label><input type="text" id="${id}" name="by" placeholder="your name" value="${esc(savedBy)}" data-testid="${id}">`;
    let savedBy = '';
    try {
      savedBy = localStorage.getItem('vtrack_dashboard_by') || '';
    } catch {
      /* storage may be off */
    }

    const fact = (k, v, testid) =>
      `<li><span class="k">${esc(k)}</span><span class="v"${testid ? ` data-testid="${testid}"` : ''}>${v}</span></li>`;

    view.innerHTML = `
      <p class="small"><a href="#/accounts" data-testid="back">← Accounts</a></p>
      <section class="panel" data-testid="account-header" data-domain="${esc(a.domain || domain)}">
        <div class="account-header">
          <h1 data-testid="account-name">${esc(a.name || domain)}</h1>
          <span class="mono" data-testid="account-domain">${esc(a.domain || domain)}</span>
          ${stageBadge(a.stage, null, ' data-testid="account-stage"')}
          ${statusBadge(current, ' data-testid="account-status"')}
          <span data-testid="account-owner">${ownerHtml(a)}</span>
          ${a.is_target ? '<span class="badge flag">target account</span>' : ''}
          ${a.excluded ? '<span class="badge flag">excluded</span>' : ''}
        </div>
        <ul class="facts">
          ${fact('Score', fmtScore(a.score), 'account-score')}
          ${fact('Class', esc(a.class ? `${a.class} (${Number(a.class_confidence) || 0}% sure)` : '–'), 'account-class')}
          ${fact('Identified by', esc(identifiedBy(a).replace('identified by ', '') || '–'), 'account-identified-by')}
          ${fact('Country', esc(a.country || '–'), 'account-country')}
          ${fact('Visitors', fmtInt(a.visitors))}
          ${fact('Sessions', fmtInt(a.sessions))}
          ${fact('Page views', fmtInt(a.pageviews))}
          ${fact('Top topic', esc(a.top_topic || '–'))}
          ${fact('First seen', esc(a.first_seen || '–'))}
          ${fact('Last seen', esc(a.last_seen || '–'))}
          ${fact('Activity, 30 days', sparkline(a.activity))}
        </ul>
        <div class="small muted">First touch: ${campaignInline(a.first_campaign)} · Last touch: ${campaignInline(a.last_campaign)}${
          a.score_at ? ` · score as of ${esc(a.score_at)}` : ''
        }</div>
      </section>
      <div class="grid">
        <div>
          <section class="panel" data-testid="breakdown">
            <h2>Score breakdown</h2>
            <div class="stats">
              <div><span class="n" data-testid="breakdown-visits">${fmtInt(bd.visits)}</span><span class="k">visits</span></div>
              <div><span class="n" data-testid="breakdown-return-visits">${fmtInt(bd.return_visits)}</span><span class="k">return visits</span></div>
              <div><span class="n" data-testid="breakdown-visitors">${fmtInt(bd.visitors)}</span><span class="k">visitors</span></div>
            </div>
            <h2>Pages</h2>
            ${barsHtml(bd.pages, (p) => p.path, (p) => `${fmtInt(p.views)} views · ${fmtScore(p.points)} pts`, (p) => p.points, '', 'breakdown-pages')}
            <h2 class="topics-h">Topics</h2>
            ${barsHtml(a.topics, (t) => t.topic, (t) => `${fmtScore(t.points)} pts`, (t) => t.points, 'topic', 'breakdown-topics')}
          </section>
          <section class="panel">
            <h2>Alerts</h2>
            <div data-testid="alerts">${alertsHtml(data.alerts)}</div>
          </section>
          <section class="panel">
            <h2>Timeline <span class="muted small">latest ${fmtInt(sessions.length)} sessions, newest first</span></h2>
            <div class="timeline" data-testid="timeline">${
              sessions.length ? sessions.map(sessionHtml).join('') : '<p class="muted" data-testid="timeline-empty">No sessions.</p>'
            }</div>
          </section>
        </div>
        <div>
          <section class="panel" data-testid="sales-status">
            <h2>Sales status</h2>
            ${readOnly}
            <form class="status-form" data-testid="status-form" autocomplete="off"><fieldset class="plain"${lock}>
              <div class="row">
                <label for="status-select">Status</label>
                <select id="status-select" name="status" data-testid="status-select">${options(STATUSES, current, null)}</select>
                ${byField('status-by')}
              </div>
              <textarea name="note" placeholder="Note (optional)" data-testid="status-note" aria-label="Note"></textarea>
              <div class="row"><button type="submit" data-testid="status-save">Save status</button></div>
            </fieldset></form>
            <div class="status-result" data-testid="status-result" role="status">${
              status ? `Current: ${esc(status.status)}${status.set_by ? ` by ${esc(status.set_by)}` : ''}${status.set_at ? `, ${esc(status.set_at)}` : ''}` : ''
            }</div>
          </section>
          <section class="panel" data-testid="owner-panel">
            <h2>Owner</h2>
            <form class="status-form" data-testid="owner-form" autocomplete="off"><fieldset class="plain"${lock}>
              <div class="row">
                <label for="owner-input">Give to</label>
                <input type="text" id="owner-input" name="owner" placeholder="owner name" value="${esc(a.owner || '')}" data-testid="owner-input">
                ${byField('owner-by')}
                <button type="submit" data-testid="owner-save">Reassign</button>
              </div>
            </fieldset></form>
            <div class="status-result" data-testid="owner-result" role="status"></div>
            <div data-testid="owner-history">${ownerHistoryHtml(data.owner_history)}</div>
          </section>
          <section class="panel">
            <h2>Status history</h2>
            <div data-testid="status-history">${statusHistoryHtml(history)}</div>
          </section>
          <section class="panel">
            <h2>Contacts</h2>
            <div data-testid="contacts">${
              contacts.length
                ? `<ul class="list">${contacts
                    .map((c) => `<li><a href="mailto:${esc(encodeURI(String(c)))}">${esc(c)}</a></li>`)
                    .join('')}</ul>`
                : '<p class="muted">No identified contacts.</p>'
            }</div>
          </section>
        </div>
      </div>`;
    applyBarWidths(view);

    const ownerForm = view.querySelector('[data-testid="owner-form"]');
    const ownerResult = view.querySelector('[data-testid="owner-result"]');
    const ownerHistory = Array.isArray(data.owner_history) ? data.owner_history : [];
    ownerForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const fd = new FormData(ownerForm);
      const body = { owner: String(fd.get('owner') || '').trim() };
      const by = String(fd.get('by') || '').trim();
      if (by) body.by = by;
      ownerResult.className = 'status-result';
      ownerResult.textContent = 'Saving…';
      try {
        const row = await api(`/api/accounts/${enc}/owner`, {}, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (myGen !== gen) return;
        ownerResult.className = 'status-result ok';
        ownerResult.textContent = `Saved: ${row.owner} (was ${row.previous || 'nobody'}), by ${row.changed_by}`;
        ownerHistory.unshift(row);
        view.querySelector('[data-testid="owner-history"]').innerHTML = ownerHistoryHtml(ownerHistory);
        view.querySelector('[data-testid="account-owner"]').innerHTML = ownerHtml({ ...a, owner: row.owner });
      } catch (err) {
        if (myGen !== gen) return;
        ownerResult.className = 'status-result error';
        ownerResult.textContent = `Not saved: ${err && err.message ? err.message : err}`;
      }
    });

    const form = view.querySelector('[data-testid="status-form"]');
    const result = view.querySelector('[data-testid="status-result"]');
    const saveBtn = view.querySelector('[data-testid="status-save"]');
    const histEl = view.querySelector('[data-testid="status-history"]');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const body = { status: String(fd.get('status') || '') };
      const note = String(fd.get('note') || '').trim();
      const by = String(fd.get('by') || '').trim();
      if (note) body.note = note;
      if (by) body.by = by;
      saveBtn.disabled = true;
      result.className = 'status-result';
      result.dataset.state = 'saving';
      result.textContent = 'Saving…';
      try {
        const row = await api(`/api/accounts/${enc}/status`, {}, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (myGen !== gen) return;
        try {
          if (by) localStorage.setItem('vtrack_dashboard_by', by);
        } catch {
          /* storage may be off */
        }
        result.className = 'status-result ok';
        result.dataset.state = 'saved';
        result.textContent = `Saved: ${row.status}${row.set_by ? ` by ${row.set_by}` : ''}${row.set_at ? `, ${row.set_at}` : ''}${
          row.note ? ` — ${row.note}` : ''
        }`;
        const badge = view.querySelector('[data-testid="account-status"]');
        if (badge) badge.outerHTML = statusBadge(row.status, ' data-testid="account-status"');
        history.unshift(row);
        histEl.innerHTML = statusHistoryHtml(history);
        form.elements.namedItem('note').value = '';
      } catch (err) {
        if (myGen !== gen) return;
        result.className = 'status-result error';
        result.dataset.state = 'error';
        if (err && err.status === 401) result.textContent = 'Token required: open /?token=…';
        else result.textContent = `Not saved: ${err && err.message ? err.message : err}`;
      } finally {
        saveBtn.disabled = !canWrite;
      }
    });
    setState('ready');
  }

  function campaignInline(c) {
    if (!c || (!c.source && !c.medium && !c.campaign)) return 'none';
    return [c.source, c.medium, c.campaign].map((x) => esc(x || '(none)')).join(' / ');
  }

  // ---------------------------------------------------------------------------------------------------------
  // #/live

  const CLASS_LABEL = { isp: 'ISP', hosting: 'hosting / cloud', unknown: 'unknown' };

  /** The company of a live visit, on one line cut to its column; the title spells it out. */
  function liveCompanyHtml(v) {
    const cls = v.network_class || '';
    let html;
    let title;
    if (v.company_name && ACCOUNT_CLASSES.has(cls)) {
      const name = v.company_domain
        ? `<a href="${esc(accountHref(v.company_domain))}">${esc(v.company_name)}</a>`
        : esc(v.company_name);
      html = `${name} <span class="muted small">${esc(cls)}</span>`;
      title = `${v.company_name} (${cls})`;
    } else {
      const label = CLASS_LABEL[cls] || (cls ? cls : 'unknown');
      html = `<span class="muted">${esc(label)}</span>${v.company_name ? ` <span class="small muted">(${esc(v.company_name)})</span>` : ''}`;
      title = v.company_name ? `${label} (${v.company_name})` : label;
    }
    return `<div class="cut" title="${esc(title)}">${html}</div>`;
  }

  function renderLive() {
    const myGen = gen;
    document.title = 'Live · vtrack';
    view.innerHTML = `
      <h1>Live <span class="sub">page views received in the last ${LIVE_MINUTES} minutes, refreshed every ${LIVE_EVERY_MS / 1000} s</span></h1>
      <div class="live-meta"><span class="small muted" data-testid="live-updated"></span></div>
      <div data-testid="live-message"></div>
      <div class="table-wrap">
        <table class="fixed live" data-testid="live-table" data-state="loading">
          <colgroup><col class="c-time"><col class="c-company"><col class="c-country"><col></colgroup>
          <thead><tr><th>Time</th><th>Company</th><th>Country</th><th>Page</th></tr></thead>
          <tbody></tbody>
        </table>
        <p class="empty" data-testid="live-empty" hidden>No page views in the last ${LIVE_MINUTES} minutes.</p>
      </div>`;
    const table = view.querySelector('table');
    const tbody = table.tBodies[0];
    const empty = view.querySelector('[data-testid="live-empty"]');
    const updated = view.querySelector('[data-testid="live-updated"]');
    const msg = view.querySelector('[data-testid="live-message"]');
    let timer = null;
    let ctrl = null;

    async function tick() {
      timer = null;
      ctrl = new AbortController();
      let data;
      try {
        data = await api('/api/live', { minutes: LIVE_MINUTES }, { signal: ctrl.signal });
      } catch (e) {
        if (isAbort(e) || myGen !== gen) return;
        msg.innerHTML = errorHtml(e);
        table.dataset.state = 'error';
        setState('error');
        if (e && e.status === 401) return; // no point polling without a token
        timer = setTimeout(tick, LIVE_EVERY_MS);
        return;
      }
      if (myGen !== gen) return;
      msg.innerHTML = '';
      if (!SITE) setSiteLabel(data.site);
      const visits = Array.isArray(data.visits) ? data.visits : [];
      let html = '';
      for (const v of visits) {
        const t = v.received_at || v.ts;
        html +=
          `<tr data-session-id="${esc(v.session_id)}" data-domain="${esc(v.company_domain)}">` +
          `<td class="nowrap mono" title="received ${esc(v.received_at)}; viewed ${esc(v.ts)}">${esc(timeOf(t))}</td>` +
          `<td>${liveCompanyHtml(v)}</td><td>${esc(v.country || '–')}</td>` +
          `<td><div class="cut" title="${esc(v.title ? `${v.path} — ${v.title}` : v.path)}"><span class="mono">${esc(v.path)}</span>${
            v.title ? ` <span class="muted small">${esc(v.title)}</span>` : ''
          }</div></td></tr>`;
      }
      tbody.innerHTML = html;
      empty.hidden = visits.length > 0;
      updated.textContent = `${visits.length} page view${visits.length === 1 ? '' : 's'} since ${data.since || '–'} · updated ${new Date().toLocaleTimeString()}`;
      table.dataset.state = 'ready';
      setState('ready');
      timer = setTimeout(tick, LIVE_EVERY_MS);
    }

    cleanups.push(() => {
      clearTimeout(timer);
      timer = null;
      if (ctrl) ctrl.abort();
    });
    tick();
  }

  // ---------------------------------------------------------------------------------------------------------
  // #/campaigns

  async function renderCampaigns() {
    const myGen = gen;
    document.title = 'Campaigns · vtrack';
    view.innerHTML = '<h1>Campaigns</h1><p class="muted">Loading…</p>';
    let data;
    try {
      data = await api('/api/campaigns');
    } catch (e) {
      if (myGen !== gen) return;
      view.innerHTML = `<h1>Campaigns</h1>${errorHtml(e)}`;
      setState('error');
      return;
    }
    if (myGen !== gen) return;
    if (!SITE) setSiteLabel(data.site);
    const stages = Array.isArray(data.stages) && data.stages.length ? data.stages.map(String) : knownStages;
    const rows = Array.isArray(data.campaigns) ? data.campaigns : [];
    const none = '<span class="muted">(none)</span>';
    let body = '';
    for (const c of rows) {
      const by = c.by_stage && typeof c.by_stage === 'object' ? c.by_stage : {};
      const link = c.campaign
        ? `<a class="cut" href="#/accounts?campaign=${esc(encodeURIComponent(c.campaign))}" title="${esc(c.campaign)}: the accounts it reached">${esc(c.campaign)}</a>`
        : none;
      const cut = (v) => (v ? `<span class="cut" title="${esc(v)}">${esc(v)}</span>` : none);
      body +=
        `<tr data-source="${esc(c.source)}" data-medium="${esc(c.medium)}" data-campaign="${esc(c.campaign)}">` +
        `<td class="share s-source">${cut(c.source)}</td><td class="share s-medium">${cut(c.medium)}</td><td class="share s-campaign">${link}</td>` +
        `<td class="num" data-col="sessions">${fmtInt(c.sessions)}</td><td class="num" data-col="accounts">${fmtInt(c.accounts)}</td>` +
        stages.map((s) => `<td class="num" data-col="stage" data-stage="${esc(s)}">${fmtInt(by[s] || 0)}</td>`).join('') +
        `<td class="num" data-col="won">${fmtInt(c.won)}</td><td class="num" data-col="lost">${fmtInt(c.lost)}</td></tr>`;
    }
    const cols = 7 + stages.length;
    view.innerHTML = `
      <h1>Campaigns <span class="sub">sessions with UTM tags that reached accounts</span></h1>
      <div class="table-wrap">
        <table class="shares campaigns" data-testid="campaigns-table" data-state="ready">
          <thead><tr><th>Source</th><th>Medium</th><th>Campaign</th><th class="num">Sessions</th><th class="num">Accounts</th>${stages
            .map((s) => `<th class="num">${stageBadge(s, stages)}</th>`)
            .join('')}<th class="num">Won</th><th class="num">Lost</th></tr></thead>
          <tbody>${body || `<tr><td colspan="${cols}" class="empty" data-testid="campaigns-empty">No campaigns yet: no account's session had UTM tags.</td></tr>`}</tbody>
        </table>
      </div>`;
    setState('ready');
  }

  // ---------------------------------------------------------------------------------------------------------
  // #/funnel

  const FUNNEL_STEPS = ['identified', 'warm', 'hot', 'contacted', 'qualified', 'won', 'lost'];

  /** The steps of one funnel row as horizontal SVG bars, each as wide as its share of `identified`. */
  function funnelSvg(row) {
    const W = 520;
    const ROW = 26;
    const LABEL = 90;
    const top = Math.max(1, num(row.identified));
    let bars = '';
    FUNNEL_STEPS.forEach((step, i) => {
      const n = num(row[step]);
      const w = Math.round(((W - LABEL - 60) * n) / top);
      const y = i * ROW;
      bars +=
        `<g data-step="${step}"><text x="0" y="${y + 17}">${esc(step)}</text>` +
        `<rect class="funnel-bar funnel-${step}" x="${LABEL}" y="${y + 4}" width="${w}" height="${ROW - 8}" rx="3"/>` +
        `<text class="funnel-n" x="${LABEL + w + 6}" y="${y + 17}">${esc(fmtInt(n))}</text></g>`;
    });
    const h = FUNNEL_STEPS.length * ROW;
    const label = FUNNEL_STEPS.map((s) => `${s} ${num(row[s])}`).join(', ');
    return `<svg class="funnel" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" role="img" aria-label="${esc(label)}" data-testid="funnel-chart"><title>${esc(label)}</title>${bars}</svg>`;
  }

  function share(v) {
    return v == null ? dash : `${Math.round(num(v) * 1000) / 10}%`;
  }

  async function renderFunnel(params) {
    const myGen = gen;
    const period = params.get('period') === 'month' ? 'month' : 'week';
    document.title = 'Funnel · vtrack';
    view.innerHTML = '<h1>Funnel</h1><p class="muted">Loading…</p>';
    let data;
    try {
      data = await api('/api/funnel', { period });
    } catch (e) {
      if (myGen !== gen) return;
      view.innerHTML = `<h1>Funnel</h1>${errorHtml(e)}`;
      setState('error');
      return;
    }
    if (myGen !== gen) return;
    if (!SITE) setSiteLabel(data.site);
    const rows = Array.isArray(data.rows) ? data.rows : [];
    const latest = rows.find((r) => r.campaign == null);
    let body = '';
    for (const r of rows) {
      const conv = r.conversion && typeof r.conversion === 'object' ? r.conversion : {};
      body +=
        `<tr data-period="${esc(r.period)}" data-campaign="${esc(r.campaign == null ? '' : r.campaign)}"${r.campaign == null ? ' class="total"' : ''}>` +
        `<td class="num-left">${esc(r.period)}</td><td class="share s-campaign">${
          r.campaign == null ? '<b>all</b>' : `<span class="cut" title="${esc(r.campaign)}">${esc(r.campaign)}</span>`
        }</td>` +
        FUNNEL_STEPS.map((s, i) => {
          const c = i === 0 ? '' : ` <span class="muted small">${share(conv[s])}</span>`;
          return `<td class="num" data-col="${s}">${fmtInt(r[s])}${c}</td>`;
        }).join('') +
        `<td class="num" data-col="median_hours">${r.median_hours_to_contact == null ? dash : esc(r.median_hours_to_contact)}</td>` +
        `<td class="num" data-col="in_time">${share(r.followed_up_in_time)}</td></tr>`;
    }
    const deadline = data.followup_hours == null ? 'no deadline set' : `deadline ${esc(data.followup_hours)} h`;
    view.innerHTML = `
      <h1>Funnel <span class="sub">accounts by the ${esc(period)} they were first seen and their first-touch campaign</span></h1>
      <div class="actions bar">
        <a class="button${period === 'week' ? '' : ' secondary'}" href="#/funnel?period=week" data-testid="funnel-week">Weeks</a>
        <a class="button${period === 'month' ? '' : ' secondary'}" href="#/funnel?period=month" data-testid="funnel-month">Months</a>
        <a class="button secondary" href="/api/funnel${esc(query({ period, format: 'csv' }))}" data-testid="funnel-csv" download>Download CSV</a>
      </div>
      ${latest ? `<section class="panel"><h2>${esc(latest.period)}, all campaigns</h2>${funnelSvg(latest)}</section>` : ''}
      <div class="table-wrap">
        <table class="shares funnel" data-testid="funnel-table" data-state="ready">
          <thead><tr><th>Period</th><th>Campaign</th>${FUNNEL_STEPS.map((s) => `<th class="num">${esc(s)}</th>`).join('')}
            <th class="num" title="median hours from hot to first contact">Hours to contact</th>
            <th class="num" title="followed up in time: ${deadline}">In time</th></tr></thead>
          <tbody>${body || `<tr><td colspan="11" class="empty" data-testid="funnel-empty">No accounts yet.</td></tr>`}</tbody>
        </table>
      </div>`;
    setState('ready');
  }

  // ---------------------------------------------------------------------------------------------------------

  if (SITE) setSiteLabel(SITE);
  window.addEventListener('hashchange', route);
  route();
})();
