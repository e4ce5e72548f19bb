// End-to-end harness for Ficus: runs the built binary with temporary configs,
// Node backends on port 0, a raw-socket client for malformed input and a
// Prometheus text parser. Node built-in modules only.
//
// Environment:
//   FICUS_BIN          path to the binary (default <repo>/build/ficus)
//   FICUS_TEST_SCALE   multiplier for every timeout (default 1; 3 for ASan)
//   FICUS_KEEP         keep temp dirs of stopped instances (debugging)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..', '..');
export const FICUS_BIN = process.env.FICUS_BIN || path.join(REPO, 'build', 'ficus');
export const SCALE = Math.max(1, Number(process.env.FICUS_TEST_SCALE) || 1);

/**
 * True when the binary under test is a sanitizer build (FICUS_TEST_SCALE > 1,
 * or the binary links the ASan runtime): memory figures (RSS) mean nothing
 * there, ASan's quarantine keeps freed blocks.
 */
export const SANITIZED = SCALE > 1 || (() => {
    try {
        return fs.readFileSync(FICUS_BIN).includes('__asan_init');
    } catch {
        return false;
    }
})();

/** Scale a timeout in milliseconds for slow (sanitizer) builds. */
export const t = (ms) => Math.round(ms * SCALE);

// ---------------------------------------------------------------------------
// Polling

/**
 * Poll `fn` until it returns a truthy value (returned) or `timeout` ms pass
 * (throws with `what` in the message). `fn` may be async.
 */
export async function waitFor(fn, { timeout = t(5000), interval = 20, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            const detail = last instanceof Error ? `: ${last.message}` : '';
            throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
        }
        await sleep(interval);
    }
}

/** Reject if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what = 'operation') {
    let timer;
    return Promise.race([
        promise,
        new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
        }),
    ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Config

const YAML_RESERVED = new Set([
    'true', 'false', 'yes', 'no', 'on', 'off', 'null', 'y', 'n', '~',
]);

function yamlScalar(v) {
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (v === null) return 'null';
    const s = String(v);
    // Plain style for identifiers and durations, as a person would write
    // them; everything else double-quoted (JSON strings are valid YAML).
    if (/^[A-Za-z][A-Za-z0-9_-]*$/.test(s) && !YAML_RESERVED.has(s.toLowerCase())) return s;
    if (/^\d+(ms|s|m|h)$/.test(s)) return s;
    return JSON.stringify(s);
}

function yamlKey(k) {
    return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k);
}

const isScalar = (v) => v === null || typeof v !== 'object';

/** Render a plain JS object as block YAML (scalar arrays in flow style). */
export function toYaml(obj, indent = 0) {
    const pad = ' '.repeat(indent);
    const lines = [];
    for (const [k, v] of Object.entries(obj)) {
        if (v === undefined) continue;
        const key = `${pad}${yamlKey(k)}:`;
        if (isScalar(v)) {
            lines.push(`${key} ${yamlScalar(v)}`);
        } else if (Array.isArray(v)) {
            if (v.every(isScalar)) {
                lines.push(`${key} [${v.map(yamlScalar).join(', ')}]`);
            } else {
                lines.push(key);
                for (const item of v) {
                    if (isScalar(item)) {
                        lines.push(`${pad}  - ${yamlScalar(item)}`);
                        continue;
                    }
                    const body = toYaml(item, indent + 4).split('\n');
                    body[0] = `${pad}  - ${body[0].slice(indent + 4)}`;
                    lines.push(...body);
                }
            }
        } else if (Object.keys(v).length === 0) {
            lines.push(`${key} {}`);
        } else {
            lines.push(key, toYaml(v, indent + 2));
        }
    }
    return lines.join('\n');
}

/**
 * Build a config object with test defaults (ports 0, one worker, JSON access
 * log on stdout). `upstreams` maps name -> {servers, ...} or a backend (or an
 * array of backends); `routes` is an array of {name, match, to}.
 */
export function makeConfig({
    upstreams = {},
    routes = [],
    limits,
    workers = 1,
    log = { access: 'stdout', format: 'json' },
    admin = { listen: '127.0.0.1:0' },
    listen = ['127.0.0.1:0'],
    extra = {},
} = {}) {
    const ups = {};
    for (const [name, u] of Object.entries(upstreams)) {
        if (u && typeof u.addr === 'string') ups[name] = { servers: [u.addr] };
        else if (Array.isArray(u)) ups[name] = { servers: u.map((b) => (typeof b === 'string' ? b : b.addr)) };
        else {
            const servers = (u.servers || []).map((b) => (typeof b === 'string' ? b : b.addr));
            ups[name] = { ...u, servers };
        }
    }
    const cfg = { listen, admin, workers, log };
    if (limits) cfg.limits = limits;
    cfg.upstreams = ups;
    cfg.routes = routes;
    return { ...cfg, ...extra };
}

