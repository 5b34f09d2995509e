// Supervisor live view: a snapshot on connect, then live changes from every
// instance. Conversations close to a deadline rise to the top and change
// colour before it passes (amber at half the time used, red at 80 %).

import { Api } from '/assets/api.js';
import { Connection } from '/assets/conn.js';
import { createI18n } from '/assets/i18n.js';
import { h, replace, fmtClock, fmtSpan, $ } from '/assets/dom.js';
import { chip, refresh as refreshChips } from '/assets/chips.js';
import { TimerBook, urgency, view } from '/assets/timers.js';
import { STRINGS } from './i18n.js';
import { Watch } from './watch.js';

const api = new Api('daogou.supervisor.session');
const i18n = createI18n(STRINGS, 'daogou.supervisor.locale');
const t = i18n.t;
const ruleLabel = (rule) => t(`rule.${rule}`);

const V = {
  config: {},
  convs: new Map(),
  agents: new Map(),
  stats: {},
  breaches: new Map(), // id -> [actions seen live]
  timers: new TimerBook(),
  conn: null,
  watch: null,
};

let scheduled = false;
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    render();
  });
}

function toast(text, kind = '') {
  const el = h('div', { class: `toast ${kind}`, text });
  $('#toasts').appendChild(el);
  setTimeout(() => el.remove(), 5000);
}

const name = (c) => c.visitor_name || t('visitor', { id: (c.visitor_id || c.id || '').slice(0, 6) });

// ---- sign-in ----------------------------------------------------------------

async function boot() {
  i18n.apply();
  for (const sel of document.querySelectorAll('.locale-select')) {
    sel.value = i18n.locale;
    sel.addEventListener('change', () => i18n.set(sel.value));
  }
  i18n.onChange((loc) => {
    for (const sel of document.querySelectorAll('.locale-select')) sel.value = loc;
    document.title = t('app.title');
    V.watch?.render();
    changed();
  });
  document.title = t('app.title');
  try {
    V.config = (await fetch('/api/v1/config').then((r) => (r.ok ? r.json() : {}))) || {};
  } catch {
    V.config = {};
  }
  V.timers.config = V.config;
  $('#login-form').addEventListener('submit', onLogin);
  if (api.token && api.agent?.role === 'supervisor') {
    start();
    return;
  }
  api.logout();
  $('#login-view').hidden = false;
  $('#login-email').focus();
}

async function onLogin(e) {
  e.preventDefault();
  const err = $('#login-error');
  err.textContent = '';
  try {
    const res = await api.login($('#login-email').value.trim(), $('#login-password').value);
    if (res.agent?.role !== 'supervisor') {
      api.logout();
      err.textContent = t('login.notSupervisor');
      return;
    }
    start();
  } catch (ex) {
    err.textContent = ex.status === 401 ? t('login.bad') : t('login.failed', { msg: ex.message });
  }
}

function start() {
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#me-name').textContent = api.agent?.name || '';
  V.conn = new Connection(() => api.wsURL('/ws/supervisor'), {
    onFrame,
    onState: (state) => {
      const el = $('#conn');
      el.dataset.state = state;
      el.textContent = t(`conn.${state}`);
    },
    stillAuthorized: async () => {
      try {
        await api.get('/api/v1/me');
        return true;
      } catch (e) {
        return e.status !== 401 && e.status !== 403;
      }
    },
    onUnauthorized: () => {
      api.logout();
      location.reload();
    },
  });
  V.watch = new Watch({
    conn: V.conn,
    t,
    locale: () => i18n.locale,
    agents: () => V.agents,
    load: loadOf,
    timers: V.timers,
    name,
    toast,
    changed,
  });
  $('#logout').addEventListener('click', () => {
    V.conn.stop();
    api.logout();
    location.reload();
  });
  V.conn.start();
  setInterval(tick, 250);
}

// ---- frames -------------------------------------------------------------------

function upsertConv(c) {
  if (!c?.id) return;
  if (c.state === 'closed') {
    V.convs.delete(c.id);
    V.timers.drop(c.id);
    return;
  }
  V.convs.set(c.id, { ...V.convs.get(c.id), ...c });
  if (Array.isArray(c.timers)) V.timers.setAll(c.id, c.timers);
  V.watch.update(c);
}

