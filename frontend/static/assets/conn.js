// A WebSocket that reconnects with backoff and keeps itself alive with ping.
// One frame is one JSON object: {type, id, conversation_id, body}.

const PING_EVERY = 25000;
const PONG_WAIT = 10000;
const MAX_BACKOFF = 15000;

export class Connection {
  /**
   * @param {() => string} url builds the URL for each attempt
   * @param {object} o
   * @param {(frame: object) => void} o.onFrame every frame received
   * @param {(state: string, info: object) => void} o.onState 'connecting' | 'online' | 'reconnecting' | 'offline' | 'closed'
   * @param {() => Promise<boolean>} [o.stillAuthorized] asked after a socket closed before it opened; false stops retrying
   * @param {() => void} [o.onUnauthorized]
   */
  constructor(url, o) {
    this.url = url;
    this.o = o;
    this.ws = null;
    this.attempt = 0;
    this.seq = 0;
    this.want = false;
    this.timer = 0;
    this.pinger = 0;
    this.pongDue = 0;
    this.state = 'closed';
    this.onOnline = () => {
      if (this.want && !this.ws) this.connect();
    };
    this.onOffline = () => {
      if (this.want) this.setState('offline');
    };
  }

  start() {
    this.want = true;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.want = false;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.setState('closed');
  }

  /** retryNow skips the remaining backoff. */
  retryNow() {
    if (this.want && !this.ws) this.connect();
  }

  setState(state, info = {}) {
    this.state = state;
    this.o.onState?.(state, info);
  }

  connect() {
    clearTimeout(this.timer);
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.setState(this.attempt ? 'reconnecting' : 'connecting', { retryAt: 0 });
    let opened = false;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.pongDue = 0;
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.ping(), PING_EVERY);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (frame.type === 'pong') this.pongDue = 0;
      if (frame.type === 'welcome' || frame.type === 'snapshot') {
        this.attempt = 0;
        this.setState('online');
      }
      this.o.onFrame(frame);
    };
    ws.onclose = async (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pinger);
      if (!this.want) return;
      if ((!opened || ev.code === 1008) && this.o.stillAuthorized && !(await this.o.stillAuthorized())) {
        this.want = false;
        this.setState('closed');
        this.o.onUnauthorized?.();
        return;
      }
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    const delay = Math.min(MAX_BACKOFF, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt++;
    this.timer = setTimeout(() => this.connect(), delay);
    this.setState(navigator.onLine === false ? 'offline' : 'reconnecting', { retryAt: Date.now() + delay });
  }

  ping() {
    if (this.pongDue && Date.now() > this.pongDue) {
      this.ws?.close(4000, 'no pong');
      return;
    }
    if (!this.pongDue) this.pongDue = Date.now() + PONG_WAIT;
    this.send('ping', {});
  }

  /** send sends a frame and returns its id, or '' when the socket is not open. */
  send(type, body = {}, conversationId = undefined) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return '';
    const id = `f${++this.seq}`;
    const frame = { type, id, body };
    if (conversationId) frame.conversation_id = conversationId;
    this.ws.send(JSON.stringify(frame));
    return id;
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }
}