export function configText(cfg) {
    return typeof cfg === 'string' ? cfg : `${toYaml(cfg)}\n`;
}

export function mkTempDir(prefix = 'ficus-e2e-') {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Write `text` to `file` atomically (write + rename), so a reload never sees half a file. */
export function writeFileAtomic(file, text) {
    const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------------------
// logfmt

/** Parse one logfmt line (`a=b c="d e"`) into an object of strings. */
export function parseLogfmt(line) {
    const out = {};
    const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)/g;
    let m;
    while ((m = re.exec(line)) !== null) {
        out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
    }
    return out;
}

// ---------------------------------------------------------------------------
// Running the binary

const live = new Set();
process.on('exit', () => {
    for (const p of live) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

/** Collects a child's output stream as text and as complete lines. */
class LineSink {
    constructor(stream) {
        this.text = '';
        this.lines = [];
        this.partial = '';
        this.waiters = new Set();
        stream.setEncoding('utf8');
        stream.on('data', (d) => {
            this.text += d;
            const parts = (this.partial + d).split('\n');
            this.partial = parts.pop();
            this.lines.push(...parts);
            for (const w of this.waiters) w();
        });
        stream.on('end', () => {
            if (this.partial) this.lines.push(this.partial);
            this.partial = '';
            for (const w of this.waiters) w();
        });
    }

    /** Wait until `pred(lines)` is truthy (returned). */
    async until(pred, timeout, what, proc) {
        const res = pred(this.lines);
        if (res) return res;
        return new Promise((resolve, reject) => {
            const check = () => {
                let r;
                try {
                    r = pred(this.lines);
                } catch (e) {
                    finish();
                    reject(e);
                    return;
                }
                if (r) {
                    finish();
                    resolve(r);
                }
            };
            const timer = setTimeout(() => {
                finish();
                reject(new Error(`timed out after ${timeout} ms waiting for ${what}\n--- stderr ---\n${proc?.stderr.text ?? ''}`));
            }, timeout);
            const onExit = () => {
                setImmediate(() => {
                    check();
                    if (this.waiters.has(check)) {
                        finish();
                        reject(new Error(`ficus exited (${proc.exitCode ?? proc.signalCode}) while waiting for ${what}\n--- stderr ---\n${proc.stderr.text}`));
                    }
                });
            };
            const finish = () => {
                clearTimeout(timer);
                this.waiters.delete(check);
                proc?.off('exited', onExit);
            };
            this.waiters.add(check);
            if (proc) {
                if (proc.exited) onExit();
                else proc.once('exited', onExit);
            }
        });
    }
}

const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)|runtime error: |SUMMARY: UndefinedBehaviorSanitizer/;

/** The sanitizer report in `text` (from its first line), or null. */
export function sanitizerReport(text) {
    const m = SANITIZER_RE.exec(text);
    return m ? text.slice(Math.max(0, m.index - 200), m.index + 3000) : null;
}

/** Run `ficus ARGS...` to completion. Resolves {code, signal, stdout, stderr}. */
export function runFicus(args, { timeout = t(10000), env } = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(FICUS_BIN, args, {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...env },
        });
        live.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`ficus ${args.join(' ')} did not exit within ${timeout} ms\n${stderr}`));
        }, timeout);
        child.on('error', (e) => {
            clearTimeout(timer);
            live.delete(child);
            reject(e);
        });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            live.delete(child);
            const report = sanitizerReport(stderr);
            if (report) reject(new Error(`sanitizer report from ficus ${args.join(' ')}:\n${report}`));
            else resolve({ code, signal, stdout, stderr });
        });
    });
}

/**
 * A running `ficus serve`. Use Ficus.start(); always call stop() (in after()).
 */
export class Ficus {
    constructor() {
        this.ports = { proxy: [], admin: [] };
        this.exited = false;
        this.exitCode = null;
        this.signalCode = null;
    }

