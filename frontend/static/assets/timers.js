// Timing-rule countdowns, computed from the deadlines the server sends
// (conversation.timers, timer.started) so every screen ticks on its own.

/** Share of the time used at which a timer turns amber, then red. */
export const AMBER_AT = 0.5;
export const RED_AT = 0.8;

/**
 * fromWire turns a wire timer into {rule, started, deadline, held} in epoch
 * ms. A timer.started body has only a deadline: the start is then the
 * deadline less the rule's duration from /api/v1/config.
 */
export function fromWire(t, config = {}) {
  const deadline = Date.parse(t.deadline);
  let started = t.started ? Date.parse(t.started) : NaN;
  if (Number.isNaN(started)) {
    const span = t.rule === 'greeting' ? config.greeting_deadline_ms : config.first_response_deadline_ms;
    started = deadline - (span || (t.rule === 'greeting' ? 15000 : 3000));
  }
  return { rule: t.rule, started, deadline, held: !!t.held };
}

/**
 * view says how a timer stands at now: remaining ms (negative once over),
 * the share of its time used, and a level: 'ok' | 'amber' | 'red' | 'over'.
 */
export function view(timer, now = Date.now()) {
  const span = Math.max(1, timer.deadline - timer.started);
  const used = (now - timer.started) / span;
  const remaining = timer.deadline - now;
  let level = 'ok';
  if (remaining <= 0) level = 'over';
  else if (used >= RED_AT) level = 'red';
  else if (used >= AMBER_AT) level = 'amber';
  return { remaining, used, level };
}

/** countdown formats remaining ms: "12 s", "2.4 s", "+5 s" once over. */
export function countdown(remaining) {
  if (remaining <= 0) return `+${Math.floor(-remaining / 1000)} s`;
  if (remaining < 10000) return `${(remaining / 1000).toFixed(1)} s`;
  return `${Math.ceil(remaining / 1000)} s`;
}

/** urgency orders rows: the largest share used of any running timer. */
export function urgency(timers, now = Date.now()) {
  let u = -1;
  for (const t of timers) u = Math.max(u, view(t, now).used);
  return u;
}

/**
 * TimerBook keeps the running timers of many conversations, keyed by
 * conversation id then rule.
 */
export class TimerBook {
  constructor(config = {}) {
    this.config = config;
    this.byConv = new Map();
  }

  /** setAll replaces a conversation's timers with conversation.timers. */
  setAll(convId, timers) {
    const m = new Map();
    for (const t of timers || []) if (t && t.deadline) m.set(t.rule, fromWire(t, this.config));
    this.byConv.set(convId, m);
  }

  start(convId, body) {
    if (!body?.deadline) return;
    if (!this.byConv.has(convId)) this.byConv.set(convId, new Map());
    this.byConv.get(convId).set(body.rule, fromWire(body, this.config));
  }

  stop(convId, rule) {
    this.byConv.get(convId)?.delete(rule);
  }

  hold(convId, rule) {
    const t = this.byConv.get(convId)?.get(rule);
    if (t) t.held = true;
  }

  drop(convId) {
    this.byConv.delete(convId);
  }

  list(convId) {
    return [...(this.byConv.get(convId)?.values() || [])];
  }
}
