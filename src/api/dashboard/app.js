// wharf dashboard: a plain ES module over the JSON API. Every name, rule and error is inserted as
// text (never as HTML), so a router named `<script>` from a label stays text. Live updates: an
// EventSource on /api/sse re-renders the current view when the generation changes.

const API = new URL('../api/', location.href).pathname;
const main = document.getElementById('main');
const live = document.getElementById('live');
let generation = 0;
let renderSeq = 0;

// h('div', {class: 'x', onclick: fn}, 'text', child) — children are text or nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path) {
  const r = await fetch(API + path, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

const badge = (s) => h('span', { class: `badge status-${s}` }, s || '?');
const order = { disabled: 0, warning: 1, enabled: 2 };
const byHealth = (a, b) => (order[a.status] - order[b.status]) || a.name.localeCompare(b.name);
const link = (kind, name) => h('a', { href: `#/${kind}/${encodeURIComponent(name)}` }, name);
const errors = (item) => (item.error || []).map((e) =>
  h('div', { class: item.status === 'disabled' ? 'err' : 'warnmsg' }, e));

function table(id, headers, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', { id }, h('thead', {}, h('tr', {}, headers.map((x) => h('th', { class: x.cls }, x.label || x)))),
      h('tbody', {}, rows)));
}

function setView(title, ...nodes) {
  main.replaceChildren(h('h1', {}, title), ...nodes);
}

// ---- views ----

async function overview() {
  const [ov, routers, services, middlewares] = await Promise.all([
    api('overview'), api('http/routers?per_page=1000'), api('http/services?per_page=1000'), api('http/middlewares?per_page=1000'),
  ]);
  const card = (label, c, href) => h('a', { class: 'card', href, style: 'text-decoration:none;color:inherit' },
    h('div', { class: 'muted' }, label), h('div', { class: 'n' }, c.total),
    h('div', {}, h('span', { class: 'status-warning' }, `${c.warnings} warnings`), ' · ',
      h('span', { class: 'status-disabled' }, `${c.errors} errors`)));
  const problems = [
    ...routers.map((x) => ({ ...x, kind: 'router' })),
    ...services.map((x) => ({ ...x, kind: 'service' })),
    ...middlewares.map((x) => ({ ...x, kind: 'middleware' })),
  ].filter((x) => x.status !== 'enabled').sort(byHealth);
  const w = ov.wharf || {};
  const prov = Object.entries(w.byProvider || {}).map(([p, kinds]) => h('tr', {},
    h('td', {}, p),
    ['routers', 'services', 'middlewares'].map((k) => {
      const c = kinds[k] || { total: 0, warnings: 0, errors: 0 };
      return h('td', {}, `${c.total}`, c.errors ? h('span', { class: 'status-disabled' }, ` ${c.errors}✗`) : '',
        c.warnings ? h('span', { class: 'status-warning' }, ` ${c.warnings}!`) : '');
    })));
  setView('Overview',
    problems.length ? h('section', {}, h('h2', {}, 'Needs attention'),
      table('problems', ['Kind', 'Name', 'Status', 'Error'], problems.map((x) =>
        h('tr', { class: `status-${x.status}`, dataset: { name: x.name, status: x.status } },
          h('td', {}, x.kind), h('td', {}, link(x.kind + 's', x.name)), h('td', {}, badge(x.status)),
          h('td', {}, errors(x)))))) : h('p', { class: 'status-enabled' }, 'Everything is healthy.'),
    (w.problems || []).length ? h('section', {}, h('h2', {}, 'Configuration problems'),
      w.problems.map((p) => h('div', { class: 'err' }, p))) : '',
    h('h2', {}, 'HTTP'),
    h('div', { class: 'cards' },
      card('Routers', ov.http.routers, '#/routers'), card('Services', ov.http.services, '#/services'),
      card('Middlewares', ov.http.middlewares, '#/middlewares'), card('Certificates', ov.certificates, '#/certificates')),
    h('h2', {}, 'By provider'),
    table('providers', ['Provider', 'Routers', 'Services', 'Middlewares'], prov),
    h('p', { class: 'muted' }, `Generation ${w.generation ?? '?'} · ${w.ready ? 'ready' : 'not ready yet'}`));
}

const filterState = {};
function filters(kind, onchange) {
  const st = filterState[kind] ||= { search: '', status: '', provider: '' };
  const input = h('input', { type: 'search', placeholder: 'Search name or rule', value: st.search, id: 'search',
    oninput: (e) => { st.search = e.target.value; onchange(); } });
  const sel = h('select', { id: 'status', onchange: (e) => { st.status = e.target.value; onchange(); } },
    ['', 'enabled', 'warning', 'disabled'].map((s) => h('option', { value: s, selected: st.status === s }, s || 'any status')));
  const prov = h('input', { placeholder: 'provider', value: st.provider, size: 8, id: 'provider',
    oninput: (e) => { st.provider = e.target.value; onchange(); } });
  return [h('div', { class: 'filters' }, input, sel, prov), st];
}