    /**
     * Start `ficus serve -c <tmp>/ficus.yaml` and wait for event=ready.
     * `config` is YAML text or an object for toYaml(); `args` are extra
     * arguments after `-c FILE`.
     */
    static async start(config, { readyTimeout = t(10000), env, dir, args = [] } = {}) {
        const f = new Ficus();
        f.dir = dir || mkTempDir();
        f.configPath = path.join(f.dir, 'ficus.yaml');
        fs.writeFileSync(f.configPath, configText(config));
        f.spawn(env, args);
        try {
            await f.waitReady(readyTimeout);
        } catch (e) {
            await f.stop().catch(() => {});
            throw e;
        }
        return f;
    }

    spawn(env, args = []) {
        const child = spawn(FICUS_BIN, ['serve', '-c', this.configPath, ...args], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...env },
        });
        this.child = child;
        this.pid = child.pid;
        live.add(child);
        this.stdout = new LineSink(child.stdout);
        this.stderr = new LineSink(child.stderr);
        this.exitPromise = new Promise((resolve) => {
            child.on('error', (e) => {
                this.spawnError = e;
            });
            child.on('close', (code, signal) => {
                live.delete(child);
                this.exited = true;
                this.exitCode = code;
                this.signalCode = signal;
                this.emitExited();
                resolve({ code, signal });
            });
        });
        this.listeners = new Set();
    }

    // Minimal event hook used by LineSink to notice an exit.
    once(name, fn) {
        if (name === 'exited') this.listeners.add(fn);
    }
    off(name, fn) {
        if (name === 'exited') this.listeners.delete(fn);
    }
    emitExited() {
        for (const fn of [...this.listeners]) {
            this.listeners.delete(fn);
            fn();
        }
    }

    async waitReady(timeout = t(10000)) {
        await this.stderr.until(
            (lines) => lines.some((l) => /\bevent=ready\b/.test(l)),
            timeout,
            'event=ready',
            this,
        );
        for (const l of this.stderr.lines) {
            if (!/\bevent=listening\b/.test(l)) continue;
            const kv = parseLogfmt(l);
            const m = /:(\d+)$/.exec(kv.addr || '');
            if (!m) continue;
            (this.ports[kv.kind] ||= []).push(Number(m[1]));
        }
        if (!this.ports.proxy.length) {
            throw new Error(`no "event=listening kind=proxy" line on stderr:\n${this.stderr.text}`);
        }
        this.port = this.ports.proxy[0];
        this.adminPort = this.ports.admin[0];
        this.readyLine = parseLogfmt(this.stderr.lines.find((l) => /\bevent=ready\b/.test(l)));
    }

    /** Parsed access-log JSON objects seen so far on stdout (non-JSON lines skipped). */
    accessLog() {
        const out = [];
        for (const l of this.stdout.lines) {
            if (!l.trim()) continue;
            try {
                out.push(JSON.parse(l));
            } catch {
                /* not an access-log line */
            }
        }
        return out;
    }

    /**
     * Wait for an access-log entry matching `pred` among the entries from
     * index `since` on (see accessLog().length); returns it.
     */
    async waitAccess(pred, { since = 0, timeout = t(5000), what = 'access-log line' } = {}) {
        let found;
        await waitFor(
            () => {
                found = this.accessLog().slice(since).find(pred);
                return found !== undefined;
            },
            { timeout, what: `${what}\n--- stdout ---\n${this.stdout.text.slice(-4000)}` },
        );
        return found;
    }

    /** Wait until the count of stderr lines matching `re` reaches `n`; returns those lines. */
    async waitStderr(re, { n = 1, timeout = t(10000) } = {}) {
        return this.stderr.until(
            (lines) => {
                const m = lines.filter((l) => re.test(l));
                return m.length >= n ? m : null;
            },
            timeout,
            `${n} stderr line(s) matching ${re}`,
            this,
        );
    }

    countStderr(re) {
        return this.stderr.lines.filter((l) => re.test(l)).length;
    }

    /** Replace the config file atomically (for reload tests). */
    writeConfig(config) {
        writeFileAtomic(this.configPath, configText(config));
    }

    /**
     * Rewrite the config, send SIGHUP and wait for the next event=reload line.
     * Returns its parsed fields.
     */
    async reload(config, { timeout = t(10000) } = {}) {
        if (config !== undefined) this.writeConfig(config);
        const before = this.countStderr(/\bevent=reload\b/);
        this.signal('SIGHUP');
        const lines = await this.waitStderr(/\bevent=reload\b/, { n: before + 1, timeout });
        return parseLogfmt(lines[before]);
    }

    signal(sig) {
        if (!this.exited) this.child.kill(sig);
    }

    /** Resolves {code, signal} once the process has exited. */
    wait(timeout) {
        if (timeout === undefined) return this.exitPromise;
        return withTimeout(this.exitPromise, timeout, 'ficus exit');
    }

    /**
     * SIGTERM, wait for exit (SIGKILL after `killAfter` ms) and remove the
     * temp dir. Safe to call more than once. Resolves {code, signal, killed};
     * with `check` (default) rejects when stderr holds a sanitizer report or
     * the process did not exit 0 by itself, so suites fail on leaks and
     * memory errors found at any point of the run.
     */
    async stop({ killAfter = t(10000), check = true } = {}) {
        let killed = false;
        if (!this.exited && this.child) {
            this.signal('SIGTERM');
            const timer = setTimeout(() => {
                killed = true;
                this.child.kill('SIGKILL');
            }, killAfter);
            await this.exitPromise;
            clearTimeout(timer);
        }
        if (this.dir && !process.env.FICUS_KEEP) {
            fs.rmSync(this.dir, { recursive: true, force: true });
        }
        const res = { code: this.exitCode, signal: this.signalCode, killed };
        if (check && !this.checked) {
            this.checked = true;
            const report = sanitizerReport(this.stderr?.text ?? '');
            if (report) throw new Error(`sanitizer report from ficus serve (pid ${this.pid}):\n${report}`);
            if (killed || res.code !== 0) {
                const tail = (this.stderr?.text ?? '').split('\n').slice(-15).join('\n');
                throw new Error(`ficus serve did not exit 0 on SIGTERM (code=${res.code} signal=${res.signal} killed=${killed})\n${tail}`);
            }
        }
        return res;
    }

    url(p = '/') {
        return `http://127.0.0.1:${this.port}${p}`;
    }
}

