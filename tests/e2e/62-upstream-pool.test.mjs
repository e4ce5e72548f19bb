// 62-: pooled upstream connections and dead servers (issue 10, item 10):
// idle pooled connections expire after upstreams.NAME.idle_timeout; a
// connect failure (refused, timed out) is retried on the upstream's next
// server for any method and the failing server is ejected for a back-off,
// visible in ficus_upstream_server_up and the logs.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, freePort, get, makeConfig, metric, parseLogfmt, request, requireBinary, scrape, sleep,
    startBackend, startBlackhole, t, waitFor,
} from './lib/harness.mjs';

const running = new Set();
const backends = new Set();

async function start(cfg) {
    const f = await Ficus.start(cfg);
    running.add(f);
    return f;
}

async function backend(name, opts) {
    const b = await startBackend(name, opts);
    backends.add(b);
    return b;
}

before(() => requireBinary());

after(async () => {
    for (const f of running) await f.stop();
    for (const b of backends) await b.close().catch(() => {});
});

const route = (to) => [{ name: 'default', match: { path_prefix: '/' }, to }];

describe('idle pooled connections', { timeout: t(30000) }, () => {
    test('an idle pooled connection is closed by Ficus after idle_timeout', async () => {
        const B = await backend('idle');
        const f = await start(makeConfig({
            upstreams: { app: { servers: [B.addr], idle_timeout: '300ms' } },
            routes: route('app'),
        }));
        const r = await get(f.port, '/one');
        assert.equal(r.status, 200);
        assert.equal(B.sockets.size, 1, 'one pooled upstream connection');
        const [sock] = B.sockets;
        const t0 = Date.now();
        const closed = new Promise((resolve) => sock.once('close', () => resolve(Date.now() - t0)));
        const ms = await closed;
        // The backend keeps connections 30 s: the close comes from Ficus.
        assert.ok(ms >= 200 && ms < t(3000), `closed after ${ms} ms with idle_timeout 300ms`);
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_upstream_connections'), 0, 'no upstream connection left');
        const r2 = await get(f.port, '/two');
        assert.equal(r2.status, 200, 'a new connection serves the next request');
        assert.equal(B.connections, 2);
    });

    test('a connection reused before idle_timeout stays pooled', async () => {
        const B = await backend('busy');
        const f = await start(makeConfig({
            upstreams: { app: { servers: [B.addr], idle_timeout: '500ms' } },
            routes: route('app'),
        }));
        for (let i = 0; i < 8; i++) {
            assert.equal((await get(f.port, `/r${i}`)).status, 200);
            await sleep(100);
        }
        assert.equal(B.connections, 1, 'every request reused the pooled connection');
    });
});