function listQuery(st) {
  const q = new URLSearchParams({ per_page: '1000' });
  if (st.search) q.set('search', st.search);
  if (st.status) q.set('status', st.status);
  if (st.provider) q.set('provider', st.provider);
  return q.toString();
}

async function routersView() {
  const body = h('div');
  const [bar, st] = filters('routers', () => fill());
  async function fill() {
    const seq = renderSeq;
    const items = await api('http/routers?' + listQuery(st));
    if (seq !== renderSeq) return;
    items.sort(byHealth);
    body.replaceChildren(table('routers', ['Status', 'Name', 'Rule', { label: 'Entry points', cls: 'hide-sm' }, 'TLS', { label: 'Provider', cls: 'hide-sm' }],
      items.map((r) => h('tr', { class: `status-${r.status}`, dataset: { name: r.name, status: r.status },
        onclick: () => { location.hash = `#/routers/${encodeURIComponent(r.name)}`; } },
        h('td', {}, badge(r.status)),
        h('td', {}, r.name, errors(r)),
        h('td', { class: 'rule' }, r.rule || ''),
        h('td', { class: 'hide-sm' }, (r.entryPoints || []).join(', ')),
        h('td', {}, r.tls ? 'yes' : ''),
        h('td', { class: 'hide-sm' }, r.provider)))));
  }
  setView('Routers', bar, body);
  await fill();
}

async function routerView(name) {
  const r = await api('http/routers/' + encodeURIComponent(name));
  const provider = r.provider;
  const svcName = r.service && !r.service.includes('@') ? `${r.service}@${provider}` : r.service;
  const mws = await Promise.all((r.middlewares || []).map((m) =>
    api('http/middlewares/' + encodeURIComponent(m)).catch(() => ({ name: m, status: 'disabled', error: ['does not exist'] }))));
  const svc = svcName ? await api('http/services/' + encodeURIComponent(svcName))
    .catch(() => ({ name: svcName, status: 'disabled', error: ['does not exist'] })) : null;
  const servers = Object.entries((svc && svc.serverStatus) || {});
  const chain = h('div', { class: 'chain', id: 'chain' },
    h('div', { class: 'step' }, h('div', { class: 'muted' }, 'entry points'), (r.entryPoints || []).join(', ')),
    mws.map((m, i) => [h('span', { class: 'arrow' }, '→'),
      h('div', { class: `step status-${m.status}`, dataset: { middleware: m.name } },
        h('div', { class: 'muted' }, `${i + 1}. ${m.type || 'middleware'}`), link('middlewares', m.name))]),
    h('span', { class: 'arrow' }, '→'),
    svc ? h('div', { class: `step status-${svc.status}` }, h('div', { class: 'muted' }, svc.type || 'service'), link('services', svc.name)) : h('div', { class: 'step err' }, 'no service'),
    servers.length ? [h('span', { class: 'arrow' }, '→'), h('div', { class: 'step' },
      servers.map(([url, st]) => h('div', { class: st === 'UP' ? 'status-enabled' : 'status-disabled' }, `${st} ${url}`)))] : '');
  setView(`Router ${r.name}`,
    h('div', { class: 'kv' },
      h('b', {}, 'Status'), h('div', {}, badge(r.status), errors(r)),
      h('b', {}, 'Rule'), h('code', {}, r.rule || ''),
      h('b', {}, 'Priority'), h('div', {}, r.priorityStr || String(r.priority ?? '')),
      h('b', {}, 'Provider'), h('div', {}, provider),
      h('b', {}, 'TLS'), h('div', {}, r.tls ? JSON.stringify(r.tls) : 'no')),
    h('h2', {}, 'Request path'), chain,
    h('h2', {}, 'Raw'), h('pre', {}, JSON.stringify(r, null, 2)));
}

async function simpleList(kind, title, cols) {
  const body = h('div');
  const [bar, st] = filters(kind, () => fill());
  async function fill() {
    const seq = renderSeq;
    const items = await api(`http/${kind}?` + listQuery(st));
    if (seq !== renderSeq) return;
    items.sort(byHealth);
    body.replaceChildren(table(kind, ['Status', 'Name', ...cols.map((c) => c[0]), 'Provider'],
      items.map((x) => h('tr', { class: `status-${x.status}`, dataset: { name: x.name, status: x.status },
        onclick: () => { location.hash = `#/${kind}/${encodeURIComponent(x.name)}`; } },
        h('td', {}, badge(x.status)), h('td', {}, x.name, errors(x)),
        cols.map((c) => h('td', {}, c[1](x))), h('td', {}, x.provider)))));
  }
  setView(title, bar, body);
  await fill();
}

