// Browser tests of Daogou's three faces in headless Chromium.
//
//   cd tests/browser && npm ci && node run.mjs
//
// The runner builds the server (go build ./cmd/daogou) into a temporary
// directory, starts it on a free loopback port with a fresh data directory,
// waits for /readyz, then drives Debian's /usr/bin/chromium through
// playwright-core. Each scenario saves a screenshot in screenshots/.
//
// Environment:
//   DAOGOU_BIN        use this server binary instead of building one
//   CHROMIUM          browser executable (default /usr/bin/chromium)
//   KEEP_TMP=1        keep the temporary directory (server log, data)
//
// Exit code 0 when every scenario passed, 1 otherwise.

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, readFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scenarios } from './scenarios.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SHOTS = path.join(HERE, 'screenshots');
const FAILSHOTS = path.join(SHOTS, 'tmp');
const PASSWORD = 'test-pass-123';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** stop ends the server process and waits for it (SIGKILL after 10 s). */
function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

function log(...a) {
  console.log(...a);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(base, server, timeoutMs) {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new Error(`server exited with code ${server.exitCode} before it was ready`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server not ready after ${timeoutMs} ms: ${last}`);
}

async function tail(file, lines) {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function main() {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'daogou-browser-'));
  await mkdir(SHOTS, { recursive: true });
  await mkdir(FAILSHOTS, { recursive: true });
  const serverLog = path.join(tmp, 'server.log');
  let bin = process.env.DAOGOU_BIN;
  let server = null;
  let stopServer = async () => {};
  let browser = null;
  const env = { password: PASSWORD, shots: SHOTS, failShots: FAILSHOTS, pages: [], state: {} };
  const results = [];
  try {
    if (!bin) {
      bin = path.join(tmp, 'daogou');
      log(`# building the server: go build -o ${bin} ./cmd/daogou`);
      execFileSync('go', ['build', '-o', bin, './cmd/daogou'], { cwd: ROOT, stdio: 'inherit' });
    }
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const startServer = async () => {
      const fd = openSync(serverLog, 'a');
      server = spawn(
        bin,
        ['--addr', `127.0.0.1:${port}`, '--data-dir', path.join(tmp, 'data'), '--demo-password', PASSWORD, '--greeting-deadline', '15s'],
        { cwd: tmp, stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      await waitReady(base, server, 60000);
    };
    stopServer = () => stop(server);
    log(`# server: ${base} (log ${serverLog})`);
    await startServer();
    env.base = base;
    env.startServer = startServer;
    env.stopServer = stopServer;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    log(`# browser: ${CHROMIUM} ${browser.version()}`);

    env.browser = browser;
    const failed = new Set();
    let n = 0;
    for (const sc of scenarios) {
      n++;
      const blocked = (sc.needs || []).filter((x) => failed.has(x));
      if (blocked.length) {
        failed.add(sc.id);
        results.push({ name: sc.name, ok: false, skipped: true });
        log(`not ok ${n} - ${sc.name} # SKIP needs ${blocked.join(', ')}`);
        continue;
      }
      const t0 = Date.now();
      try {
        await sc.run(env);
        results.push({ name: sc.name, ok: true });
        log(`ok ${n} - ${sc.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed.add(sc.id);
        results.push({ name: sc.name, ok: false });
        log(`not ok ${n} - ${sc.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        log(`  ${String(e.stack || e).split('\n').slice(0, 6).join('\n  ')}`);
        for (const [i, p] of env.pages.entries()) {
          if (p.isClosed()) continue;
          const file = path.join(FAILSHOTS, `fail-${sc.id}-${i}.png`);
          await p.screenshot({ path: file }).catch(() => {});
          log(`  screenshot: ${path.relative(HERE, file)} (${p.url()})`);
        }
      }
    }
  } catch (e) {
    results.push({ name: 'setup', ok: false });
    log(`not ok - setup: ${e.stack || e}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer();
  }
  const passed = results.filter((r) => r.ok).length;
  const failedCount = results.length - passed;
  if (failedCount) {
    log(`# last lines of the server log:\n${await tail(serverLog, 40)}`);
  }
  if (failedCount || process.env.KEEP_TMP) log(`# kept ${tmp}`);
  else await rm(tmp, { recursive: true, force: true });
  log(`${passed} passed, ${failedCount} failed`);
  process.exitCode = failedCount ? 1 : 0;
}

await main();
