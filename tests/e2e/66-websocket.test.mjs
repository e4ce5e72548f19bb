// 66-: WebSocket and HTTP Upgrade tunnels (issue 13, first half): an
// allowed Upgrade is forwarded, a valid 101 turns both connections into a
// byte tunnel (bounded buffers, half-close, idle timeout, metrics, an
// access-log line at the end); a 101 nobody asked for is a 502; h2c is not
// tunnelled; migration picks the side of the upgrade request; operators
// close tunnels with `ficus ctl tunnels close`. Real WebSocket client and
// server (tests/e2e/lib/ws.mjs, RFC 6455).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, SANITIZED, get, makeConfig, metric, onRawRequests, prng, requireBinary, scrape,
    sha256, startRawBackend, t, waitFor, withTimeout,
} from './lib/harness.mjs';
import { rssKiB } from './lib/abuse-util.mjs';
import { ctl, migConfig, startMig, TOKENS } from './lib/migration-util.mjs';
import { OP, encodeFrame, startWsServer, wsConnect } from './lib/ws.mjs';

const running = new Set();
const servers = new Set();

async function start(cfg, opts) {
    const f = await Ficus.start(cfg, opts);
    running.add(f);
    return f;
}

async function wsServer(name, opts) {
    const s = await startWsServer(name, opts);
    servers.add(s);
    return s;
}

before(() => requireBinary());

after(async () => {
    for (const f of running) await f.stop();
    for (const s of servers) await s.close().catch(() => {});
});