/** Convenience: Ficus.start(config, opts). */
export const startFicus = (config, opts) => Ficus.start(config, opts);

// ---------------------------------------------------------------------------
// Node backends

let backendSeq = 0;

/**
 * An http.createServer backend on 127.0.0.1:0 recording every request.
 *
 * Each record: {method, url, httpVersion, headers, rawHeaders, body (Buffer),
 * trailers, remotePort, conn (connection index), time}.
 *
 * Behaviour, per test:
 *   b.handle = (rec, req, res) => {...}  called after the whole body is read
 *   b.stream = (req, res, rec) => {...}  called at once; body not buffered
 * b.reset() clears records and restores the default handler, which answers
 * 200 text/plain "<name> <method> <url>" with header X-Backend: <name>.
 */
export async function startBackend(name = `b${++backendSeq}`, opts = {}) {
    const server = http.createServer({ keepAliveTimeout: opts.keepAliveTimeout ?? 30000, requestTimeout: 0 });
    const b = {
        name,
        server,
        requests: [],
        connections: 0,
        sockets: new Set(),
        handle: null,
        stream: null,
        reset() {
            this.requests.length = 0;
            this.handle = null;
            this.stream = null;
        },
        async close() {
            server.closeAllConnections?.();
            for (const s of this.sockets) s.destroy();
            await new Promise((r) => server.close(() => r()));
        },
        /** Wait until at least `n` requests were recorded (headers received). */
        waitRequests(n = 1, timeout = t(5000)) {
            return waitFor(() => this.requests.length >= n, { timeout, what: `${n} request(s) at backend ${name}` });
        },
    };
    if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
    server.headersTimeout = 0;
    server.on('connection', (sock) => {
        sock.connIndex = b.connections++;
        b.sockets.add(sock);
        sock.on('close', () => b.sockets.delete(sock));
    });
    server.on('clientError', (err, sock) => {
        b.clientErrors = (b.clientErrors || 0) + 1;
        if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nX-Backend-Error: 1\r\nConnection: close\r\n\r\n');
    });
    server.on('request', (req, res) => {
        const rec = {
            method: req.method,
            url: req.url,
            httpVersion: req.httpVersion,
            headers: req.headers,
            rawHeaders: req.rawHeaders,
            body: Buffer.alloc(0),
            trailers: {},
            remotePort: req.socket.remotePort,
            conn: req.socket.connIndex,
            time: Date.now(),
            complete: false,
        };
        b.requests.push(rec);
        res.setHeader('X-Backend', name);
        if (b.stream) {
            b.stream(req, res, rec);
            return;
        }
        const chunks = [];
        req.on('data', (d) => chunks.push(d));
        req.on('end', () => {
            rec.body = Buffer.concat(chunks);
            rec.trailers = req.trailers;
            rec.complete = true;
            const h = b.handle || defaultHandler;
            try {
                h(rec, req, res, b);
            } catch (e) {
                res.statusCode = 500;
                res.end(String(e));
            }
        });
        req.on('error', () => {});
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    b.port = server.address().port;
    b.addr = `127.0.0.1:${b.port}`;
    return b;
}

function defaultHandler(rec, req, res, b) {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${b.name} ${rec.method} ${rec.url}`);
}

/**
 * A raw TCP backend on 127.0.0.1:0. Records all bytes received (per
 * connection and total). `onConnection(sock, conn, rb)` scripts it; the
 * default speaks minimal HTTP/1.1: it parses requests (Content-Length or
 * chunked bodies), records them in rb.requests and answers 200 with the path
 * as body. Use it when the test must see exactly which bytes arrived.
 */
export async function startRawBackend(onConnection = rawHttpResponder) {
    const rb = {
        conns: [],
        requests: [],
        onConnection,
        bytes() {
            return Buffer.concat(this.conns.map((c) => Buffer.concat(c.chunks)));
        },
        totalBytes() {
            return this.conns.reduce((n, c) => n + c.chunks.reduce((m, x) => m + x.length, 0), 0);
        },
        reset() {
            // Keep open (pooled) connections, forget what they received so far.
            const open = this.conns.filter((c) => !c.closed);
            for (const c of open) c.chunks.length = 0;
            this.conns.splice(0, this.conns.length, ...open);
            this.requests.length = 0;
        },
        async close() {
            for (const c of this.conns) c.sock.destroy();
            await new Promise((r) => server.close(() => r()));
        },
    };
    const server = net.createServer((sock) => {
        const conn = { sock, chunks: [], closed: false };
        rb.conns.push(conn);
        sock.on('data', (d) => conn.chunks.push(d));
        sock.on('error', () => {});
        sock.on('close', () => (conn.closed = true));
        rb.onConnection(sock, conn, rb);
    });
    rb.server = server;
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    rb.port = server.address().port;
    rb.addr = `127.0.0.1:${rb.port}`;
    return rb;
}

/**
 * Parse the requests arriving on a raw backend socket and call
 * `onRequest(msg, sock)` for each complete one, in order (pipelined ones
 * included); malformed bytes destroy the socket.
 */
export function onRawRequests(sock, onRequest) {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
            let msg;
            try {
                msg = parseMessage(buf, { request: true });
            } catch {
                sock.destroy();
                return;
            }
            if (!msg) return;
            buf = buf.subarray(msg.length);
            onRequest(msg, sock);
        }
    });
}

/** Default raw backend behaviour: minimal strict HTTP/1.1 responder. */
export function rawHttpResponder(sock, conn, rb) {
    onRawRequests(sock, (msg) => {
        rb.requests.push(msg);
        const body = Buffer.from(msg.target);
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nX-Backend: raw\r\n\r\n`);
        sock.write(body);
    });
}

