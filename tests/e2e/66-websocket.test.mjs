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
    Ficus, RawConn, makeConfig, metric, parseMetrics, prng, requireBinary, scrape, sha256,
    startRawBackend, t, waitFor,
} from './lib/harness.mjs';
import { ctl, TOKENS, writeTokens } from './lib/migration-util.mjs';
import { OP, startWsServer, wsConnect } from './lib/ws.mjs';

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
    const s = parseMetrics(await scrape(f.adminPort));
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
