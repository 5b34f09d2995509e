// Agent console: sign-in, the live connection, the conversation list and the
// keyboard. See chat.js (the conversation), palette.js (scripts) and
// dialogs.js (transfer, close).

import { Api } from '/assets/api.js';
import { Connection } from '/assets/conn.js';
import { createI18n } from '/assets/i18n.js';
import { h, replace, $ } from '/assets/dom.js';
import { refresh as refreshChips } from '/assets/chips.js';
import { urgency } from '/assets/timers.js';
import { STRINGS } from './i18n.js';
import {
  S,
  onChange,
  changed,
  addMessage,
  upsertConversation,
  removeConversation,
  addBadge,
  unreadCount,
  markSeen,
  maxSeq,
  sortedMessages,
  hasAgentMessage,
  displayName,
  onAck,
  onRefError,
  resendPending,
  sendText,
  sendScript,
  knownVars,
  placeholders,
  fill,
} from './state.js';
import { renderChat, renderTyping, timerChips, badgeEls, loadDetails } from './chat.js';
import { openPalette, wirePalette, scriptFromComposer, greetingScript } from './palette.js';
import { openTransfer, openClose, wireDialogs } from './dialogs.js';
import { attention, toast, unlockAudio, setBaseTitle } from './notify.js';

const api = new Api('daogou.console.session');
const i18n = createI18n(STRINGS, 'daogou.console.locale');
S.api = api;
S.i18n = i18n;
const t = i18n.t;
const ruleLabel = (rule) => t(`rule.${rule}`);

// ---- sign-in ----------------------------------------------------------------

async function boot() {
  i18n.apply();
  for (const sel of document.querySelectorAll('.locale-select')) {
    sel.value = i18n.locale;
    sel.addEventListener('change', () => i18n.set(sel.value));
  }
  i18n.onChange((loc) => {
    for (const sel of document.querySelectorAll('.locale-select')) sel.value = loc;
    setBaseTitle(t('app.title'));
    changed();
  });
  setBaseTitle(t('app.title'));
  try {
    S.config = (await fetch('/api/v1/config').then((r) => (r.ok ? r.json() : {}))) || {};
  } catch {
    S.config = {};
  }
  S.timers.config = S.config;
  $('#login-form').addEventListener('submit', onLogin);
  if (api.token) {
    try {
      const me = await api.get('/api/v1/me');
      if (me?.agent) api.save({ ...api.session, agent: me.agent });
      start();
      return;
    } catch (e) {
      if (e.status === 401 || e.status === 403) api.logout();
      else if (api.token) {
        start();
        return;
      }
    }
  }
  showLogin();
}

function showLogin() {
  $('#login-view').hidden = false;
  $('#app-view').hidden = true;
  $('#login-email').focus();
}

async function onLogin(e) {
  e.preventDefault();
  unlockAudio();
  const err = $('#login-error');
  err.textContent = '';
  const btn = e.target.querySelector('button[type=submit]');
  btn.disabled = true;
  try {
    await api.login($('#login-email').value.trim(), $('#login-password').value);
    start();
  } catch (ex) {
    err.textContent = ex.status === 401 ? t('login.bad') : t('login.failed', { msg: ex.message });
  } finally {
    btn.disabled = false;
  }
}

// ---- the live connection ------------------------------------------------------

