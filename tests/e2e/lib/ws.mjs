// A minimal RFC 6455 WebSocket framer for the e2e tests (Node 20 has no
// WebSocket client): the opening handshake over a raw socket, frames with
// 7/16/64-bit lengths, masking (client to server), fragmentation on
// receive, ping/pong and the close handshake. Plus an echo server on
// node:http's 'upgrade' event. Node built-in modules only.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

export const acceptKey = (key) => createHash('sha1').update(key + GUID).digest('base64');

/** One frame as bytes; `mask` (client frames) XORs the payload with 4 random bytes. */
export function encodeFrame(opcode, payload = Buffer.alloc(0), { mask = false, fin = true } = {}) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const n = data.length;
    const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
    const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = (mask ? 0x80 : 0) | (ext === 0 ? n : ext === 2 ? 126 : 127);
    if (ext === 2) head.writeUInt16BE(n, 2);
    if (ext === 8) head.writeBigUInt64BE(BigInt(n), 2);
    if (!mask) return Buffer.concat([head, data]);
    const key = randomBytes(4);
    key.copy(head, 2 + ext);
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = data[i] ^ key[i & 3];
    return Buffer.concat([head, out]);
}

/**
 * Incremental frame parser: push() bytes, get complete frames back as
 * { fin, opcode, payload } (unmasked). Throws on a frame over `max` bytes.
 */
export class FrameParser {
    constructor({ max = 64 * 1024 * 1024 } = {}) {
        this.buf = Buffer.alloc(0);
        this.max = max;
    }

    push(chunk) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
        const frames = [];
        for (;;) {
            const b = this.buf;
            if (b.length < 2) break;
            let len = b[1] & 0x7f;
            let off = 2;
            if (len === 126) {
                if (b.length < 4) break;
                len = b.readUInt16BE(2);
                off = 4;
            } else if (len === 127) {
                if (b.length < 10) break;
                len = Number(b.readBigUInt64BE(2));
                off = 10;
            }
            if (len > this.max) throw new Error(`frame of ${len} bytes over the limit`);
            const masked = (b[1] & 0x80) !== 0;
            const keyOff = off;
            if (masked) off += 4;
            if (b.length < off + len) break;
            let payload = Buffer.from(b.subarray(off, off + len));
            if (masked) {
                for (let i = 0; i < len; i++) payload[i] ^= b[keyOff + (i & 3)];
            }
            frames.push({ fin: (b[0] & 0x80) !== 0, opcode: b[0] & 0x0f, masked, payload });
            this.buf = b.subarray(off + len);
        }
        return frames;
    }
}

/**
 * One WebSocket endpoint over a socket: `client` endpoints mask their
 * frames. Messages (fragments joined) are queued for next(); pings are
 * answered with pongs automatically (and recorded in `pings`); a received
 * close is answered once and recorded in `closeFrame`.
 */
export class WsEndpoint {
    constructor(sock, { client, head = Buffer.alloc(0) } = {}) {
        this.sock = sock;
        this.client = client;
        this.parser = new FrameParser();
        this.queue = [];
        this.waiters = [];
        this.pings = [];
        this.pongs = [];
        this.closeFrame = null;
        this.closeSent = false;
        this.ended = false;
        this.frag = null;
        this.closed = new Promise((resolve) => {
            const done = () => {
                this.ended = true;
                this.flushWaiters();
                resolve();
            };
            sock.once('close', done);
        });
        sock.on('data', (d) => this.onData(d));
        sock.on('error', () => {});
        if (head.length) this.onData(head);
    }

    onData(d) {
        let frames;
        try {
            frames = this.parser.push(d);
        } catch (e) {
            this.sock.destroy(e);
            return;
        }
        for (const f of frames) this.onFrame(f);
    }

    onFrame(f) {
        if (f.masked === this.client) {
            // RFC 6455 5.1: a client never receives masked frames, a server only masked ones.
            this.protocolError = `masked=${f.masked} frame received by a ${this.client ? 'client' : 'server'}`;
        }
        switch (f.opcode) {
        case OP.PING:
            this.pings.push(f.payload);
            if (!this.closeSent) this.sendFrame(OP.PONG, f.payload);
            return;
        case OP.PONG:
            this.pongs.push(f.payload);
            this.flushWaiters();
            return;
        case OP.CLOSE:
            this.closeFrame = {
                code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005,
                reason: f.payload.subarray(2).toString(),
            };
            if (!this.closeSent) this.sendFrame(OP.CLOSE, f.payload.subarray(0, 2));
            this.closeSent = true;
            if (!this.client) this.sock.end(); // the server closes the TCP connection first
            this.flushWaiters();
            return;
        case OP.CONT:
            if (!this.frag) return;
            this.frag.parts.push(f.payload);
            if (f.fin) {
                this.deliver(this.frag.opcode, Buffer.concat(this.frag.parts));
                this.frag = null;
            }
            return;
        default:
            if (!f.fin) {
                this.frag = { opcode: f.opcode, parts: [f.payload] };
                return;
            }
            this.deliver(f.opcode, f.payload);
        }
    }

    deliver(opcode, data) {
        const msg = { opcode, data, text: opcode === OP.TEXT ? data.toString() : undefined };
        this.queue.push(msg);
        this.flushWaiters();
    }

    flushWaiters() {
        const w = this.waiters;
        this.waiters = [];
        for (const fn of w) fn();
    }

