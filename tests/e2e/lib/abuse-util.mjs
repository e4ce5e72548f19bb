// Helpers for the abuse and upstream-fault suites (60-, 61-): process
// accounting from /proc, raw sockets that collect every byte, an incremental
// response counter for deep pipelines, fast scripted raw backends and a
// chunked upload generator. Node built-in modules only; builds on harness.mjs.
import fs from 'node:fs';
import net from 'node:net';

import { parseMessage, t, withTimeout } from './harness.mjs';

// ---------------------------------------------------------------------------
// /proc accounting

/** VmRSS of `pid` in KiB (throws if the process is gone). */
export function rssKiB(pid) {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for pid ${pid}`);
    return Number(m[1]);
}

/** Bytes `pid` has read with read()/recv() so far (rchar of /proc/PID/io). */
export function readBytes(pid) {
    const m = /^rchar:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    if (!m) throw new Error(`no rchar for pid ${pid}`);
    return Number(m[1]);
}

/** Number of open file descriptors of `pid`. */
export function fdCount(pid) {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Soft "Max open files" of `pid` (default: this process); Infinity if unlimited. */
export function fdSoftLimit(pid = 'self') {
    const m = /^Max open files\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (!m) return 0;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * Samples the RSS of `pid` every `interval` ms until stop(); keeps the
 * baseline (first sample), the maximum and the last value, all in KiB.
 */
export class RssSampler {
    constructor(pid, interval = 50) {
        this.pid = pid;
        this.base = rssKiB(pid);
        this.max = this.base;
        this.last = this.base;
        this.timer = setInterval(() => this.sample(), interval);
    }

    sample() {
        try {
            this.last = rssKiB(this.pid);
            if (this.last > this.max) this.max = this.last;
        } catch {
            /* process gone: the test notices on its own */
        }
    }

    stop() {
        clearInterval(this.timer);
        this.sample();
        return { base: this.base, max: this.max, last: this.last, growth: this.max - this.base };
    }
}

export const MiB = 1024 * 1024;

/**
 * True when `bin` is built with AddressSanitizer. Its quarantine keeps freed
 * memory resident (up to 256 MiB) and its shadow memory adds more, so RSS
 * bounds only hold for normal builds.
 */
export function isAsanBuild(bin) {
    try {
        return fs.readFileSync(bin).includes('__asan_init');
    } catch {
        return false;
    }
}

// ---------------------------------------------------------------------------
// Raw client sockets

/** Connect to 127.0.0.1:`port`; resolves the socket (errors are recorded on sock.lastError). */
export function connect(port, { timeout = t(5000) } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`connect to ${port} timed out`));
        }, timeout);
        sock.once('connect', () => {
            clearTimeout(timer);
            sock.removeListener('error', onError);
            sock.on('error', (e) => (sock.lastError = e));
            resolve(sock);
        });
        const onError = (e) => {
            clearTimeout(timer);
            reject(e);
        };
        sock.once('error', onError);
    });
}

/**
 * Collects every byte a socket receives and notes when it closes.
 * `closedAt` is the Date.now() of 'close' (FIN or RST), null while open.
 */
export class Collector {
    constructor(sock) {
        this.sock = sock;
        this.chunks = [];
        this.length = 0;
        this.closedAt = null;
        this.endedAt = null;
        this.error = null;
        this.waiters = new Set();
        sock.on('data', (d) => {
            this.chunks.push(d);
            this.length += d.length;
            this.wake();
        });
        sock.on('end', () => {
            this.endedAt = Date.now();
            this.wake();
        });
        sock.on('error', (e) => {
            this.error = e;
        });
        sock.on('close', () => {
            this.closedAt = Date.now();
            this.wake();
        });
    }

    wake() {
        for (const w of [...this.waiters]) w();
    }

    get closed() {
        return this.closedAt !== null || this.endedAt !== null;
    }

    bytes() {
        if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
        return this.chunks[0] || Buffer.alloc(0);
    }

    text() {
        return this.bytes().toString('latin1');
    }

    /** Resolve once `pred(this)` is truthy, or reject after `timeout` ms. */
    until(pred, timeout, what) {
        return new Promise((resolve, reject) => {
            const check = () => {
                if (pred(this)) {
                    clearTimeout(timer);
                    this.waiters.delete(check);
                    resolve(true);
                }
            };
            const timer = setTimeout(() => {
                this.waiters.delete(check);
                reject(new Error(`${what}: timed out after ${timeout} ms (closed=${this.closed}, ` +
                    `received ${this.length} bytes: ${JSON.stringify(this.text().slice(0, 200))})`));
            }, timeout);
            this.waiters.add(check);
            check();
        });
    }

    /** Resolve true once the peer closed (FIN or RST), false after `timeout` ms. */
    waitClose(timeout) {
        return this.until((c) => c.closed, timeout, 'close').then(() => true, () => false);
    }
}

/**
 * Open a connection, write `wire` (string, Buffer or array of parts written
 * one after another), then collect everything until the peer closes or
 * `timeout` ms pass. Resolves {data (Buffer), text, closed, ms (to close),
 * res (first parsed response or null), parseError}.
 */
export async function sendCollect(port, wire, { timeout = t(5000) } = {}) {
    const sock = await connect(port);
    const c = new Collector(sock);
    const t0 = Date.now();
    try {
        for (const part of Array.isArray(wire) ? wire : [wire]) {
            if (sock.destroyed) break;
            await new Promise((resolve) => sock.write(part, () => resolve()));
        }
        const closed = await c.waitClose(timeout);
        const data = c.bytes();
        let res = null;
        let parseError = null;
        try {
            res = parseMessage(data, { closed: true });
        } catch (e) {
            parseError = e;
        }
        return { data, text: data.toString('latin1'), closed, ms: closed ? (c.endedAt ?? c.closedAt) - t0 : null, res, parseError };
    } finally {
        sock.destroy();
    }
}

/** Describe bytes for an assertion message. */
export const show = (b, n = 300) => JSON.stringify(String(Buffer.isBuffer(b) ? b.toString('latin1') : b).slice(0, n));

// ---------------------------------------------------------------------------
// Deep pipelines

/**
 * Incrementally parses a stream of HTTP/1.1 responses that all carry a
 * Content-Length (or no body: 1xx, 204, 304). Feed it with push(); each
 * complete response is handed to `onResponse({status, body})`. Throws on
 * anything else (chunked, EOF-delimited, garbage) so a test fails loudly.
 * Keeps only the unparsed tail, so 100,000 responses cost O(total bytes).
 */
export class ResponseStream {
    constructor(onResponse) {
        this.onResponse = onResponse;
        this.tail = Buffer.alloc(0);
        this.count = 0;
    }

    push(chunk) {
        let buf = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
        let pos = 0;
        for (;;) {
            const he = buf.indexOf('\r\n\r\n', pos, 'latin1');
            if (he < 0) break;
            const head = buf.toString('latin1', pos, he);
            const m = /^HTTP\/1\.[01] (\d{3})[^\r]*/.exec(head);
            if (!m) throw new Error(`bad response head #${this.count}: ${show(head)}`);
            const status = Number(m[1]);
            if (/\r\ntransfer-encoding:/i.test(head)) throw new Error(`unexpected chunked response #${this.count}: ${show(head)}`);
            const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
            let n = 0;
            if (cl) n = Number(cl[1]);
            else if (!(status < 200 || status === 204 || status === 304)) {
                throw new Error(`response #${this.count} has no Content-Length: ${show(head)}`);
            }
            const bodyAt = he + 4;
            if (buf.length < bodyAt + n) break;
            const body = buf.subarray(bodyAt, bodyAt + n);
            pos = bodyAt + n;
            this.count++;
            this.onResponse({ status, head, body });
        }
        this.tail = Buffer.from(buf.subarray(pos));
    }
}

