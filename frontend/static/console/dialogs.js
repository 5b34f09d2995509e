// Transfer (to an agent or a skill) and close (with an outcome, offering the
// matching farewell first).

import { h, replace, $ } from '/assets/dom.js';
import { S, fill, knownVars, placeholders, sendScript, sendText } from './state.js';
import { farewellScript } from './palette.js';
import { toast } from './notify.js';

const t = (k, v) => S.i18n.t(k, v);

let transferFor = '';
let closeFor = '';
let farewell = null; // {script, vars, baseline}

/** openTransfer lists the other agents (when this account may) and skills. */
export async function openTransfer(id) {
  transferFor = id;
  const d = $('#transfer-dialog');
  const select = $('#transfer-agent');
  const agentRow = $('#transfer-agent-row');
  replace(select);
  let agents = [];
  try {
    const res = await S.api.get('/api/v1/agents');
    agents = Array.isArray(res) ? res : res?.agents || [];
  } catch {
    agents = null;
  }
  const others = (agents || []).filter((a) => a.id !== S.me?.id && a.role !== 'supervisor');
  agentRow.hidden = agents === null;
  const skills = new Set(['sales', 'after_sales', ...(S.me?.skills || [])]);
  for (const a of agents || []) for (const s of a.skills || []) skills.add(s);
  replace($('#skills'), [...skills].map((s) => h('option', { value: s })));
  if (agents !== null) {
    if (others.length) {
      for (const a of others) {
        const load = a.capacity ? ` ${a.load ?? 0}/${a.capacity}` : '';
        select.appendChild(h('option', { value: a.id, text: `${a.name} (${t(`status.${a.status || 'offline'}`)}${load})` }));
      }
    } else {
      select.appendChild(h('option', { value: '', text: t('transfer.noAgents') }));
    }
  }
  const mode = agents !== null && others.length ? 'agent' : 'skill';
  d.querySelector(`input[name=mode][value=${mode}]`).checked = true;
  d.returnValue = '';
  d.showModal();
}

function onTransferClose() {
  const d = $('#transfer-dialog');
  if (d.returnValue !== 'ok' || !transferFor) return;
  const mode = d.querySelector('input[name=mode]:checked')?.value;
  if (mode === 'agent') {
    const sel = $('#transfer-agent');
    if (!sel.value) return;
    S.conn.send('conversation.transfer', { to_agent_id: sel.value }, transferFor);
  } else {
    const skill = $('#transfer-skill').value.trim();
    if (!skill) return;
    S.conn.send('conversation.transfer', { skill }, transferFor);
  }
}

async function showFarewell() {
  const outcome = $('#close-form').querySelector('input[name=outcome]:checked')?.value;
  const box = $('#close-farewell');
  const script = closeFor ? await farewellScript(closeFor, outcome).catch(() => null) : null;
  if (!script) {
    farewell = null;
    box.value = '';
    box.hidden = true;
    box.previousElementSibling.hidden = true;
    $('#close-nofarewell').hidden = false;
    $('#close-with').hidden = true;
    return;
  }
  const known = knownVars(closeFor);
  const vars = Object.fromEntries(placeholders(script).map((n) => [n, known[n] ?? '']));
  farewell = { script, vars, baseline: fill(script.text, vars) };
  box.value = farewell.baseline;
  box.hidden = false;
  box.previousElementSibling.hidden = false;
  $('#close-nofarewell').hidden = true;
  $('#close-with').hidden = false;
}

/** openClose asks for the outcome and offers the matching farewell first. */
export async function openClose(id) {
  closeFor = id;
  const d = $('#close-dialog');
  d.returnValue = '';
  d.showModal();
  await showFarewell();
  ($('#close-with').hidden ? $('#close-without') : $('#close-with')).focus();
}

function onCloseClose() {
  const d = $('#close-dialog');
  const id = closeFor;
  if (!id || (d.returnValue !== 'farewell' && d.returnValue !== 'without')) return;
  const outcome = $('#close-form').querySelector('input[name=outcome]:checked')?.value;
  if (d.returnValue === 'farewell' && farewell) {
    const text = $('#close-farewell').value.trim();
    if (text && $('#close-farewell').value === farewell.baseline) sendScript(id, farewell.script, farewell.vars, text);
    else if (text) sendText(id, text);
  }
  if (!S.conn.send('conversation.close', { outcome }, id)) toast(t('conn.offline'), 'error');
}

/** wireDialogs attaches the dialogs' handlers once. */
export function wireDialogs() {
  $('#transfer-dialog').addEventListener('close', onTransferClose);
  $('#close-dialog').addEventListener('close', onCloseClose);
  for (const r of $('#close-form').querySelectorAll('input[name=outcome]')) r.addEventListener('change', showFarewell);
  $('#transfer-skill').addEventListener('focus', () => {
    $('#transfer-dialog').querySelector('input[name=mode][value=skill]').checked = true;
  });
}
