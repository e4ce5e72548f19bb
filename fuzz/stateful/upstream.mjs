// The misbehaving test upstream of the stateful fuzzer: a raw TCP server
// that parses what Ficus forwards strictly (any framing error, forwarded
// hop-by-hop header, chunk extension, mixed-up id or request that should
// never have been forwarded is a violation) and answers each request as its
// plan says. Every answer names the request id in a header and in the body.
import net from 'node:net';

import { makeRng, okResponse, poison, sum } from './scenario.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function hash32(s) {
    let x = 0x811c9dc5;
    for (const ch of s) x = Math.imul(x ^ ch.charCodeAt(0), 16777619) >>> 0;
    return x;
}

/** A foreign id: the same request position on another connection. */
const otherId = (id) => id.replace(/c(\d+)r/, (_, n) => `c${Number(n) + 1}r`);

/**
 * Start one upstream. `ctx.registry` maps id -> request (with .plan) for the
 * current execution; `ctx.violations` collects protocol violations;
 * `routes` are the route letters this upstream may receive.
 */
export async function startUpstream(name, routes, ctx) {
    const up = { name, attempts: new Map(), sockets: new Set(), connections: 0 };
    const violation = (what, detail) => ctx.violations.push(`upstream ${name}: ${what}${detail ? `: ${detail}` : ''}`);
    const server = net.createServer((sock) => {
        up.connections++;
        up.sockets.add(sock);
        sock.on('close', () => up.sockets.delete(sock));
        sock.on('error', () => {});
        let buf = Buffer.alloc(0);
        let cur = null; // request being received
        let dead = false; // closed on purpose, ignore the rest
        let queue = Promise.resolve();

        const send = (fn) => {
            queue = queue.then(fn).catch(() => {});
        };

        const finishHead = (head) => {
            const lines = head.split('\r\n');
            const m = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(lines[0]);
            if (!m) {
                violation('bad request line', JSON.stringify(lines[0].slice(0, 120)));
                return null;
            }
            const r = { method: m[1], target: m[2], headers: [], parts: [], trailers: [] };
            for (const l of lines.slice(1)) {
                const i = l.indexOf(':');
                if (i <= 0 || !TOKEN.test(l.slice(0, i)) || /[\0\r\n]/.test(l)) {
                    violation('bad header line', JSON.stringify(l.slice(0, 120)));
                    return null;
                }
                r.headers.push([l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]);
            }
            r.get = (n) => r.headers.filter(([k]) => k === n).map(([, v]) => v);
            const cl = r.get('content-length');
            const te = r.get('transfer-encoding');
            if (cl.length > 1 || te.length > 1 || (cl.length && te.length)) violation('ambiguous framing forwarded', head.slice(0, 200));
            if (te.length && te[0].toLowerCase() !== 'chunked') violation('odd Transfer-Encoding forwarded', te[0]);
            if (cl.length && !/^\d+$/.test(cl[0])) violation('bad Content-Length forwarded', cl[0]);
            r.mode = te.length ? 'chunked' : cl.length ? 'cl' : 'none';
            r.left = cl.length ? Number(cl[0]) : 0;
            if (r.mode === 'cl' && r.left === 0) r.mode = 'none';
            for (const h of ['connection', 'expect', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) {
                // Shadow copies carry X-Ficus-Shadow and Connection: close (docs/configuration.md).
                const own = h === 'connection' && r.get('x-ficus-shadow').length && r.get(h).join() === 'close';
                if (r.get(h).length && !own) violation(`hop-by-hop header ${h} forwarded`, `${r.target} ${h}: ${r.get(h)}`);
            }
            if (r.get('host').length !== 1) violation('Host count', String(r.get('host').length));
            const pm = /^\/([a-z])\/(q[0-9a-f]{8}c\d+([rs])\d+z)(\?.*)?$/.exec(r.target);
            if (!pm) {
                violation('unexpected target', r.target);
                return r;
            }
            r.id = pm[2];
            if (pm[3] === 's') violation('a request smuggled inside another reached the upstream', r.id);
            if (!routes.includes(pm[1])) violation(`route /${pm[1]}/ reached the wrong upstream`, r.id);
            const xr = r.get('x-req');
            if (xr.length !== 1 || xr[0] !== r.id) violation('X-Req does not match the path', `${r.id} vs ${xr}`);
            r.spec = ctx.registry.get(r.id);
            if (r.spec) {
                if (r.spec.afterClose) violation('request after a closing one on the same client connection was forwarded', r.id);
                if (r.spec.malformed?.where === 'head') violation(`malformed request (${r.spec.malformed.kind}) was forwarded`, r.id);
                if (r.spec.method !== r.method) violation('method changed', `${r.spec.method} -> ${r.method}`);
            }
            return r;
        };

        // Parse chunked framing at buf; returns false when more bytes are needed.
        const stepChunked = () => {
            for (;;) {
                if (cur.trailerMode) {
                    const le = buf.indexOf('\r\n');
                    if (le < 0) return false;
                    const line = buf.toString('latin1', 0, le);
                    buf = buf.subarray(le + 2);
                    if (line === '') return true;
                    const i = line.indexOf(':');
                    if (i <= 0) violation('bad trailer line forwarded', JSON.stringify(line));
                    cur.trailers.push([line.slice(0, i).toLowerCase(), line.slice(i + 1).trim()]);
                    continue;
                }
                if (cur.chunkLeft > 0) {
                    const n = Math.min(cur.chunkLeft, buf.length);
                    if (n === 0) return false;
                    cur.parts.push(buf.subarray(0, n));
                    buf = buf.subarray(n);
                    cur.chunkLeft -= n;
                    if (cur.chunkLeft > 0) return false;
                    cur.needCrlf = true;
                }
                if (cur.needCrlf) {
                    if (buf.length < 2) return false;
                    if (buf[0] !== 13 || buf[1] !== 10) {
                        violation('chunk data not followed by CRLF', cur.id);
                        dead = true;
                        return false;
                    }
                    buf = buf.subarray(2);
                    cur.needCrlf = false;
                }
                const le = buf.indexOf('\r\n');
                if (le < 0) {
                    if (buf.length > 64) violation('overlong chunk size line', cur.id);
                    return false;
                }
                const line = buf.toString('latin1', 0, le);
                buf = buf.subarray(le + 2);
                if (!/^[0-9a-fA-F]{1,8}$/.test(line)) {
                    violation('chunk size line forwarded with extension or junk', JSON.stringify(line));
                    dead = true;
                    return false;
                }
                const size = parseInt(line, 16);
                if (size === 0) cur.trailerMode = true;
                else cur.chunkLeft = size;
            }
        };

        const onComplete = (r) => {
            const body = Buffer.concat(r.parts);
            r.gotSum = sum(body);
            if (r.spec) {
                if (r.spec.malformed) violation(`request with a malformed body (${r.spec.malformed.kind}) completed at the upstream`, r.id);
                else if (r.gotSum !== r.spec.bodySum) violation('request body altered', `${r.id}: ${body.length} bytes, sent ${r.spec.body.length}`);
                for (const [k, v] of r.trailers) if (k === 'x-req-trailer' && v !== r.id) violation('foreign trailer', `${r.id} got ${v}`);
            }
            if (!r.answered) answer(r, false);
        };

        const answer = (r, early) => {
            r.answered = true;
            const spec = r.spec;
            if (!spec) {
                // Stale request from an earlier execution: a plain answer.
                const b = Buffer.from(`resp-${r.id}:stale`);
                send(() => sock.write(`HTTP/1.1 200 OK\r\nX-Echo-Id: ${r.id}\r\nContent-Length: ${b.length}\r\n\r\n${b}`));
                return;
            }
            const attempt = (up.attempts.get(r.id) || 0) + 1;
            up.attempts.set(r.id, attempt);
            const plan = spec.plan;
            const rng = makeRng(hash32(`${r.id}/${attempt}`));
            const req = { method: r.method, gotSum: r.gotSum };
            const end = (rst) => {
                dead = true;
                if (rst) sock.resetAndDestroy();
                else sock.end();
            };
            let kind = plan.kind;
            if (kind === 'close_silent' && plan.firstOnly && attempt > 1) kind = 'ok';
            switch (kind) {
            case 'ok': {
                const bytes = okResponse(rng, r.id, req, plan, { early });
                // The poison goes out in the same write as the last byte of the answer:
                // excess arriving later on an idle pooled connection cannot be told from
                // the answer to the next request by any proxy.
                const tail = plan.garbage ? Buffer.from(poison(otherId(r.id))) : null;
                const closeAfter = plan.upClose || plan.mode === 'eof';
                if (closeAfter) dead = true;
                send(async () => {
                    if (plan.delay) await sleep(plan.delay);
                    const cuts = [];
                    for (let i = 1; i < plan.pieces; i++) cuts.push(rng.int(bytes.length));
                    cuts.sort((a, b) => a - b);
                    let prev = 0;
                    for (const c of [...cuts, bytes.length]) {
                        if (sock.destroyed) return;
                        const piece = bytes.subarray(prev, c);
                        if (c === bytes.length && tail) sock.write(Buffer.concat([piece, tail]));
                        else if (c > prev) sock.write(piece);
                        prev = c;
                        if (plan.pieceDelay && c < bytes.length) await sleep(plan.pieceDelay);
                    }
                    if (closeAfter) sock.end();
                });
                break;
            }
            case 'close_silent':
                end(plan.rst);
                break;
            case 'mid_head': {
                const head = okResponse(rng, r.id, req, { ...plan, interim: [], mode: 'cl' });
                const headLen = head.indexOf('\r\n\r\n') + 2;
                const n = 1 + Math.floor(plan.cut * (headLen - 1));
                dead = true;
                send(async () => {
                    sock.write(head.subarray(0, n));
                    await sleep(2);
                    end(plan.rst);
                });
                break;
            }
            case 'bad_status': {
                const lines = ['HTTP/1.1 2OO OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1200 OK',
                    'HTTX/1.1 200 OK', 'HTTP/1.1 200 O\0K', '', 'HTTP/1.1 200 OK\r\nNoColonHere'];
                dead = true;
                send(() => sock.end(`${lines[plan.variant]}\r\nX-Echo-Id: ${r.id}\r\nContent-Length: 2\r\n\r\nok`));
                break;
            }
            case 's101':
                dead = true;
                send(async () => {
                    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nX-Echo-Id: ${r.id}\r\n\r\n${poison(otherId(r.id))}`);
                    await sleep(20);
                    if (!sock.destroyed) sock.end(poison(otherId(r.id)));
                });
                break;
            case 'framing': {
                const P = poison(otherId(r.id));
                const E = `X-Echo-Id: ${r.id}\r\n`;
                const v = [
                    `HTTP/1.1 200 OK\r\n${E}Content-Length: 5\r\nConnection: Content-Length\r\n\r\nhello${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Transfer-Encoding: chunked\r\nConnection: keep-alive, transfer-encoding\r\n\r\n5\r\nhello\r\n0\r\n\r\n${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Content-Length: 5\r\nContent-Length: 50\r\n\r\nhello${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Content-Length: +5\r\n\r\nhello${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${P}`,
                    `HTTP/1.1 200 OK\r\n${E}Content-Length: 5\r\nConnection: host\r\n\r\nhello${P}`,
                ][plan.variant];
                send(() => sock.write(v)); // kept open: a proxy that pools it hands out the poison
                break;
            }
            case 'trunc': {
                const full = okResponse(rng, r.id, req, { ...plan, interim: [], garbage: false, upClose: false });
                const headLen = full.indexOf('\r\n\r\n') + 4;
                const bodyLen = full.length - headLen;
                // Content-Length: stop short of the end; chunked: before the last chunk.
                const room = plan.mode === 'chunked' ? bodyLen - 5 : bodyLen;
                const n = headLen + Math.floor(plan.cut * Math.max(0, room));
                dead = true;
                send(async () => {
                    sock.write(full.subarray(0, n));
                    await sleep(plan.delay ? 5 : 0);
                    end(plan.rst);
                });
                break;
            }
            case 'hang':
                break;
            default:
                violation('unknown plan', kind);
            }
        };

        sock.on('data', (d) => {
            if (dead) return;
            buf = buf.length ? Buffer.concat([buf, d]) : d;
            while (!dead) {
                if (cur === null) {
                    const he = buf.indexOf('\r\n\r\n');
                    if (he < 0) {
                        if (buf.length > 1 << 20) violation('request head over 1 MiB');
                        return;
                    }
                    const head = buf.toString('latin1', 0, he);
                    buf = buf.subarray(he + 4);
                    cur = finishHead(head);
                    if (cur === null) {
                        dead = true;
                        sock.destroy();
                        return;
                    }
                    if (cur.spec?.plan.early && cur.spec.plan.kind === 'ok' && cur.mode !== 'none') answer(cur, true);
                }
                let complete = false;
                if (cur.mode === 'none') {
                    complete = true;
                } else if (cur.mode === 'cl') {
                    const n = Math.min(cur.left, buf.length);
                    cur.parts.push(buf.subarray(0, n));
                    buf = buf.subarray(n);
                    cur.left -= n;
                    complete = cur.left === 0;
                } else {
                    complete = stepChunked();
                }
                if (!complete) return;
                const r = cur;
                cur = null;
                onComplete(r);
            }
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    up.server = server;
    up.addr = `127.0.0.1:${server.address().port}`;
    up.close = async () => {
        for (const s of up.sockets) s.destroy();
        await new Promise((r) => server.close(() => r()));
    };
    return up;
}
