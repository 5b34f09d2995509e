// The script palette: search the canned scripts by shortcut, title or text,
// filter by category and by objection (or farewell) kind, fill the
// placeholders, edit, and send. Unedited, a script goes out as script.send;
// edited, as the agent's own message.send.

import { h, replace, $ } from '/assets/dom.js';
import { S, scripts, scriptLocale, fill, placeholders, knownVars, sendScript, sendText } from './state.js';

const t = (k, v) => S.i18n.t(k, v);
const CATEGORIES = ['greeting', 'holding', 'probe', 'recommend', 'objection', 'closing', 'confirm_order', 'farewell', 'complaint'];
const KINDS = ['misunderstanding', 'reasonable', 'unreasonable', 'purchased', 'not_purchased'];

const P = {
  convId: '',
  all: [],
  list: [],
  active: 0,
  script: null,
  vars: {},
  baseline: '',
};

const dlg = () => $('#palette');

/** openPalette shows the palette for a conversation, optionally pre-searched. */
export async function openPalette(convId, query = '', preset = {}) {
  if (!convId) return;
  P.convId = convId;
  const d = dlg();
  if (!d.open) d.showModal();
  $('#palette-q').value = query;
  fillSelects(preset);
  $('#palette-count').textContent = t('palette.loading');
  $('#palette-q').focus();
  try {
    P.all = await scripts(scriptLocale(convId));
  } catch (e) {
    P.all = [];
    $('#palette-count').textContent = e.message;
    return;
  }
  fillSelects(preset);
  search();
}

function fillSelects(preset) {
  const cat = $('#palette-cat');
  const kind = $('#palette-kind');
  const curCat = preset.category ?? cat.value;
  const curKind = preset.kind ?? kind.value;
  const cats = [...new Set([...CATEGORIES.filter((c) => P.all.some((s) => s.category === c)), ...P.all.map((s) => s.category)])];
  replace(
    cat,
    h('option', { value: '', text: t('palette.all') }),
    (cats.length ? cats : CATEGORIES).map((c) => h('option', { value: c, text: t(`cat.${c}`) === `cat.${c}` ? c : t(`cat.${c}`) })),
  );
  cat.value = curCat || '';
  const inCat = P.all.filter((s) => !cat.value || s.category === cat.value);
  const kinds = P.all.length ? [...new Set(inCat.map((s) => s.kind).filter(Boolean))] : KINDS;
  replace(kind, h('option', { value: '', text: t('palette.all') }), kinds.map((k) => h('option', { value: k, text: t(`kind.${k}`) === `kind.${k}` ? k : t(`kind.${k}`) })));
  kind.value = kinds.includes(curKind) ? curKind : '';
  kind.disabled = kinds.length === 0;
}

