// 30-: routing: path prefix, methods, host, headers, first match wins, 404
// when nothing matches, round-robin over an upstream's servers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';

import {
    Ficus, makeConfig, request, requireBinary, startBackend, t,
} from './lib/harness.mjs';

let ficus;
let A; let B; let C; let R1; let R2;
const all = () => [A, B, C, R1, R2];

before(async () => {
    requireBinary();
    [A, B, C, R1, R2] = await Promise.all(['A', 'B', 'C', 'R1', 'R2'].map((n) => startBackend(n)));
    ficus = await Ficus.start(makeConfig({
        upstreams: { a: A, b: B, c: C, rr: [R1, R2] },
        routes: [
            { name: 'beta', match: { path_prefix: '/api/orders', methods: ['GET', 'POST'], host: 'shop.example.com', headers: { 'X-Beta': '1' } }, to: 'b' },
            { name: 'orders', match: { path_prefix: '/api/orders', methods: ['GET', 'POST'] }, to: 'a' },
            { name: 'shop', match: { path_prefix: '/', host: 'shop.example.com' }, to: 'c' },
            { name: 'rr', match: { path_prefix: '/rr' }, to: 'rr' },
            { name: 'items-delete', match: { path_prefix: '/items', methods: ['DELETE'] }, to: 'b' },
            { name: 'static', match: { path_prefix: '/static/' }, to: 'c' },
        ],
    }));
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        await Promise.all(all().filter(Boolean).map((b) => b.close()));
    }
});

afterEach(() => all().forEach((b) => b.reset()));

/** Send a request; return {status, backend (X-Backend or null), res}. */
async function send(method, path, headers = {}) {
    const res = await request({ port: ficus.port, method, path, headers });
    return { status: res.status, backend: res.headers['x-backend'] ?? null, res };
}

async function expectRoute(method, path, headers, backend, route) {
    const before = ficus.accessLog().length;
    const r = await send(method, path, headers);
    assert.equal(r.status, 200, `${method} ${path} ${JSON.stringify(headers)}: status`);
    assert.equal(r.backend, backend, `${method} ${path} ${JSON.stringify(headers)} should reach ${backend}`);
    const be = all().find((b) => b.name === backend);
    assert.equal(be.requests.at(-1).url, path, 'path forwarded unchanged');
    if (route) {
        const e = await ficus.waitAccess((x) => x.path === path && x.method === method && x.status === 200, { since: before });
        assert.equal(e.route, route);
    }
}

async function expectNoRoute(method, path, headers = {}) {
    const counts = all().map((b) => b.requests.length);
    const r = await send(method, path, headers);
    assert.equal(r.status, 404, `${method} ${path} ${JSON.stringify(headers)} should be 404`);
    assert.equal(r.backend, null, 'the 404 comes from Ficus, not a backend');
    assert.ok(r.res.body.length > 0, 'the 404 has a short body');
    all().forEach((b, i) => assert.equal(b.requests.length, counts[i], `backend ${b.name} must not be called`));
}

describe('matching', { timeout: t(60000) }, () => {
    test('path prefix', async () => {
        await expectRoute('GET', '/api/orders', {}, 'A', 'orders');
        await expectRoute('GET', '/api/orders/42?x=1', {}, 'A', 'orders');
        await expectRoute('GET', '/static/app.js', {}, 'C', 'static');
        await expectNoRoute('GET', '/api/order');
        await expectNoRoute('GET', '/staticx');
        await expectNoRoute('GET', '/');
    });

    test('methods', async () => {
        await expectRoute('POST', '/api/orders', {}, 'A', 'orders');
        await expectNoRoute('DELETE', '/api/orders/1');
        await expectNoRoute('PUT', '/api/orders/1');
        await expectRoute('DELETE', '/items/3', {}, 'B', 'items-delete');
        await expectNoRoute('GET', '/items/3');
    });

    test('host', async () => {
        await expectRoute('GET', '/index.html', { Host: 'shop.example.com' }, 'C', 'shop');
        await expectNoRoute('GET', '/index.html', { Host: 'other.example.com' });
    });

    test('host is matched case-insensitively and without the port', async () => {
        await expectRoute('GET', '/index.html', { Host: 'SHOP.Example.COM:8080' }, 'C', 'shop');
    });

    test('headers: exact value, name case-insensitive', async () => {
        await expectRoute('GET', '/api/orders', { Host: 'shop.example.com', 'X-Beta': '1' }, 'B', 'beta');
        await expectRoute('GET', '/api/orders', { Host: 'shop.example.com', 'x-beta': '1' }, 'B', 'beta');
        await expectRoute('GET', '/api/orders', { Host: 'shop.example.com', 'X-Beta': '2' }, 'A', 'orders');
        await expectRoute('GET', '/api/orders', { Host: 'other.example.com', 'X-Beta': '1' }, 'A', 'orders');
    });

    test('first match wins', async () => {
        // Both "orders" and "shop" match; "orders" comes first.
        await expectRoute('GET', '/api/orders/7', { Host: 'shop.example.com' }, 'A', 'orders');
        // "beta" comes before "orders" and matches.
        await expectRoute('POST', '/api/orders/7', { Host: 'shop.example.com', 'X-Beta': '1' }, 'B', 'beta');
        // Method fails "beta" and "orders": falls through to "shop".
        await expectRoute('DELETE', '/api/orders/7', { Host: 'shop.example.com', 'X-Beta': '1' }, 'C', 'shop');
    });

    test('no match: 404 from Ficus with an access-log line', async () => {
        const before = ficus.accessLog().length;
        await expectNoRoute('GET', '/nowhere?q=1');
        const e = await ficus.waitAccess((x) => x.path === '/nowhere?q=1', { since: before });
        assert.equal(e.status, 404);
        assert.equal(e.route, '');
        assert.equal(e.upstream, '');
        assert.equal(e.error, 'no_route');
    });
});

describe('balancing', { timeout: t(60000) }, () => {
    test('round-robin across two servers', async () => {
        const seen = [];
        for (let i = 0; i < 10; i++) {
            const r = await send('GET', `/rr/${i}`);
            assert.equal(r.status, 200);
            seen.push(r.backend);
        }
        assert.equal(R1.requests.length, 5, `R1 got ${R1.requests.length}: ${seen.join(',')}`);
        assert.equal(R2.requests.length, 5, `R2 got ${R2.requests.length}: ${seen.join(',')}`);
        for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], `strict alternation: ${seen.join(',')}`);
    });

    test('round-robin is per request on one keep-alive client connection', async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            const seen = [];
            for (let i = 0; i < 6; i++) {
                const r = await request({ port: ficus.port, path: `/rr/ka/${i}`, agent });
                seen.push(r.headers['x-backend']);
            }
            assert.equal(seen.filter((x) => x === 'R1').length, 3, seen.join(','));
            assert.equal(seen.filter((x) => x === 'R2').length, 3, seen.join(','));
        } finally {
            agent.destroy();
        }
    });

    test('access log names the route, upstream and server', async () => {
        const before = ficus.accessLog().length;
        await send('GET', '/rr/log-a');
        await send('GET', '/rr/log-b');
        const ea = await ficus.waitAccess((x) => x.path === '/rr/log-a', { since: before });
        const eb = await ficus.waitAccess((x) => x.path === '/rr/log-b', { since: before });
        for (const e of [ea, eb]) {
            assert.equal(e.route, 'rr');
            assert.equal(e.upstream, 'rr');
            assert.equal(e.status, 200);
        }
        assert.deepEqual(new Set([ea.server, eb.server]), new Set([R1.addr, R2.addr]));
    });
});