/**
 * A listening port whose connections never complete: a child process listens
 * with a backlog of 1 and blocks its event loop (never accepts), then we fill
 * the accept queue, so further SYNs are dropped and connect() hangs.
 * Resolves {addr, port, close()} or null if the queue could not be filled.
 */
export async function startBlackhole() {
    const code = `
        const net = require('node:net');
        const s = net.createServer();
        s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
            process.stdout.write(s.address().port + '\\n', () => {
                Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
            });
        });`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    live.add(child);
    child.on('exit', () => live.delete(child));
    const port = await withTimeout(new Promise((resolve) => {
        let out = '';
        child.stdout.on('data', (d) => {
            out += d;
            if (out.includes('\n')) resolve(Number(out.trim()));
        });
    }), t(5000), 'blackhole listener');
    const fillers = [];
    const close = () => {
        for (const s of fillers) s.destroy();
        child.kill('SIGKILL');
    };
    for (let i = 0; i < 16; i++) {
        const sock = net.connect(port, '127.0.0.1');
        sock.on('error', () => {});
        fillers.push(sock);
        const ok = await new Promise((resolve) => {
            const timer = setTimeout(() => resolve(false), 300);
            sock.once('connect', () => {
                clearTimeout(timer);
                resolve(true);
            });
        });
        if (!ok) return { port, addr: `127.0.0.1:${port}`, close };
    }
    close();
    return null;
}

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
export async function freePort() {
    const s = net.createServer();
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address();
    await new Promise((r) => s.close(r));
    return port;
}

// ---------------------------------------------------------------------------
// HTTP message parsing (for raw sockets)

