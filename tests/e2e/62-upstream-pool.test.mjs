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

/** Listen on a fixed port of 127.0.0.1 with a plain 200 responder ("dead" server restarted). */
async function listenOn(port, name) {
    const b = await backend(name);
    await new Promise((r) => b.server.close(r));
    await new Promise((resolve, reject) => {
        b.server.once('error', reject);
        b.server.listen(port, '127.0.0.1', resolve);
    });
    b.port = port;
    b.addr = `127.0.0.1:${port}`;
    return b;
}

/** Run `fn(i)` for i in 0..n-1, `c` at a time; resolves the results in order. */
async function pool(n, c, fn) {
    const out = new Array(n);
    let next = 0;
    await Promise.all(Array.from({ length: c }, async () => {
        while (next < n) {
            const i = next++;
            out[i] = await fn(i);
        }
    }));
    return out;
}

const up = (m, upstream, server) => metric(m, 'ficus_upstream_server_up', { upstream, server }, { required: true });
const downLines = (f, server) => f.stderr.lines.filter((l) => /event=upstream_server_down\b/.test(l))
    .map(parseLogfmt).filter((kv) => kv.server === server);

describe('dead servers', { timeout: t(60000) }, () => {
    test('one dead server of two: every GET and POST answered by the live one, the dead one ejected, then back', async () => {
        const live = await backend('live');
        live.handle = (rec, req, res) => res.end(`live ${rec.method} ${rec.body.length}`);
        const deadPort = await freePort();
        const dead = `127.0.0.1:${deadPort}`;
        const cfg = makeConfig({
            upstreams: { app: { servers: [dead, live.addr], connect_timeout: '1s' } },
            routes: route('app'),
            workers: 2,
        });
        const f = await start(cfg);
        const gets = await pool(200, 8, (i) => get(f.port, `/g/${i}`).then((r) => r.status, (e) => e.message));
        const bodies = Array.from({ length: 50 }, (_, i) => 'p'.repeat(100 + i * 97));
        const posts = await pool(50, 5, (i) => request({ port: f.port, method: 'POST', path: `/p/${i}`, body: bodies[i] })
            .then((r) => (r.status === 200 && r.text === `live POST ${bodies[i].length}` ? 200 : `${r.status} ${r.text}`), (e) => e.message));
        const bad = [...gets, ...posts].filter((s) => s !== 200);
        assert.deepEqual(bad, [], `${bad.length} of 250 requests not answered 200`);
        assert.equal(live.requests.filter((r) => r.method === 'POST').length, 50, 'each POST reached the live server once');

        let m = await scrape(f.adminPort);
        assert.equal(up(m, 'app', dead), 0, 'the dead server is reported down');
        assert.equal(up(m, 'app', live.addr), 1);
        const ejections = metric(m, 'ficus_upstream_server_ejections_total', { upstream: 'app', server: dead }, { required: true });
        assert.ok(ejections >= 1, `ejections ${ejections}`);
        assert.equal(metric(m, 'ficus_upstream_server_ejections_total', { upstream: 'app', server: live.addr }, { required: true }), 0);
        // Ejected servers are skipped: far fewer connect attempts than the ~125 requests it would get.
        const errs = metric(m, 'ficus_upstream_connect_errors_total', { upstream: 'app' });
        assert.ok(errs >= 1 && errs <= 20, `connect errors ${errs}`);
        const lines = downLines(f, dead);
        assert.ok(lines.length >= 1, 'an event=upstream_server_down line');
        assert.equal(lines[0].upstream, 'app');
        assert.equal(lines[0].backoff_ms, '1000', 'the first back-off is 1 s');
        if (lines[1]) assert.equal(lines[1].backoff_ms, '2000', 'then it doubles');

        // The state survives a reload that keeps the server.
        await f.reload(cfg);
        m = await scrape(f.adminPort);
        assert.equal(up(m, 'app', dead), 0, 'still down after a reload');

        const back = await listenOn(deadPort, 'back');
        await waitFor(async () => {
            const r = await get(f.port, '/again');
            assert.equal(r.status, 200);
            return up(await scrape(f.adminPort), 'app', dead) === 1;
        }, { timeout: t(40000), interval: 100, what: 'the restarted server to be up again' });
        await f.waitStderr(/event=upstream_server_up\b.*server=127\.0\.0\.1:\d+/);
        const upLine = parseLogfmt(f.stderr.lines.find((l) => /event=upstream_server_up\b/.test(l)));
        assert.equal(upLine.server, dead);
        const before = back.requests.length;
        for (let i = 0; i < 10; i++) assert.equal((await get(f.port, `/rr/${i}`)).status, 200);
        assert.ok(back.requests.length - before >= 3, 'the restarted server takes its share again');
    });

    test('a connect timeout is retried on the next server, for a POST too', async (tc) => {
        const BH = await startBlackhole();
        if (!BH) {
            tc.skip('could not build a listener that drops SYNs on this system');
            return;
        }
        try {
            const live = await backend('live2');
            live.handle = (rec, req, res) => res.end(`live2 ${rec.method} ${rec.body.length}`);
            const f = await start(makeConfig({
                upstreams: { app: { servers: [BH.addr, live.addr], connect_timeout: '300ms' } },
                routes: route('app'),
            }));
            const t0 = Date.now();
            const r = await request({ port: f.port, method: 'POST', path: '/first', body: 'x'.repeat(5000) });
            const ms = Date.now() - t0;
            assert.equal(r.status, 200, r.text);
            assert.equal(r.text, 'live2 POST 5000');
            assert.ok(ms >= 250, `answered after ${ms} ms: the first connect should have waited connect_timeout`);
            const line = downLines(f, BH.addr)[0];
            assert.ok(line, 'event=upstream_server_down for the black hole');
            assert.equal(line.error, 'connect_timeout');
            const m = await scrape(f.adminPort);
            assert.equal(up(m, 'app', BH.addr), 0);
            assert.ok(metric(m, 'ficus_upstream_timeouts_total', { upstream: 'app' }) >= 1);
            // While ejected the black hole is skipped: no more waiting.
            for (let i = 0; i < 4; i++) {
                const t1 = Date.now();
                const g = await get(f.port, `/next/${i}`);
                assert.equal(g.status, 200);
                assert.ok(Date.now() - t1 < 250, `request ${i} took ${Date.now() - t1} ms`);
            }
            const access = f.accessLog().filter((x) => x.path === '/first');
            assert.equal(access[0]?.server, live.addr, 'the access log names the server that answered');
        } finally {
            BH.close();
        }
    });
});
