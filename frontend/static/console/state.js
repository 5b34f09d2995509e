// The console's state: the agent's conversations, their messages, timers and
// badges, and the frames that change them. Rendering subscribes through
// onChange; nothing here touches the DOM.

import { TimerBook } from '/assets/timers.js';
import { uid } from '/assets/dom.js';

export const S = {
  api: null,
  conn: null,
  i18n: null,
  config: {},
  me: null, // the agent, as the server last described it
  convs: new Map(), // id -> conversation
  msgs: new Map(), // id -> Map(seq -> message)
  pending: new Map(), // id -> Map(client_msg_id -> {cid, text, kind, script_id, vars, error})
  refs: new Map(), // frame id -> {convId, cid}
  seen: new Map(), // id -> highest seq the agent has looked at
  readSent: new Map(), // id -> highest seq reported with `read`
  shopperRead: new Map(), // id -> highest seq the shopper has read
  typing: new Map(), // id -> time the shopper's typing indicator expires
  badges: new Map(), // id -> Set of rule.breached actions
  whispers: new Map(), // id -> [{text, from, at}]
  details: new Map(), // id -> {previous: [...]}
  versions: new Map(), // id -> bumped on every transcript change
  timers: new TimerBook(),
  selected: '',
};

const SEEN_KEY = 'daogou.console.seen';
try {
  for (const [k, v] of Object.entries(JSON.parse(sessionStorage.getItem(SEEN_KEY) || '{}'))) S.seen.set(k, v);
} catch {
  /* start with nothing seen */
}

const listeners = [];
let scheduled = false;

/** onChange registers fn to run (once per animation frame) after state changes. */
export function onChange(fn) {
  listeners.push(fn);
}

/** changed schedules a render. */
export function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const fn of listeners) fn();
  });
}

function mapOf(store, id) {
  let m = store.get(id);
  if (!m) {
    m = new Map();
    store.set(id, m);
  }
  return m;
}

export const messagesOf = (id) => mapOf(S.msgs, id);
export const pendingOf = (id) => mapOf(S.pending, id);

function bump(id) {
  S.versions.set(id, (S.versions.get(id) || 0) + 1);
  changed();
}

/** sorted lists a conversation's messages by seq. */
export function sortedMessages(id) {
  return [...messagesOf(id).values()].sort((a, b) => a.seq - b.seq);
}

export function maxSeq(id) {
  let max = 0;
  for (const seq of messagesOf(id).keys()) max = Math.max(max, seq);
  return max;
}

/** addMessage stores m unless its seq is known; true when it was new. */
export function addMessage(id, m) {
  if (!m || !m.seq) return false;
  const map = messagesOf(id);
  const had = map.get(m.seq);
  if (had && !had.local) return false;
  map.set(m.seq, m);
  if (had) {
    bump(id);
    return false;
  }
  if (m.client_msg_id) pendingOf(id).delete(m.client_msg_id);
  bump(id);
  return true;
}

/** upsertConversation stores the latest description of a conversation. */
export function upsertConversation(c) {
  if (!c?.id) return;
  const old = S.convs.get(c.id) || {};
  S.convs.set(c.id, { ...old, ...c });
  if (Array.isArray(c.timers)) S.timers.setAll(c.id, c.timers);
  if (c.state === 'closed') S.timers.drop(c.id);
  bump(c.id);
}

export function removeConversation(id) {
  S.convs.delete(id);
  S.timers.drop(id);
  if (S.selected === id) S.selected = '';
  changed();
}

export function addBadge(id, action) {
  let set = S.badges.get(id);
  if (!set) S.badges.set(id, (set = new Set()));
  set.add(action);
  changed();
}

export function badgesOf(id) {
  return [...(S.badges.get(id) || [])];
}

/** unreadCount counts the shopper's messages after what the agent has seen. */
export function unreadCount(id) {
  const seen = S.seen.get(id) || 0;
  let n = 0;
  for (const m of messagesOf(id).values()) if (m.seq > seen && m.author?.kind === 'shopper') n++;
  return n;
}

/** markSeen records that the agent looked at the conversation and tells the shopper. */
export function markSeen(id) {
  const max = maxSeq(id);
  if (max > (S.seen.get(id) || 0)) {
    S.seen.set(id, max);
    try {
      sessionStorage.setItem(SEEN_KEY, JSON.stringify(Object.fromEntries(S.seen)));
    } catch {
      /* not kept across a reload */
    }
    changed();
  }
  let lastShopper = 0;
  for (const m of messagesOf(id).values()) if (m.author?.kind === 'shopper') lastShopper = Math.max(lastShopper, m.seq);
  if (lastShopper > (S.readSent.get(id) || 0) && S.conn?.send('read', { seq: lastShopper }, id)) {
    S.readSent.set(id, lastShopper);
  }
}

/** hasAgentMessage: a person on the agent side has written in the conversation. */
export function hasAgentMessage(id) {
  for (const m of messagesOf(id).values()) if (m.author?.kind === 'agent') return true;
  return pendingOf(id).size > 0;
}

