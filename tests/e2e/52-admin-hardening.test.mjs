// 52-: the admin listener under hostile or careless clients: a client that
// sends half a head and a client that never reads do not delay /healthz,
// /metrics or a rollback; 300 idle connections do not either; the head
// deadline closes a silent connection with 408; reads that expose data need
// a token with role read, changes role operate; the Host header is checked
// against an allow-list (DNS rebinding).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { RawConn, request, requireBinary, sleep, startBackend, t } from './lib/harness.mjs';
import { TOKENS, admin, migConfig, routeState, startMig } from './lib/migration-util.mjs';

let legacy;
let fresh;
let f;
const held = [];

before(async () => {
    requireBinary();
    legacy = await startBackend('legacy');
    fresh = await startBackend('new');
    const cfg = migConfig({ legacy, fresh, migrate: { weight: '10%' } });
    cfg.admin.allowed_hosts = ['ficus.test'];
    f = await startMig(cfg);
});

after(async () => {
    for (const c of held) c.destroy();
    await f?.stop();
    await Promise.all([legacy?.close(), fresh?.close()]);
});

/** Run `fn` and resolve [result, milliseconds]. */
async function timed(fn) {
    const t0 = Date.now();
    const r = await fn();
    return [r, Date.now() - t0];
}

/** One raw request on a fresh connection; resolves the parsed response. */
async function raw(text) {
    const c = await RawConn.open(f.adminPort);
    try {
        await c.write(text);
        return await c.readResponse({ timeout: t(5000) });
    } finally {
        c.destroy();
    }
}

/** A connection that asks for /metrics and never reads its answer. */
function nonReader() {
    return new Promise((resolve, reject) => {
        const s = net.connect(f.adminPort, '127.0.0.1', () => {
            s.pause();
            s.write(`GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n`);
            resolve(s);
        });
        s.on('error', reject);
    });
}