/**
 * Parse one HTTP/1.x message at the start of `buf`.
 * Returns null when more bytes are needed, or
 *   {startLine, version, status, reason | method, target, headers: [[n, v]],
 *    body: Buffer, trailers: [[n, v]], chunked, length (bytes consumed), head}
 * Options: request (parse a request), method (of the request a response
 * answers: HEAD means no body), closed (the stream ended: an EOF-delimited
 * body is complete). Throws on malformed input.
 */
export function parseMessage(buf, { request = false, method = 'GET', closed = false } = {}) {
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) {
        if (closed && buf.length) throw new Error(`truncated head: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
        return null;
    }
    const head = buf.subarray(0, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const startLine = lines.shift();
    const msg = { startLine, headers: [], trailers: [], head };
    if (request) {
        const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/.exec(startLine);
        if (!m) throw new Error(`bad request line: ${JSON.stringify(startLine)}`);
        [, msg.method, msg.target, msg.version] = m;
    } else {
        const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(startLine);
        if (!m) throw new Error(`bad status line: ${JSON.stringify(startLine.slice(0, 200))}`);
        msg.version = m[1];
        msg.status = Number(m[2]);
        msg.reason = m[3] ?? '';
    }
    for (const l of lines) {
        const i = l.indexOf(':');
        if (i <= 0 || /\s/.test(l[i - 1]) || /^\s/.test(l)) throw new Error(`bad header line: ${JSON.stringify(l)}`);
        msg.headers.push([l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]);
    }
    msg.get = (n) => {
        const v = msg.headers.filter(([k]) => k === n.toLowerCase()).map(([, x]) => x);
        return v.length ? v.join(', ') : undefined;
    };
    msg.getAll = (n) => msg.headers.filter(([k]) => k === n.toLowerCase()).map(([, x]) => x);
    let pos = headEnd + 4;
    const te = msg.get('transfer-encoding');
    const cl = msg.get('content-length');
    const noBody = !request && (method === 'HEAD' || (msg.status >= 100 && msg.status < 200) || msg.status === 204 || msg.status === 304);
    msg.chunked = false;
    if (noBody) {
        msg.body = Buffer.alloc(0);
    } else if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) {
        msg.chunked = true;
        const parts = [];
        for (;;) {
            const le = buf.indexOf('\r\n', pos);
            if (le < 0) {
                if (closed) throw new Error('truncated chunked body');
                return null;
            }
            const sizeLine = buf.subarray(pos, le).toString('latin1');
            const sm = /^([0-9A-Fa-f]+)(;.*)?$/.exec(sizeLine);
            if (!sm) throw new Error(`bad chunk size line: ${JSON.stringify(sizeLine)}`);
            const size = parseInt(sm[1], 16);
            pos = le + 2;
            if (size === 0) {
                // trailers until an empty line
                for (;;) {
                    const te2 = buf.indexOf('\r\n', pos);
                    if (te2 < 0) {
                        if (closed) throw new Error('truncated trailers');
                        return null;
                    }
                    const tl = buf.subarray(pos, te2).toString('latin1');
                    pos = te2 + 2;
                    if (tl === '') break;
                    const i = tl.indexOf(':');
                    if (i <= 0) throw new Error(`bad trailer line: ${JSON.stringify(tl)}`);
                    msg.trailers.push([tl.slice(0, i).toLowerCase(), tl.slice(i + 1).trim()]);
                }
                break;
            }
            if (buf.length < pos + size + 2) {
                if (closed) throw new Error('truncated chunk');
                return null;
            }
            parts.push(buf.subarray(pos, pos + size));
            if (buf[pos + size] !== 13 || buf[pos + size + 1] !== 10) throw new Error('chunk not followed by CRLF');
            pos += size + 2;
        }
        msg.body = Buffer.concat(parts);
    } else if (cl !== undefined) {
        if (!/^\d+$/.test(cl)) throw new Error(`bad content-length ${JSON.stringify(cl)}`);
        const n = Number(cl);
        if (buf.length < pos + n) {
            if (closed) throw Object.assign(new Error('truncated body'), { partial: buf.length - pos });
            return null;
        }
        msg.body = buf.subarray(pos, pos + n);
        pos += n;
    } else if (request) {
        msg.body = Buffer.alloc(0);
    } else {
        // EOF-delimited response body
        if (!closed) return null;
        msg.body = buf.subarray(pos);
        pos = buf.length;
        msg.eof = true;
    }
    msg.length = pos;
    msg.text = msg.body.toString('utf8');
    return msg;
}

// ---------------------------------------------------------------------------
// Raw client

/** A raw TCP connection to Ficus that reads HTTP responses off the byte stream. */
export class RawConn {
    static open(port, { timeout = t(5000), host = '127.0.0.1' } = {}) {
        return new Promise((resolve, reject) => {
            const c = new RawConn();
            const sock = net.connect({ port, host });
            const timer = setTimeout(() => {
                sock.destroy();
                reject(new Error(`connect to ${port} timed out`));
            }, timeout);
            sock.once('connect', () => {
                clearTimeout(timer);
                resolve(c);
            });
            sock.once('error', (e) => {
                clearTimeout(timer);
                reject(e);
            });
            c.attach(sock);
        });
    }

    attach(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.offset = 0; // bytes already returned as responses
        this.closed = false;
        this.error = null;
        this.waiters = new Set();
        const wake = () => {
            for (const w of [...this.waiters]) w();
        };
        sock.on('data', (d) => {
            this.buf = Buffer.concat([this.buf, d]);
            wake();
        });
        sock.on('error', (e) => {
            this.error = e;
        });
        sock.on('close', () => {
            this.closed = true;
            wake();
        });
        sock.on('end', () => {
            this.ended = true;
            wake();
        });
    }

    get localPort() {
        return this.sock.localPort;
    }

    write(data) {
        return new Promise((resolve) => {
            if (this.sock.destroyed) return resolve(false);
            this.sock.write(data, (err) => resolve(!err));
        });
    }

    /** Bytes received and not yet consumed by readResponse(). */
    rest() {
        return this.buf.subarray(this.offset);
    }

    /** Wait until `check()` returns a value (or throws). */
    wait(check, timeout, what) {
        return new Promise((resolve, reject) => {
            const run = () => {
                let r;
                try {
                    r = check();
                } catch (e) {
                    done();
                    reject(e);
                    return;
                }
                if (r !== undefined && r !== null) {
                    done();
                    resolve(r);
                }
            };
            const timer = setTimeout(() => {
                done();
                const got = this.rest().toString('latin1').slice(0, 300);
                reject(new Error(`${what}: timed out after ${timeout} ms (closed=${this.closed}, received ${JSON.stringify(got)})`));
            }, timeout);
            const done = () => {
                clearTimeout(timer);
                this.waiters.delete(run);
            };
            this.waiters.add(run);
            run();
        });
    }

    /**
     * Read the next complete response (1xx included, unless skip1xx).
     * Rejects on timeout, on malformed bytes, or if the connection closes first.
     */
    async readResponse({ method = 'GET', timeout = t(10000), skip1xx = false } = {}) {
        for (;;) {
            const msg = await this.wait(
                () => {
                    const rest = this.rest();
                    const closed = this.closed || this.ended;
                    const m = parseMessage(rest, { method, closed });
                    if (m) return m;
                    if (closed) {
                        const err = new Error(`connection closed before a complete response (got ${JSON.stringify(rest.toString('latin1').slice(0, 300))})`);
                        err.code = 'ECLOSED';
                        throw err;
                    }
                    return null;
                },
                timeout,
                'readResponse',
            );
            this.offset += msg.length;
            if (skip1xx && msg.status < 200) continue;
            return msg;
        }
    }

    /** Resolve true once the peer closed (FIN or RST), false after `timeout`. */
    async waitClose(timeout = t(5000)) {
        try {
            await this.wait(() => (this.closed || this.ended ? true : null), timeout, 'waitClose');
            return true;
        } catch {
            return false;
        }
    }

    destroy() {
        this.sock.destroy();
    }
}

/**
 * Open a connection, write `data` (string/Buffer, or an array written one
 * element at a time), read one response, then wait up to `closeTimeout` for
 * the connection to close (when closeTimeout > 0).
 * Resolves {res, closed, extra (bytes after the response), conn}.
 */
export async function rawExchange(port, data, { method = 'GET', timeout = t(10000), closeTimeout = 0 } = {}) {
    const conn = await RawConn.open(port);
    try {
        for (const part of Array.isArray(data) ? data : [data]) await conn.write(part);
        const res = await conn.readResponse({ method, timeout });
        let closed = conn.closed || conn.ended;
        if (closeTimeout > 0) closed = await conn.waitClose(closeTimeout);
        return { res, closed, extra: conn.rest(), conn };
    } finally {
        if (closeTimeout > 0) conn.destroy();
    }
}

// ---------------------------------------------------------------------------
// HTTP client (node:http)

/**
 * One HTTP request with node:http. Resolves {status, headers, rawHeaders,
 * body (Buffer), text, trailers, socket}. opts: port, method, path, headers,
 * body (string/Buffer), agent (default: a fresh connection), timeout.
 */
export function request({ port, host = '127.0.0.1', method = 'GET', path: p = '/', headers = {}, body, agent = false, timeout = t(15000) } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host, port, method, path: p, headers, agent }, (res) => {
            const chunks = [];
            res.on('data', (d) => chunks.push(d));
            res.on('end', () => {
                const b = Buffer.concat(chunks);
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    rawHeaders: res.rawHeaders,
                    trailers: res.trailers,
                    body: b,
                    text: b.toString('utf8'),
                    socket: res.socket,
                });
            });
            res.on('error', reject);
            res.on('aborted', () => reject(new Error('response aborted')));
        });
        req.setTimeout(timeout, () => req.destroy(new Error(`request ${method} ${p} timed out after ${timeout} ms`)));
        req.on('error', reject);
        if (body !== undefined) req.end(body);
        else req.end();
    });
}

export const get = (port, p, headers = {}, opts = {}) => request({ port, path: p, headers, ...opts });

// ---------------------------------------------------------------------------
// Prometheus text format

/** Parse exposition text into [{name, labels, value}] plus {types} by family. */
export function parseMetrics(text) {
    const samples = [];
    const types = {};
    for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line) continue;
        if (line.startsWith('#')) {
            const m = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
            if (m) types[m[1]] = m[2];
            continue;
        }
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
        if (!m) throw new Error(`bad metrics line: ${JSON.stringify(line)}`);
        const labels = {};
        if (m[3]) {
            const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
            let lm;
            let consumed = 0;
            while ((lm = re.exec(m[3])) !== null) {
                labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
                consumed = re.lastIndex;
            }
            if (m[3].slice(consumed).trim()) throw new Error(`bad labels in ${JSON.stringify(line)}`);
        }
        const v = m[4];
        const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
        if (Number.isNaN(value) && v !== 'NaN') throw new Error(`bad value in ${JSON.stringify(line)}`);
        samples.push({ name: m[1], labels, value });
    }
    samples.types = types;
    return samples;
}

const labelsMatch = (have, want) => Object.entries(want).every(([k, v]) => have[k] === String(v));

/** Samples of `name` whose labels include `labels`. */
export function findSamples(samples, name, labels = {}) {
    return samples.filter((s) => s.name === name && labelsMatch(s.labels, labels));
}

/**
 * The value of the single sample `name{labels}` (labels must match exactly
 * the given set, ignoring none); 0 when absent unless `required`.
 */
export function metric(samples, name, labels = {}, { required = false } = {}) {
    const want = Object.keys(labels).length;
    const hits = samples.filter((s) => s.name === name && labelsMatch(s.labels, labels) && Object.keys(s.labels).length === want);
    if (hits.length > 1) throw new Error(`${hits.length} samples for ${name}${JSON.stringify(labels)}`);
    if (!hits.length) {
        if (required) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
        return 0;
    }
    return hits[0].value;
}

/** Sum of every sample of `name` whose labels include `labels`. */
export function metricSum(samples, name, labels = {}) {
    return findSamples(samples, name, labels).reduce((n, s) => n + s.value, 0);
}

export async function scrape(adminPort) {
    const r = await get(adminPort, '/metrics');
    if (r.status !== 200) throw new Error(`/metrics returned ${r.status}: ${r.text}`);
    const samples = parseMetrics(r.text);
    samples.response = r;
    return samples;
}

// ---------------------------------------------------------------------------
// Misc

export const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes (xorshift32) so failures are reproducible. */
export function prng(n, seed = 0x9e3779b9) {
    const out = Buffer.allocUnsafe(n);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < n; i++) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        out[i] = x & 0xff;
    }
    return out;
}

/** Ensure the binary exists before a suite starts (clear error instead of ENOENT noise). */
export function requireBinary() {
    if (!fs.existsSync(FICUS_BIN)) {
        throw new Error(`ficus binary not found at ${FICUS_BIN} (run make, or set FICUS_BIN)`);
    }
}

/** A standard single-backend setup: route "default" / -> upstream "legacy". */
export function defaultConfig(backend, { limits, workers, log, upstream = {} } = {}) {
    return makeConfig({
        upstreams: { legacy: { servers: [backend.addr], ...upstream } },
        routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        limits,
        workers,
        log,
    });
}
