// The taskpool dashboard: one page, no framework, no request beyond this daemon.
// It reads the same HTTP API as any client (PROTOCOL.md section 8) and the live
// event stream, GET /v1/events, read with fetch() so that the token goes in a
// header: EventSource cannot send one, and a token never goes in a URL.
//
// Every value shown is put in the page as text (h() below); no HTML is ever made
// from data, so a job whose args hold "<script>" shows those characters.
'use strict';

const TOKEN_KEY = 'taskpool.token';
const PAGE_SIZE = 50;
const POLL_MS = 2000;
// Events wait here for the next animation frame, and are applied together: at
// thousands a second the page redraws once a frame, not once an event. A hidden
// tab draws no frames: past this many the page reloads its view instead.
const MAX_PENDING_EVENTS = 20000;
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const CANCELLABLE = new Set(['scheduled', 'waiting', 'queued', 'running']);
const STATES = ['scheduled', 'waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];

// ---------------------------------------------------------------- the page

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
// Replaces what `el` holds; null children are left out.
const put = (el, ...children) => el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
const jobLink = (id) => h('a', { href: '#/jobs/' + encodeURIComponent(id), class: 'mono' }, id);
const stateBadge = (state) => h('span', { class: 'state ' + state, 'data-state': state }, state);
const table = (id, heads, rows) => h('table', { id },
  h('thead', {}, h('tr', {}, heads.map((t) => h('th', { class: t.endsWith('#') ? 'num' : null }, t.replace(/#$/, ''))))),
  h('tbody', {}, rows));
const num = (v) => h('td', { class: 'num' }, v === null || v === undefined ? '–' : v);
const panel = (title, ...body) => h('section', { class: 'panel' }, title ? h('h2', {}, title) : null, body);

function notify(message) {
  const box = $('notice');
  box.textContent = message || '';
  box.hidden = !message;
}

function pretty(value) {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

function when(iso) {
  if (!iso) return '–';
  const t = new Date(iso);
  const today = new Date().toDateString() === t.toDateString();
  return today ? t.toLocaleTimeString() : t.toLocaleString();
}

function span(fromIso, toIso) {
  if (!fromIso || !toIso) return '–';
  const ms = new Date(toIso) - new Date(fromIso);
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  const s = Math.round(ms / 1000);
  return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
}

function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the API

const session = { token: sessionStorage.getItem(TOKEN_KEY), scopes: null, name: null };

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders() {
  return session.token ? { Authorization: 'Bearer ' + session.token } : {};
}

async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    const error = (data && data.error) || {};
    if (res.status === 401) signIn(session.token ? 'The daemon refused the token: sign in again.' : '');
    throw new ApiError(res.status, error.code || 'http_' + res.status, error.message || res.statusText);
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

// What the token may do (PROTOCOL.md section 14). No scopes at all: the daemon
// asks for no token, and anyone who can reach it may do anything.
function can(scope) {
  const s = session.scopes;
  if (!s) return true;
  if (s.includes('admin') || s.includes(scope)) return true;
  return scope === 'read' && s.includes('submit');
}

// An action's button: shown only to a token that may use it; while it runs it is
// disabled, and what it did or why it failed is said.
function actionButton(label, scope, run, cls) {
  if (!can(scope)) return null;
  const button = h('button', { type: 'button', class: cls, 'data-action': label.toLowerCase() }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await run();
      notify('');
      view.refresh();
    } catch (e) {
      notify(label + ': ' + e.message);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

// ---------------------------------------------------------------- live events

const stream = { generation: 0, filter: null, lastId: null, controller: null };
const pending = [];
let frameAsked = false;
let overflowed = false;

function setLive(on) {
  const live = $('live');
  live.textContent = on ? 'live' : 'reconnecting';
  live.className = 'live ' + (on ? 'on' : 'off');
}

// Streams the events `filter` matches to the current view, until listen() is
// called again. A stream that ends (the daemon restarted) is opened again, from
// the last event seen where the daemon still has it.
function listen(filter) {
  stream.generation++;
  if (stream.controller) stream.controller.abort();
  stream.filter = filter;
  stream.lastId = null;
  pending.length = 0;
  if (filter) runStream(stream.generation);
}

async function runStream(generation) {
  let failures = 0;
  while (generation === stream.generation) {
    const controller = new AbortController();
    stream.controller = controller;
    try {
      const headers = authHeaders();
      if (stream.lastId) headers['Last-Event-ID'] = stream.lastId;
      const res = await fetch('/v1/events' + query(stream.filter), { headers, signal: controller.signal, cache: 'no-store' });
      if (res.status === 401) { signIn('The daemon refused the token: sign in again.'); return; }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      setLive(true);
      failures = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let start = 0;
        let end;
        while ((end = buffer.indexOf('\n\n', start)) >= 0) {
          if (generation === stream.generation) received(buffer.slice(start, end));
          start = end + 2;
        }
        buffer = buffer.slice(start);
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    if (generation !== stream.generation) return;
    setLive(false);
    await sleep(Math.min(500 * 2 ** failures++, 5000));
  }
}

function received(block) {
  let name = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('id: ')) stream.lastId = line.slice(4);
    else if (line.startsWith('event: ')) name = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (!data) return;  // a keep-alive comment, or the retry hint
  let event;
  try { event = JSON.parse(data); } catch (e) { return; }
  event.name = name;
  if (pending.length >= MAX_PENDING_EVENTS) {
    pending.length = 0;
    overflowed = true;
  } else {
    pending.push(event);
  }
  if (!frameAsked) {
    frameAsked = true;
    requestAnimationFrame(applyEvents);
  }
}

function applyEvents() {
  frameAsked = false;
  const batch = pending.splice(0);
  if (overflowed) {
    overflowed = false;
    view.refresh();
  } else if (batch.length && view.events) {
    view.events(batch);
  }
}

// Calls `f` at most once every `ms`, the last call's arguments winning.
function throttled(ms, f) {
  let timer = null;
  let again = false;
  return function run() {
    if (timer) { again = true; return; }
    f();
    timer = setTimeout(() => { timer = null; if (again) { again = false; run(); } }, ms);
  };
}

// ---------------------------------------------------------------- charts

// A line chart of `values` over the last 15 minutes, on a canvas sized to its box.
function drawChart(canvas, times, values, color, unit) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  const style = getComputedStyle(document.documentElement);
  const muted = style.getPropertyValue('--muted').trim();
  const line = style.getPropertyValue('--line').trim();
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = muted;
  const top = 16;
  const bottom = height - 16;
  const max = Math.max(1, ...values);
  const scale = niceCeiling(max);
  g.strokeStyle = line;
  g.beginPath();
  g.moveTo(0, bottom + 0.5); g.lineTo(width, bottom + 0.5);
  g.moveTo(0, top + 0.5); g.lineTo(width, top + 0.5);
  g.stroke();
  g.fillText(scale + ' ' + unit, 2, top - 4);
  g.fillText('15 min ago', 2, height - 3);
  g.textAlign = 'right';
  g.fillText('now', width - 2, height - 3);
  if (!values.length) {
    g.textAlign = 'center';
    g.fillText('samples come every 5 s', width / 2, (top + bottom) / 2);
    return;
  }
  const now = Date.now();
  const span = 15 * 60 * 1000;
  const x = (t) => Math.max(0, width - ((now - t) / span) * width);
  const y = (v) => bottom - (v / scale) * (bottom - top);
  g.strokeStyle = color;
  g.lineWidth = 1.5;
  g.beginPath();
  values.forEach((v, i) => (i ? g.lineTo(x(times[i]), y(v)) : g.moveTo(x(times[i]), y(v))));
  g.stroke();
  g.globalAlpha = 0.12;
  g.fillStyle = color;
  g.lineTo(x(times[times.length - 1]), bottom);
  g.lineTo(x(times[0]), bottom);
  g.fill();
}

function niceCeiling(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------- views

// The view on screen: refresh() loads it again, events(batch) applies live events,
// stop() ends its timers. Each view below returns one.
let view = { refresh() {}, stop() {} };

function every(ms, f) {
  f();
  const timer = setInterval(f, ms);
  return () => clearInterval(timer);
}

// Puts `build()` in `el`, unless someone is typing there.
function update(el, build) {
  const focused = document.activeElement;
  if (el.contains(focused) && (focused.tagName === 'INPUT' || focused.tagName === 'SELECT')) return;
  put(el, build());
}

function overviewView(main) {
  const cards = h('div', { class: 'cards', id: 'cards' });
  const finishedChart = h('canvas', { class: 'chart', id: 'chart-finished' });
  const queuedChart = h('canvas', { class: 'chart', id: 'chart-queued' });
  const pools = h('div', { id: 'pools' });
  const workers = h('div', { id: 'workers' });
  const queues = h('div', { id: 'overview-queues' });
  const nodes = h('div', { id: 'nodes' });
  const failures = h('div', { id: 'failures' });
  main.append(h('h1', {}, 'Overview'), cards,
    h('div', { class: 'grid' },
      panel('Jobs finished a second', finishedChart),
      panel('Jobs queued', queuedChart)),
    panel('Pools', pools), panel('Workers', workers), queues, nodes,
    panel('Recent failures', failures));

  let last = null;
  let rate = null;
  let history = null;
  async function load() {
    try {
      const [stats, listed] = await Promise.all([api('GET', '/v1/stats?history=true'), api('GET', '/v1/queues')]);
      const finished = stats.jobs.succeeded + stats.jobs.failed + stats.jobs.cancelled;
      const now = performance.now();
      if (last && now > last.at) rate = Math.max(0, ((finished - last.finished) * 1000) / (now - last.at));
      last = { at: now, finished };
      history = stats.history;
      render(stats, listed.queues);
    } catch (e) {
      notify('Could not load the overview: ' + e.message);
    }
  }
  function render(stats, namedQueues) {
    const j = stats.jobs;
    const card = (label, value, key) => h('div', { class: 'card', 'data-figure': key }, h('div', { class: 'n' }, value), h('div', { class: 'l' }, label));
    update(cards, () => [
      card('finished a second', rate === null ? '…' : rate.toFixed(rate < 10 ? 1 : 0), 'rate'),
      card('submitted', j.submitted, 'submitted'), card('queued', j.queued, 'queued'),
      card('running', j.running, 'running'), card('succeeded', j.succeeded, 'succeeded'),
      card('failed', j.failed, 'failed'), card('cancelled', j.cancelled, 'cancelled'),
      card('scheduled', j.scheduled, 'scheduled'), card('waiting', j.waiting, 'waiting'),
      card('connections', stats.connections, 'connections')]);
    drawCharts();
    update(pools, () => poolTable(stats.pools));
    update(workers, () => workerTables(stats.pools));
    update(queues, () => namedQueues.length ? panel('Queues', queueTable(namedQueues, 'overview-queue-table')) : null);
    update(nodes, () => stats.cluster ? panel('Cluster ' + stats.cluster.name, nodeTable(stats.cluster)) : null);
  }
  function drawCharts() {
    if (!history) return;
    drawChart(finishedChart, history.at, history.finished_per_s, '#2f6fde', '/s');
    drawChart(queuedChart, history.at, history.queued, '#b7791f', 'jobs');
  }
  const recent = [];
  function showFailures() {
    update(failures, () => recent.length
      ? table('failures-table', ['Job', 'Task', 'Error', 'Finished'], recent.map((job) => h('tr', {},
        h('td', {}, jobLink(job.id)), h('td', {}, job.task),
        h('td', {}, job.error ? job.error.code + ': ' + job.error.message : ''), h('td', {}, when(job.finished_at)))))
      : h('p', { class: 'muted' }, 'None retained.'));
  }
  api('GET', '/v1/jobs?state=failed&limit=10').then((r) => { recent.push(...r.jobs); showFailures(); }).catch(() => {});
  listen({ state: 'failed' });
  const stop = every(POLL_MS, load);
  window.addEventListener('resize', drawCharts);
  return {
    refresh: load,
    events(batch) {
      for (const e of batch) {
        if (e.name === 'job.finished' && e.job && !recent.some((r) => r.id === e.job.id)) recent.unshift(e.job);
      }
      recent.length = Math.min(recent.length, 10);
      showFailures();
    },
    stop() { stop(); window.removeEventListener('resize', drawCharts); },
  };
}

function poolTable(pools) {
  const rows = Object.entries(pools).map(([name, p]) => {
    const resize = can('admin') && name !== 'remote' ? resizeControl(name, p.size) : null;
    return h('tr', { 'data-pool': name },
      h('td', {}, name), num(p.size), num(p.busy), num(p.queued),
      h('td', {}, p.paused ? h('span', { class: 'state queued' }, 'paused') : 'taking jobs'),
      h('td', { class: 'buttons' },
        p.paused
          ? actionButton('Resume', 'admin', () => api('POST', '/v1/pools/' + name + '/resume'))
          : actionButton('Pause', 'admin', () => api('POST', '/v1/pools/' + name + '/pause'), 'quiet'),
        resize));
  });
  return table('pools-table', ['Pool', 'Size#', 'Busy#', 'Queued#', 'State', ''], rows);
}

function resizeControl(pool, size) {
  const input = h('input', { type: 'number', min: 0, max: 4096, value: size, 'aria-label': 'new size of ' + pool });
  const button = actionButton('Resize', 'admin', () => api('PUT', '/v1/pools/' + pool, { size: Number(input.value) }), 'quiet');
  return h('span', {}, input, ' ', button);
}

function workerTables(pools) {
  const processes = (pools.process && pools.process.workers) || [];
  const remote = (pools.remote && pools.remote.workers) || [];
  return [
    h('h2', {}, 'Process pool'),
    processes.length
      ? table('process-workers', ['PID', 'State', 'Jobs done#', 'Memory#'], processes.map((w) => h('tr', {},
        h('td', { class: 'mono' }, w.pid), h('td', {}, w.state), num(w.jobs), num(bytes(w.memory_bytes)))))
      : h('p', { class: 'muted' }, 'No worker processes.'),
    h('h2', {}, 'Remote workers'),
    remote.length
      ? table('remote-workers', ['Name', 'Host', 'Tasks', 'Capacity#', 'Busy#', 'Jobs done#', 'State', 'Connected'], remote.map((w) => h('tr', {},
        h('td', {}, w.name || w.id), h('td', { class: 'mono' }, w.addr), h('td', {}, (w.tasks || []).join(', ')),
        num(w.capacity), num(w.busy), num(w.done), h('td', {}, w.state), h('td', {}, when(w.connected_at)))))
      : h('p', { class: 'muted' }, 'None connected.'),
  ];
}

function queueTable(queues, id) {
  return table(id, ['Queue', 'Queued#', 'Running#', 'Max running#', 'Rate', 'State', ''], queues.map((q) => h('tr', { 'data-queue': q.name },
    h('td', {}, h('a', { href: '#/jobs' + query({ queue: q.name }) }, q.name)), num(q.queued), num(q.running),
    num(q.max_concurrency), h('td', {}, q.rate_limit || '–'),
    h('td', {}, q.paused ? h('span', { class: 'state queued' }, 'paused') : q.throttled ? 'held by its limits' : 'taking jobs'),
    h('td', { class: 'buttons' }, q.paused
      ? actionButton('Resume', 'admin', () => api('POST', '/v1/queues/' + encodeURIComponent(q.name) + '/resume'))
      : actionButton('Pause', 'admin', () => api('POST', '/v1/queues/' + encodeURIComponent(q.name) + '/pause'), 'quiet')))));
}

function nodeTable(cluster) {
  return table('nodes-table', ['Node', 'Address', 'Started', 'Last seen', 'Threads busy#', 'Processes busy#'], cluster.nodes.map((n) => {
    const pools = n.pools || {};
    const busy = (p) => (pools[p] ? pools[p].busy + ' / ' + pools[p].size : '–');
    return h('tr', {}, h('td', { class: 'mono' }, n.id + (n.id === cluster.node ? ' (this one)' : '')), h('td', { class: 'mono' }, n.addr),
      h('td', {}, when(n.started_at)), h('td', {}, when(n.last_seen)), num(busy('thread')), num(busy('process')));
  }));
}

function jobsView(main, params) {
  const filters = {
    state: params.get('state') || '', task: params.get('task') || '', queue: params.get('queue') || '',
    batch: params.get('batch') || '', contains: params.get('contains') || '', before: params.get('before') || '',
  };
  const go = (changes) => { location.hash = '#/jobs' + query({ ...filters, before: '', ...changes }); };
  const stateSelect = h('select', { name: 'state', 'aria-label': 'state', onchange: () => go({ state: stateSelect.value }) },
    h('option', { value: '' }, 'any state'), STATES.map((s) => h('option', { value: s, selected: s === filters.state }, s)));
  const taskSelect = h('select', { name: 'task', 'aria-label': 'task', onchange: () => go({ task: taskSelect.value }) },
    h('option', { value: '' }, 'any task'), filters.task ? h('option', { value: filters.task, selected: true }, filters.task) : null);
  const queueInput = h('input', { name: 'queue', placeholder: 'queue', value: filters.queue, size: 12 });
  const idInput = h('input', { name: 'contains', placeholder: 'text in id', value: filters.contains, size: 16 });
  const form = h('form', { class: 'filters', id: 'job-filters' }, stateSelect, taskSelect, queueInput, idInput,
    filters.batch ? h('span', { class: 'state' }, 'batch ' + filters.batch, ' ', h('a', { href: '#/jobs' + query({ ...filters, batch: '', before: '' }) }, '×')) : null,
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => { e.preventDefault(); go({ queue: queueInput.value.trim(), contains: idInput.value.trim() }); });
  const body = h('div', { id: 'jobs' });
  const pager = h('div', { class: 'pager' });
  main.append(h('h1', {}, 'Jobs'), form, h('section', { class: 'panel' }, body, pager));

  api('GET', '/v1/tasks').then((r) => {
    for (const t of r.tasks) if (t.name !== filters.task) taskSelect.append(h('option', { value: t.name }, t.name));
  }).catch(() => {});

  let rows = new Map();  // each row shown, by its job's id
  async function load() {
    try {
      const r = await api('GET', '/v1/jobs' + query({ ...filters, limit: PAGE_SIZE }));
      render(r.jobs);
    } catch (e) {
      if (e.code === 'no_such_job' && filters.before) go({});  // the page's first job has expired
      else notify('Could not list jobs: ' + e.message);
    }
  }
  function row(job) {
    return h('tr', { 'data-job': job.id },
      h('td', {}, jobLink(job.id)), h('td', {}, job.task), h('td', {}, stateBadge(job.state)),
      h('td', {}, job.queue || ''), num(job.attempts), h('td', {}, when(job.submitted_at)),
      h('td', { class: 'num' }, span(job.started_at, job.finished_at)),
      h('td', { class: 'mono' }, worker(job)));
  }
  function render(jobs) {
    rows = new Map(jobs.map((j) => [j.id, row(j)]));
    body.replaceChildren(jobs.length
      ? table('jobs-table', ['Job', 'Task', 'State', 'Queue', 'Attempts#', 'Submitted', 'Ran#', 'Worker'], [...rows.values()])
      : h('p', { class: 'muted', id: 'no-jobs' }, 'No jobs match.'));
    put(pager, 
      filters.before ? h('a', { href: '#/jobs' + query({ ...filters, before: '' }) }, '← Newest') : null,
      jobs.length === PAGE_SIZE ? h('a', { href: '#/jobs' + query({ ...filters, before: jobs[jobs.length - 1].id }), id: 'older' }, 'Older →') : null);
  }
  const reload = throttled(1000, load);
  // The stream carries what the table's task and queue filters match; the state
  // is judged here, for a job that leaves the state shown is news too.
  listen({ task: filters.task, queue: filters.queue });
  load();
  return {
    refresh: load,
    events(batch) {
      let news = false;
      for (const e of batch) {
        const job = typeof e.job === 'object' ? e.job : null;
        const id = job ? job.id : e.job;
        if (!id) continue;
        const tr = rows.get(id);
        if (tr && job) {
          const fresh = row(job);
          tr.replaceWith(fresh);
          rows.set(id, fresh);
        } else if (!tr && !filters.before) {
          news = true;
        }
      }
      if (news) reload();
    },
    stop() {},
  };
}

function worker(job) {
  const w = job.worker;
  if (!w) return job.node || '';
  const who = w.name || (w.pid ? 'pid ' + w.pid : '');
  return who + (w.thread !== undefined ? ' thread ' + w.thread : '') + (job.node ? ' @ ' + job.node : '');
}

function progressOf(progress) {
  if (typeof progress === 'number' && progress >= 0 && progress <= 1) return progress;
  if (progress && typeof progress === 'object' && typeof progress.done === 'number' && progress.total > 0) {
    return Math.min(1, progress.done / progress.total);
  }
  return null;
}

function jobView(main, id) {
  const head = h('h1', {}, 'Job ', h('span', { class: 'mono' }, id));
  const body = h('div', { id: 'job' });
  main.append(head, body);
  async function load() {
    try {
      const r = await api('GET', '/v1/jobs/' + encodeURIComponent(id));
      render(r.job);
    } catch (e) {
      body.replaceChildren(h('p', { class: 'error' }, e.status === 404 ? 'No such job: it never was, or it has expired.' : e.message));
    }
  }
  function render(job) {
    head.replaceChildren('Job ', h('span', { class: 'mono' }, job.id), ' ', stateBadge(job.state));
    head.lastChild.id = 'job-state';
    const actions = h('div', { class: 'actions' },
      CANCELLABLE.has(job.state) ? actionButton('Cancel', 'submit', () => api('DELETE', '/v1/jobs/' + encodeURIComponent(job.id)), 'danger') : null,
      FINISHED.has(job.state) && job.state !== 'succeeded' ? actionButton('Retry', 'submit', () => api('POST', '/v1/jobs/' + encodeURIComponent(job.id) + '/retry')) : null);
    const facts = [
      ['Task', job.task], ['State', stateBadge(job.state)], ['Pool', job.pool], ['Queue', job.queue],
      ['Priority', job.priority], ['Attempts', job.attempts], ['Worker', worker(job) || null],
      ['Batch', job.batch ? h('a', { href: '#/jobs' + query({ batch: job.batch }) }, job.batch) : null],
      ['After', job.after ? job.after.map((a, i) => [i ? ', ' : '', jobLink(a)]) : null],
      ['Then', job.then_job ? jobLink(job.then_job) : job.then_error ? job.then_error.message : null],
      ['Schedule', job.schedule], ['Submitted by', job.submitted_by],
      ['Submitted', when(job.submitted_at)], ['Due', job.scheduled_for ? when(job.scheduled_for) : null],
      ['Started', job.started_at ? when(job.started_at) + ' (waited ' + span(job.submitted_at, job.started_at) + ')' : null],
      ['Finished', job.finished_at ? when(job.finished_at) + ' (ran ' + span(job.started_at, job.finished_at) + ')' : null],
    ].filter(([, v]) => v !== null && v !== undefined && v !== '');
    const fraction = progressOf(job.progress);
    put(body, actions,
      h('div', { class: 'grid' },
        panel('Details', h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
        h('div', {},
          job.progress !== undefined ? panel('Progress',
            fraction !== null ? h('div', { class: 'progress' }, progressBar(fraction)) : null,
            h('pre', { id: 'job-progress' }, pretty(job.progress))) : null,
          job.error ? panel('Error', h('pre', { id: 'job-error', class: 'error' }, job.error.code + ': ' + job.error.message)) : null,
          job.result !== undefined ? panel('Result', h('pre', { id: 'job-result' }, pretty(job.result))) : null)),
      panel('Args', h('pre', { id: 'job-args' }, pretty(job.args))));
  }
  const reload = throttled(250, load);
  listen({ job: id });
  load();
  return { refresh: load, events: reload, stop() {} };
}

function progressBar(fraction) {
  const bar = h('div');
  bar.style.width = (fraction * 100).toFixed(1) + '%';  // CSSOM, which the policy allows
  return bar;
}

// A view of what one GET answers, loaded again every `ms`.
function polledView(main, title, id, path, ms, show) {
  const body = h('div', { id });
  main.append(h('h1', {}, title), h('section', { class: 'panel' }, body));
  async function load() {
    try {
      const r = await api('GET', path);
      update(body, () => show(r));
    } catch (e) {
      notify('Could not load ' + title.toLowerCase() + ': ' + e.message);
    }
  }
  listen(null);
  return { refresh: load, stop: every(ms, load) };
}

function schedulesView(main) {
  return polledView(main, 'Schedules', 'schedules', '/v1/schedules', POLL_MS * 2, (r) => r.schedules.length
    ? table('schedules-table', ['Schedule', 'Task', 'When', 'Next', 'Last', 'Last job', 'State'], r.schedules.map((s) => h('tr', { 'data-schedule': s.name },
      h('td', {}, s.name), h('td', {}, s.task), h('td', { class: 'mono' }, s.cron || 'every ' + s.every_s + ' s'),
      h('td', {}, when(s.next_at)), h('td', {}, when(s.last_at)), h('td', {}, s.last_job ? jobLink(s.last_job) : '–'),
      h('td', {}, s.paused ? 'paused' : 'active'))))
    : h('p', { class: 'muted' }, 'No schedules. Set one with PUT /v1/schedules/{name} or in the config.'));
}

function queuesView(main) {
  return polledView(main, 'Queues', 'queues', '/v1/queues', POLL_MS, (r) => r.queues.length
    ? queueTable(r.queues, 'queues-table')
    : h('p', { class: 'muted' }, 'No named queues. A job names one with "queue"; limits are set with PUT /v1/queues/{name}.'));
}

function kvView(main, params) {
  const prefix = params.get('prefix') || '';
  const input = h('input', { name: 'prefix', placeholder: 'key prefix', value: prefix, size: 24 });
  const form = h('form', { class: 'filters' }, input, h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => { e.preventDefault(); location.hash = '#/kv' + query({ prefix: input.value }); });
  const rows = h('tbody');
  const more = h('div', { class: 'pager' });
  const body = h('div', { id: 'kv' }, h('table', { id: 'kv-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Value'))), rows), more);
  main.append(h('h1', {}, 'Shared state ', h('span', { class: 'muted' }, '(read-only)')), form, h('section', { class: 'panel' }, body));
  async function load(after) {
    try {
      const r = await api('GET', '/v1/kv' + query({ prefix, after, limit: 100 }));
      if (!after) rows.replaceChildren();
      for (const { key, value } of r.values) {
        const text = JSON.stringify(value);
        rows.append(h('tr', { 'data-key': key }, h('td', { class: 'mono' }, key), h('td', { class: 'mono value', title: text.slice(0, 2000) }, text)));
      }
      if (!rows.children.length) rows.append(h('tr', {}, h('td', { colspan: 2, class: 'muted' }, 'No keys.')));
      const last = r.values.length ? r.values[r.values.length - 1].key : null;
      put(more, r.more ? h('button', { type: 'button', class: 'quiet', onclick: () => load(last) }, 'More') : null);
    } catch (e) {
      notify('Could not list keys: ' + e.message);
    }
  }
  load();
  listen(null);
  return { refresh: () => load(), stop() {} };
}

// ---------------------------------------------------------------- routing

function route() {
  view.stop();
  notify('');
  const main = $('main');
  main.replaceChildren();
  const [path, q] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(q || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || 'overview';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('current', a.dataset.view === name);
  if (name === 'jobs' && parts[1]) view = jobView(main, parts[1]);
  else if (name === 'jobs') view = jobsView(main, params);
  else if (name === 'schedules') view = schedulesView(main);
  else if (name === 'queues') view = queuesView(main);
  else if (name === 'kv') view = kvView(main, params);
  else view = overviewView(main);
}

function signIn(message) {
  view.stop();
  view = { refresh() {}, stop() {} };
  listen(null);
  $('main').replaceChildren();
  $('login').hidden = false;
  $('signout').hidden = true;
  const error = $('login-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('token').focus();
}

async function start() {
  try {
    const hello = await api('GET', '/v1/hello');
    session.scopes = hello.scopes || null;
    session.name = hello.name || null;
  } catch (e) {
    if (e.status !== 401) notify('The daemon did not answer: ' + e.message);
    return;
  }
  $('login').hidden = true;
  $('signout').hidden = !session.token;
  $('who').textContent = session.name ? session.name + ' (' + session.scopes.join(', ') + ')' : '';
  route();
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  session.token = $('token').value;
  $('token').value = '';
  sessionStorage.setItem(TOKEN_KEY, session.token);
  start();
});
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  $('who').textContent = '';
  signIn('Signed out.');
});
window.addEventListener('hashchange', () => { if ($('login').hidden) route(); });
// A browser gives a host six connections: a tab out of sight gives back its
// stream's, and takes up where it left off (Last-Event-ID) when seen again.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    stream.generation++;
    if (stream.controller) stream.controller.abort();
  } else if (stream.filter) {
    runStream(++stream.generation);
    view.refresh();
  }
});
start();