describe('admin listener hardening', { timeout: t(90000) }, () => {
    test('a half-sent head and a non-reading client delay nobody', async () => {
        const half = await RawConn.open(f.adminPort);
        held.push(half);
        await half.write('GET /healthz HTTP/1.1\r\nHost: loc');
        const slow = await nonReader();
        held.push(slow);
        await sleep(100);
        const [h, hms] = await timed(() => request({ port: f.adminPort, path: '/healthz', timeout: t(3000) }));
        assert.equal(h.status, 200);
        assert.ok(hms < t(1000), `/healthz took ${hms} ms`);
        const [m, mms] = await timed(() => request({ port: f.adminPort, path: '/metrics', timeout: t(3000) }));
        assert.equal(m.status, 200);
        assert.match(m.text, /ficus_/);
        assert.ok(mms < t(1000), `/metrics took ${mms} ms`);
        const [rb, rms] = await timed(() => admin(f, 'POST', '/api/v1/routes/orders/rollback', { token: TOKENS.ops }));
        assert.equal(rb.status, 200, rb.text);
        assert.ok(rms < t(1000), `rollback took ${rms} ms`);
        assert.equal((await routeState(f)).status, 'rolled_back');
        assert.equal((await admin(f, 'POST', '/api/v1/routes/orders/resume', { token: TOKENS.ops })).status, 200);
        half.destroy();
        slow.destroy();
    });

    test('300 idle connections do not stop /healthz', async () => {
        const idle = [];
        for (let i = 0; i < 300; i++) idle.push(await RawConn.open(f.adminPort));
        held.push(...idle);
        await sleep(200);
        const [h, ms] = await timed(() => request({ port: f.adminPort, path: '/healthz', timeout: t(3000) }));
        assert.equal(h.status, 200);
        assert.ok(ms < t(1000), `/healthz took ${ms} ms with 300 idle connections`);
        // Past the limit (256) the oldest idle connections were closed to make room.
        await sleep(100);
        const closed = idle.filter((c) => c.closed || c.ended).length;
        assert.ok(closed >= 300 - 256, `${closed} idle connections closed`);
        for (const c of idle) c.destroy();
    });

    test('protected reads need a read token; changes need operate', async () => {
        const none = await admin(f, 'GET', '/api/v1/routes', { token: null });
        assert.equal(none.status, 401);
        assert.match(none.headers['www-authenticate'] ?? '', /^Bearer /);
        for (const p of ['/api/v1/config', '/api/v1/routes/orders', '/api/v1/events', '/api/v1/debt', '/api/v1/progress']) {
            assert.equal((await admin(f, 'GET', p, { token: null })).status, 401, `GET ${p} without a token`);
            assert.equal((await admin(f, 'GET', p, { token: TOKENS.viewer })).status, 200, `GET ${p} with a read token`);
        }
        assert.equal((await admin(f, 'GET', '/metrics', { token: null })).status, 200, '/metrics is open by default');
        assert.equal((await admin(f, 'GET', '/healthz', { token: null })).status, 200, '/healthz is open by default');
        assert.equal((await admin(f, 'GET', '/dashboard', { token: null })).status, 200, 'the page itself holds no data');
        const denied = await admin(f, 'POST', '/api/v1/routes/orders/rollback', { token: TOKENS.viewer });
        assert.equal(denied.status, 403);
        assert.match(denied.json.error, /token "viewer" has role read; POST \/api\/v1\/routes\/orders\/rollback needs role operate/);
        assert.equal((await admin(f, 'POST', '/api/v1/debt', { token: TOKENS.viewer, body: { title: 'x' } })).status, 403);
        assert.notEqual((await routeState(f)).status, 'rolled_back');
        const ok = await admin(f, 'POST', '/api/v1/routes/orders/rollback', { token: TOKENS.bot });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.status, 'rolled_back');
        assert.equal((await admin(f, 'POST', '/api/v1/routes/orders/resume', { token: TOKENS.bot })).status, 200);
    });

    test('the Host header is checked against the allow-list', async () => {
        const evil = await raw('GET /api/v1/routes HTTP/1.1\r\nHost: evil.example\r\n\r\n');
        assert.equal(evil.status, 421);
        assert.match(JSON.parse(evil.text).error, /Host "evil.example" is not served by the admin listener/);
        assert.equal((await raw('GET /healthz HTTP/1.1\r\nHost: evil.example:80\r\n\r\n')).status, 421);
        assert.equal((await raw(`GET /healthz HTTP/1.1\r\nHost: localhost:${f.adminPort}\r\n\r\n`)).status, 200);
        assert.equal((await raw(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${f.adminPort}\r\n\r\n`)).status, 200);
        assert.equal((await raw('GET /healthz HTTP/1.1\r\nHost: [::1]\r\n\r\n')).status, 200);
        assert.equal((await raw('GET /healthz HTTP/1.1\r\nHost: FICUS.test:9901\r\n\r\n')).status, 200);
        assert.equal((await raw('GET /healthz HTTP/1.1\r\n\r\n')).status, 400, 'HTTP/1.1 without Host');
        assert.equal((await raw('GET /healthz HTTP/1.0\r\n\r\n')).status, 200, 'HTTP/1.0 without Host');
        assert.equal((await raw('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: localhost\r\n\r\n')).status, 400, 'two Host headers');
    });

    test('the head deadline closes a silent half-head connection with 408', async () => {
        const c = await RawConn.open(f.adminPort);
        held.push(c);
        const t0 = Date.now();
        await c.write('GET /healthz HTTP/1.1\r\nHost: loc');
        const res = await c.readResponse({ timeout: t(5000) + 3000 });
        const ms = Date.now() - t0;
        assert.equal(res.status, 408);
        assert.ok(await c.waitClose(t(2000)), 'closed after the 408');
        assert.ok(ms >= 4500 && ms < t(5000) + 2500, `closed after ${ms} ms (head deadline 5 s)`);
        c.destroy();
    });
});
