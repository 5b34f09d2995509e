// Small DOM helpers shared by the console and the supervisor view.
// Text from the wire is only ever put into text nodes (textContent), never
// parsed as HTML.

/**
 * h builds an element: h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', child).
 * Attributes starting with "on" become listeners; `text` sets textContent;
 * `dataset` is an object of data-* values; false/null attributes are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear removes every child of el and appends the new ones. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** $ finds one element by selector under root (document by default). */
export const $ = (sel, root = document) => root.querySelector(sel);

const LINK = /\b(?:https?:\/\/|www\.)[^\s<>"'\u3000-\u303f\uff01-\uff0f]+/gi;

function bare(host) {
  return host.toLowerCase().replace(/^www\./, '');
}

/** isOwnHost reports whether host is the page's own host or a subdomain of it. */
export function isOwnHost(host, own = location.hostname) {
  const h = bare(host);
  const o = bare(own);
  return h === o || h.endsWith('.' + o);
}

/**
 * renderText appends text to el as text nodes; http(s) links become anchors
 * that show the URL, followed by a warning mark with the host when the host
 * is not the shop's own.
 */
export function renderText(el, text, { ownHost = location.hostname, warn = 'External link' } = {}) {
  const s = String(text ?? '');
  let last = 0;
  for (const m of s.matchAll(LINK)) {
    const raw = m[0].replace(/[.,;:!?)\]}]+$/, '');
    if (m.index < last) continue;
    if (m.index > last) el.appendChild(document.createTextNode(s.slice(last, m.index)));
    last = m.index + raw.length;
    let url = null;
    try {
      url = new URL(/^www\./i.test(raw) ? `https://${raw}` : raw);
    } catch {
      url = null;
    }
    if (!url || !/^https?:$/.test(url.protocol)) {
      el.appendChild(document.createTextNode(raw));
      continue;
    }
    el.appendChild(h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer nofollow', text: raw }));
    if (!isOwnHost(url.hostname, ownHost)) {
      el.appendChild(h('span', { class: 'ext-link', role: 'note', title: warn, text: `⚠ ${url.hostname}` }));
    }
  }
  if (last < s.length) el.appendChild(document.createTextNode(s.slice(last)));
  return el;
}

/** fmtClock formats an RFC 3339 time as a short local time. */
export function fmtClock(iso, locale) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
}

/** fmtDateTime formats an RFC 3339 time as a short local date and time. */
export function fmtDateTime(iso, locale) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(locale, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** fmtSpan formats a duration in ms as "42 s", "3 min 5 s" or "1 h 2 min". */
export function fmtSpan(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** uid returns a fresh id for client_msg_id. */
export function uid() {
  return crypto.randomUUID ? crypto.randomUUID() : `c${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}