const servicesView = () => simpleList('services', 'Services', [
  ['Type', (s) => s.type || ''],
  ['Servers', (s) => Object.entries(s.serverStatus || {}).map(([u, st]) =>
    h('div', { class: st === 'UP' ? 'status-enabled' : 'status-disabled' }, `${st} ${u}`))],
  ['Used by', (s) => (s.usedBy || []).join(', ')],
]);
const middlewaresView = () => simpleList('middlewares', 'Middlewares', [
  ['Type', (m) => m.type || ''], ['Used by', (m) => (m.usedBy || []).join(', ')],
]);

async function itemView(kind, name) {
  const x = await api(`http/${kind}/` + encodeURIComponent(name));
  setView(`${kind === 'services' ? 'Service' : 'Middleware'} ${x.name}`,
    h('div', { class: 'kv' },
      h('b', {}, 'Status'), h('div', {}, badge(x.status), errors(x)),
      h('b', {}, 'Type'), h('div', {}, x.type || ''),
      h('b', {}, 'Provider'), h('div', {}, x.provider),
      h('b', {}, 'Used by'), h('div', {}, (x.usedBy || []).map((u) => [link('routers', u), ' ']))),
    x.serverStatus ? [h('h2', {}, 'Servers'), table('servers', ['Health', 'URL'],
      Object.entries(x.serverStatus).map(([u, st]) => h('tr', {}, h('td', { class: st === 'UP' ? 'status-enabled' : 'status-disabled' }, st), h('td', {}, u))))] : '',
    h('h2', {}, 'Definition'), h('pre', {}, JSON.stringify(x, null, 2)));
}

