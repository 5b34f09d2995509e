// The selected conversation: header with timers and actions, transcript with
// read receipts and whispers, typing line, and the shopper's context.

import { h, replace, renderText, fmtClock, fmtDateTime, $ } from '/assets/dom.js';
import { chip } from '/assets/chips.js';
import {
  S,
  sortedMessages,
  pendingOf,
  badgesOf,
  hasAgentMessage,
  displayName,
  dropPending,
} from './state.js';

const t = (k, v) => S.i18n.t(k, v);
const ruleLabel = (rule) => t(`rule.${rule}`);

let shown = { id: '', version: -1, locale: '', read: 0, whispers: 0 };

/** timerChips are the countdown chips of a conversation's running timers. */
export function timerChips(id) {
  return S.timers.list(id).map((tm) => chip(id, tm, ruleLabel, t('rule.held')));
}

/** badgeEls are the badges for what the server did on its own. */
export function badgeEls(id) {
  const els = badgesOf(id).map((a) =>
    h('span', { class: `badge ${a === 'reassigned' ? 'bad' : 'warn'}`, dataset: { action: a }, text: t(`badge.${a}`) }),
  );
  if ((S.whispers.get(id) || []).length) els.push(h('span', { class: 'badge', text: t('badge.whisper') }));
  return els;
}

/** renderChat draws the selected conversation. */
export function renderChat() {
  const id = S.selected;
  const c = id && S.convs.get(id);
  $('#chat-none').hidden = !!c;
  $('#chat-view').hidden = !c;
  if (!c) {
    shown = { id: '', version: -1 };
    renderContext('');
    return;
  }
  const closed = c.state === 'closed';
  $('#chat-title').textContent = displayName(c);
  $('#chat-sub').textContent = [c.topic, c.locale, c.state === 'queued' ? t('list.queued') : '']
    .filter(Boolean)
    .join(' · ');
  replace($('#chat-timers'), timerChips(id), badgeEls(id));
  $('#btn-greet').hidden = closed || hasAgentMessage(id);
  $('#btn-transfer').disabled = closed;
  $('#btn-close').disabled = closed;
  $('#btn-scripts').disabled = closed;
  $('#composer-text').disabled = closed;
  $('#composer-send').disabled = closed;
  const note = $('#chat-closed');
  note.hidden = !closed;
  if (closed) note.textContent = t('chat.closed', { outcome: c.outcome ? t(`outcome.${c.outcome}`) : '—' });
  renderTyping(id);

  const version = S.versions.get(id) || 0;
  const read = S.shopperRead.get(id) || 0;
  const whispers = (S.whispers.get(id) || []).length;
  if (shown.id !== id || shown.version !== version || shown.locale !== S.i18n.locale || shown.read !== read || shown.whispers !== whispers) {
    const box = $('#transcript');
    const atBottom = shown.id !== id || box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    replace(box, transcriptItems(id));
    if (atBottom) box.scrollTop = box.scrollHeight;
    shown = { id, version, locale: S.i18n.locale, read, whispers };
  }
  if (shown.ctx !== contextKey(id)) {
    renderContext(id);
    shown.ctx = contextKey(id);
  }
}

function contextKey(id) {
  const c = S.convs.get(id);
  return `${id}|${S.i18n.locale}|${JSON.stringify(c?.context ?? null)}|${c?.visitor_name}|${S.details.has(id)}`;
}

export function renderTyping(id) {
  const on = (S.typing.get(id) || 0) > Date.now();
  const text = on ? t('chat.typing', { name: displayName(S.convs.get(id)) }) : '';
  const el = $('#typing');
  if (el.textContent !== text) el.textContent = text;
}

function transcriptItems(id) {
  const read = S.shopperRead.get(id) || 0;
  const items = sortedMessages(id).map((m) => ({ at: Date.parse(m.created_at) || 0, el: messageEl(m, read) }));
  for (const w of S.whispers.get(id) || []) items.push({ at: w.at, el: whisperEl(w) });
  items.sort((a, b) => a.at - b.at);
  const out = items.map((x) => x.el);
  for (const p of pendingOf(id).values()) out.push(pendingEl(id, p));
  return out;
}

/** messageEl renders one stored message (text nodes only). */
export function messageEl(m, read = 0) {
  const kind = m.author?.kind === 'agent' ? 'agent' : m.author?.kind === 'system' ? 'system' : 'shopper';
  const name = m.author?.name || (kind === 'shopper' ? t('chat.shopper') : S.config.shop_name || 'Daogou');
  const meta = h('div', { class: 'meta' }, h('span', { text: name }), h('time', { datetime: m.created_at || '', text: fmtClock(m.created_at, S.i18n.locale) }));
  if (m.auto) meta.appendChild(h('span', { class: 'badge warn', text: t('chat.auto') }));
  if (m.kind === 'script') meta.appendChild(h('span', { class: 'badge', text: t('chat.script') }));
  const bubble = renderText(h('div', { class: 'bubble' }), m.text, { warn: t('chat.external') });
  const el = h('div', { class: `msg ${kind}`, dataset: { seq: m.seq, kind: m.kind || 'text', auto: m.auto ? '1' : '' } }, meta, bubble);
  if (kind === 'agent') el.appendChild(h('div', { class: 'receipt', text: m.seq <= read ? `✓✓ ${t('chat.read')}` : `✓ ${t('chat.sent')}` }));
  return el;
}