// ---------------------------------------------------------------------------
// Backends

/**
 * A fast raw backend for bodyless requests: answers every request with 200
 * and the request target as body, records the targets in order and the
 * connection count. Requests with a body make it drop the connection.
 */
export async function startEchoTargetBackend() {
    const b = {
        targets: [],
        connections: 0,
        sockets: new Set(),
        async close() {
            for (const s of this.sockets) s.destroy();
            await new Promise((r) => server.close(() => r()));
        },
    };
    const server = net.createServer((sock) => {
        b.connections++;
        b.sockets.add(sock);
        sock.on('close', () => b.sockets.delete(sock));
        sock.on('error', () => {});
        let pending = '';
        sock.setEncoding('latin1');
        sock.on('data', (d) => {
            pending += d;
            let out = '';
            let pos = 0;
            for (;;) {
                const he = pending.indexOf('\r\n\r\n', pos);
                if (he < 0) break;
                const head = pending.slice(pos, he);
                if (/\r\n(content-length:[ \t]*[1-9]|transfer-encoding:)/i.test(head)) {
                    sock.destroy();
                    return;
                }
                const target = head.slice(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1));
                b.targets.push(target);
                out += `HTTP/1.1 200 OK\r\nContent-Length: ${target.length}\r\n\r\n${target}`;
                pos = he + 4;
            }
            pending = pending.slice(pos);
            if (out) sock.write(out, 'latin1');
        });
    });
    b.server = server;
    await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
    b.port = server.address().port;
    b.addr = `127.0.0.1:${b.port}`;
    return b;
}

