/*
 * Daogou chat widget: one classic script, no dependencies.
 *
 * Embed (see frontend/README.md):
 *   <script>window.Daogou=window.Daogou||{q:[]};["open","close","setUser","setContext","on"].forEach(function(m){Daogou[m]=Daogou[m]||function(){Daogou.q.push([m,arguments])}});</script>
 *   <script src="{daogou server}/widget.js" data-locale="zh-CN" async></script>
 *
 * The widget talks to the server that served this file (the origin of the
 * script's own src), so a shop on another origin works. Every message is
 * rendered with text nodes, never as HTML.
 */
(function () {
  'use strict';
  if (window.Daogou && window.Daogou.loaded) return;

  var script = document.currentScript || (function () {
    var all = document.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) if (/\/widget\.js([?#]|$)/.test(all[i].src)) return all[i];
    return null;
  })();
  var base = new URL(script ? script.src : '/widget.js', location.href);
  var ORIGIN = base.origin;
  var WS_ORIGIN = ORIGIN.replace(/^http/, 'ws');
  var data = (script && script.dataset) || {};
  var locale = /^zh/i.test(data.locale || document.documentElement.lang || navigator.language || '') ? 'zh-CN' : 'en';
  var topic = data.topic || '';
  var KEY = 'daogou:' + ORIGIN;
  var OPEN_KEY = 'daogou:open:' + ORIGIN;

  var STR = {
    en: {
      title: 'Chat with us', intro: 'Hi! Ask us anything about our products, sizes or delivery.',
      launcher: 'Open chat', close: 'Minimise chat', input: 'Message', placeholder: 'Type a message…', send: 'Send',
      connecting: 'Connecting…', reconnecting: 'Connection lost. Reconnecting in {s} s…', reconnectNow: 'Retry now',
      offline: 'You are offline. Your messages will be sent when the connection is back.',
      queued: 'You are number {n} in line · about {m} min', queuedNow: 'You are number {n} in line',
      helping: '{name} is helping you', replies: 'We usually reply within seconds',
      typing: '{name} is typing…', agent: 'Shop assistant', auto: 'Automatic reply', you: 'You',
      sending: 'Sending…', sent: 'Sent', read: 'Read', ended: 'This conversation has ended. Thank you!',
      restart: 'Start a new chat', external: 'External link: this leaves {shop}. Check it before you open it.',
      unread: '{n} unread messages', log: 'Conversation', denied: 'Your session expired; starting a new chat.'
    },
    'zh-CN': {
      title: '在线咨询', intro: '您好！商品、尺码、配送等问题都可以问我们。',
      launcher: '打开在线咨询', close: '收起对话', input: '消息', placeholder: '请输入消息…', send: '发送',
      connecting: '正在连接…', reconnecting: '连接已断开，{s} 秒后重连…', reconnectNow: '立即重试',
      offline: '网络已断开，恢复后将自动发送您的消息。',
      queued: '您前面还有 {n} 位 · 预计等待约 {m} 分钟', queuedNow: '您前面还有 {n} 位',
      helping: '{name} 为您服务', replies: '我们通常几秒内回复',
      typing: '{name} 正在输入…', agent: '导购', auto: '自动回复', you: '我',
      sending: '发送中…', sent: '已发送', read: '已读', ended: '本次对话已结束，感谢您的咨询！',
      restart: '开始新的对话', external: '外部链接：将离开{shop}，请确认后再打开。',
      unread: '{n} 条未读消息', log: '对话内容', denied: '会话已失效，已为您开始新的对话。'
    }
  };
  function t(key, vars) {
    var s = (STR[locale] && STR[locale][key]) || STR.en[key] || key;
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && vars[k] != null ? vars[k] : m; });
  }

  // ---- persistent state -------------------------------------------------
  var store = (function () {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  })();
  store.outbox = store.outbox || [];
  store.seen = store.seen || 0;
  function save() { try { localStorage.setItem(KEY, JSON.stringify(store)); } catch (e) { /* private mode */ } }
  function panelWasOpen() { try { return sessionStorage.getItem(OPEN_KEY) === '1'; } catch (e) { return false; } }
  function rememberOpen(v) { try { sessionStorage.setItem(OPEN_KEY, v ? '1' : '0'); } catch (e) { /* ignore */ } }

  var shopName = document.title.split(/[|·—-]/)[0].trim() || location.hostname;
  var user = {};
  var context = null;
  var handlers = {};
  var conv = null;          // the conversation, as the server last described it
  var agent = null;         // {id, name}
  var queue = null;         // {position, estimated_wait_s}
  var ended = false;
  var bySeq = {};           // seq -> element
  var byCid = {};           // client_msg_id -> element (mine)
  var maxSeq = 0;
  var readUpTo = 0;         // highest seq of mine the agent has read
  var readSent = 0;
  var unread = 0;
  var isOpen = false;

  function emit(name, arg) {
    (handlers[name] || []).slice().forEach(function (fn) {
      try { fn(arg); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }
  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // ---- DOM --------------------------------------------------------------
  var CSS = ':host{all:initial}*{box-sizing:border-box}' +
    '.w{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;color:#1d2430}' +
    'button{font:inherit;cursor:pointer}button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}' +
    '.launcher{position:relative;width:58px;height:58px;border-radius:50%;border:0;background:#c2410c;color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.25);display:grid;place-items:center}' +
    '.launcher:hover{background:#9a3412}.launcher svg{width:28px;height:28px}' +
    '.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;border:2px solid #fff}' +
    '.panel{position:absolute;right:0;bottom:72px;width:370px;height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.28);display:flex;flex-direction:column;overflow:hidden}' +
    '.panel[hidden]{display:none}' +
    'header{background:#c2410c;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:10px}' +
    '.av{width:36px;height:36px;border-radius:50%;background:#fff3;display:grid;place-items:center;font-weight:700;flex:none}' +
    '.who{flex:1;min-width:0}.who b{display:block;font-size:15px}.who span{font-size:12px;opacity:.9}' +
    '.x{background:transparent;border:0;color:#fff;font-size:22px;width:36px;height:36px;border-radius:8px}.x:hover{background:#fff2}' +
    '.bar{padding:8px 14px;font-size:13px;background:#fef3c7;color:#78350f;border-bottom:1px solid #fde68a;display:flex;gap:8px;align-items:center}' +
    '.bar.off{background:#fee2e2;color:#7f1d1d;border-color:#fecaca}.bar[hidden]{display:none}.bar button{margin-left:auto;background:#fff;border:1px solid currentColor;border-radius:6px;padding:2px 8px;color:inherit}' +
    '.log{flex:1;overflow-y:auto;padding:14px;background:#faf7f5;display:flex;flex-direction:column;gap:10px}' +
    '.intro{align-self:center;text-align:center;color:#6b7280;font-size:13px;max-width:85%}' +
    '.m{display:flex;flex-direction:column;max-width:82%}.m.me{align-self:flex-end;align-items:flex-end}.m.them{align-self:flex-start}' +
    '.meta{font-size:11px;color:#6b7280;margin:0 4px 2px}.tag{background:#e5e7eb;border-radius:4px;padding:0 4px;margin-left:4px}' +
    '.b{padding:8px 12px;border-radius:14px;white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #eee}' +
    '.me .b{background:#c2410c;color:#fff;border-color:#c2410c}.me .b a{color:#fff}.auto .b{background:#f3f4f6}' +
    '.st{font-size:11px;color:#6b7280;margin:2px 4px 0}.pending .b{opacity:.7}' +
    '.ext{display:inline-block;margin-left:3px;padding:0 4px;border-radius:4px;background:#fef3c7;color:#92400e;font-size:11px}' +
    '.end{align-self:center;text-align:center;color:#374151;font-size:13px}.end button{display:block;margin:8px auto 0;background:#c2410c;color:#fff;border:0;border-radius:8px;padding:6px 14px}' +
    '.typing{min-height:22px;padding:0 14px;font-size:12px;color:#6b7280;background:#faf7f5}' +
    'form{display:flex;gap:8px;padding:10px;border-top:1px solid #eee;background:#fff}' +
    'textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;font:inherit;height:42px;max-height:120px}' +
    '.send{background:#c2410c;color:#fff;border:0;border-radius:10px;padding:0 16px}.send:disabled{background:#d6a08a;cursor:default}' +
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}' +
    '@media (max-width:480px){.w{right:12px;bottom:12px}.panel{position:fixed;inset:0;width:auto;height:auto;max-height:none;border-radius:0}.w.open .launcher{display:none}}';

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function attrs(e, a) { for (var k in a) e.setAttribute(k, a[k]); return e; }

  var host = el('div');
  host.id = 'daogou-widget';
  var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
  var style = el('style'); style.textContent = CSS; root.appendChild(style);
  var wrap = el('div', 'w'); wrap.setAttribute('lang', locale); root.appendChild(wrap);

  var panel = attrs(el('section', 'panel'), { role: 'dialog', 'aria-label': t('title'), id: 'dg-panel' });
  panel.hidden = true;
  var launcher = attrs(el('button', 'launcher'), { type: 'button', 'aria-controls': 'dg-panel', 'aria-expanded': 'false', 'aria-label': t('launcher') });
  launcher.appendChild(svgIcon());
  var badge = el('span', 'badge'); badge.hidden = true; badge.setAttribute('aria-hidden', 'true');
  var badgeSr = el('span', 'sr'); badgeSr.setAttribute('aria-live', 'polite');
  launcher.appendChild(badge); launcher.appendChild(badgeSr);
  wrap.appendChild(panel); wrap.appendChild(launcher);

  var header = el('header');
  var avatar = el('div', 'av', '?'); avatar.setAttribute('aria-hidden', 'true');
  var who = el('div', 'who'); var whoName = el('b', '', t('title')); var whoSub = el('span', '', t('replies'));
  who.appendChild(whoName); who.appendChild(whoSub);
  var closeBtn = attrs(el('button', 'x', '×'), { type: 'button', 'aria-label': t('close') });
  header.appendChild(avatar); header.appendChild(who); header.appendChild(closeBtn);
  var connBar = attrs(el('div', 'bar'), { role: 'status' }); connBar.hidden = true;
  var connText = el('span'); var retryBtn = attrs(el('button', '', t('reconnectNow')), { type: 'button' });
  connBar.appendChild(connText); connBar.appendChild(retryBtn);
  var queueBar = attrs(el('div', 'bar q'), { role: 'status' }); queueBar.hidden = true;
  var log = attrs(el('div', 'log'), { role: 'log', 'aria-live': 'polite', 'aria-label': t('log'), tabindex: '0' });
  log.appendChild(el('p', 'intro', t('intro')));
  var typing = attrs(el('div', 'typing'), { 'aria-live': 'polite' });
  var form = el('form');
  var inputId = 'dg-input';
  var label = attrs(el('label', 'sr', t('input')), { for: inputId });
  var input = attrs(el('textarea'), { id: inputId, rows: '1', placeholder: t('placeholder'), maxlength: '4000' });
  var sendBtn = attrs(el('button', 'send', t('send')), { type: 'submit' });
  sendBtn.disabled = true;
  form.appendChild(label); form.appendChild(input); form.appendChild(sendBtn);
  [header, connBar, queueBar, log, typing, form].forEach(function (n) { panel.appendChild(n); });

  function svgIcon() {
    var ns = 'http://www.w3.org/2000/svg';
    var s = document.createElementNS(ns, 'svg'); s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('aria-hidden', 'true');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('fill', 'currentColor');
    p.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z');
    s.appendChild(p);
    return s;
  }

  // ---- text rendering: text nodes only, links shown with their host ------
  var LINK = /\b(?:https?:\/\/|www\.)[^\s<>"'\u3000-\u303f\uff01-\uff0f]+/gi;
  function bare(h) { return h.toLowerCase().replace(/^www\./, ''); }
  function ownHost(h) {
    h = bare(h);
    return [location.hostname, base.hostname].some(function (o) {
      o = bare(o);
      return o && (h === o || h.slice(-o.length - 1) === '.' + o);
    });
  }
  function renderText(node, text) {
    var last = 0, m;
    LINK.lastIndex = 0;
    while ((m = LINK.exec(text))) {
      var raw = m[0].replace(/[.,;:!?)\]}]+$/, '');
      if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
      last = m.index + raw.length;
      LINK.lastIndex = last;
      var url;
      try { url = new URL(/^www\./i.test(raw) ? 'https://' + raw : raw); } catch (e) { url = null; }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) { node.appendChild(document.createTextNode(raw)); continue; }
      var a = attrs(el('a', '', raw), { href: url.href, target: '_blank', rel: 'noopener noreferrer nofollow' });
      node.appendChild(a);
      if (!ownHost(url.hostname)) {
        var w = attrs(el('span', 'ext', '⚠ ' + url.hostname), { title: t('external', { shop: shopName }), role: 'note' });
        node.appendChild(w);
      }
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  // ---- messages -----------------------------------------------------------
  function isMine(m) { return m.author && m.author.kind === 'shopper'; }
  function buildMsg(m, mine) {
    var row = el('div', 'm ' + (mine ? 'me' : 'them') + (m.auto ? ' auto' : ''));
    if (!mine) {
      var meta = el('div', 'meta', (m.author && m.author.name) || t('agent'));
      if (m.auto) meta.appendChild(el('span', 'tag', t('auto')));
      row.appendChild(meta);
    }
    var b = el('div', 'b');
    renderText(b, String(m.text || ''));
    if (m.created_at) b.title = new Date(m.created_at).toLocaleString(locale);
    row.appendChild(b);
    if (mine) row.appendChild(el('div', 'st'));
    return row;
  }
  function placeBySeq(row, seq) {
    row.setAttribute('data-seq', seq);
    var kids = log.children;
    for (var i = 0; i < kids.length; i++) {
      var s = +kids[i].getAttribute('data-seq');
      var pending = kids[i].classList.contains('pending') || kids[i].classList.contains('end');
      if ((s && s > seq) || pending) { log.insertBefore(row, kids[i]); return; }
    }
    log.appendChild(row);
  }
  function setStatus(row, text) { var st = row.querySelector('.st'); if (st) st.textContent = text; }
  function refreshReceipts() {
    Object.keys(bySeq).forEach(function (s) {
      var row = bySeq[s];
      if (row.classList.contains('me')) setStatus(row, +s <= readUpTo ? t('read') : t('sent'));
    });
  }
  function addMessage(m) {
    if (!m || !m.seq || (conv && m.conversation_id && m.conversation_id !== conv.id)) return;
    if (bySeq[m.seq]) return;                     // already shown: never twice
    var mine = isMine(m);
    var row = mine && m.client_msg_id && byCid[m.client_msg_id];
    if (row) {
      row.classList.remove('pending');
      row.parentNode && row.parentNode.removeChild(row);
      dropOutbox(m.client_msg_id);
    } else {
      row = buildMsg(m, mine);
    }
    bySeq[m.seq] = row;
    placeBySeq(row, m.seq);
    if (mine) setStatus(row, m.seq <= readUpTo ? t('read') : t('sent'));
    if (m.seq > maxSeq) maxSeq = m.seq;
    if (!mine) { typingOff(); if (m.seq > store.seen) emit('message', m); }
    countUnread();
    scrollDown();
  }
  function addPending(cid, text) {
    var row = buildMsg({ text: text }, true);
    row.classList.add('pending');
    row.setAttribute('data-cid', cid);
    setStatus(row, t('sending'));
    byCid[cid] = row;
    log.appendChild(row);
    scrollDown();
  }
  function onAck(b) {
    var row = byCid[b.client_msg_id];
    dropOutbox(b.client_msg_id);
    if (!row || !b.seq) return;
    if (bySeq[b.seq] && bySeq[b.seq] !== row) { row.parentNode && row.parentNode.removeChild(row); return; }
    row.classList.remove('pending');
    row.parentNode && row.parentNode.removeChild(row);
    bySeq[b.seq] = row;
    placeBySeq(row, b.seq);
    setStatus(row, b.seq <= readUpTo ? t('read') : t('sent'));
    if (b.seq > maxSeq) maxSeq = b.seq;
  }
  function dropOutbox(cid) {
    var n = store.outbox.length;
    store.outbox = store.outbox.filter(function (o) { return o.cid !== cid; });
    if (n !== store.outbox.length) save();
  }
  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function countUnread() {
    var n = 0;
    Object.keys(bySeq).forEach(function (s) { if (+s > store.seen && !bySeq[s].classList.contains('me')) n++; });
    if (isOpen && document.visibilityState === 'visible') { markSeen(); n = 0; }
    if (n !== unread) { unread = n; emit('unread', n); }
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? '99+' : String(n);
    badgeSr.textContent = n ? t('unread', { n: n }) : '';
  }
  function markSeen() {
    if (maxSeq > store.seen) { store.seen = maxSeq; save(); }
    if (maxSeq > readSent && conv && !ended && send('read', { seq: maxSeq })) readSent = maxSeq;
  }
  function clearTranscript() {
    bySeq = {}; byCid = {}; maxSeq = 0; readUpTo = 0; readSent = 0; store.seen = 0;
    while (log.children.length > 1) log.removeChild(log.lastChild);
    store.outbox.forEach(function (o) { addPending(o.cid, o.text); });
  }

  // ---- header, bars, typing -----------------------------------------------
  function renderHeader() {
    var name = agent && agent.name;
    whoName.textContent = name || shopName || t('title');
    whoSub.textContent = name ? t('helping', { name: name }) : t('replies');
    avatar.textContent = (name || shopName || '?').trim().charAt(0).toUpperCase();
    queueBar.hidden = !queue || !queue.position || ended;
    if (queue && queue.position) {
      var mins = Math.max(1, Math.round((queue.estimated_wait_s || 0) / 60));
      queueBar.textContent = queue.estimated_wait_s ? t('queued', { n: queue.position, m: mins }) : t('queuedNow', { n: queue.position });
    }
  }
  var typingTimer = 0;
  function typingOn(name) {
    typing.textContent = t('typing', { name: name || (agent && agent.name) || t('agent') });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(typingOff, 6000);
  }
  function typingOff() { clearTimeout(typingTimer); typing.textContent = ''; }
  function showEnded() {
    ended = true;
    typingOff();
    queue = null;
    renderHeader();
    var box = el('div', 'end'); box.setAttribute('role', 'status');
    box.appendChild(el('p', '', t('ended')));
    var again = attrs(el('button', '', t('restart')), { type: 'button' });
    again.addEventListener('click', restart);
    box.appendChild(again);
    log.appendChild(box);
    scrollDown();
    syncSend();
  }

  // ---- connection -------------------------------------------------------------
  var ws = null, attempt = 0, retryAt = 0, retryTimer = 0, tick = 0, pingTimer = 0, pongWait = 0, frameNo = 0, want = false;
  var connState = 'idle';
  function setConn(s) {
    var changed = s !== connState;
    connState = s;
    connBar.classList.toggle('off', s === 'offline');
    connBar.hidden = s === 'online' || s === 'idle';
    retryBtn.hidden = s !== 'reconnecting';
    if (s === 'connecting') connText.textContent = t('connecting');
    if (s === 'offline') connText.textContent = t('offline');
    if (s === 'reconnecting') connText.textContent = t('reconnecting', { s: Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)) });
    wrap.setAttribute('data-state', s);
    syncSend();
    if (changed) emit('status', s);
  }
  function connect() {
    want = true;
    if (ws) return;
    clearTimeout(retryTimer); clearInterval(tick);
    if (navigator.onLine === false) { setConn('offline'); return; }
    setConn(attempt ? 'reconnecting' : 'connecting');
    if (attempt) connText.textContent = t('connecting');
    var q = new URLSearchParams();
    if (store.vid && store.vtok) { q.set('visitor_id', store.vid); q.set('visitor_token', store.vtok); }
    if (user.name) q.set('name', user.name);
    q.set('locale', locale);
    q.set('page', location.href.slice(0, 500));
    if (topic) q.set('topic', topic);
    var sock;
    try { sock = new WebSocket(WS_ORIGIN + '/ws/shopper?' + q.toString()); } catch (e) { retry(); return; }
    ws = sock;
    sock.onopen = function () {
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (pongWait && Date.now() - pongWait > 10000) { sock.close(); return; }
        if (!pongWait) pongWait = Date.now();
        send('ping', {}, true);
      }, 25000);
    };
    sock.onmessage = function (ev) {
      if (ws !== sock) return;
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      handle(f);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null; clearInterval(pingTimer); pongWait = 0;
      // After the conversation ended, wait for the shopper to start a new one
      // rather than opening one on their behalf.
      if (want && !ended) retry(); else setConn('idle');
    };
  }
  function retry() {
    var delay = Math.min(15000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    attempt++;
    retryAt = Date.now() + delay;
    clearTimeout(retryTimer); clearInterval(tick);
    retryTimer = setTimeout(connect, delay);
    tick = setInterval(function () { if (connState === 'reconnecting' && !ws) setConn('reconnecting'); }, 1000);
    setConn(navigator.onLine === false ? 'offline' : 'reconnecting');
  }
  function send(type, body, noConv) {
    if (!ws || ws.readyState !== 1) return false;
    var f = { type: type, id: 'w' + (++frameNo), body: body || {} };
    if (!noConv && conv && conv.id) f.conversation_id = conv.id;
    ws.send(JSON.stringify(f));
    return true;
  }
  function restart() {
    ended = false; conv = null; agent = null; queue = null;
    store.conv = null; save();
    clearTranscript(); renderHeader(); syncSend();
    if (ws) { var old = ws; ws = null; old.close(); }
    attempt = 0;
    connect();
  }

  function setConversation(c) {
    if (!c) return;
    if (conv && conv.id !== c.id) { clearTranscript(); ended = false; }
    if (!conv && store.conv && store.conv !== c.id) { clearTranscript(); }
    conv = c;
    if (c.state === 'closed') { store.conv = null; save(); if (!ended) showEnded(); return; }
    ended = false;
    store.conv = c.id; save();
    if (c.state !== 'queued') queue = null;
    if (c.queue_position) queue = { position: c.queue_position, estimated_wait_s: queue && queue.estimated_wait_s };
    renderHeader(); syncSend();
    emit('conversation', c);
  }
  function resume() {
    if (!conv || !conv.id) return;
    send('hello', { resume: [{ conversation_id: conv.id, last_seq: maxSeq }] }, true);
    var id = conv.id;
    fetch(ORIGIN + '/api/v1/conversations/' + encodeURIComponent(id) + '/messages?after_seq=' + maxSeq, {
      headers: { Authorization: 'Bearer ' + store.vtok }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (res) {
      if (res && res.messages && conv && conv.id === id) res.messages.forEach(addMessage);
    }).catch(function () { /* the hello replay covers it */ });
  }
  function flushOutbox() {
    if (!conv || ended) return;
    store.outbox.forEach(function (o) { send('message.send', { client_msg_id: o.cid, text: o.text }); });
  }
  function sendContext() {
    var c = context || { page: { url: location.href, title: document.title } };
    send('context.set', { page: c.page == null ? null : c.page, product: c.product == null ? null : c.product, cart: c.cart == null ? null : c.cart });
  }

  function handle(f) {
    var b = f.body || {};
    var author = b.author || f.author || {};
    switch (f.type) {
      case 'welcome':
        attempt = 0; clearTimeout(retryTimer); clearInterval(tick);
        if (b.visitor_id) store.vid = b.visitor_id;
        if (b.visitor_token) store.vtok = b.visitor_token;
        save();
        if (b.agent) agent = b.agent;
        if (b.conversation) setConversation(b.conversation);
        renderHeader();
        setConn('online');
        if (conv && !ended) { sendContext(); resume(); flushOutbox(); }
        break;
      case 'conversation.opened':
        setConversation(b.conversation);
        sendContext(); flushOutbox();
        break;
      case 'conversation.queued':
        queue = { position: b.position, estimated_wait_s: b.estimated_wait_s };
        renderHeader();
        break;
      case 'conversation.assigned':
        if (b.agent) agent = b.agent;
        queue = null;
        setConversation(b.conversation);
        renderHeader();
        break;
      case 'conversation.updated':
        if (b.conversation && conv && b.conversation.id === conv.id) setConversation(b.conversation);
        break;
      case 'conversation.closed':
        if (b.conversation) conv = b.conversation;
        store.conv = null; save();
        if (!ended) showEnded();
        emit('conversation', conv);
        break;
      case 'message.new': addMessage(b.message); break;
      case 'message.ack': onAck(b); break;
      case 'typing':
        if (author.kind !== 'shopper') { if (b.on) typingOn(author.name); else typingOff(); }
        break;
      case 'read':
        if (author.kind !== 'shopper' && b.seq > readUpTo) { readUpTo = b.seq; refreshReceipts(); }
        break;
      case 'pong': pongWait = 0; break;
      case 'error':
        if (b.code === 'unauthorized') {
          store = { outbox: store.outbox, seen: 0 }; save();
          conv = null; clearTranscript();
          connText.textContent = t('denied');
        }
        emit('error', b);
        break;
    }
  }

  // ---- composer -------------------------------------------------------------
  var typingSentAt = 0, typingStop = 0;
  function syncSend() {
    sendBtn.disabled = !input.value.trim() || ended;
    input.disabled = ended;
  }
  input.addEventListener('input', function () {
    syncSend();
    if (!conv || ended) return;
    if (Date.now() - typingSentAt > 2500 && send('typing', { on: true })) typingSentAt = Date.now();
    clearTimeout(typingStop);
    typingStop = setTimeout(function () { typingSentAt = 0; send('typing', { on: false }); }, 3000);
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
  function submit() {
    var text = input.value.trim();
    if (!text || ended) return;
    input.value = '';
    syncSend();
    var cid = uid();
    store.outbox.push({ cid: cid, text: text });
    save();
    addPending(cid, text);
    if (typingSentAt) { clearTimeout(typingStop); typingSentAt = 0; send('typing', { on: false }); }
    if (conv) send('message.send', { client_msg_id: cid, text: text });
    connect();
  }

  // ---- open / close ---------------------------------------------------------
  function open() {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    wrap.classList.add('open');
    launcher.setAttribute('aria-expanded', 'true');
    rememberOpen(true);
    connect();
    countUnread();
    scrollDown();
    setTimeout(function () { input.focus(); }, 0);
    emit('open');
  }
  function close() {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    wrap.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    rememberOpen(false);
    launcher.focus();
    emit('close');
  }
  launcher.addEventListener('click', function () { if (isOpen) close(); else open(); });
  closeBtn.addEventListener('click', close);
  retryBtn.addEventListener('click', function () { attempt = Math.max(attempt, 1); clearTimeout(retryTimer); connect(); });
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') close(); });
  document.addEventListener('visibilitychange', countUnread);
  window.addEventListener('online', function () { if (want && !ws) { clearTimeout(retryTimer); connect(); } });
  window.addEventListener('offline', function () { if (want) setConn('offline'); });

  // ---- public API -----------------------------------------------------------
  var api = {
    loaded: true,
    open: open,
    close: close,
    setUser: function (u) {
      user = { name: u && u.name ? String(u.name).slice(0, 80) : '', email: u && u.email ? String(u.email).slice(0, 200) : '' };
    },
    setContext: function (c) {
      c = c || {};
      context = { page: c.page, product: c.product, cart: c.cart };
      if (conv && !ended) sendContext();
    },
    on: function (name, fn) {
      if (typeof fn !== 'function') return;
      (handlers[name] = handlers[name] || []).push(fn);
    },
    state: function () {
      return { connection: connState, open: isOpen, unread: unread, conversation_id: conv && conv.id, agent: agent, queue: queue };
    }
  };
  var queued = (window.Daogou && window.Daogou.q) || [];
  window.Daogou = api;
  queued.forEach(function (call) {
    var fn = api[call[0]];
    if (typeof fn === 'function') fn.apply(api, call[1] || []);
  });

  // ---- start ------------------------------------------------------------------
  function start() {
    document.body.appendChild(host);
    store.outbox.forEach(function (o) { addPending(o.cid, o.text); });
    fetch(ORIGIN + '/api/v1/config').then(function (r) { return r.ok ? r.json() : null; }).then(function (c) {
      if (c && c.shop_name) { shopName = c.shop_name; renderHeader(); }
    }).catch(function () { /* keep the page title */ });
    renderHeader();
    if (panelWasOpen()) open();
    else if (store.conv || store.outbox.length) connect();
    emit('ready');
  }
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