function start() {
  S.me = api.agent;
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  document.addEventListener('keydown', unlockAudio, { once: true });
  S.conn = new Connection(() => api.wsURL('/ws/agent'), {
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
  S.conn.start();
  changed();
  setInterval(tick, 200);
}

async function fetchHistory(id) {
  const after = maxSeq(id);
  try {
    const res = await api.get(`/api/v1/conversations/${encodeURIComponent(id)}/messages?after_seq=${after}`);
    for (const m of res.messages || []) addMessage(id, m);
    if (S.selected === id && !document.hidden) markSeen(id);
  } catch {
    /* the hello replay fills in */
  }
}

function isMine(c) {
  return !c.agent_id || !S.me || c.agent_id === S.me.id;
}

function onFrame(f) {
  const b = f.body || {};
  const id = f.conversation_id || b.conversation?.id || b.message?.conversation_id || '';
  const author = b.author || f.author || {};
  switch (f.type) {
    case 'welcome': {
      if (b.agent) S.me = { ...S.me, ...b.agent };
      const live = new Set();
      for (const c of b.conversations || []) {
        live.add(c.id);
        upsertConversation(c);
      }
      for (const [cid, c] of S.convs) if (c.state !== 'closed' && !live.has(cid)) removeConversation(cid);
      resendPending();
      const resume = [...live].map((cid) => ({ conversation_id: cid, last_seq: maxSeq(cid) }));
      if (resume.length) S.conn.send('hello', { resume });
      for (const cid of live) fetchHistory(cid);
      if (!S.selected && live.size) select(firstOpen());
      break;
    }
    case 'conversation.assigned': {
      const c = b.conversation;
      if (!c) break;
      if (!isMine(c) && !(b.agent && b.agent.id === S.me?.id)) {
        if (S.convs.has(c.id)) removeConversation(c.id);
        break;
      }
      const isNew = !S.convs.has(c.id) || S.convs.get(c.id).state === 'closed';
      upsertConversation(c);
      fetchHistory(c.id);
      if (isNew) {
        attention(t('notify.newShopper', { name: displayName(c) }));
        if (!S.selected) select(c.id);
      }
      break;
    }
    case 'conversation.updated':
      if (b.conversation && (S.convs.has(b.conversation.id) || isMine(b.conversation))) upsertConversation(b.conversation);
      break;
    case 'conversation.closed': {
      if (b.conversation) upsertConversation({ ...b.conversation, state: 'closed', outcome: b.outcome || b.conversation.outcome });
      S.typing.delete(id);
      // Keep the last few closed conversations for reference, not all day's.
      const closed = [...S.convs.values()].filter((c) => c.state === 'closed' && c.id !== S.selected);
      closed.sort((x, y) => String(x.closed_at).localeCompare(String(y.closed_at)));
      for (const c of closed.slice(0, Math.max(0, closed.length - 8))) removeConversation(c.id);
      break;
    }
    case 'conversation.transferred': {
      const c = S.convs.get(id);
      toast(t('transfer.done', { name: b.to_agent?.name || '' }));
      if (c) removeConversation(id);
      if (!S.selected) select(firstOpen());
      break;
    }
    case 'message.new': {
      const m = b.message;
      if (!m || !S.convs.has(id)) break;
      if (addMessage(id, m) && m.author?.kind === 'shopper') {
        S.typing.delete(id);
        if (S.selected === id && !document.hidden) markSeen(id);
        attention(t('notify.message', { name: m.author.name || displayName(S.convs.get(id)) }));
      }
      break;
    }
    case 'message.ack':
      onAck(f.ref, b);
      break;
    case 'typing':
      if (author.kind === 'shopper' || (!author.kind && author.id !== S.me?.id)) {
        S.typing.set(id, b.on ? Date.now() + 6000 : 0);
        changed();
      }
      break;
    case 'read':
      if (author.kind === 'shopper' || (!author.kind && author.id !== S.me?.id)) {
        S.shopperRead.set(id, Math.max(S.shopperRead.get(id) || 0, b.seq || 0));
        changed();
      }
      break;
    case 'timer.started':
      S.timers.start(id, b);
      changed();
      break;
    case 'timer.met':
      S.timers.stop(id, b.rule);
      changed();
      break;
    case 'rule.breached':
      if (b.action === 'auto_greeting') S.timers.stop(id, 'greeting');
      if (b.action === 'holding_reply') S.timers.hold(id, b.rule || 'first_response');
      if (b.action) addBadge(id, b.action);
      if (b.action === 'reassigned') toast(t('notify.reassigned', { name: displayName(S.convs.get(id)) }));
      break;
    case 'whisper': {
      const list = S.whispers.get(id) || [];
      list.push({ text: b.text, from: b.from, at: Date.now() });
      S.whispers.set(id, list);
      toast(t('notify.whisper', { name: b.from?.name || '', text: b.text }), 'whisper');
      attention(t('notify.whisper', { name: b.from?.name || '', text: b.text }));
      changed();
      break;
    }
    case 'agent.updated':
      if (b.agent && b.agent.id === S.me?.id) {
        S.me = { ...S.me, ...b.agent };
        changed();
      }
      break;
    case 'error':
      if (!(f.ref && onRefError(f.ref, b))) toast(t('notify.error', { msg: b.message || b.code }), 'error');
      break;
    default:
      break;
  }
}

// ---- the list -----------------------------------------------------------------

function ordered() {
  const now = Date.now();
  const last = (id) => {
    const ms = sortedMessages(id);
    return ms.length ? Date.parse(ms[ms.length - 1].created_at) || 0 : Date.parse(S.convs.get(id).opened_at) || 0;
  };
  return [...S.convs.values()]
    .map((c) => ({ c, closed: c.state === 'closed', u: urgency(S.timers.list(c.id), now), last: last(c.id) }))
    .sort((a, b) => a.closed - b.closed || b.u - a.u || b.last - a.last)
    .map((x) => x.c);
}

function firstOpen() {
  return ordered().find((c) => c.state !== 'closed')?.id || '';
}

let lastOrder = '';

function renderList() {
  const ul = $('#conv-items');
  const focusedId = document.activeElement?.closest?.('.conv')?.dataset.id;
  const items = ordered();
  lastOrder = items.map((c) => c.id).join();
  $('#list-empty').hidden = items.length > 0;
  replace(
    ul,
    items.map((c) => {
      const unread = unreadCount(c.id);
      const ms = sortedMessages(c.id);
      const lastMsg = ms[ms.length - 1];
      const typing = (S.typing.get(c.id) || 0) > Date.now();
      const closed = c.state === 'closed';
      const li = h(
        'li',
        { class: `conv${closed ? ' closed' : ''}`, dataset: { id: c.id }, 'aria-current': String(S.selected === c.id) },
        h(
          'button',
          { class: 'open', type: 'button', onclick: () => select(c.id) },
          h(
            'span',
            { class: 'line1' },
            h('span', { class: 'name', text: displayName(c) }),
            unread ? h('span', { class: 'count', 'aria-label': `${unread}`, text: String(unread) }) : null,
            closed ? h('span', { class: 'badge', text: t('list.closed') }) : null,
          ),
          h('span', { class: 'preview', text: typing ? t('list.typing') : lastMsg?.text || t('list.new') }),
          h('span', { class: 'line3' }, timerChips(c.id), badgeEls(c.id)),
        ),
        !closed && !hasAgentMessage(c.id)
          ? h('button', { class: 'btn small primary greet', type: 'button', title: t('greet.title'), onclick: () => greet(c.id), text: t('greet') })
          : null,
      );
      return li;
    }),
  );
  if (focusedId) ul.querySelector(`.conv[data-id="${CSS.escape(focusedId)}"] .open`)?.focus();
  paintLevels();
}

function paintLevels() {
  for (const li of document.querySelectorAll('#conv-items .conv')) {
    const chips = [...li.querySelectorAll('.chip')].map((c) => c.dataset.level);
    const level = ['over', 'red', 'amber'].find((l) => chips.includes(l)) || '';
    if (li.dataset.level !== level) li.dataset.level = level;
  }
}

function renderHeader() {
  const me = S.me || {};
  $('#me-name').textContent = me.name || '';
  const status = me.status || 'online';
  $('#status-select').value = status;
  $('#status-dot').dataset.status = status;
  const open = [...S.convs.values()].filter((c) => c.state !== 'closed').length;
  $('#load').textContent = t('load', { load: open, capacity: me.capacity ?? '—' });
  let unread = 0;
  for (const id of S.convs.keys()) unread += unreadCount(id);
  setBaseTitle(unread ? `(${unread}) ${t('app.title')}` : t('app.title'));
}

onChange(() => {
  renderHeader();
  renderList();
  renderChat();
});

function tick() {
  refreshChips(document, S.timers, ruleLabel, t('rule.held'));
  paintLevels();
  if (S.selected) renderTyping(S.selected);
  const order = ordered().map((c) => c.id).join();
  if (order !== lastOrder) changed();
  for (const [id, until] of S.typing) if (until && until < Date.now()) {
    S.typing.delete(id);
    changed();
  }
}

function select(id) {
  if (!id || !S.convs.has(id)) return;
  if (S.selected !== id) {
    const box = $('#composer-text');
    box.value = '';
    delete box.dataset.scriptId;
  }
  S.selected = id;
  if (!document.hidden) markSeen(id);
  loadDetails(id);
  changed();
}

function step(delta) {
  const ids = ordered().map((c) => c.id);
  if (!ids.length) return;
  const i = ids.indexOf(S.selected);
  select(ids[(i + delta + ids.length) % ids.length] ?? ids[0]);
}

// ---- actions ------------------------------------------------------------------

async function greet(id) {
  const s = await greetingScript(id).catch(() => null);
  if (!s) {
    openPalette(id, '', { category: 'greeting', kind: '' });
    return;
  }
  const known = knownVars(id);
  const vars = Object.fromEntries(placeholders(s).map((n) => [n, known[n] ?? '']));
  sendScript(id, s, vars, fill(s.text, vars));
  select(id);
}

let typingSentAt = 0;
let typingStop = 0;

function wireComposer() {
  const box = $('#composer-text');
  const submit = () => {
    const id = S.selected;
    const text = box.value.trim();
    if (!id || !text) return;
    const fromScript = scriptFromComposer();
    if (fromScript) sendScript(id, fromScript.script, fromScript.vars, text);
    else sendText(id, text);
    box.value = '';
    delete box.dataset.scriptId;
    clearTimeout(typingStop);
    if (typingSentAt) S.conn.send('typing', { on: false }, id);
    typingSentAt = 0;
  };
  $('#composer').addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  box.addEventListener('input', () => {
    const id = S.selected;
    if (!id) return;
    if (box.value.startsWith('/') && !box.value.includes('\n')) {
      const q = box.value.slice(1);
      box.value = '';
      openPalette(id, q);
      return;
    }
    if (Date.now() - typingSentAt > 2500 && S.conn.send('typing', { on: true }, id)) typingSentAt = Date.now();
    clearTimeout(typingStop);
    typingStop = setTimeout(() => {
      typingSentAt = 0;
      S.conn.send('typing', { on: false }, id);
    }, 3000);
  });
}

function wire() {
  wireComposer();
  wirePalette();
  wireDialogs();
  $('#btn-greet').addEventListener('click', () => greet(S.selected));
  $('#btn-scripts').addEventListener('click', () => openPalette(S.selected));
  $('#btn-transfer').addEventListener('click', () => openTransfer(S.selected));
  $('#btn-close').addEventListener('click', () => openClose(S.selected));
  $('#status-select').addEventListener('change', (e) => {
    const status = e.target.value;
    S.conn?.send('status.set', { status });
    S.me = { ...S.me, status };
    changed();
  });
  $('#logout').addEventListener('click', () => {
    S.conn?.send('status.set', { status: 'offline' });
    S.conn?.stop();
    api.logout();
    location.reload();
  });
  document.addEventListener('keydown', (e) => {
    if ($('#app-view').hidden) return;
    if ((e.ctrlKey || e.metaKey) && (e.key === 'k' || e.key === 'K')) {
      e.preventDefault();
      if (S.selected && S.convs.get(S.selected)?.state !== 'closed') openPalette(S.selected);
    } else if (e.altKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      step(e.key === 'ArrowDown' ? 1 : -1);
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && S.selected) markSeen(S.selected);
  });
  window.addEventListener('focus', () => {
    if (S.selected) markSeen(S.selected);
  });
}

wire();
boot();
