// The REST side of the wire contract, with the login token kept in
// sessionStorage (one login per tab; closing the tab logs out).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  /** @param {string} key sessionStorage key of this page's session */
  constructor(key) {
    this.key = key;
    this.session = null;
    try {
      this.session = JSON.parse(sessionStorage.getItem(key) || 'null');
    } catch {
      this.session = null;
    }
  }

  get token() {
    return this.session?.token || '';
  }

  get agent() {
    return this.session?.agent || null;
  }

  save(session) {
    this.session = session;
    if (session) sessionStorage.setItem(this.key, JSON.stringify(session));
    else sessionStorage.removeItem(this.key);
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { message: text };
      }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body) {
    return this.request('POST', path, body);
  }

  /** login posts the credentials and keeps the token; throws ApiError (401) on bad ones. */
  async login(email, password) {
    const res = await this.request('POST', '/api/v1/login', { email, password });
    this.save({ token: res.token, agent: res.agent });
    return res;
  }

  logout() {
    this.save(null);
  }

  /** wsURL is the WebSocket URL of path on this origin, with the token. */
  wsURL(path) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}${path}?token=${encodeURIComponent(this.token)}`;
  }
}