function pendingEl(id, p) {
  const el = h(
    'div',
    { class: 'msg agent pending', dataset: { cid: p.cid } },
    h('div', { class: 'meta' }, h('span', { text: S.me?.name || '' })),
    renderText(h('div', { class: 'bubble' }), p.text),
  );
  if (p.error) {
    el.appendChild(
      h(
        'div',
        { class: 'receipt', role: 'alert' },
        t('chat.failed', { msg: p.error }),
        ' ',
        h('button', { class: 'btn small', type: 'button', onclick: () => dropPending(id, p.cid), text: '×', 'aria-label': t('cancel') }),
      ),
    );
  } else {
    el.appendChild(h('div', { class: 'receipt', text: t('chat.sending') }));
  }
  return el;
}

function whisperEl(w) {
  return h(
    'div',
    { class: 'msg whisper' },
    h('div', { class: 'meta' }, h('span', { text: t('chat.whisperFrom', { name: w.from?.name || '' }) }), h('time', { text: fmtClock(new Date(w.at).toISOString(), S.i18n.locale) })),
    renderText(h('div', { class: 'bubble' }), w.text),
  );
}

/** value renders a free-form context value (string, number, list, object). */
function value(v, depth = 0) {
  if (v == null || v === '' || (Array.isArray(v) && !v.length)) return h('span', { class: 'muted', text: t('ctx.none') });
  if (typeof v !== 'object') return renderText(h('span'), String(v), { warn: t('chat.external') });
  if (depth > 3) return h('span', { text: JSON.stringify(v) });
  if (Array.isArray(v)) return h('ul', {}, v.map((x) => h('li', {}, value(x, depth + 1))));
  return h('dl', {}, Object.entries(v).map(([k, x]) => [h('dt', { text: k }), h('dd', {}, value(x, depth + 1))]));
}

/** renderContext draws who the shopper is, what they look at, and their history. */
export function renderContext(id) {
  const body = $('#ctx-body');
  const c = id && S.convs.get(id);
  if (!c) {
    replace(body);
    return;
  }
  const ctx = c.context || {};
  const section = (key, v) => h('section', {}, h('h3', { text: t(key) }), h('div', { class: 'val' }, value(v)));
  const info = h(
    'dl',
    {},
    h('dt', { text: t('ctx.name') }),
    h('dd', { text: displayName(c) }),
    h('dt', { text: t('ctx.locale') }),
    h('dd', { text: c.locale || t('ctx.none') }),
    h('dt', { text: t('ctx.topic') }),
    h('dd', { text: c.topic || t('ctx.none') }),
    h('dt', { text: t('ctx.opened') }),
    h('dd', { text: fmtDateTime(c.opened_at, S.i18n.locale) || t('ctx.none') }),
  );
  replace(body, info, section('ctx.page', ctx.page), section('ctx.product', ctx.product), section('ctx.cart', ctx.cart), previousSection(id));
}

function previousSection(id) {
  const prev = S.details.get(id)?.previous;
  const sec = h('section', {}, h('h3', { text: t('ctx.previous') }));
  if (!prev) return sec;
  if (!prev.length) {
    sec.appendChild(h('p', { class: 'muted', text: t('ctx.noPrevious') }));
    return sec;
  }
  for (const p of prev) {
    const log = h('div', { class: 'transcript', role: 'log', 'aria-label': t('chat.log') });
    const det = h(
      'details',
      { class: 'prev' },
      h('summary', {}, `${fmtDateTime(p.opened_at, S.i18n.locale)} · ${p.outcome ? t(`outcome.${p.outcome}`) : p.state}`),
      log,
    );
    det.addEventListener(
      'toggle',
      async () => {
        if (!det.open || log.childElementCount) return;
        try {
          const res = await S.api.get(`/api/v1/conversations/${encodeURIComponent(p.id)}/messages?after_seq=0`);
          replace(log, (res.messages || []).map((m) => messageEl(m)));
        } catch (e) {
          replace(log, h('p', { class: 'muted', text: e.message }));
        }
      },
    );
    sec.appendChild(det);
  }
  return sec;
}

/** loadDetails fetches the conversation's previous conversations once. */
export async function loadDetails(id) {
  if (S.details.has(id)) return;
  S.details.set(id, { previous: null });
  try {
    const res = await S.api.get(`/api/v1/conversations/${encodeURIComponent(id)}`);
    S.details.set(id, { previous: res.previous || [] });
    if (S.selected === id) renderContext(id);
  } catch {
    S.details.delete(id);
  }
}
