// 50-: operations: metrics that match the traffic, health and config
// endpoints, SIGHUP reloads (valid, invalid, under load), graceful SIGTERM,
// access-log fields and modes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, findSamples, freePort, get, makeConfig, metric, metricSum, mkTempDir, parseLogfmt, request,
    requireBinary, scrape, sleep, startBackend, t, waitFor,
} from './lib/harness.mjs';

before(() => requireBinary());

const cleanups = [];
after(async () => {
    const errors = [];
    for (const fn of cleanups.reverse()) {
        try {
            await fn();
        } catch (e) {
            errors.push(e);
        }
    }
    if (errors.length) throw errors[0];
});

/** Start backends by name and a Ficus; everything is stopped in after(). */
async function setup(names, makeCfg, opts) {
    const bs = {};
    for (const n of names) {
        bs[n] = await startBackend(n);
        cleanups.push(() => bs[n].close());
    }
    const f = await Ficus.start(makeCfg(bs), opts);
    cleanups.push(() => f.stop());
    return { f, ...bs };
}

const route = (name, prefix, to, extra = {}) => ({ name, match: { path_prefix: prefix, ...extra }, to });

describe('metrics and admin endpoints', { timeout: t(60000) }, () => {
    let f; let A; let refused;

    before(async () => {
        refused = await freePort();
        ({ f, A } = await setup(['A'], (bs) => makeConfig({
            upstreams: { legacy: bs.A, refused: { servers: [`127.0.0.1:${refused}`] } },
            routes: [route('broken', '/broken', 'refused'), route('default', '/', 'legacy')],
        })));
        A.handle = (rec, req, res) => {
            res.statusCode = rec.url.startsWith('/missing') ? 404 : 200;
            res.end('x');
        };
    });

    test('counters and histogram match the traffic sent', async () => {
        for (let i = 0; i < 7; i++) assert.equal((await get(f.port, `/ok/${i}`)).status, 200);
        for (let i = 0; i < 3; i++) assert.equal((await get(f.port, `/missing/${i}`)).status, 404);
        for (let i = 0; i < 2; i++) assert.equal((await get(f.port, `/broken/${i}`)).status, 502);

        const want = (m) => metric(m, 'ficus_requests_total', { route: 'default', upstream: 'legacy', code: '200' });
        let m = await waitFor(async () => {
            const s = await scrape(f.adminPort);
            return want(s) >= 7 && metric(s, 'ficus_requests_total', { route: 'broken', upstream: 'refused', code: '502' }) >= 2 ? s : null;
        }, { what: 'request counters to reach the traffic sent' });
        await sleep(200);
        m = await scrape(f.adminPort);

        assert.match(m.response.headers['content-type'] ?? '', /^text\/plain/);
        assert.equal(m.types.ficus_requests_total, 'counter');
        assert.equal(m.types.ficus_request_duration_seconds, 'histogram');
        assert.equal(metric(m, 'ficus_requests_total', { route: 'default', upstream: 'legacy', code: '200' }), 7);
        assert.equal(metric(m, 'ficus_requests_total', { route: 'default', upstream: 'legacy', code: '404' }), 3);
        assert.equal(metric(m, 'ficus_requests_total', { route: 'broken', upstream: 'refused', code: '502' }), 2);
        assert.equal(metricSum(m, 'ficus_requests_total'), 12, 'no other requests counted');
        assert.equal(metric(m, 'ficus_upstream_connect_errors_total', { upstream: 'refused' }, { required: true }), 2);
        assert.equal(metric(m, 'ficus_upstream_connect_errors_total', { upstream: 'legacy' }), 0);
        assert.equal(metric(m, 'ficus_upstream_timeouts_total', { upstream: 'legacy' }), 0);

        // Histogram for route "default": 10 observations, cumulative buckets.
        const buckets = findSamples(m, 'ficus_request_duration_seconds_bucket', { route: 'default' })
            .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), v: s.value }))
            .sort((a, b) => a.le - b.le);
        assert.ok(buckets.length >= 2, 'histogram buckets for route default');
        assert.ok(buckets.some((b) => b.le === 0.005), 'an le="0.005" bucket');
        for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].v >= buckets[i - 1].v, 'buckets are cumulative');
        assert.equal(buckets.at(-1).le, Infinity);
        assert.equal(buckets.at(-1).v, 10);
        assert.equal(metricSum(m, 'ficus_request_duration_seconds_count', { route: 'default' }), 10);
        const sum = metricSum(m, 'ficus_request_duration_seconds_sum', { route: 'default' });
        assert.ok(sum > 0 && sum < 10, `duration sum ${sum}`);
        assert.equal(metricSum(m, 'ficus_request_duration_seconds_count', { route: 'broken' }), 2);
    });

    test('connection gauges follow open connections', async () => {
        const m0 = await scrape(f.adminPort);
        const base = metric(m0, 'ficus_client_connections', {}, { required: true });
        const conns = [];
        for (let i = 0; i < 3; i++) {
            const c = await RawConn.open(f.port);
            await c.write('GET /gauge HTTP/1.1\r\nHost: g\r\n\r\n');
            assert.equal((await c.readResponse()).status, 200);
            conns.push(c);
        }
        const m1 = await scrape(f.adminPort);
        assert.equal(metric(m1, 'ficus_client_connections'), base + 3, 'three more open client connections');
        const ups = metric(m1, 'ficus_upstream_connections', {}, { required: true });
        assert.ok(ups >= 1, `pooled upstream connections: ${ups}`);
        for (const c of conns) c.destroy();
        await waitFor(async () => metric(await scrape(f.adminPort), 'ficus_client_connections') === base,
            { what: `ficus_client_connections back to ${base}` });
    });

    test('GET /healthz → 200 ok', async () => {
        const r = await get(f.adminPort, '/healthz');
        assert.equal(r.status, 200);
        assert.equal(r.text.trim(), 'ok');
    });

    test('GET /api/v1/config → the running config as JSON', async () => {
        const r = await get(f.adminPort, '/api/v1/config');
        assert.equal(r.status, 200);
        assert.match(r.headers['content-type'] ?? '', /json/);
        const cfg = JSON.parse(r.text);
        assert.deepEqual(cfg.routes.map((x) => x.name), ['broken', 'default']);
        assert.deepEqual(Object.keys(cfg.upstreams).sort(), ['legacy', 'refused']);
    });

    test('unknown admin path → 404; admin paths on the proxy port go to the backend', async () => {
        assert.equal((await get(f.adminPort, '/nope')).status, 404);
        A.reset();
        const r = await get(f.port, '/metrics');
        assert.equal(r.headers['x-backend'], 'A');
        assert.equal(A.requests[0].url, '/metrics');
    });
});