async function certificatesView() {
  const certs = (await api('certificates?per_page=1000')).sort(byHealth);
  const note = h('p', { id: 'renew-result', class: 'muted' });
  const renew = (c) => async () => {
    // A JSON body type: the API refuses state changes a plain cross-site form could send.
    const r = await fetch(`${API}certificates/${encodeURIComponent(c.id)}/renew`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    const body = await r.json().catch(() => ({}));
    note.textContent = r.ok ? `Renewal of ${c.id} queued.` : `Renewal refused: ${body.message || r.statusText}`;
  };
  setView('Certificates', note, table('certificates',
    ['Status', 'Domains', 'Not after', 'Issuer', 'Provider', 'Routers', 'Next renewal', 'Last ACME error', ''],
    certs.map((c) => h('tr', { class: `status-${c.status}`, dataset: { id: c.id } },
      h('td', {}, badge(c.status), errors(c)),
      h('td', {}, (c.domains || c.sans || []).join(', ') || c.commonName || c.certFile || ''),
      h('td', {}, c.notAfter || '—'), h('td', {}, c.issuerCN || c.issuer || ''),
      h('td', {}, c.provider || '', c.resolver ? h('div', { class: 'muted' }, `resolver ${c.resolver}`) : ''),
      h('td', {}, (c.routers || []).map((r) => [link('routers', r), ' '])),
      h('td', {}, c.nextRenewal || '—'), h('td', {}, c.lastError ? h('div', { class: 'err' }, c.lastError) : '—'),
      h('td', {}, c.renewable ? h('button', { class: 'renew', onclick: renew(c) }, 'Renew now') : '')))));
}

const explainState = { url: 'http://localhost/', method: 'GET', headers: '', entryPoint: '' };
async function explainView() {
  const eps = await api('entrypoints').catch(() => []);
  const out = h('div', { id: 'explain-result' });
  const url = h('input', { id: 'explain-url', value: explainState.url, placeholder: 'http://host/path?query' });
  const method = h('input', { id: 'explain-method', value: explainState.method, size: 7 });
  const headers = h('textarea', { id: 'explain-headers', rows: 3, placeholder: 'Name: value (one per line)' }, explainState.headers);
  const ep = h('select', { id: 'explain-ep' }, h('option', { value: '' }, 'default entry point'),
    eps.map((e) => h('option', { value: e.name, selected: explainState.entryPoint === e.name }, e.name)));
  async function run(ev) {
    if (ev) ev.preventDefault();
    Object.assign(explainState, { url: url.value, method: method.value, headers: headers.value, entryPoint: ep.value });
    const q = new URLSearchParams({ url: url.value, method: method.value });
    if (ep.value) q.set('entryPoint', ep.value);
    for (const line of headers.value.split('\n')) if (line.includes(':')) q.append('header', line.trim());
    try {
      const r = await api('explain?' + q.toString());
      out.replaceChildren(renderExplain(r));
    } catch (e) {
      out.replaceChildren(h('p', { class: 'err' }, e.message));
    }
  }
  setView('Explain a request',
    h('form', { class: 'explain', id: 'explain-form', onsubmit: run },
      h('label', {}, 'URL ', url), h('div', {}, h('label', {}, 'Method ', method), ' ', ep),
      h('label', {}, 'Headers', h('br'), headers), h('div', {}, h('button', { type: 'submit', id: 'explain-go' }, 'Explain'))),
    out);
}

function clauses(list) {
  return h('ul', {}, (list || []).map((c) => h('li', { class: c.matched ? 'hit' : 'miss' }, `${c.matched ? '✓' : '✗'} `, h('code', {}, c.clause))));
}

function renderExplain(r) {
  const m = r.matched;
  return h('div', {},
    h('p', { id: 'explain-outcome', class: m ? 'status-enabled' : 'status-disabled' }, r.outcome),
    m ? h('section', {},
      h('div', { class: 'kv' },
        h('b', {}, 'Router'), h('div', {}, link('routers', m.router), ` (priority ${m.priority})`),
        h('b', {}, 'Rule'), h('code', {}, m.rule),
        h('b', {}, 'Why'), clauses(m.clauses),
        h('b', {}, 'Middlewares'), h('div', {}, m.middlewares.length ? m.middlewares.map((x, i) => h('div', {}, `${i + 1}. `, x.name, x.type ? ` (${x.type})` : '')) : 'none'),
        h('b', {}, 'Service'), h('div', {}, m.service, ` (${m.serviceType}${m.serviceUp ? '' : ', no healthy server'})`),
        h('b', {}, 'Server'), h('div', {}, m.server || 'none available'))) : '',
    r.notMatched.length ? h('section', {}, h('h2', {}, 'Higher-priority routers that did not match'),
      r.notMatched.map((n) => h('div', { class: 'step' }, h('b', {}, n.router), ` priority ${n.priority}`, clauses(n.clauses)))) : '',
    r.disabledRouters.length ? h('section', {}, h('h2', {}, 'Disabled routers on this entry point'),
      r.disabledRouters.map((d) => h('div', {}, h('b', {}, d.router), ' ', h('code', {}, d.rule), d.error.map((e) => h('div', { class: 'err' }, e))))) : '');
}

async function eventsView() {
  const { events } = await api('events?limit=100');
  setView('Configuration changes', events.length ? h('ul', { class: 'timeline', id: 'timeline' }, events.map((e) =>
    h('li', {}, h('div', {}, h('b', {}, `Generation ${e.generation}`), ' ', h('span', { class: 'muted' }, e.time)),
      e.changes.length ? h('ul', {}, e.changes.map((c) => h('li', { class: `status-${c.status}` },
        `${c.kind} `, h('b', {}, c.name), ` ${c.change}: `, c.detail))) : h('div', { class: 'muted' }, 'no visible change'),
      e.omitted ? h('div', { class: 'muted' }, `and ${e.omitted} more changes, not listed`) : ''))) :
    h('p', { class: 'muted' }, 'No changes recorded yet.'));
}

// ---- routing and live updates ----

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const [page, ...rest] = parts;
  const name = rest.length ? decodeURIComponent(rest.join('/')) : null;
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#/${page}` || (page === '' && a.getAttribute('href') === '#/'));
  }
  switch (page) {
    case 'routers': return name ? routerView(name) : routersView();
    case 'services': return name ? itemView('services', name) : servicesView();
    case 'middlewares': return name ? itemView('middlewares', name) : middlewaresView();
    case 'certificates': return certificatesView();
    case 'explain': return explainView();
    case 'events': return eventsView();
    default: return overview();
  }
}

async function render(live) {
  const seq = ++renderSeq;
  // The explain form keeps what the user typed; only its result would change.
  if (live && location.hash.startsWith('#/explain')) return;
  try {
    await route();
  } catch (e) {
    if (seq === renderSeq) main.replaceChildren(h('h1', {}, 'Error'), h('p', { class: 'err' }, e.message));
  }
}

function connect() {
  if (!window.EventSource) return;
  const es = new EventSource(API + 'sse');
  es.addEventListener('generation', (ev) => {
    const g = JSON.parse(ev.data).generation;
    live.textContent = `live · generation ${g}`;
    live.classList.add('on');
    document.body.dataset.generation = g;
    if (g !== generation) {
      generation = g;
      render(true);
    }
  });
  es.onerror = () => { live.textContent = 'reconnecting…'; live.classList.remove('on'); };
}

window.addEventListener('hashchange', () => render(false));
render(false);
connect();
