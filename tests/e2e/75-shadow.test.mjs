// 75-: shadow traffic and response diffing end to end (issue 5): copies of
// a route's requests go to a candidate upstream, their answers are compared
// with the primary's on a background thread, and the results are read from
// the admin API, `ficus ctl diffs` and /metrics. Real binary, Node apps
// with full control of their answers, SQLite store in the temp dir.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

import {
    freePort, metric, metricSum, request, requireBinary, scrape, sleep, t, waitFor,
} from './lib/harness.mjs';
import { ctl, events, routeState } from './lib/migration-util.mjs';
import {
    diffs, diffsRaw, getSeq, headerMap, median, ordersRoute, shadowConfig, startApp, startShadow,
    storeBytes, waitCompared, waitDiffs,
} from './lib/shadow-util.mjs';

const ENDPOINT = 'GET /orders/{id}';
const IGNORE = { ignore_headers: ['Date', 'X-Served-By'] };

let legacy;
let legacy2;
let candidate;
const running = new Set();
const extraApps = new Set();

before(async () => {
    requireBinary();
    legacy = await startApp('legacy');
    legacy2 = await startApp('legacy-2');
    candidate = await startApp('candidate');
});

after(async () => {
    await Promise.all([legacy?.close(), legacy2?.close(), candidate?.close()]);
});

afterEach(async () => {
    const errors = [];
    for (const f of running) {
        try {
            await f.stop();
        } catch (e) {
            errors.push(e);
        }
    }
    running.clear();
    for (const a of extraApps) await a.close();
    extraApps.clear();
    legacy.reset();
    legacy2.reset();
    candidate.reset();
    if (errors.length) throw errors[0];
});

async function start(cfg, opts) {
    const f = await startShadow(cfg, opts);
    running.add(f);
    return f;
}

/** Config: route orders on /orders from legacy, shadowed to `candidate` (+ more routes). */
function cfgWith(shadow, { upstreams = {}, routes = [], route = {} } = {}) {
    return shadowConfig({
        upstreams: { legacy, candidate, 'legacy-2': legacy2, ...upstreams },
        routes: [ordersRoute({ to: 'candidate', ...shadow }, route), ...routes],
    });
}

const idOf = (url) => /^\/orders\/([^/?]+)/.exec(url)?.[1] ?? null;
const order = (id) => ({
    id,
    customer: 'c-42',
    items: [{ sku: 'a', price: 10.5, qty: 1 }, { sku: 'b', price: 3, qty: 2 }],
    total: 16.5,
});