describe('metrics with two workers', { timeout: t(60000) }, () => {
    test('counters are aggregated across workers', async () => {
        const { f } = await setup(['W'], (bs) => makeConfig({
            workers: 2, upstreams: { legacy: bs.W }, routes: [route('default', '/', 'legacy')],
        }));
        assert.equal(f.readyLine.workers, '2');
        const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => get(f.port, `/w/${i}`)));
        assert.ok(rs.every((r) => r.status === 200));
        await waitFor(async () => metricSum(await scrape(f.adminPort), 'ficus_requests_total') >= 40,
            { what: 'ficus_requests_total to reach 40' }).catch(() => {});
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_requests_total', { route: 'default', upstream: 'legacy', code: '200' }), 40);
        // Several scrapes (possibly served by different workers) agree.
        for (let i = 0; i < 4; i++) {
            const again = await scrape(f.adminPort);
            assert.equal(metric(again, 'ficus_requests_total', { route: 'default', upstream: 'legacy', code: '200' }), 40);
        }
    });
});

describe('reload (SIGHUP)', { timeout: t(90000) }, () => {
    let f; let A; let B;
    const cfgTo = (to, name) => makeConfig({
        upstreams: { a: A, b: B },
        routes: [route(name, '/', to)],
    });

    before(async () => {
        ({ f, A, B } = await setup(['A', 'B'], (bs) => makeConfig({
            upstreams: { a: bs.A, b: bs.B }, routes: [route('to-a', '/', 'a')],
        })));
    });

    test('a valid new config switches routing', async () => {
        assert.equal((await get(f.port, '/r')).headers['x-backend'], 'A');
        const ev = await f.reload(cfgTo('b', 'to-b'));
        assert.equal(ev.result, 'ok', JSON.stringify(ev));
        // Workers pick up the new snapshot asynchronously: allow a moment,
        // then every new request must use it.
        await waitFor(async () => (await get(f.port, '/r')).headers['x-backend'] === 'B',
            { timeout: t(2000), what: 'routing to switch to B' });
        for (let i = 0; i < 10; i++) assert.equal((await get(f.port, `/r/${i}`)).headers['x-backend'], 'B');
        const cfg = JSON.parse((await get(f.adminPort, '/api/v1/config')).text);
        assert.deepEqual(cfg.routes.map((x) => x.name), ['to-b']);
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_config_reloads_total', { result: 'success' }), 1);
        assert.equal(metric(m, 'ficus_config_reloads_total', { result: 'failure' }), 0);
    });

    test('an invalid config is rejected, the old one keeps serving', async () => {
        const listening = f.countStderr(/event=listening/);
        const good = fs.readFileSync(f.configPath, 'utf8');
        const ev = await f.reload(`${good}bogus: 1\n`);
        assert.equal(ev.result, 'error', JSON.stringify(ev));
        const raw = f.stderr.lines.filter((l) => /event=reload/.test(l)).at(-1);
        assert.match(raw, /unknown key \\?"bogus\\?"/, 'the reason is logged');
        assert.equal((await get(f.port, '/r')).headers['x-backend'], 'B', 'old routing kept');
        const cfg = JSON.parse((await get(f.adminPort, '/api/v1/config')).text);
        assert.deepEqual(cfg.routes.map((x) => x.name), ['to-b']);
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_config_reloads_total', { result: 'failure' }), 1);
        assert.equal(metric(m, 'ficus_config_reloads_total', { result: 'success' }), 1);
        assert.equal(f.countStderr(/event=listening/), listening, 'listeners untouched');
        assert.equal(f.exited, false);
    });

    test('the reload error line is valid logfmt (quotes in the value escaped)', () => {
        const raw = f.stderr.lines.filter((l) => /event=reload result=error/.test(l)).at(-1);
        assert.ok(raw, 'a reload error line');
        const ev = parseLogfmt(raw);
        assert.match(ev.error ?? '', /unknown key "bogus"/, `error field as parsed from logfmt; raw line: ${raw}`);
    });

    test('reloads under sustained keep-alive load fail no request', async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        const stats = { ok: 0, failed: [], seen: { A: 0, B: 0 } };
        let stop = false;
        const loop = async (id) => {
            let i = 0;
            while (!stop) {
                try {
                    const r = await request({ port: f.port, path: `/load/${id}/${i++}`, agent, timeout: t(10000) });
                    if (r.status === 200) {
                        stats.ok++;
                        stats.seen[r.headers['x-backend']]++;
                    } else stats.failed.push(`status ${r.status}`);
                } catch (e) {
                    stats.failed.push(e.code || e.message);
                }
            }
        };
        const loops = [0, 1, 2, 3].map(loop);
        const t0 = Date.now();
        const results = [];
        for (let i = 0; i < 5; i++) {
            await sleep(400);
            results.push((await f.reload(cfgTo(i % 2 === 0 ? 'a' : 'b', `gen-${i}`))).result);
        }
        await sleep(Math.max(300, 3000 - (Date.now() - t0)));
        stop = true;
        await Promise.all(loops);
        agent.destroy();
        assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok', 'ok']);
        assert.deepEqual(stats.failed, [], `${stats.failed.length} failed requests`);
        assert.ok(stats.ok >= 40, `only ${stats.ok} requests completed`);
        assert.ok(stats.seen.A > 0 && stats.seen.B > 0, `traffic followed the reloads: ${JSON.stringify(stats.seen)}`);
        // The last reload routes to A.
        await waitFor(async () => (await get(f.port, '/final')).headers['x-backend'] === 'A',
            { timeout: t(2000), what: 'routing to follow the last reload (A)' });
    });
});