function onFrame(f) {
  V.watch.onFrame(f);
  const b = f.body || {};
  const id = f.conversation_id || b.conversation?.id || '';
  switch (f.type) {
    case 'snapshot':
      V.convs.clear();
      V.agents.clear();
      V.timers.byConv.clear();
      for (const c of b.conversations || []) upsertConv(c);
      for (const a of b.agents || []) V.agents.set(a.id, a);
      V.stats = b.stats || {};
      V.watch.resume();
      break;
    case 'conversation.updated':
    case 'conversation.assigned':
    case 'conversation.opened':
      upsertConv(b.conversation);
      break;
    case 'conversation.closed':
      V.convs.delete(id);
      V.timers.drop(id);
      break;
    case 'agent.updated':
      if (b.agent) V.agents.set(b.agent.id, { ...V.agents.get(b.agent.id), ...b.agent });
      V.watch.update(V.watch.conv);
      break;
    case 'stats.updated':
      V.stats = b.stats || V.stats;
      break;
    case 'timer.started':
      V.timers.start(id, b);
      break;
    case 'timer.met':
      V.timers.stop(id, b.rule);
      break;
    case 'rule.breached': {
      if (b.action === 'auto_greeting') V.timers.stop(id, 'greeting');
      if (b.action === 'holding_reply') V.timers.hold(id, b.rule || 'first_response');
      const list = V.breaches.get(id) || [];
      list.push(b.action);
      V.breaches.set(id, list);
      const c = V.convs.get(id);
      if (c) c.breaches = Math.max((c.breaches || 0) + 1, list.length);
      break;
    }
    case 'error':
      toast(t('notify.error', { msg: b.message || b.code }), 'error');
      break;
    default:
      return;
  }
  changed();
}

// ---- rendering ------------------------------------------------------------------

/**
 * waitingMs is how long the shopper has waited for a person: since the start
 * of the unanswered turn (waiting_since, else the running response timer),
 * or since opening while queued.
 */
function waitingMs(c, now) {
  let since = c.waiting_since ? Date.parse(c.waiting_since) : NaN;
  const turn = V.timers.byConv.get(c.id)?.get('first_response');
  if (Number.isNaN(since) && turn) since = turn.started;
  if (Number.isNaN(since) && c.state === 'queued') since = Date.parse(c.opened_at);
  return Number.isNaN(since) ? 0 : Math.max(0, now - since);
}

/** rank orders rows: timers nearest their deadline first, then the longest wait. */
function ranked(now) {
  const reassign = V.config.reassign_deadline_ms || 45000;
  return [...V.convs.values()]
    .map((c) => ({ c, u: Math.max(urgency(V.timers.list(c.id), now), waitingMs(c, now) / reassign), w: waitingMs(c, now) }))
    .sort((a, b) => b.u - a.u || b.w - a.w || String(a.c.opened_at).localeCompare(String(b.c.opened_at)))
    .map((x) => x.c);
}

function levelOf(id, now) {
  let best = '';
  const order = ['', 'amber', 'red', 'over'];
  for (const tm of V.timers.list(id)) {
    const l = view(tm, now).level;
    if (order.indexOf(l) > order.indexOf(best)) best = l;
  }
  return best;
}

let lastOrder = '';

function renderConvs() {
  const now = Date.now();
  const rows = ranked(now);
  lastOrder = rows.map((c) => c.id).join();
  $('#convs-empty').hidden = rows.length > 0;
  replace(
    $('#convs-body'),
    rows.map((c) => {
      const agent = c.agent_id && V.agents.get(c.agent_id);
      const watching = V.watch.id === c.id;
      const breaches = Math.max(c.breaches || 0, (V.breaches.get(c.id) || []).length);
      const actions = V.breaches.get(c.id) || [];
      return h(
        'tr',
        { dataset: { id: c.id, level: levelOf(c.id, now), state: c.state }, class: watching ? 'selected' : '' },
        h('th', { scope: 'row', text: name(c) }),
        h('td', {}, h('span', { class: c.state === 'queued' ? 'badge warn' : 'badge', text: t(`state.${c.state}`) }), c.queue_position ? ` #${c.queue_position}` : ''),
        h('td', { text: agent?.name || t('unassigned') }),
        h('td', { class: 'num wait', text: waitingMs(c, now) ? fmtSpan(waitingMs(c, now)) : '—' }),
        h('td', {}, h('div', { class: 'timers' }, V.timers.list(c.id).map((tm) => chip(c.id, tm, ruleLabel, t('rule.held'))))),
        h(
          'td',
          { class: breaches ? 'breach' : 'num', title: actions.map((a) => t(`breach.${a}`)).join(', ') },
          breaches ? `⚠ ${breaches}` : '0',
        ),
        h('td', { class: 'num', text: fmtClock(c.opened_at, i18n.locale) }),
        h(
          'td',
          {},
          h('button', {
            class: `btn small${watching ? ' primary' : ''}`,
            type: 'button',
            'aria-pressed': String(watching),
            text: watching ? t('convs.watching') : t('convs.watch'),
            onclick: () => {
              V.watch.start(c.id, c);
              changed();
            },
          }),
        ),
      );
    }),
  );
}

/** loadOf counts an agent's open conversations (the server's figure when none are known). */
function loadOf(a) {
  if (!V.convs.size) return a.load || 0;
  let n = 0;
  for (const c of V.convs.values()) if (c.agent_id === a.id) n++;
  return n;
}