describe('shadow traffic', { timeout: t(60000) }, () => {
    test('identical answers: every copy compared and matched; clients get the legacy answer', async () => {
        legacy.respond = candidate.respond = (rec) => ({ json: order(idOf(rec.url)) });
        const f = await start(cfgWith({ compare: IGNORE }));
        const gets = await getSeq(f.port, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `/orders/${i}`));
        for (const [i, r] of gets.entries()) {
            assert.equal(r.status, 200);
            assert.equal(r.headers['x-served-by'], 'legacy', 'the client sees the primary');
            assert.deepEqual(JSON.parse(r.text), order(String(i + 1)));
        }
        for (const p of ['/orders/9', '/orders/10']) {
            const r = await request({ port: f.port, method: 'HEAD', path: p });
            assert.equal(r.status, 200);
            assert.equal(r.headers['x-served-by'], 'legacy');
        }
        const d = await waitCompared(f, 10);
        assert.equal(d.route, 'orders');
        assert.equal(d.candidate, 'candidate');
        assert.equal(d.secondary ?? null, null);
        assert.equal(d.compared, 10);
        assert.equal(d.matched, 10);
        assert.equal(d.mismatched, 0);
        assert.equal(d.errored, 0);
        assert.equal(d.mismatch_rate, 0);
        assert.deepEqual(d.samples, []);
        assert.deepEqual(d.noise, []);
        assert.equal(Object.values(d.dropped).reduce((a, b) => a + b, 0), 0, JSON.stringify(d.dropped));
        const byEp = Object.fromEntries(d.endpoints.map((e) => [e.endpoint, e]));
        assert.deepEqual(Object.keys(byEp).sort(), ['GET /orders/{id}', 'HEAD /orders/{id}']);
        assert.equal(byEp[ENDPOINT].compared, 8);
        assert.equal(byEp[ENDPOINT].mismatched, 0);
        assert.deepEqual(byEp[ENDPOINT].paths, []);
        assert.equal(byEp['HEAD /orders/{id}'].compared, 2);

        // The copies: the same requests, marked, on their own connections.
        const copies = candidate.requests;
        assert.equal(copies.length, 10, 'one copy per request, nothing else');
        for (const c of copies) {
            assert.equal(c.headers['x-ficus-shadow'], '1');
            assert.equal(c.headers.connection, 'close');
            const twin = legacy.requests.find((l) => l.headers['x-request-id'] === c.headers['x-request-id']);
            assert.ok(twin, `copy ${c.method} ${c.url} has the primary's X-Request-Id`);
            assert.equal(twin.url, c.url);
            assert.equal(twin.method, c.method);
        }
        assert.equal(legacy.requests.length, 10);
        assert.ok(legacy.requests.every((l) => l.headers['x-ficus-shadow'] === undefined), 'the primary is not marked');

        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_shadow_copies_total', { route: 'orders', result: 'matched' }), 10);
        assert.equal(metric(m, 'ficus_shadow_copies_total', { route: 'orders', result: 'mismatched' }), 0);
        assert.equal(metric(m, 'ficus_shadow_copies_total', { route: 'orders', result: 'errored' }), 0);
        assert.equal(metric(m, 'ficus_shadow_mismatch_rate', { route: 'orders' }, { required: true }), 0);
        assert.equal(metricSum(m, 'ficus_shadow_path_mismatches_total', { route: 'orders' }), 0);
    });

    test('one changed field: exactly that JSON path; key order, 1 vs 1.0, escapes, ignored paths do not count', async () => {
        legacy.respond = (rec) => {
            const id = decodeURIComponent(idOf(rec.url));
            return {
                json: {
                    generated_at: new Date().toISOString(),
                    id,
                    items: [
                        { sku: 'a', price: 10, qty: 1, etag: 'L1' },
                        { sku: 'b', price: 20, qty: 2, etag: 'L2' },
                        { sku: 'c', price: 1.5, qty: 1, etag: 'L3' },
                    ],
                    total: 1,
                    currency: 'EUR',
                    note: 'café',
                },
            };
        };
        // Same document but: keys reordered, pretty-printed, numbers written
        // differently (1.0, 10.00, 1.50), "é" escaped, other etags and
        // generated_at (both ignored), and items[1].price 20 -> 21.
        candidate.respond = (rec) => {
            const id = JSON.stringify(decodeURIComponent(idOf(rec.url)));
            return {
                json: `{
  "total": 1.0, "currency": "EUR", "note": "caf\\u00e9",
  "items": [
    {"etag": "C1", "qty": 1.0, "price": 10.00, "sku": "a"},
    {"qty": 2, "sku": "b", "price": 21, "etag": "C2"},
    {"price": 1.50, "sku": "c", "etag": "C3", "qty": 1}
  ],
  "id": ${id},
  "generated_at": "1999-01-01T00:00:00.000Z"
}`,
            };
        };
        const f = await start(cfgWith({
            compare: { ...IGNORE, ignore_json: ['$.generated_at', '$.items[*].etag'] },
        }));
        const targets = ['/orders/17?verbose=1', '/orders/550e8400-e29b-41d4-a716-446655440000', '/orders/18', '/orders/19'];
        for (const r of await getSeq(f.port, targets)) {
            assert.equal(r.status, 200);
            assert.equal(JSON.parse(r.text).items[1].price, 20, 'the client gets the legacy answer');
        }
        const d = await waitCompared(f, 4, { samples: 10 });
        assert.equal(d.compared, 4);
        assert.equal(d.mismatched, 4);
        assert.equal(d.matched, 0);
        assert.equal(d.errored, 0);
        assert.equal(d.mismatch_rate, 1);
        assert.deepEqual(d.endpoints, [{
            endpoint: ENDPOINT, compared: 4, mismatched: 4, paths: [{ path: '$.items[*].price', count: 4 }],
        }], 'numeric and uuid segments become {id}, the query is dropped, the path is generalised');
        assert.equal(d.samples.length, 4);
        for (const s of d.samples) {
            assert.deepEqual(s.paths, ['$.items[1].price'], `sample ${s.request?.target}: exact path, nothing else`);
            assert.equal(s.endpoint, ENDPOINT);
            assert.equal(s.request.method, 'GET');
            assert.equal(s.primary.status, 200);
            assert.equal(s.candidate.status, 200);
            assert.match(s.primary.body, /"price":20\b/);
            assert.match(s.candidate.body, /"price": 21\b/);
            assert.ok(s.id !== undefined && s.time !== undefined, 'samples carry id and time');
        }
        assert.deepEqual(d.samples.map((s) => s.request.target).sort(), [...targets].sort());
        assert.equal((await diffs(f, 'orders', 1)).samples.length, 1);
        assert.equal((await diffs(f, 'orders', 0)).samples.length, 0);

        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_shadow_path_mismatches_total',
            { route: 'orders', endpoint: ENDPOINT, path: '$.items[*].price' }, { required: true }), 4);
        assert.equal(metricSum(m, 'ficus_shadow_path_mismatches_total', { route: 'orders' }), 4, 'no other path counted');
        assert.equal(metric(m, 'ficus_shadow_copies_total', { route: 'orders', result: 'mismatched' }), 4);
        assert.equal(metric(m, 'ficus_shadow_mismatch_rate', { route: 'orders' }), 1);
    });

    test('noise learned from the secondary is excluded; a real change is still reported', async () => {
        const noisy = (extra) => (rec) => {
            const id = idOf(rec.url);
            const base = { id, now: `${Date.now()}.${Math.random().toString().slice(2, 10)}`, rid: randomUUID(), total: 100 };
            return { json: rec.url.endsWith('/summary') ? { ...base, lines: 3, ...extra } : { ...base, name: 'order' } };
        };
        legacy.respond = noisy({});
        legacy2.respond = noisy({});
        candidate.respond = noisy({ total: 101 });
        const f = await start(cfgWith({ secondary: 'legacy-2', compare: IGNORE }));
        const paths = [];
        for (let i = 1; i <= 5; i++) {
            paths.push(`/orders/${i}`);
            if (i <= 3) paths.push(`/orders/${i}/summary`);
        }
        for (const r of await getSeq(f.port, paths)) {
            assert.equal(r.status, 200);
            assert.equal(r.headers['x-served-by'], 'legacy');
        }
        const d = await waitCompared(f, 8, { samples: 10 });
        assert.equal(d.secondary, 'legacy-2');
        assert.equal(d.compared, 8);
        assert.equal(d.matched, 5, 'copies that differ only by noise match');
        assert.equal(d.mismatched, 3);
        assert.equal(d.errored, 0);
        const noise = d.noise.map((n) => `${n.endpoint} ${n.path}`).sort();
        assert.deepEqual(noise, [
            'GET /orders/{id} $.now', 'GET /orders/{id} $.rid',
            'GET /orders/{id}/summary $.now', 'GET /orders/{id}/summary $.rid',
        ], JSON.stringify(d.noise));
        for (const n of d.noise) assert.ok(n.seen >= 1, JSON.stringify(n));
        assert.ok(d.noise_excluded >= 8, `noise_excluded ${d.noise_excluded}`);
        const byEp = Object.fromEntries(d.endpoints.map((e) => [e.endpoint, e]));
        assert.equal(byEp[ENDPOINT].compared, 5);
        assert.equal(byEp[ENDPOINT].mismatched, 0);
        assert.deepEqual(byEp[ENDPOINT].paths, []);
        assert.equal(byEp['GET /orders/{id}/summary'].mismatched, 3);
        assert.deepEqual(byEp['GET /orders/{id}/summary'].paths, [{ path: '$.total', count: 3 }]);
        assert.equal(d.samples.length, 3);
        for (const s of d.samples) assert.deepEqual(s.paths, ['$.total']);
        assert.equal(legacy2.requests.length, 8, 'the secondary gets every copy');
        assert.ok(legacy2.requests.every((r) => r.headers['x-ficus-shadow'] === '1'));

        const m = await scrape(f.adminPort);
        assert.ok(metric(m, 'ficus_shadow_noise_excluded_total', { route: 'orders' }) >= 8);
        assert.equal(metricSum(m, 'ficus_shadow_path_mismatches_total', { route: 'orders' }), 3);
    });

    test('a candidate that sleeps 5 s adds no client latency; copies error out or are shed', async () => {
        const slow = await startApp('slow');
        extraApps.add(slow);
        slow.respond = (rec) => ({ json: order(idOf(rec.url)), delay: 5000 });
        legacy.respond = (rec) => ({ json: { url: rec.url } });
        const f = await start(shadowConfig({
            upstreams: {
                legacy,
                slow: { servers: [slow.addr], read_timeout: '500ms' },
                hang: { servers: [slow.addr] },
            },
            routes: [
                ordersRoute({ to: 'slow' }),
                { name: 'limited', match: { path_prefix: '/limited' }, to: 'legacy', shadow: { to: 'hang', max_inflight: 1 } },
                { name: 'plain', match: { path_prefix: '/plain' }, to: 'legacy' },
            ],
        }));
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const timed = async (p) => {
            const t0 = process.hrtime.bigint();
            const r = await request({ port: f.port, path: p, agent });
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            assert.equal(r.status, 200, `${p}: ${r.status} ${r.text}`);
            assert.equal(r.headers['x-served-by'], 'legacy');
            assert.deepEqual(JSON.parse(r.text), { url: p });
            return ms;
        };
        const on = [];
        const off = [];
        try {
            for (let i = 0; i < 3; i++) {
                await timed(`/orders/w${i}`);
                await timed(`/plain/w${i}`);
            }
            for (let i = 0; i < 30; i++) {
                on.push(await timed(`/orders/${i}`));
                off.push(await timed(`/plain/${i}`));
            }
            const lim = [];
            for (let i = 0; i < 10; i++) lim.push(await timed(`/limited/${i}`));
            assert.ok(Math.max(...lim) < t(2000), `max latency with a hanging copy in flight: ${Math.max(...lim)} ms`);
        } finally {
            agent.destroy();
        }
        const mOn = median(on);
        const mOff = median(off);
        assert.ok(mOn <= mOff + 20, `median latency shadowed ${mOn.toFixed(2)} ms vs unshadowed ${mOff.toFixed(2)} ms`);
        assert.ok(Math.max(...on) < t(2000), `max shadowed latency ${Math.max(...on).toFixed(1)} ms`);

        const d = await waitDiffs(f, (x) => x.errored >= 33, { timeout: t(5000), what: '33 errored copies' });
        await sleep(200);
        const d2 = await diffs(f);
        assert.equal(d2.errored, 33, 'every copy timed out after the candidate read_timeout');
        assert.equal(d2.errors?.timeout, 33, `errors by reason: ${JSON.stringify(d2.errors)}`);
        assert.equal(d2.matched, 0);
        assert.equal(d2.mismatched, 0);
        assert.equal(d.mismatch_rate, 0, 'errors are not mismatches');
        assert.equal(slow.requests.filter((r) => r.url.startsWith('/orders/')).length, 33);

        const l = await diffs(f, 'limited');
        assert.equal(l.dropped.inflight, 9, 'max_inflight 1: one copy hangs, the other 9 are shed');
        assert.equal(slow.requests.filter((r) => r.url.startsWith('/limited/')).length, 1);
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_shadow_copies_total', { route: 'orders', result: 'errored' }), 33);
        assert.equal(metric(m, 'ficus_shadow_dropped_total', { route: 'limited', reason: 'inflight' }), 9);
    });

    test('a candidate that is down changes nothing for clients; copies count as errored', async () => {
        const port = await freePort();
        legacy.respond = (rec) => ({ json: { url: rec.url } });
        const f = await start(cfgWith({ to: 'down' }, { upstreams: { down: `127.0.0.1:${port}` } }));
        for (const r of await getSeq(f.port, Array.from({ length: 10 }, (_, i) => `/orders/${i}`))) {
            assert.equal(r.status, 200);
            assert.equal(r.headers['x-served-by'], 'legacy');
        }
        const d = await waitDiffs(f, (x) => x.errored >= 10, { what: '10 errored copies' });
        await sleep(150);
        const d2 = await diffs(f);
        assert.equal(d2.errored, 10);
        assert.equal(d2.errors?.connect_failed, 10, `errors by reason: ${JSON.stringify(d2.errors)}`);
        assert.equal(d2.matched, 0);
        assert.equal(d2.mismatched, 0);
        assert.equal(d.candidate, 'down');
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_shadow_copies_total', { route: 'orders', result: 'errored' }), 10);
        const log = f.accessLog().filter((e) => e.route === 'orders');
        assert.equal(log.length, 10);
        assert.ok(log.every((e) => e.status === 200), JSON.stringify(log.slice(0, 2)));
    });

    test('POST is not mirrored by default; listed, it is mirrored with its body intact', async () => {
        legacy.respond = candidate.respond = (rec) => ({ json: { method: rec.method, len: rec.body.length } });
        const body = JSON.stringify({ note: 'é ✓ ünïcode', data: 'x'.repeat(5000), n: [1, 2, 3] });

        const a = await start(cfgWith({ compare: IGNORE }));
        const p = await request({ port: a.port, method: 'POST', path: '/orders', body, headers: { 'Content-Type': 'application/json' } });
        assert.equal(p.status, 200);
        assert.equal(legacy.requests[0].body.toString(), body);
        await request({ port: a.port, path: '/orders/1' });
        const da = await waitCompared(a, 1);
        assert.equal(da.compared, 1, 'only the GET was compared');
        assert.deepEqual(candidate.requests.map((r) => r.method), ['GET'], 'the candidate never saw the POST');
        await a.stop();
        running.delete(a);
        legacy.reset();
        candidate.reset();
        legacy.respond = candidate.respond = (rec) => ({ json: { method: rec.method, len: rec.body.length } });

        const b = await start(cfgWith({ methods: ['POST'], compare: IGNORE }));
        const body2 = Buffer.from(`{"chunked":true,"blob":"${'y'.repeat(7000)}"}`);
        const r1 = await request({ port: b.port, method: 'POST', path: '/orders', body, headers: { 'Content-Type': 'application/json' } });
        const r2 = await request({ port: b.port, method: 'POST', path: '/orders/2', body: body2, headers: { 'Transfer-Encoding': 'chunked' } });
        const r3 = await request({ port: b.port, path: '/orders/3' });
        assert.deepEqual([r1.status, r2.status, r3.status], [200, 200, 200]);
        const db = await waitCompared(b, 2);
        assert.equal(db.compared, 2);
        assert.equal(db.matched, 2);
        const copies = candidate.requests;
        assert.deepEqual(copies.map((r) => `${r.method} ${r.url}`).sort(), ['POST /orders', 'POST /orders/2'],
            'methods: [POST] mirrors POST and no longer GET');
        const c1 = copies.find((r) => r.url === '/orders');
        const c2 = copies.find((r) => r.url === '/orders/2');
        assert.equal(c1.body.toString(), body, 'the body arrives intact');
        assert.equal(c1.headers['content-length'], String(Buffer.byteLength(body)));
        assert.ok(c2.body.equals(body2), 'a chunked body arrives intact');
        assert.equal(c2.headers['content-length'], String(body2.length));
        assert.equal(c2.headers['transfer-encoding'], undefined);
        assert.equal(c1.headers['x-ficus-shadow'], '1');
        assert.equal(c1.headers['content-type'], 'application/json');
    });

    test('max_body: larger request bodies are not mirrored and are counted', async () => {
        legacy.respond = candidate.respond = (rec) => ({ json: { len: rec.body.length } });
        const f = await start(cfgWith({ methods: ['POST'], max_body: '1KiB', compare: IGNORE }));
        const post = (p, b, headers = {}) => request({ port: f.port, method: 'POST', path: p, body: b, headers });
        const rs = [
            await post('/orders/a', 'a'.repeat(1024)),
            await post('/orders/b', 'b'.repeat(1025)),
            await post('/orders/c', 'c'.repeat(3000), { 'Transfer-Encoding': 'chunked' }),
        ];
        for (const r of rs) assert.equal(r.status, 200);
        assert.deepEqual(legacy.requests.map((r) => r.body.length), [1024, 1025, 3000], 'the primary gets every body');
        const d = await waitCompared(f, 1);
        assert.equal(d.compared, 1);
        assert.equal(d.dropped.body_too_large, 2, JSON.stringify(d.dropped));
        assert.deepEqual(candidate.requests.map((r) => `${r.url} ${r.body.length}`), ['/orders/a 1024'],
            'a body of exactly max_body is mirrored, larger ones are not');
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_shadow_dropped_total', { route: 'orders', reason: 'body_too_large' }), 2);
    });

    test('secrets are masked in stored samples, the report, the CLI and the store', async () => {
        legacy.respond = () => ({ json: { price: 1 }, headers: { 'Set-Cookie': 'session=legacy-cookie-secret-1111; Path=/' } });
        candidate.respond = () => ({ json: { price: 2 }, headers: { 'Set-Cookie': 'session=cand-cookie-secret-2222; Path=/' } });
        const f = await start(cfgWith({ redact: ['X-Api-Key'], compare: IGNORE }));
        const secrets = ['auth-secret-aaaa', 'proxy-secret-bbbb', 'cookie-secret-cccc', 'apikey-secret-dddd',
            'legacy-cookie-secret-1111', 'cand-cookie-secret-2222'];
        const r = await request({
            port: f.port,
            path: '/orders/7',
            headers: {
                Authorization: 'Bearer auth-secret-aaaa',
                'Proxy-Authorization': 'Basic proxy-secret-bbbb',
                Cookie: 'sid=cookie-secret-cccc',
                'X-Api-Key': 'apikey-secret-dddd',
                'X-Trace-Note': 'visible-note',
            },
        });
        assert.equal(r.status, 200);
        assert.equal(r.headers['set-cookie'][0], 'session=legacy-cookie-secret-1111; Path=/');
        const d = await waitDiffs(f, (x) => x.mismatched >= 1 && x.samples.length >= 1, { what: 'a mismatch sample' });
        const s = d.samples[0];
        const req = headerMap(s.request.headers);
        assert.equal(req['x-trace-note'], 'visible-note', `other headers are kept: ${JSON.stringify(s.request.headers)}`);
        assert.equal(req.authorization, '[redacted]');
        assert.equal(req.cookie, '[redacted]');
        assert.equal(req['x-api-key'], '[redacted]', 'a header listed in redact');
        if (req['proxy-authorization'] !== undefined) assert.equal(req['proxy-authorization'], '[redacted]');
        assert.equal(headerMap(s.candidate.headers)['set-cookie'], '[redacted]');
        assert.equal(headerMap(s.primary.headers)['set-cookie'], '[redacted]');
        const raw = (await diffsRaw(f, 'orders', 100)).text;
        for (const x of secrets) assert.ok(!raw.includes(x), `the report leaks ${x}`);

        // The candidate itself gets the real request: the copy is faithful.
        assert.equal(candidate.requests[0].headers.authorization, 'Bearer auth-secret-aaaa');
        assert.equal(candidate.requests[0].headers['x-api-key'], 'apikey-secret-dddd');

        const out = await ctl(f, ['diffs', 'orders']);
        assert.equal(out.code, 0, out.stderr);
        for (const x of secrets) assert.ok(!out.stdout.includes(x), `ficus ctl diffs leaks ${x}`);

        await waitFor(() => storeBytes(f.dir).includes('visible-note'),
            { timeout: t(4000), what: 'the sample in the SQLite store' });
        const db = storeBytes(f.dir);
        for (const x of secrets) assert.ok(!db.includes(x), `the store holds ${x}`);
        for (const x of secrets) assert.ok(!f.stderr.text.includes(x), `the log holds ${x}`);
    });

    test('gzip bodies are decoded before comparing', async () => {
        const doc = (id, price) => ({ id, name: 'gzip order', price, tags: ['a', 'b'] });
        legacy.respond = (rec) => ({
            body: zlib.gzipSync(JSON.stringify(doc(idOf(rec.url), 5))),
            headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        });
        candidate.respond = (rec) => ({ json: doc(idOf(rec.url), rec.url === '/orders/2' ? 6 : 5) });
        const f = await start(cfgWith({ compare: IGNORE }));
        const [r1] = await getSeq(f.port, ['/orders/1', '/orders/2']);
        assert.equal(r1.headers['content-encoding'], 'gzip', 'the client gets the legacy bytes');
        assert.deepEqual(JSON.parse(zlib.gunzipSync(r1.body)), doc('1', 5));
        const d = await waitCompared(f, 2);
        const why = JSON.stringify({ endpoints: d.endpoints, samples: d.samples.map((s) => ({ target: s.request.target, paths: s.paths })) });
        const body = (s) => s.paths.filter((p) => p === 'body' || p.startsWith('$'));
        const s1 = d.samples.find((s) => s.request.target === '/orders/1');
        const s2 = d.samples.find((s) => s.request.target === '/orders/2');
        assert.ok(s2, `the changed document is a mismatch: ${why}`);
        assert.deepEqual(body(s2), ['$.price'], `decoded and compared structurally: ${why}`);
        assert.equal(s2.primary.gzip, true);
        assert.match(s2.primary.body, /"price":5\b/, 'the stored excerpt is the decoded body');
        assert.deepEqual(s1 ? body(s1) : [], [], `same JSON after decoding: no body difference: ${why}`);
        assert.equal(d.mismatched, 1, `only the changed document mismatches; gzip vs plain alone is a match: ${why}`);
        assert.equal(d.matched, 1, why);
        assert.deepEqual(s2.paths, ['$.price'], why);
    });

    test('ficus ctl diffs prints the mismatching endpoint and path', async () => {
        legacy.respond = (rec) => ({ json: order(idOf(rec.url)) });
        candidate.respond = (rec) => {
            const o = order(idOf(rec.url));
            o.items[1].price = 4;
            return { json: o };
        };
        const f = await start(cfgWith({ compare: IGNORE }, {
            routes: [{ name: 'plain', match: { path_prefix: '/plain' }, to: 'legacy' }],
        }));
        await getSeq(f.port, ['/orders/1', '/orders/2', '/orders/3']);
        await waitCompared(f, 3);
        const out = await ctl(f, ['diffs', 'orders']);
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /GET \/orders\/\{id\}/);
        assert.match(out.stdout, /\$\.items\[\*\]\.price/, 'summary by generalised path');
        assert.match(out.stdout, /\$\.items\[1\]\.price/, 'samples with the exact path');
        assert.match(out.stdout, /\b3\b/);
        const one = await ctl(f, ['diffs', 'orders', '--limit', '1']);
        assert.equal(one.code, 0, `--limit N is documented for diffs: ${one.stderr}`);
        assert.equal(one.stdout.match(/\$\.items\[1\]\.price/g)?.length, 1, `--limit 1: one sample\n${one.stdout}`);

        const none = await ctl(f, ['diffs', 'plain']);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /404/);
        assert.equal((await diffsRaw(f, 'plain')).status, 404, 'a route without shadow');
        assert.equal((await diffsRaw(f, 'nope')).status, 404, 'an unknown route');
        assert.equal((await diffsRaw(f, 'orders', 'abc')).status, 400);
    });

    test('block_promotion_above holds the ramp while the candidate mismatches, and lets it advance once it matches', async () => {
        legacy.respond = (rec) => ({ json: order(idOf(rec.url)) });
        candidate.respond = (rec) => ({ json: { ...order(idOf(rec.url)), total: 99 } });
        const migrate = {
            to: 'candidate',
            weight: '10%',
            sticky: 'header:X-User-Id',
            ramp: { steps: ['10%', '50%', '100%'], interval: '1s' },
            guard: { min_requests: 5, window: '1s', max_p99_ratio: 10 },
        };
        const f = await start(cfgWith({ block_promotion_above: '1%', compare: IGNORE }, { route: { migrate } }));
        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        let go = true;
        let seq = 0;
        let errors = 0;
        const worker = async () => {
            while (go) {
                const n = seq++;
                try {
                    const r = await request({ port: f.port, path: `/orders/${n}`, headers: { 'X-User-Id': `u-${n}` }, agent });
                    if (r.status !== 200) errors++;
                } catch {
                    errors++;
                }
            }
        };
        const load = Promise.all([worker(), worker(), worker(), worker()]);
        const t0 = Date.now();
        try {
            const hold = await waitFor(async () => (await events(f, 'orders'))
                .find((e) => e.kind === 'hold' && /^shadow: mismatch rate/.test(e.reason ?? '')),
            { timeout: t(8000), interval: 100, what: 'a shadow hold event' });
            assert.match(hold.reason, /block_promotion_above 1(\.00)?%/);
            await sleep(Math.max(0, t0 + 3000 - Date.now()));
            const st = await routeState(f);
            assert.equal(st.weight_bp, 1000, 'held at the first step');
            assert.equal(st.status, 'ramping');
            assert.equal(st.shadow?.to, 'candidate');
            assert.ok(st.shadow.mismatch_rate > 0.01, JSON.stringify(st.shadow));
            assert.ok(!(await events(f, 'orders')).some((e) => e.kind === 'advance'), 'no advance while mismatching');
            const d = await diffs(f);
            assert.ok(d.mismatched > 20 && d.matched === 0, `${d.mismatched} mismatched, ${d.matched} matched`);

            candidate.respond = legacy.respond;
            await waitFor(async () => (await routeState(f)).weight_bp >= 5000,
                { timeout: t(8000), interval: 100, what: 'an advance once the candidate matches' });
        } finally {
            go = false;
            await load;
            agent.destroy();
        }
        assert.equal(errors, 0);
        const adv = (await events(f, 'orders')).filter((e) => e.kind === 'advance');
        assert.ok(adv.length >= 1 && adv.every((e) => e.actor === 'ramp'), JSON.stringify(adv));
    });
});