describe('shutdown (SIGTERM)', { timeout: t(60000) }, () => {
    test('in-flight request completes with 200, new connections refused, exit 0', async () => {
        const DELAY = t(1500);
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        A.handle = (rec, req, res) => setTimeout(() => res.end('slow done'), DELAY);
        const f = await Ficus.start(makeConfig({
            upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')], limits: { drain_timeout: '5s' },
        }));
        cleanups.push(() => f.stop());
        let settled = false;
        const slow = request({ port: f.port, path: '/slow' }).finally(() => (settled = true));
        await A.waitRequests(1);
        const t0 = Date.now();
        f.signal('SIGTERM');
        // The listener goes away while the slow request is still running.
        await waitFor(() => new Promise((resolve) => {
            const s = net.connect(f.port, '127.0.0.1');
            s.on('connect', () => {
                s.destroy();
                resolve(false);
            });
            s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
        }), { timeout: DELAY - 300, interval: 25, what: 'new connections to be refused after SIGTERM' });
        assert.equal(settled, false, 'refused while the in-flight request is still running');
        const r = await slow;
        assert.equal(r.status, 200);
        assert.equal(r.text, 'slow done');
        const { code, signal } = await f.wait(t(10000));
        assert.equal(signal, null);
        assert.equal(code, 0);
        assert.ok(Date.now() - t0 < t(5000), 'exited soon after the request finished');
    });

    test('drain_timeout bounds the wait for a request that never finishes', async () => {
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        A.handle = () => {}; // never answers
        const f = await Ficus.start(makeConfig({
            upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')], limits: { drain_timeout: '1s' },
        }));
        cleanups.push(() => f.stop());
        const pending = request({ port: f.port, path: '/forever' }).then((r) => r.status, (e) => e.code || e.message);
        await A.waitRequests(1);
        const t0 = Date.now();
        f.signal('SIGTERM');
        const { code } = await f.wait(t(10000));
        const ms = Date.now() - t0;
        assert.equal(code, 0);
        assert.ok(ms >= 800, `exited after ${ms} ms, before drain_timeout (1s)`);
        assert.ok(ms < t(4000), `exited after ${ms} ms with drain_timeout 1s`);
        const outcome = await pending;
        assert.ok(outcome !== 200, `the unfinished request cannot succeed (${outcome})`);
    });

    test('idle keep-alive connections do not hold up shutdown', async () => {
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        const f = await Ficus.start(makeConfig({
            upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')], limits: { drain_timeout: '10s' },
        }));
        cleanups.push(() => f.stop());
        const c = await RawConn.open(f.port);
        await c.write('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal((await c.readResponse()).status, 200);
        const t0 = Date.now();
        f.signal('SIGTERM');
        const { code } = await f.wait(t(10000));
        const ms = Date.now() - t0;
        assert.equal(code, 0);
        assert.ok(ms < t(3000), `exited after ${ms} ms although only an idle connection was open`);
        assert.ok(await c.waitClose(t(2000)), 'idle connection closed');
        c.destroy();
    });
});

describe('access log', { timeout: t(60000) }, () => {
    let f; let A;

    before(async () => {
        ({ f, A } = await setup(['A'], (bs) => makeConfig({
            upstreams: { legacy: bs.A },
            routes: [route('default', '/', 'legacy', { methods: ['GET', 'POST', 'PUT'] })],
        })));
    });

    test('one JSON line per request with the documented fields', async () => {
        A.handle = (rec, req, res) => {
            res.statusCode = 201;
            res.end('created!');
        };
        const since = f.accessLog().length;
        const c = await RawConn.open(f.port);
        const tBefore = Date.now();
        await c.write('POST /echo?q=1 HTTP/1.1\r\nHost: log.test\r\nContent-Length: 5\r\n\r\nhello');
        const r = await c.readResponse();
        assert.equal(r.status, 201);
        const e = await f.waitAccess((x) => x.path === '/echo?q=1', { since });
        const client = `127.0.0.1:${c.localPort}`;
        c.destroy();
        for (const k of ['time', 'request_id', 'client', 'method', 'path', 'route', 'upstream', 'server', 'status', 'bytes_in', 'bytes_out', 'duration_us', 'error']) {
            assert.ok(k in e, `field ${k} present`);
        }
        assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.ok(Math.abs(Date.parse(e.time) - tBefore) < 60000, `time ${e.time} is now`);
        assert.equal(typeof e.request_id, 'string');
        assert.ok(e.request_id.length > 0);
        assert.equal(e.request_id, A.requests.at(-1).headers['x-request-id'], 'request_id is the forwarded X-Request-Id');
        assert.equal(e.client, client);
        assert.equal(e.method, 'POST');
        assert.equal(e.route, 'default');
        assert.equal(e.upstream, 'legacy');
        assert.equal(e.server, A.addr);
        assert.equal(e.status, 201);
        for (const k of ['bytes_in', 'bytes_out', 'duration_us']) assert.ok(Number.isInteger(e[k]) && e[k] >= 0, `${k}=${e[k]}`);
        assert.ok(e.bytes_in >= 5, `bytes_in ${e.bytes_in} counts the request body`);
        assert.ok(e.bytes_out >= 8, `bytes_out ${e.bytes_out} counts the response body`);
        assert.equal(e.error, null);
    });

    test('keeps the client X-Request-Id', async () => {
        const since = f.accessLog().length;
        await get(f.port, '/rid', { 'X-Request-Id': 'given-123' });
        const e = await f.waitAccess((x) => x.path === '/rid', { since });
        assert.equal(e.request_id, 'given-123');
    });

    test('exactly one line per request on a keep-alive connection', async () => {
        const since = f.accessLog().length;
        const c = await RawConn.open(f.port);
        for (let i = 0; i < 5; i++) {
            await c.write(`GET /one/${i} HTTP/1.1\r\nHost: log.test\r\n\r\n`);
            await c.readResponse();
        }
        c.destroy();
        await f.waitAccess((x) => x.path === '/one/4', { since });
        await sleep(200);
        const lines = f.accessLog().slice(since).filter((x) => x.path.startsWith('/one/'));
        assert.deepEqual(lines.map((x) => x.path), ['/one/0', '/one/1', '/one/2', '/one/3', '/one/4']);
        const raw = f.stdout.lines.filter((l) => l.includes('/one/'));
        assert.equal(raw.length, 5, 'one stdout line each');
    });

    test('no route: route/upstream "" and error no_route', async () => {
        const since = f.accessLog().length;
        const r = await request({ port: f.port, method: 'DELETE', path: '/x' });
        assert.equal(r.status, 404);
        const e = await f.waitAccess((x) => x.path === '/x' && x.method === 'DELETE', { since });
        assert.equal(e.status, 404);
        assert.equal(e.route, '');
        assert.equal(e.upstream, '');
        assert.equal(e.error, 'no_route');
    });

    test('log.access: off writes nothing; a path writes to the file', async () => {
        const dir = mkTempDir('ficus-e2e-log-');
        cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        const file = path.join(dir, 'access.log');
        const { f: off, B } = await setup(['B'], (bs) => makeConfig({
            upstreams: { legacy: bs.B }, routes: [route('default', '/', 'legacy')], log: { access: 'off', format: 'json' },
        }));
        assert.equal((await get(off.port, '/quiet')).status, 200);
        const { f: toFile } = await setup([], () => makeConfig({
            upstreams: { legacy: B }, routes: [route('default', '/', 'legacy')], log: { access: file, format: 'json' },
        }));
        assert.equal((await get(toFile.port, '/to-file')).status, 200);
        const line = await waitFor(() => {
            const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
            return text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((x) => x.path === '/to-file');
        }, { what: `an access-log line in ${file}` });
        assert.equal(line.status, 200);
        assert.equal(toFile.accessLog().length, 0, 'nothing on stdout when logging to a file');
        await sleep(200);
        assert.equal(off.accessLog().length, 0, 'nothing on stdout with access: off');
    });
});
