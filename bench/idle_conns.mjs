#!/usr/bin/env node
// Hold N idle HTTP/1.1 keep-alive connections open against a proxy.
//
//   node bench/idle_conns.mjs --port 8080 [--host 127.0.0.1] [--conns 10000]
//        [--path /small] [--parallel 256] [--hold 300] [--setup-timeout 120]
//
// Opens --conns connections (at most --parallel in the middle of connecting or
// waiting for their response at once), sends one GET on each, reads the whole
// response (Content-Length framing) and keeps the socket open and idle. When
// every connection has either succeeded or failed it prints one JSON line on
// stdout: {"ready":true,"open":N,"failed":F,"ms":T}. It then waits, holding the
// connections, until SIGTERM/SIGINT (or --hold seconds pass), closes
// everything and prints {"done":true,"open":N,"closed_by_peer":K} on stdout.
// Node built-ins only.
import net from 'node:net';
import process from 'node:process';

function parseArgs(argv) {
  const o = { host: '127.0.0.1', port: 0, conns: 10000, path: '/small', parallel: 256,
    hold: 300, setupTimeout: 120 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--host': o.host = v; i++; break;
      case '--port': o.port = Number(v); i++; break;
      case '--conns': o.conns = Number(v); i++; break;
      case '--path': o.path = v; i++; break;
      case '--parallel': o.parallel = Number(v); i++; break;
      case '--hold': o.hold = Number(v); i++; break;
      case '--setup-timeout': o.setupTimeout = Number(v); i++; break;
      default:
        process.stderr.write(`idle_conns: unknown argument ${k}\n`);
        process.exit(2);
    }
  }
  if (!(o.port > 0 && o.port < 65536) || !(o.conns > 0) || !(o.parallel > 0)) {
    process.stderr.write('idle_conns: need --port and positive --conns/--parallel\n');
    process.exit(2);
  }
  return o;
}

const opt = parseArgs(process.argv.slice(2));
const request = Buffer.from(
  `GET ${opt.path} HTTP/1.1\r\nHost: ${opt.host}:${opt.port}\r\nUser-Agent: ficus-bench-idle\r\n\r\n`);

const idle = new Set(); // sockets whose response has been read completely
let started = 0;
let inflight = 0;
let failed = 0;
let closedByPeer = 0;
let setupDone = false;
let shuttingDown = false;
const firstErrors = new Map(); // message -> count (for the summary on stderr)
const t0 = Date.now();

function noteError(msg) {
  firstErrors.set(msg, (firstErrors.get(msg) || 0) + 1);
}

// Returns true once `buf` holds a complete response with a Content-Length body.
function responseComplete(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = buf.subarray(0, end).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!status) throw new Error('bad status line');
  if (status[1][0] !== '2') throw new Error(`status ${status[1]}`);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!cl) throw new Error('no content-length');
  return buf.length >= end + 4 + Number(cl[1]);
}

function openOne() {
  started++;
  inflight++;
  let settled = false;
  let buf = Buffer.alloc(0);
  const s = net.connect({ host: opt.host, port: opt.port });
  s.setNoDelay(true);
  const settle = (ok, why) => {
    if (settled) return;
    settled = true;
    inflight--;
    if (ok) {
      idle.add(s);
    } else {
      failed++;
      noteError(why);
      s.destroy();
    }
    pump();
  };
  s.on('connect', () => s.write(request));
  s.on('data', (d) => {
    if (settled) return; // unexpected bytes on an idle connection: ignore
    buf = Buffer.concat([buf, d]);
    try {
      if (responseComplete(buf)) settle(true);
    } catch (e) {
      settle(false, e.message);
    }
  });
  s.on('error', (e) => settle(false, e.code || e.message));
  s.on('close', () => {
    if (!settled) {
      settle(false, 'closed before response');
    } else if (idle.delete(s) && !shuttingDown) {
      closedByPeer++;
    }
  });
}

function pump() {
  while (inflight < opt.parallel && started < opt.conns) openOne();
  if (!setupDone && started >= opt.conns && inflight === 0) {
    setupDone = true;
    clearTimeout(setupTimer);
    report();
  }
}

function summaryErrors() {
  if (firstErrors.size === 0) return;
  const parts = [...firstErrors].map(([m, n]) => `${m} x${n}`).join(', ');
  process.stderr.write(`idle_conns: failures: ${parts}\n`);
}

let holdTimer = null;
function report() {
  summaryErrors();
  process.stdout.write(JSON.stringify({ ready: true, open: idle.size, failed,
    ms: Date.now() - t0 }) + '\n');
  holdTimer = setTimeout(() => shutdown('hold expired'), opt.hold * 1000);
}

function shutdown(why) {
  if (shuttingDown) return;
  shuttingDown = true;
  clearTimeout(holdTimer);
  clearTimeout(setupTimer);
  const open = idle.size;
  process.stdout.write(JSON.stringify({ done: true, open, closed_by_peer: closedByPeer,
    reason: why }) + '\n');
  for (const s of idle) s.destroy();
  idle.clear();
  // Give the writes a moment to flush, then leave even if something lingers.
  setTimeout(() => process.exit(0), 100).unref();
}

const setupTimer = setTimeout(() => {
  process.stderr.write(`idle_conns: setup timed out after ${opt.setupTimeout}s ` +
    `(${idle.size} open, ${inflight} pending, ${failed} failed)\n`);
  summaryErrors();
  process.exit(1);
}, opt.setupTimeout * 1000);

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
pump();
