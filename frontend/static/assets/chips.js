// Countdown chips: one per running timer, re-read from the TimerBook on every
// tick so they count down (and change colour) without any frame arriving.

import { h } from './dom.js';
import { view, countdown } from './timers.js';

/**
 * chip builds the chip of one running timer. label(rule) names the rule,
 * heldLabel marks a timer whose holding reply already went out.
 */
export function chip(convId, timer, label, heldLabel) {
  const el = h('span', { class: 'chip', dataset: { conv: convId, rule: timer.rule } });
  paint(el, timer, label, heldLabel);
  return el;
}

function paint(el, timer, label, heldLabel) {
  const v = view(timer);
  const text = `${label(timer.rule)} ${countdown(v.remaining)}${timer.held ? ` · ${heldLabel}` : ''}`;
  if (el.textContent !== text) el.textContent = text;
  if (el.dataset.level !== v.level) el.dataset.level = v.level;
}

/** refresh repaints every chip under root; chips of stopped timers go away. */
export function refresh(root, book, label, heldLabel) {
  for (const el of root.querySelectorAll('.chip[data-conv]')) {
    const t = book.byConv.get(el.dataset.conv)?.get(el.dataset.rule);
    if (!t) el.remove();
    else paint(el, t, label, heldLabel);
  }
}