function matches(s, q) {
  if (!q) return 1;
  const sc = String(s.shortcut || '').toLowerCase().replace(/^\//, '');
  const qq = q.replace(/^\//, '');
  if (sc && sc === qq) return 4;
  if (sc && sc.startsWith(qq)) return 3;
  if (String(s.title || '').toLowerCase().includes(q)) return 2;
  if (String(s.text || '').toLowerCase().includes(q) || sc.includes(qq)) return 1;
  return 0;
}

/** search filters the scripts and redraws the list. */
function search() {
  const q = $('#palette-q').value.trim().toLowerCase();
  const cat = $('#palette-cat').value;
  const kind = $('#palette-kind').value;
  P.list = P.all
    .map((s, i) => ({ s, i, score: matches(s, q) }))
    .filter((x) => x.score > 0 && (!cat || x.s.category === cat) && (!kind || x.s.kind === kind))
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .map((x) => x.s);
  P.active = 0;
  renderList();
  pick(P.list[0] || null);
}

function renderList() {
  const ul = $('#palette-list');
  $('#palette-count').textContent = P.list.length ? t('palette.results', { n: P.list.length }) : t('palette.empty');
  replace(
    ul,
    P.list.map((s, i) =>
      h(
        'li',
        {
          id: `pal-${i}`,
          role: 'option',
          'aria-selected': String(i === P.active),
          dataset: { id: s.id, category: s.category, kind: s.kind || '' },
          onclick: () => {
            P.active = i;
            renderList();
            pick(s);
            $('#palette-text').focus();
          },
        },
        h(
          'span',
          { class: 't' },
          s.title || s.id,
          s.shortcut ? h('kbd', { text: s.shortcut }) : null,
          h('span', { class: 'badge', text: t(`cat.${s.category}`) }),
          s.kind ? h('span', { class: 'badge warn', text: t(`kind.${s.kind}`) }) : null,
        ),
        h('span', { class: 'x', text: s.text }),
      ),
    ),
  );
  const q = $('#palette-q');
  if (P.list.length) q.setAttribute('aria-activedescendant', `pal-${P.active}`);
  else q.removeAttribute('aria-activedescendant');
  ul.querySelector('[aria-selected=true]')?.scrollIntoView({ block: 'nearest' });
}

/** pick shows a script's placeholders and its filled text for editing. */
function pick(s) {
  P.script = s;
  const fs = $('#palette-vars');
  $('#palette-hint').hidden = !!s;
  $('#palette-send').disabled = !s;
  $('#palette-insert').disabled = !s;
  if (!s) {
    fs.hidden = true;
    $('#palette-text').value = '';
    $('#palette-edited').hidden = true;
    return;
  }
  const known = knownVars(P.convId);
  const names = placeholders(s);
  P.vars = Object.fromEntries(names.map((n) => [n, known[n] ?? '']));
  replace(
    fs,
    h('legend', { text: t('palette.vars') }),
    names.map((n) =>
      h(
        'label',
        {},
        h('span', { text: `{${n}}` }),
        h('input', {
          type: 'text',
          value: P.vars[n],
          dataset: { var: n },
          oninput: (e) => {
            const wasBaseline = $('#palette-text').value === P.baseline;
            P.vars[n] = e.target.value;
            P.baseline = fill(s.text, P.vars);
            if (wasBaseline) $('#palette-text').value = P.baseline;
            syncEdited();
          },
        }),
      ),
    ),
  );
  fs.hidden = names.length === 0;
  P.baseline = fill(s.text, P.vars);
  $('#palette-text').value = P.baseline;
  syncEdited();
}

function syncEdited() {
  $('#palette-edited').hidden = !P.script || $('#palette-text').value === P.baseline;
}

function move(delta) {
  if (!P.list.length) return;
  P.active = (P.active + delta + P.list.length) % P.list.length;
  renderList();
  pick(P.list[P.active]);
}

/** send sends the picked script: as script.send when unedited, else as text. */
function send() {
  const s = P.script;
  const text = $('#palette-text').value.trim();
  if (!s || !text) return;
  if ($('#palette-text').value === P.baseline) sendScript(P.convId, s, { ...P.vars }, text);
  else sendText(P.convId, text);
  dlg().close();
  $('#composer-text').focus();
}

function insert() {
  const s = P.script;
  if (!s) return;
  const box = $('#composer-text');
  box.value = $('#palette-text').value;
  if (box.value === P.baseline) {
    box.dataset.scriptId = s.id;
    box.dataset.baseline = P.baseline;
    box.dataset.vars = JSON.stringify(P.vars);
  } else {
    delete box.dataset.scriptId;
  }
  dlg().close();
  box.focus();
}

/** scriptFromComposer: the script the reply box still holds unedited, if any. */
export function scriptFromComposer() {
  const box = $('#composer-text');
  if (!box.dataset.scriptId || box.value !== box.dataset.baseline) return null;
  const s = P.all.find((x) => x.id === box.dataset.scriptId);
  if (!s) return null;
  return { script: s, vars: JSON.parse(box.dataset.vars || '{}') };
}

/** wirePalette attaches the palette's controls once. */
export function wirePalette() {
  $('#palette-q').addEventListener('input', search);
  $('#palette-cat').addEventListener('change', () => {
    fillSelects({});
    search();
  });
  $('#palette-kind').addEventListener('change', search);
  $('#palette-q').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      move(1);
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      move(-1);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (!P.script) return;
      const empty = [...$('#palette-vars').querySelectorAll('input[data-var]')].find((i) => !i.value);
      (empty || $('#palette-text')).focus();
    }
  });
  $('#palette-text').addEventListener('input', syncEdited);
  $('#palette-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send();
    }
  });
  $('#palette-detail').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  $('#palette-insert').addEventListener('click', insert);
  dlg().querySelector('[data-close]').addEventListener('click', () => dlg().close());
}

/** greetingScript finds the greeting to send with one click. */
export async function greetingScript(convId) {
  const all = await scripts(scriptLocale(convId));
  const greetings = all.filter((s) => s.category === 'greeting');
  return greetings.find((s) => s.kind === 'welcome') || greetings.find((s) => !s.kind) || greetings[0] || null;
}

/** farewellScript finds the farewell matching a closing outcome. */
export async function farewellScript(convId, outcome) {
  const all = await scripts(scriptLocale(convId));
  const farewells = all.filter((s) => s.category === 'farewell');
  return farewells.find((s) => s.kind === outcome) || (outcome === 'resolved' ? farewells.find((s) => !s.kind) : null) || null;
}