const LIMITS = { drain_timeout: '1s' };
const route = (to, extra = {}) => [{ name: 'chat', match: { path_prefix: '/' }, to, ...extra }];
const tunnelsActive = async (f, labels = { route: 'chat' }) => {
    const s = await scrape(f.adminPort);
    return s.filter((x) => x.name === 'ficus_tunnels_active'
        && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
        .reduce((a, x) => a + x.value, 0);
};

describe('websocket through a plain route', { timeout: t(60000) }, () => {
    let f;
    let app;

    before(async () => {
        app = await wsServer('app');
        f = await start(makeConfig({ upstreams: { app }, routes: route('app'), limits: LIMITS }));
    });

    test('echo: text and binary messages, headers forwarded with Connection: upgrade', async () => {
        const r = await wsConnect(f.port, '/chat?room=1', { headers: { 'Sec-WebSocket-Protocol': 'chat' } });
        assert.equal(r.status, 101, r.raw);
        assert.ok(r.ws, `bad Sec-WebSocket-Accept in ${r.raw}`);
        assert.match(r.headers.connection, /upgrade/i);
        assert.equal(r.headers.upgrade, 'websocket');
        assert.equal(r.headers['x-backend'], 'app');
        const up = app.upgrades.at(-1);
        assert.equal(up.url, '/chat?room=1');
        assert.equal(up.headers.upgrade, 'websocket');
        assert.match(up.headers.connection, /^upgrade$/i);
        assert.equal(up.headers['sec-websocket-protocol'], 'chat');
        assert.equal(up.headers['sec-websocket-version'], '13');
        r.ws.send('hello');
        assert.equal((await r.ws.next()).text, 'hello');
        const bin = Buffer.from([0, 1, 2, 255]);
        r.ws.send(bin);
        const m = await r.ws.next();
        assert.equal(m.opcode, OP.BINARY);
        assert.deepEqual(m.data, bin);
        r.ws.close(1000, 'bye');
        await r.ws.until(() => r.ws.closeFrame, t(5000), 'close echo');
        assert.equal(r.ws.closeFrame.code, 1000);
        await r.ws.closed;
        assert.equal(r.ws.protocolError, undefined);
    });

    test('large messages (1 MiB and 5 MiB) both ways are intact', async () => {
        const r = await wsConnect(f.port, '/big');
        assert.ok(r.ws);
        for (const n of [1 << 20, 5 << 20]) {
            const data = prng(n, n);
            r.ws.send(data);
            const m = await r.ws.next(t(20000));
            assert.equal(m.data.length, n);
            assert.equal(sha256(m.data), sha256(data));
        }
        r.ws.close();
        await r.ws.closed;
    });

    test('ping gets a pong through the tunnel; the close handshake completes', async () => {
        const r = await wsConnect(f.port, '/ping');
        r.ws.ping('are-you-there');
        await r.ws.until(() => r.ws.pongs.length > 0, t(5000), 'pong');
        assert.equal(r.ws.pongs[0].toString(), 'are-you-there');
        const since = f.accessLog().length;
        r.ws.close(1000);
        await r.ws.until(() => r.ws.closeFrame, t(5000), 'close reply');
        await r.ws.closed;
        const line = await f.waitAccess((l) => l.path === '/ping', { since });
        assert.equal(line.status, 101);
        assert.equal(line.error, null, JSON.stringify(line));
        // A ping frame (13 + 6 bytes of header and mask) and a close frame went up.
        assert.ok(line.bytes_in > 19, JSON.stringify(line));
        assert.ok(line.bytes_out > 0, JSON.stringify(line));
    });
});

describe('tunnel lifecycle: upstream failure, idle timeout, metrics', { timeout: t(60000) }, () => {
    let f;
    let app;

    before(async () => {
        app = await wsServer('app', {
            onUpgrade(req, ws) {
                const orig = ws.deliver.bind(ws);
                ws.deliver = (opcode, data) => {
                    orig(opcode, data);
                    ws.queue.shift();
                    if (opcode === OP.TEXT && data.toString() === 'die') {
                        ws.sock.destroy(); // the upstream process goes away mid-stream
                        return;
                    }
                    ws.sendFrame(opcode, data);
                };
            },
        });
        f = await start(makeConfig({
            upstreams: { app }, routes: route('app'), limits: LIMITS, extra: { timeouts: { tunnel: '1s' } },
        }));
    });

    test('upstream dies mid-stream: the client sees the connection close', async () => {
        const r = await wsConnect(f.port, '/die');
        r.ws.send('first');
        assert.equal((await r.ws.next()).text, 'first');
        const since = f.accessLog().length;
        r.ws.send('die');
        await withTimeout(r.ws.closed, t(5000), 'client close after the upstream died');
        // Both sides closed in order (the upstream's FIN was passed on, the
        // client answered with its own): no error, the bytes of both messages.
        const line = await f.waitAccess((l) => l.path === '/die', { since });
        assert.equal(line.status, 101);
        assert.equal(line.error, null, JSON.stringify(line));
        assert.equal(await tunnelsActive(f), 0);
    });

    test('an idle tunnel is closed after timeouts.tunnel; traffic keeps it open', async () => {
        const busy = await wsConnect(f.port, '/busy');
        const idle = await wsConnect(f.port, '/idle');
        const t0 = Date.now();
        const since = f.accessLog().length;
        for (let i = 0; i < 8; i++) { // 2 s of traffic, one ping every 250 ms
            busy.ws.ping(`p${i}`);
            await new Promise((r) => setTimeout(r, 250));
        }
        await withTimeout(idle.ws.closed, t(3000), 'idle tunnel close');
        const took = Date.now() - t0;
        assert.ok(took >= 900, `closed after ${took} ms, before timeouts.tunnel (1s)`);
        assert.equal(busy.ws.ended, false, 'a tunnel with traffic must stay open');
        assert.equal(busy.ws.pongs.length >= 7, true, `pongs: ${busy.ws.pongs.length}`);
        const line = await f.waitAccess((l) => l.path === '/idle', { since });
        assert.equal(line.error, 'tunnel_idle_timeout');
        assert.ok(line.duration_us >= 900000, JSON.stringify(line));
        busy.ws.close();
        await busy.ws.closed;
    });

    test('ficus_tunnels_active and ficus_tunnel_bytes_total count exact bytes each way', async () => {
        // The tunnels of the earlier tests end when Ficus reads their last FIN,
        // which may come just after the client saw its socket close.
        await waitFor(async () => (await tunnelsActive(f)) === 0, { what: 'no tunnel open' });
        const m0 = await scrape(f.adminPort);
        const up0 = metric(m0, 'ficus_tunnel_bytes_total', { route: 'chat', side: 'legacy', direction: 'client_to_upstream' }, { required: true });
        const down0 = metric(m0, 'ficus_tunnel_bytes_total', { route: 'chat', side: 'legacy', direction: 'upstream_to_client' }, { required: true });
        const open0 = metric(m0, 'ficus_tunnels_total', { route: 'chat', side: 'legacy' }, { required: true });
        const r = await wsConnect(f.port, '/count');
        r.ws.send(Buffer.alloc(1000, 7));
        assert.equal((await r.ws.next()).data.length, 1000);
        const m1 = await scrape(f.adminPort);
        assert.equal(metric(m1, 'ficus_tunnels_active', { route: 'chat', side: 'legacy' }), 1);
        assert.equal(metric(m1, 'ficus_tunnels_total', { route: 'chat', side: 'legacy' }) - open0, 1);
        // 1000 payload bytes: 2 + 2 (16-bit length) header bytes, plus a 4-byte mask upward.
        assert.equal(metric(m1, 'ficus_tunnel_bytes_total', { route: 'chat', side: 'legacy', direction: 'client_to_upstream' }) - up0, 1008);
        assert.equal(metric(m1, 'ficus_tunnel_bytes_total', { route: 'chat', side: 'legacy', direction: 'upstream_to_client' }) - down0, 1004);
        r.ws.close();
        await r.ws.closed;
        await waitFor(async () => (await tunnelsActive(f)) === 0, { what: 'tunnels_active back to 0' });
    });
});


describe('what is not tunnelled', { timeout: t(60000) }, () => {
    let f;
    let raw;
    const H = 'Host: ws.test\r\n';
    // The raw backend answers per path: a 101 nobody asked for, a 101 missing
    // Connection: upgrade, a 101 for another protocol, else a plain 200.
    const answers = {
        '/unasked': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
        '/noconn': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
        '/other': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
        '/h2c-101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
    };

    before(async () => {
        raw = await startRawBackend((sock, conn, rb) => {
            onRawRequests(sock, (msg) => {
                rb.requests.push(msg);
                const a = answers[msg.target];
                if (a) {
                    sock.write(a);
                    return;
                }
                sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
            });
        });
        servers.add(raw);
        f = await start(makeConfig({ upstreams: { raw }, routes: route('raw'), limits: LIMITS }));
    });

    // The raw backend's parsed request: headers as [name, value] pairs.
    const last = () => {
        const m = raw.requests.at(-1);
        const headers = {};
        for (const [k, v] of m.headers) headers[k.toLowerCase()] = headers[k.toLowerCase()] !== undefined ? `${headers[k.toLowerCase()]}, ${v}` : v;
        return { ...m, headers };
    };

    test('a 101 to a request that asked for no upgrade is a 502; the upstream connection is closed', async () => {
        const since = f.accessLog().length;
        const c = await RawConn.open(f.port);
        await c.write(`GET /unasked HTTP/1.1\r\n${H}\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, 502);
        await c.write(`GET /after HTTP/1.1\r\n${H}\r\n`); // the client connection stays usable
        assert.equal((await c.readResponse()).status, 200);
        c.destroy();
        const line = await f.waitAccess((l) => l.path === '/unasked', { since });
        assert.equal(line.error, 'upstream_unexpected_101');
        const conn = raw.conns.find((x) => Buffer.concat(x.chunks).includes('GET /unasked'));
        await waitFor(() => conn.closed, { what: 'upstream connection of the 101 closed' });
    });

    test('a 101 without Connection: upgrade, or for another protocol, is a 502 and closes', async () => {
        for (const p of ['/noconn', '/other']) {
            const since = f.accessLog().length;
            const r = await wsConnect(f.port, p);
            assert.equal(r.status, 502, `${p}: ${r.raw}`);
            assert.equal(r.ws, null);
            await withTimeout(new Promise((res) => r.sock.once('close', res)), t(5000), `${p}: client close`);
            const line = await f.waitAccess((l) => l.path === p, { since });
            assert.equal(line.error, 'upstream_bad_upgrade');
            const conn = raw.conns.find((x) => Buffer.concat(x.chunks).includes(`GET ${p} `));
            await waitFor(() => conn.closed, { what: `${p}: upstream connection closed` });
        }
    });

    test('h2c is not tunnelled: Upgrade and HTTP2-Settings are dropped, a 101 h2c is a 502', async () => {
        const c = await RawConn.open(f.port);
        await c.write(`GET /h2c HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n`
            + 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
        const r = await c.readResponse();
        assert.equal(r.status, 200);
        const h = last().headers;
        assert.equal(h.upgrade, undefined, 'Upgrade: h2c must not reach the upstream');
        assert.equal(h['http2-settings'], undefined);
        assert.ok(!/upgrade/i.test(h.connection ?? ''), `Connection: ${h.connection}`);
        // An upstream that switches anyway does not get a tunnel.
        await c.write(`GET /h2c-101 HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n`
            + 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
        assert.equal((await c.readResponse()).status, 502);
        // Offered next to websocket, only websocket is forwarded.
        await c.write(`GET /mixed HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n`);
        assert.equal((await c.readResponse()).status, 200);
        assert.equal(last().headers.upgrade, 'websocket');
        c.destroy();
    });

    test('an upgrade request with a body, or from HTTP/1.0, is forwarded as a plain request', async () => {
        const c = await RawConn.open(f.port);
        await c.write(`POST /body HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello`);
        assert.equal((await c.readResponse()).status, 200);
        assert.equal(last().headers.upgrade, undefined);
        assert.equal(last().body.toString(), 'hello');
        await c.write(`POST /chunked HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
        assert.equal((await c.readResponse()).status, 200);
        assert.equal(last().headers.upgrade, undefined);
        c.destroy();
        const c10 = await RawConn.open(f.port);
        await c10.write(`GET /old HTTP/1.0\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
        assert.equal((await c10.readResponse()).status, 200);
        assert.equal(last().headers.upgrade, undefined);
        c10.destroy();
    });

    test('Upgrade without Connection: upgrade is still dropped', async () => {
        const c = await RawConn.open(f.port);
        await c.write(`GET /noconn-req HTTP/1.1\r\n${H}Upgrade: websocket\r\n\r\n`);
        assert.equal((await c.readResponse()).status, 200);
        assert.equal(last().headers.upgrade, undefined);
        c.destroy();
    });
});

describe('migration: sticky side, rollback, ficus ctl tunnels close', { timeout: t(60000) }, () => {
    let f;
    let legacy;
    let fresh;
    const users = Array.from({ length: 16 }, (_, i) => `user-${i}`);
    const open = async (u) => {
        const r = await wsConnect(f.port, `/api/orders/ws?u=${u}`, { headers: { 'X-User-Id': u } });
        assert.equal(r.status, 101, r.raw);
        return r;
    };

    before(async () => {
        legacy = await wsServer('legacy');
        fresh = await wsServer('fresh');
        const cfg = migConfig({ legacy, fresh, migrate: { weight: '50%' } });
        cfg.limits = LIMITS;
        cfg.workers = 2; // tunnels close must reach the tunnels of every worker
        f = await startMig(cfg);
        running.add(f);
    });

    test('an upgrade goes to the side of its sticky key, the same side as the user\'s plain requests', async () => {
        const side = {};
        for (const u of users) {
            const r = await open(u);
            side[u] = r.headers['x-backend'];
            const again = await open(u);
            assert.equal(again.headers['x-backend'], side[u], `${u}: a second WebSocket lands on the same side`);
            const plain = await get(f.port, '/api/orders/x', { 'X-User-Id': u });
            assert.equal(plain.headers['x-backend'], side[u], `${u}: plain requests and WebSocket agree`);
            for (const x of [r, again]) {
                x.ws.close();
                await x.ws.closed;
            }
        }
        const onNew = users.filter((u) => side[u] === 'fresh');
        assert.ok(onNew.length > 0 && onNew.length < users.length, `both sides used at 50%: ${JSON.stringify(side)}`);
    });

    test('rollback moves new upgrades only; ctl tunnels close ends the open ones on that side', async () => {
        const sides = {};
        const conns = {};
        for (const u of users) {
            conns[u] = await open(u);
            sides[u] = conns[u].headers['x-backend'];
        }
        const onNew = users.filter((u) => sides[u] === 'fresh');
        const onLegacy = users.filter((u) => sides[u] === 'legacy');
        await waitFor(async () => (await tunnelsActive(f, { route: 'orders', side: 'new' })) === onNew.length,
            { what: `${onNew.length} tunnels on the new side` });

        const rb = await ctl(f, ['rollback', 'orders'], { token: TOKENS.ops });
        assert.equal(rb.code, 0, rb.stderr);
        // Open tunnels stay where they are and keep working.
        for (const u of onNew) {
            conns[u].ws.send(`still ${u}`);
            assert.equal((await conns[u].ws.next()).text, `still ${u}`);
        }
        // A new upgrade of a new-side user goes to legacy now.
        const moved = await open(onNew[0]);
        assert.equal(moved.headers['x-backend'], 'legacy');
        moved.ws.close();
        await moved.ws.closed;

        const denied = await ctl(f, ['tunnels', 'close', 'orders', 'new'], { token: TOKENS.viewer });
        assert.notEqual(denied.code, 0);
        assert.match(denied.stderr, /operate/);
        const bad = await ctl(f, ['tunnels', 'close', 'orders', 'sideways'], { token: TOKENS.ops });
        assert.equal(bad.code, 2, bad.stderr);
        const none = await ctl(f, ['tunnels', 'close', 'nosuch', 'new'], { token: TOKENS.bot });
        assert.notEqual(none.code, 0);
        assert.match(none.stderr, /nosuch/);

        const since = f.accessLog().length;
        const res = await ctl(f, ['tunnels', 'close', 'orders', 'new'], { token: TOKENS.bot });
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stdout, new RegExp(`orders: closing ${onNew.length} open tunnel`));
        for (const u of onNew) await withTimeout(conns[u].ws.closed, t(5000), `${u}: tunnel closed by the operator`);
        for (const u of onLegacy) {
            assert.equal(conns[u].ws.ended, false, `${u}: a legacy tunnel stays open`);
            conns[u].ws.send('ok?');
            assert.equal((await conns[u].ws.next()).text, 'ok?');
        }
        assert.equal(await tunnelsActive(f, { route: 'orders', side: 'new' }), 0);
        assert.equal(await tunnelsActive(f, { route: 'orders', side: 'legacy' }), onLegacy.length);
        const lines = await waitFor(() => {
            const l = f.accessLog().slice(since).filter((x) => x.error === 'tunnel_closed_by_operator');
            return l.length === onNew.length ? l : null;
        }, { what: 'access-log lines of the closed tunnels' });
        assert.ok(lines.every((l) => l.side === 'new' && l.status === 101));
        // Reconnecting users land on legacy.
        const back = await open(onNew[0]);
        assert.equal(back.headers['x-backend'], 'legacy');
        for (const x of [back, ...onLegacy.map((u) => conns[u])]) {
            x.ws.close();
            await x.ws.closed;
        }
    });
});

describe('shadowed route: upgrades are never copied', { timeout: t(30000) }, () => {
    test('the copy is skipped and counted as dropped (upgrade)', async () => {
        const app = await wsServer('app');
        const cand = await wsServer('candidate');
        const f = await start(makeConfig({
            upstreams: { app, cand },
            routes: [{ name: 'chat', match: { path_prefix: '/' }, to: 'app', shadow: { to: 'cand' } }],
            limits: LIMITS,
            extra: { store: 'sqlite:ficus.db' },
        }));
        for (let i = 0; i < 3; i++) {
            const r = await wsConnect(f.port, `/s${i}`);
            r.ws.send('x');
            assert.equal((await r.ws.next()).text, 'x');
            r.ws.close();
            await r.ws.closed;
        }
        assert.equal(app.upgrades.length, 3);
        assert.equal(cand.upgrades.length, 0, 'no WebSocket opened on the shadow side');
        const m = await waitFor(async () => {
            const s = await scrape(f.adminPort);
            return metric(s, 'ficus_shadow_dropped_total', { route: 'chat', reason: 'upgrade' }) === 3 ? s : null;
        }, { what: 'ficus_shadow_dropped_total{reason="upgrade"} 3' });
        assert.ok(m);
        const d = await get(f.adminPort, '/api/v1/routes/chat/diffs');
        assert.equal(JSON.parse(d.text).dropped.upgrade, 3, d.text);
    });
});

describe('upgrade.protocols: the allow-list', { timeout: t(30000) }, () => {
    test('a listed protocol other than websocket is tunnelled; [] tunnels nothing', async () => {
        // A raw upstream that switches to "chat/2" and then echoes bytes upper-cased.
        const raw = await startRawBackend((sock, conn, rb) => {
            let switched = false;
            let head = Buffer.alloc(0);
            sock.on('data', (d) => {
                if (switched) {
                    sock.write(d.toString().toUpperCase());
                    return;
                }
                head = Buffer.concat([head, d]);
                const end = head.indexOf('\r\n\r\n');
                if (end < 0) return;
                const text = head.subarray(0, end).toString();
                rb.requests.push(text);
                if (/^upgrade: chat\/2$/im.test(text)) {
                    switched = true;
                    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: chat/2\r\nConnection: upgrade\r\n\r\n');
                    const rest = head.subarray(end + 4);
                    if (rest.length) sock.write(rest.toString().toUpperCase());
                } else {
                    sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain');
                    head = Buffer.alloc(0);
                }
            });
        });
        servers.add(raw);
        const cfg = (protocols) => makeConfig({
            upstreams: { raw }, routes: route('raw'), limits: LIMITS, extra: { upgrade: { protocols } },
        });
        const f = await start(cfg(['websocket', 'Chat']));
        const c = await RawConn.open(f.port);
        await c.write('GET /c HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: chat/2\r\n\r\n');
        const r = await c.readResponse({ method: 'GET' });
        assert.equal(r.status, 101);
        assert.equal(r.get('upgrade'), 'chat/2');
        assert.equal(r.get('connection'), 'upgrade');
        await c.write('hello tunnel');
        await waitFor(() => c.buf.includes('HELLO TUNNEL'), { what: 'bytes echoed through the chat/2 tunnel' });
        c.destroy();

        const off = await start(cfg([]));
        const w = await wsConnect(off.port, '/ws');
        assert.equal(w.status, 200, 'with protocols [] a WebSocket request is plain HTTP');
        assert.ok(!/upgrade: websocket/i.test(raw.requests.at(-1)), raw.requests.at(-1));
        w.sock.destroy();
    });
});

describe('bounded buffers and half-close', { timeout: t(60000) }, () => {
    const TOTAL = 32 << 20;
    const CHUNK = 64 << 10;
    let f;
    let app;
    const pumps = [];

    before(async () => {
        app = await wsServer('pump', {
            onUpgrade(req, ws) {
                if (req.url === '/half') {
                    // Reads until the client's FIN, then answers and closes.
                    let got = 0;
                    ws.sock.removeAllListeners('data');
                    ws.sock.on('data', (d) => (got += d.length));
                    ws.sock.on('end', () => ws.sock.end(`got ${got} bytes after your FIN`));
                    return;
                }
                // Sends TOTAL bytes of binary frames, waiting for 'drain' when the socket is full.
                const p = { written: 0, stalls: 0, done: false };
                pumps.push(p);
                const frame = encodeFrame(OP.BINARY, Buffer.alloc(CHUNK, 0x5a));
                const pump = () => {
                    while (p.written < TOTAL) {
                        p.written += CHUNK;
                        if (!ws.sock.write(frame)) {
                            p.stalls++;
                            ws.sock.once('drain', pump);
                            return;
                        }
                    }
                    p.done = true;
                };
                pump();
            },
        });
        f = await start(makeConfig({ upstreams: { app }, routes: route('app'), limits: LIMITS }));
    });

    test('a client that stops reading stops the upstream (backpressure); nothing is lost', async () => {
        const rss0 = rssKiB(f.pid);
        const r = await wsConnect(f.port, '/pump');
        r.ws.sock.pause();
        await new Promise((res) => setTimeout(res, t(1500)));
        const p = pumps.at(-1);
        const stalled = p.written;
        const rss1 = rssKiB(f.pid);
        assert.ok(!p.done && stalled < TOTAL / 2,
            `the upstream could write ${stalled} of ${TOTAL} bytes to a client that reads nothing`);
        if (!SANITIZED) assert.ok(rss1 - rss0 < 4096, `ficus RSS grew by ${rss1 - rss0} KiB while the client was stalled`);
        r.ws.sock.resume();
        let bytes = 0;
        while (bytes < TOTAL) bytes += (await r.ws.next(t(20000))).data.length;
        assert.equal(bytes, TOTAL);
        assert.ok(p.stalls > 0);
        r.ws.close();
        await r.ws.closed;
        console.log(`backpressure: upstream wrote ${(stalled / 1048576).toFixed(1)} MiB before stalling; ficus RSS +${rss1 - rss0} KiB`);
    });

    test('half-close: the client\'s FIN reaches the upstream, which can still answer', async () => {
        const r = await wsConnect(f.port, '/half');
        assert.equal(r.status, 101);
        const sock = r.sock;
        sock.removeAllListeners('data');
        let reply = Buffer.alloc(0);
        sock.on('data', (d) => (reply = Buffer.concat([reply, d])));
        const ended = new Promise((res) => sock.once('end', res));
        sock.allowHalfOpen = true;
        sock.end(Buffer.alloc(100000, 1)); // 100000 bytes, then SHUT_WR
        await withTimeout(ended, t(5000), 'the upstream\'s answer and FIN');
        assert.equal(reply.toString(), 'got 100000 bytes after your FIN');
    });
});

describe('SIGTERM drain', { timeout: t(30000) }, () => {
    test('open tunnels keep working during the drain and are closed at drain_timeout', async () => {
        const app = await wsServer('app');
        const f = await start(makeConfig({ upstreams: { app }, routes: route('app'), limits: { drain_timeout: '1s' } }));
        const r = await wsConnect(f.port, '/drain');
        r.ws.send('before');
        assert.equal((await r.ws.next()).text, 'before');
        const t0 = Date.now();
        f.signal('SIGTERM');
        await new Promise((res) => setTimeout(res, 300));
        r.ws.send('during');
        assert.equal((await r.ws.next()).text, 'during', 'the tunnel still relays during the drain');
        await withTimeout(r.ws.closed, t(5000), 'tunnel closed by the drain');
        const took = Date.now() - t0;
        assert.ok(took >= 900, `closed ${took} ms after SIGTERM, before drain_timeout`);
        const res = await f.wait(t(5000));
        assert.equal(res.code, 0);
        const line = f.accessLog().find((l) => l.path === '/drain');
        assert.ok(line, f.stdout.text);
        assert.equal(line.status, 101);
        assert.equal(line.error, 'shutdown');
        // Two 12-byte masked text frames up ("before", "during"), two 8-byte frames down.
        assert.ok(line.bytes_in >= 24 && line.bytes_out >= 16, JSON.stringify(line));
    });
});

describe('websocket smuggling', { timeout: t(30000) }, () => {
    test('a declined upgrade (426) opens no tunnel: the next bytes are parsed and routed by Ficus', async () => {
        // The known attack on proxies that assume the upgrade succeeded: the
        // backend refuses (bad Sec-WebSocket-Version), the client then sends a
        // request for a path the proxy never routes, hoping it travels in a
        // "tunnel" straight to the backend.
        const raw = await startRawBackend((sock, conn, rb) => {
            onRawRequests(sock, (msg) => {
                rb.requests.push(msg);
                sock.write('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n');
            });
        });
        servers.add(raw);
        const f = await start(makeConfig({
            upstreams: { raw },
            routes: [{ name: 'ws', match: { path_prefix: '/ws' }, to: 'raw' }],
            limits: LIMITS,
        }));
        const c = await RawConn.open(f.port);
        await c.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
            + 'Sec-WebSocket-Version: 1337\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
        const r = await c.readResponse();
        assert.equal(r.status, 426);
        await c.write('GET /internal/admin HTTP/1.1\r\nHost: localhost\r\n\r\n');
        const r2 = await c.readResponse();
        assert.equal(r2.status, 404, 'Ficus parsed the follow-up itself (no route)');
        assert.equal(r2.get('server'), 'ficus');
        c.destroy();
        assert.equal(raw.requests.length, 1);
        assert.ok(!raw.bytes().toString().includes('/internal/admin'), 'the backend never saw the smuggled request');
    });
});