function pct(met, total) {
  if (!total) return '—';
  return `${Math.round((100 * met) / total)}% (${met}/${total})`;
}

function renderAgents() {
  const agents = [...V.agents.values()].filter((a) => a.role !== 'supervisor').sort((a, b) => String(a.name).localeCompare(String(b.name)));
  $('#agents-empty').hidden = agents.length > 0;
  replace(
    $('#agents-body'),
    agents.map((a) => {
      // Counted from the open conversations seen from every instance, so
      // the bar moves with each assignment.
      const load = loadOf(a);
      const cap = a.capacity || 0;
      const share = cap ? Math.min(1, load / cap) : 0;
      const today = a.today || {};
      return h(
        'tr',
        { dataset: { id: a.id } },
        h('th', { scope: 'row', text: a.name }),
        h('td', {}, h('span', { class: 'status-dot', dataset: { status: a.status || 'offline' }, 'aria-hidden': 'true' }), ' ', t(`status.${a.status || 'offline'}`)),
        h(
          'td',
          { class: 'num' },
          h('span', { class: 'bar', 'data-full': share >= 1 ? '' : null, 'aria-hidden': 'true' }, h('span', { style: `width:${Math.round(share * 100)}%` })),
          ` ${load} / ${cap || '—'}`,
        ),
        h('td', { class: 'num', text: pct(today.greetings_met || 0, today.greetings || 0) }),
        h('td', { class: 'num', text: pct(today.turns_met || 0, today.turns || 0) }),
        h('td', { class: 'num', text: a.status !== 'offline' && a.online_since ? fmtClock(a.online_since, i18n.locale) : '—' }),
        h('td', { text: (a.skills || []).join(', ') }),
      );
    }),
  );
}

function renderTotals() {
  const s = V.stats || {};
  const now = Date.now();
  let longest = (s.longest_wait_s || 0) * 1000;
  for (const c of V.convs.values()) if (c.state === 'queued') longest = Math.max(longest, waitingMs(c, now));
  const greetS = Math.round((V.config.greeting_deadline_ms || 15000) / 1000);
  const replyS = Math.round((V.config.first_response_deadline_ms || 3000) / 1000);
  const fmtPct = (v) => (v == null ? t('stat.nodata') : `${Math.round(v)}%`);
  const pctLevel = (v) => (v == null ? '' : v < 80 ? 'red' : v < 95 ? 'amber' : '');
  const items = [
    ['stat.shoppers_online', s.shoppers_online ?? '—'],
    ['stat.conversations_open', s.conversations_open ?? V.convs.size],
    ['stat.queued', s.queued ?? [...V.convs.values()].filter((c) => c.state === 'queued').length, s.queued > 0 ? 'amber' : ''],
    ['stat.longest_wait', longest ? fmtSpan(longest) : '0 s', longest > 60000 ? 'red' : longest > 20000 ? 'amber' : '', 'longest'],
    ['stat.greeted_pct', fmtPct(s.greeted_pct), pctLevel(s.greeted_pct), '', { s: greetS }],
    ['stat.answered_pct', fmtPct(s.answered_pct), pctLevel(s.answered_pct), '', { s: replyS }],
    ['stat.breaches_last_hour', s.breaches_last_hour ?? 0, s.breaches_last_hour > 0 ? 'amber' : ''],
    ['stat.agents_online', s.agents_online ?? [...V.agents.values()].filter((a) => a.status === 'online').length],
  ];
  replace(
    $('#totals'),
    items.map(([key, val, level, tag, vars]) =>
      h('div', { class: 'stat', dataset: { stat: key.slice(5), level: level || '', tag: tag || '' } }, h('dt', { text: t(key, vars) }), h('dd', { text: String(val) })),
    ),
  );
}

function render() {
  renderTotals();
  renderConvs();
  renderAgents();
  if (V.watch?.id) V.watch.renderInfo();
}

function tick() {
  const now = Date.now();
  refreshChips(document, V.timers, ruleLabel, t('rule.held'));
  for (const tr of document.querySelectorAll('#convs-body tr')) {
    const c = V.convs.get(tr.dataset.id);
    if (!c) continue;
    const level = levelOf(c.id, now);
    if (tr.dataset.level !== level) tr.dataset.level = level;
    const w = tr.querySelector('.wait');
    const ms = waitingMs(c, now);
    const text = ms ? fmtSpan(ms) : '—';
    if (w && w.textContent !== text) w.textContent = text;
  }
  if (ranked(now).map((c) => c.id).join() !== lastOrder) changed();
  else if (Math.floor(now / 1000) !== Math.floor((now - 250) / 1000)) renderTotals();
  V.watch?.tick();
}

boot();