    sendFrame(opcode, payload, opts = {}) {
        if (this.sock.destroyed || this.sock.writableEnded) return false;
        return this.sock.write(encodeFrame(opcode, payload, { mask: this.client, ...opts }));
    }

    send(data) {
        return typeof data === 'string' ? this.sendFrame(OP.TEXT, data) : this.sendFrame(OP.BINARY, data);
    }

    ping(data = '') {
        return this.sendFrame(OP.PING, data);
    }

    close(code = 1000, reason = '') {
        const p = Buffer.alloc(2 + Buffer.byteLength(reason));
        p.writeUInt16BE(code, 0);
        p.write(reason, 2);
        this.sendFrame(OP.CLOSE, p);
        this.closeSent = true;
    }

    /** Wait until `pred()` is true (re-checked on every frame and at close). */
    async until(pred, timeout, what) {
        const deadline = Date.now() + timeout;
        while (!pred()) {
            if (this.ended && !pred()) throw new Error(`connection closed while waiting for ${what}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
            await new Promise((resolve) => {
                const timer = setTimeout(resolve, left);
                this.waiters.push(() => {
                    clearTimeout(timer);
                    resolve();
                });
            });
        }
    }

    /** The next data message ({opcode, data, text}). */
    async next(timeout = 5000) {
        await this.until(() => this.queue.length > 0, timeout, 'a message');
        return this.queue.shift();
    }
}

/**
 * Open a WebSocket through `port` (the opening handshake on a raw socket).
 * Resolves { ws, status, headers, raw } once the response head arrived; `ws`
 * is set only for a 101 whose Sec-WebSocket-Accept is right. `tlsOpts`
 * (tls.connect options) opens the connection with TLS.
 */
export function wsConnect(port, path = '/', { headers = {}, host = '127.0.0.1', timeout = 5000, protocolHeader = 'websocket', tlsOpts = null } = {}) {
    return new Promise((resolve, reject) => {
        const key = randomBytes(16).toString('base64');
        const sock = tlsOpts ? tls.connect({ host, port, ...tlsOpts }) : net.connect(port, host);
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`websocket handshake timed out after ${timeout} ms`));
        }, timeout);
        let buf = Buffer.alloc(0);
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        sock.on(tlsOpts ? 'secureConnect' : 'connect', () => {
            sock.write(`GET ${path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: ${protocolHeader}\r\n`
                + `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
        });
        const onData = (d) => {
            buf = Buffer.concat([buf, d]);
            const end = buf.indexOf('\r\n\r\n');
            if (end < 0) return;
            clearTimeout(timer);
            sock.off('data', onData);
            const head = buf.subarray(0, end).toString('latin1');
            const rest = buf.subarray(end + 4);
            const lines = head.split('\r\n');
            const status = Number(lines[0].split(' ')[1]);
            const hdrs = {};
            for (const l of lines.slice(1)) {
                const i = l.indexOf(':');
                const k = l.slice(0, i).trim().toLowerCase();
                const v = l.slice(i + 1).trim();
                hdrs[k] = hdrs[k] !== undefined ? `${hdrs[k]}, ${v}` : v;
            }
            let ws = null;
            if (status === 101 && hdrs['sec-websocket-accept'] === acceptKey(key)) {
                ws = new WsEndpoint(sock, { client: true, head: rest });
            } else {
                sock.on('data', () => {});
            }
            resolve({ ws, status, headers: hdrs, raw: head, rest, sock });
        };
        sock.on('data', onData);
        sock.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
    });
}

/**
 * A WebSocket echo server on 127.0.0.1 port 0 (node:http 'upgrade' event):
 * text and binary messages are echoed, pings answered, a close echoed.
 * `onUpgrade(req, ws)` may replace the echo; `beforeAccept(req, sock)` may
 * answer the handshake itself (return true). Plain requests get 200 with
 * the server's name. `upgrades` records each upgrade request's headers.
 */
export async function startWsServer(name = 'ws', { onUpgrade, beforeAccept } = {}) {
    const server = http.createServer((req, res) => {
        res.setHeader('x-backend', name);
        res.end(`plain ${name}\n`);
    });
    const s = { name, upgrades: [], peers: new Set(), server };
    server.on('upgrade', (req, sock, head) => {
        s.upgrades.push({ url: req.url, headers: req.headers });
        if (beforeAccept && beforeAccept(req, sock)) return;
        const key = req.headers['sec-websocket-key'];
        sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            + `Sec-WebSocket-Accept: ${acceptKey(key)}\r\nX-Backend: ${name}\r\n\r\n`);
        const ws = new WsEndpoint(sock, { client: false, head });
        s.peers.add(ws);
        ws.closed.then(() => s.peers.delete(ws));
        if (onUpgrade) {
            onUpgrade(req, ws);
            return;
        }
        const orig = ws.deliver.bind(ws);
        ws.deliver = (opcode, data) => {
            orig(opcode, data);
            ws.queue.shift();
            ws.sendFrame(opcode, data);
        };
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    s.port = server.address().port;
    s.addr = `127.0.0.1:${s.port}`;
    s.close = async () => {
        for (const p of s.peers) p.sock.destroy();
        server.closeAllConnections?.();
        await new Promise((resolve) => server.close(() => resolve()));
    };
    return s;
}