/**
 * A raw backend scripted per request. `script(ctx)` is called for every
 * complete request head with ctx = {sock, conn (0-based connection index),
 * seq (request number on this connection), method, target, head, body
 * (bytes after the head received so far)}. Records {conn, seq, method,
 * target} in b.requests and the connection count in b.connections.
 */
export async function startScriptedBackend(script) {
    const b = {
        requests: [],
        connections: 0,
        sockets: new Set(),
        script,
        async close() {
            for (const s of this.sockets) s.destroy();
            await new Promise((r) => server.close(() => r()));
        },
    };
    const server = net.createServer((sock) => {
        const conn = b.connections++;
        b.sockets.add(sock);
        sock.on('close', () => b.sockets.delete(sock));
        sock.on('error', () => {});
        let buf = Buffer.alloc(0);
        let seq = 0;
        let skip = 0; // body bytes of the current request still to discard
        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            for (;;) {
                if (skip > 0) {
                    const n = Math.min(skip, buf.length);
                    buf = buf.subarray(n);
                    skip -= n;
                    if (skip > 0) return;
                }
                const he = buf.indexOf('\r\n\r\n');
                if (he < 0) return;
                const head = buf.toString('latin1', 0, he);
                const [method, target] = head.split(' ');
                const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
                const bodyLen = cl ? Number(cl[1]) : 0;
                buf = buf.subarray(he + 4);
                const body = buf.subarray(0, Math.min(bodyLen, buf.length));
                skip = bodyLen;
                const rec = { conn, seq: seq++, method, target, head, bodyLen };
                b.requests.push(rec);
                b.script({ ...rec, sock, body, b });
                if (sock.destroyed) return;
            }
        });
    });
    b.server = server;
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    b.port = server.address().port;
    b.addr = `127.0.0.1:${b.port}`;
    return b;
}

// ---------------------------------------------------------------------------
// Bodies

/**
 * Yields the wire form of a chunked body of `total` bytes in chunks of
 * `chunkSize` (the same payload buffer is reused), then the last chunk.
 */
export function* chunkedBody(total, payload) {
    const size = payload.length;
    const line = Buffer.from(`${size.toString(16)}\r\n`);
    const crlf = Buffer.from('\r\n');
    let left = total;
    while (left >= size) {
        yield line;
        yield payload;
        yield crlf;
        left -= size;
    }
    if (left > 0) {
        yield Buffer.from(`${left.toString(16)}\r\n`);
        yield payload.subarray(0, left);
        yield crlf;
    }
    yield Buffer.from('0\r\n\r\n');
}

/**
 * Write every buffer of the iterable `gen` to `sock`, waiting for 'drain'
 * when the socket buffer is full. Resolves the byte count written; rejects
 * if the socket closes or errors first.
 */
export async function pump(sock, gen) {
    let n = 0;
    for (const part of gen) {
        if (sock.destroyed) throw new Error(`socket closed after ${n} bytes`);
        n += part.length;
        if (!sock.write(part)) {
            await new Promise((resolve, reject) => {
                const done = (e) => {
                    sock.off('drain', onDrain);
                    sock.off('close', onClose);
                    if (e) reject(e);
                    else resolve();
                };
                const onDrain = () => done();
                const onClose = () => done(new Error(`socket closed after ${n} bytes`));
                sock.on('drain', onDrain);
                sock.on('close', onClose);
            });
        }
    }
    return n;
}

export { withTimeout };
