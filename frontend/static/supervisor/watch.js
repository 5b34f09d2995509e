// Watching one conversation live: its transcript as it happens, a whisper to
// its agent, and reassigning it to another agent.

import { h, replace, renderText, fmtClock, $ } from '/assets/dom.js';
import { chip } from '/assets/chips.js';

/**
 * Watch follows one conversation over the supervisor's connection.
 * ctx: {conn, t, locale(), agents(), load(agent), timers, name(conv), toast, changed}
 */
export class Watch {
  constructor(ctx) {
    this.ctx = ctx;
    this.id = '';
    this.conv = null;
    this.msgs = new Map();
    this.typingUntil = 0;
    this.closed = false;
    $('#watch-stop').addEventListener('click', () => this.stop());
    $('#whisper-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.whisper();
    });
    $('#reassign-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.reassign();
    });
  }

  /** start asks the server for every frame of conversation id. */
  start(id, conv) {
    if (this.id && this.id !== id) this.ctx.conn.send('conversation.unwatch', {}, this.id);
    this.id = id;
    this.conv = conv || null;
    this.msgs = new Map();
    this.closed = false;
    this.typingUntil = 0;
    this.ctx.conn.send('conversation.watch', {}, id);
    this.render();
    $('#whisper-text').focus();
  }

  /** resume asks again after a reconnect. */
  resume() {
    if (this.id) this.ctx.conn.send('conversation.watch', {}, this.id);
  }

  stop() {
    if (this.id) this.ctx.conn.send('conversation.unwatch', {}, this.id);
    this.id = '';
    this.conv = null;
    this.msgs = new Map();
    this.render();
    this.ctx.changed();
  }

  /** onFrame takes the frames of the watched conversation; true when it used one. */
  onFrame(f) {
    const b = f.body || {};
    const id = f.conversation_id || b.conversation?.id || '';
    if (!this.id || id !== this.id) return false;
    switch (f.type) {
      case 'conversation.watching':
        if (b.conversation) this.conv = b.conversation;
        for (const m of b.messages || []) this.msgs.set(m.seq, m);
        break;
      case 'message.new':
        if (b.message) this.msgs.set(b.message.seq, b.message);
        if (b.message?.author?.kind === 'shopper') this.typingUntil = 0;
        break;
      case 'typing':
        if ((b.author || f.author)?.kind === 'shopper') this.typingUntil = b.on ? Date.now() + 6000 : 0;
        break;
      case 'conversation.closed':
        this.closed = true;
        if (b.conversation) this.conv = b.conversation;
        break;
      case 'conversation.updated':
      case 'conversation.assigned':
        if (b.conversation) this.conv = { ...this.conv, ...b.conversation };
        break;
      default:
        return false;
    }
    this.render();
    return true;
  }

  update(conv) {
    if (conv && conv.id === this.id) {
      this.conv = { ...this.conv, ...conv };
      this.renderInfo();
    }
  }

  whisper() {
    const box = $('#whisper-text');
    const text = box.value.trim();
    if (!text || !this.id) return;
    if (this.ctx.conn.send('whisper', { text }, this.id)) {
      box.value = '';
      this.ctx.toast(this.ctx.t('watch.whisperSent'));
    }
  }

  reassign() {
    const to = $('#reassign-agent').value;
    if (!to || !this.id) return;
    if (this.ctx.conn.send('conversation.transfer', { to_agent_id: to }, this.id)) this.ctx.toast(this.ctx.t('watch.reassigned'));
  }

  render() {
    const on = !!this.id;
    $('#watch-none').hidden = on;
    $('#watch-view').hidden = !on;
    $('#watch-stop').hidden = !on;
    if (!on) return;
    this.renderInfo();
    const t = this.ctx.t;
    const log = $('#watch-log');
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    replace(
      log,
      [...this.msgs.values()].sort((a, b) => a.seq - b.seq).map((m) => {
        const kind = m.author?.kind === 'agent' ? 'agent' : m.author?.kind === 'system' ? 'system' : 'shopper';
        const meta = h(
          'div',
          { class: 'meta' },
          h('span', { text: m.author?.name || (kind === 'shopper' ? t('watch.shopper') : '') }),
          h('time', { datetime: m.created_at || '', text: fmtClock(m.created_at, this.ctx.locale()) }),
          m.auto ? h('span', { class: 'badge warn', text: t('watch.auto') }) : null,
          m.kind === 'script' ? h('span', { class: 'badge', text: t('watch.script') }) : null,
        );
        return h('div', { class: `msg ${kind}`, dataset: { seq: m.seq } }, meta, renderText(h('div', { class: 'bubble' }), m.text, { warn: t('watch.external') }));
      }),
    );
    if (atBottom) log.scrollTop = log.scrollHeight;
    $('#watch-closed').hidden = !this.closed;
    $('#whisper-form').hidden = this.closed;
    $('#reassign-form').hidden = this.closed;
    this.tick();
  }

  renderInfo() {
    const c = this.conv;
    const t = this.ctx.t;
    $('#watch-who').textContent = c ? this.ctx.name(c) : '';
    const agent = c?.agent_id && this.ctx.agents().get(c.agent_id);
    $('#watch-sub').textContent = c ? [t(`state.${c.state}`), agent?.name, c.topic].filter(Boolean).join(' · ') : '';
    replace($('#watch-timers'), this.ctx.timers.list(this.id).map((tm) => chip(this.id, tm, (r) => t(`rule.${r}`), t('rule.held'))));
    const select = $('#reassign-agent');
    const options = [...this.ctx.agents().values()]
      .filter((a) => a.role !== 'supervisor' && a.id !== c?.agent_id)
      .sort((a, b) => (a.status === 'online' ? 0 : 1) - (b.status === 'online' ? 0 : 1) || this.ctx.load(a) / (a.capacity || 1) - this.ctx.load(b) / (b.capacity || 1));
    const labels = options.map((a) => [a.id, `${a.name} · ${t(`status.${a.status || 'offline'}`)} · ${this.ctx.load(a)}/${a.capacity ?? '—'}`]);
    const key = JSON.stringify(labels);
    if (key === this.optionsKey) return;
    this.optionsKey = key;
    const current = select.value;
    replace(select, labels.map(([id, text]) => h('option', { value: id, text })));
    if (labels.some(([id]) => id === current)) select.value = current;
  }

  /** tick refreshes what changes with time alone: the typing line. */
  tick() {
    if (!this.id) return;
    const on = this.typingUntil > Date.now();
    const text = on ? this.ctx.t('watch.typing', { name: this.conv ? this.ctx.name(this.conv) : '' }) : '';
    const el = $('#watch-typing');
    if (el.textContent !== text) el.textContent = text;
  }
}