function transmit(id, p) {
  const ref =
    p.kind === 'script'
      ? S.conn.send('script.send', { script_id: p.script_id, vars: p.vars, client_msg_id: p.cid }, id)
      : S.conn.send('message.send', { client_msg_id: p.cid, text: p.text }, id);
  if (ref) S.refs.set(ref, { convId: id, cid: p.cid });
}

/** sendText sends the agent's own text; it shows as pending until acknowledged. */
export function sendText(id, text) {
  const p = { cid: uid(), text, kind: 'text', at: new Date().toISOString() };
  pendingOf(id).set(p.cid, p);
  transmit(id, p);
  bump(id);
}

/** sendScript sends a canned script filled with vars (text is the preview). */
export function sendScript(id, script, vars, text) {
  const p = { cid: uid(), text, kind: 'script', script_id: script.id, vars: sentVars(vars), at: new Date().toISOString() };
  pendingOf(id).set(p.cid, p);
  transmit(id, p);
  bump(id);
}

/** resendPending sends again what was not acknowledged (after a reconnect). */
export function resendPending() {
  for (const [id, m] of S.pending) for (const p of m.values()) if (!p.error) transmit(id, p);
}

/** onAck turns a pending message into a stored one. */
export function onAck(ref, body) {
  const r = S.refs.get(ref);
  S.refs.delete(ref);
  const id = r?.convId || findPending(body.client_msg_id);
  if (!id) return;
  const p = pendingOf(id).get(body.client_msg_id);
  pendingOf(id).delete(body.client_msg_id);
  if (p && body.seq && !messagesOf(id).has(body.seq)) {
    messagesOf(id).set(body.seq, {
      id: body.message_id,
      conversation_id: id,
      seq: body.seq,
      author: { kind: 'agent', id: S.me?.id, name: S.me?.name },
      kind: p.kind,
      text: p.text,
      auto: false,
      created_at: p.at,
      client_msg_id: p.cid,
      local: true, // replaced by the server's copy when message.new brings it
    });
  }
  bump(id);
}

function findPending(cid) {
  for (const [id, m] of S.pending) if (m.has(cid)) return id;
  return '';
}

/** onRefError marks the pending message a failed frame carried; false when none did. */
export function onRefError(ref, err) {
  const r = S.refs.get(ref);
  if (!r) return false;
  S.refs.delete(ref);
  const p = pendingOf(r.convId).get(r.cid);
  if (!p) return false;
  p.error = err.message || err.code;
  bump(r.convId);
  return true;
}

export function dropPending(id, cid) {
  pendingOf(id).delete(cid);
  bump(id);
}

/** displayName is the shopper's name or a short form of the visitor id. */
export function displayName(c) {
  if (!c) return '';
  return c.visitor_name || S.i18n.t('visitor', { id: (c.visitor_id || c.id || '').slice(0, 6) });
}

/** fill replaces {placeholders} in text with vars; unknown ones stay as written. */
export function fill(text, vars) {
  return String(text || '').replace(/\{(\w+)\}/g, (m, k) => (vars[k] != null && vars[k] !== '' ? vars[k] : m));
}

/** placeholders lists the placeholders a script declares, or those its text uses. */
export function placeholders(script) {
  if (Array.isArray(script.vars) && script.vars.length) return script.vars;
  return [...new Set([...String(script.text || '').matchAll(/\{(\w+)\}/g)].map((m) => m[1]))];
}

/** knownVars are the values the console can fill in for a conversation. */
export function knownVars(id) {
  const c = S.convs.get(id);
  return {
    shopper_name: c?.visitor_name || (S.i18n.locale === 'zh-CN' ? '亲' : 'there'),
    agent_name: S.me?.name || '',
    shop_name: S.config.shop_name || '',
    // Left empty, the server fills these with the live queue numbers.
    wait_minutes: '',
    queue_position: c?.queue_position ? String(c.queue_position) : '',
  };
}

/** sentVars keeps the placeholder values the agent gave; the server fills the rest. */
export function sentVars(vars) {
  return Object.fromEntries(Object.entries(vars).filter(([, v]) => v != null && String(v).trim() !== ''));
}

const scriptCache = new Map();

/** scripts loads (once per locale) the canned scripts. */
export function scripts(locale) {
  if (!scriptCache.has(locale)) {
    const p = S.api.get(`/api/v1/scripts?locale=${encodeURIComponent(locale)}`).then((r) => (Array.isArray(r) ? r : r?.scripts || []));
    p.catch(() => scriptCache.delete(locale));
    scriptCache.set(locale, p);
  }
  return scriptCache.get(locale);
}

/** scriptLocale is the language to answer a conversation in. */
export function scriptLocale(id) {
  const l = S.convs.get(id)?.locale;
  if (l) return /^zh/i.test(l) ? 'zh-CN' : 'en';
  return S.i18n.locale;
}
