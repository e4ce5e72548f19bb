// 70-: progressive migration end to end: weights set through `ficus ctl`,
// sticky assignment, admin API authentication, guard rollback, ramps,
// persistence across kill -9, operator changes versus reloads, the override
// header, and the CLI's tables. Real binary, Node backends, SQLite store.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import {
    freePort, metric, rawExchange, request, requireBinary, scrape, sleep, startBackend, t, waitFor,
} from './lib/harness.mjs';
import {
    TOKENS, admin, ctl, drive, events, migConfig, routeState, startMig, traffic, users,
} from './lib/migration-util.mjs';

let legacy;
let fresh;
const running = new Set();

before(async () => {
    requireBinary();
    legacy = await startBackend('legacy');
    fresh = await startBackend('new');
});

after(async () => {
    await Promise.all([legacy?.close(), fresh?.close()]);
});

afterEach(async () => {
    legacy.reset();
    fresh.reset();
    const errors = [];
    for (const f of running) {
        try {
            await f.stop();
        } catch (e) {
            errors.push(e);
        }
    }
    running.clear();
    if (errors.length) throw errors[0];
});

async function start(migrate, opts = {}) {
    const f = await startMig(migConfig({ legacy, fresh, migrate, tokenFile: opts.tokenFile ?? true }), opts);
    running.add(f);
    return f;
}

const shareOf = (counts, name) => (counts[name] || 0) / Object.values(counts).reduce((a, b) => a + b, 0);

describe('progressive migration', { timeout: t(60000) }, () => {
    test('ctl weight moves the share; assignment is sticky and only moves legacy → new', async () => {
        const f = await start({ weight: '0%' });
        const zero = await drive(f.port, users(200, 'z'));
        assert.deepEqual(zero.counts, { legacy: 200 }, 'weight 0%: everything on legacy');

        const set = await ctl(f, ['weight', 'orders', '50%'], { token: TOKENS.ops });
        assert.equal(set.code, 0, set.stderr);
        assert.match(set.stdout, /orders: weight 50\.00%/);

        const ids = users(2000);
        const half = await drive(f.port, ids);
        const share = shareOf(half.counts, 'new');
        assert.ok(Math.abs(share - 0.5) <= 0.04, `new share at 50% is ${(share * 100).toFixed(1)}%`);

        const again = await drive(f.port, ids.slice(0, 500));
        for (const [u, b] of again.side) assert.equal(b, half.side.get(u), `${u} changed side at a fixed weight`);

        const raise = await ctl(f, ['weight', 'orders', '75%'], { token: TOKENS.ops });
        assert.equal(raise.code, 0, raise.stderr);
        const more = await drive(f.port, ids);
        for (const [u, b] of half.side) {
            if (b === 'new') assert.equal(more.side.get(u), 'new', `${u} moved from new back to legacy`);
        }
        const share75 = shareOf(more.counts, 'new');
        assert.ok(Math.abs(share75 - 0.75) <= 0.04, `new share at 75% is ${(share75 * 100).toFixed(1)}%`);

        const log = f.accessLog().filter((e) => e.route === 'orders');
        assert.ok(log.some((e) => e.side === 'new') && log.some((e) => e.side === 'legacy'), 'access log carries side');
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_migration_weight_ratio', { route: 'orders' }), 0.75);
    });

    test('state changes need a valid bearer token; the actor is the token name', async () => {
        const f = await start({ weight: '5%' });
        const p = '/api/v1/routes/orders/weight';
        const none = await admin(f, 'POST', p, { body: { weight: '10%' } });
        assert.equal(none.status, 401);
        assert.match(none.headers['www-authenticate'] ?? '', /^Bearer/);
        assert.ok(none.json?.error, 'JSON error body');
        const wrong = await admin(f, 'POST', p, { token: `${TOKENS.ops}x`, body: { weight: '10%' } });
        assert.equal(wrong.status, 401);
        assert.equal((await routeState(f)).weight, '5.00%', 'refused changes change nothing');

        const ok = await admin(f, 'POST', p, { token: TOKENS.ops, body: { weight: '10%' } });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.weight, '10.00%');
        let ev = (await events(f, 'orders')).at(-1);
        assert.equal(ev.actor, 'ops');
        assert.equal(ev.new.split(' ')[0], '10.00%');

        const bare = await admin(f, 'POST', '/api/v1/routes/orders/pause', { token: TOKENS.admin });
        assert.equal(bare.status, 200, bare.text);
        ev = (await events(f, 'orders')).at(-1);
        assert.equal(ev.actor, 'admin', 'a bare token is named "admin"');

        assert.equal((await admin(f, 'POST', p, { token: TOKENS.ops, body: { weight: '101%' } })).status, 400);
        assert.equal((await admin(f, 'POST', '/api/v1/routes/orders/pause', { token: TOKENS.ops })).status, 409);
        assert.equal((await admin(f, 'POST', '/api/v1/routes/nope/pause', { token: TOKENS.ops })).status, 404);
        const get = await admin(f, 'GET', '/api/v1/routes/orders/pause');
        assert.equal(get.status, 405);
        assert.equal(get.headers.allow, 'POST');

        const nofile = await start({ weight: '5%' }, { tokenFile: false });
        const refused = await admin(nofile, 'POST', '/api/v1/routes/orders/pause', { token: TOKENS.ops });
        assert.equal(refused.status, 403);
        assert.equal(refused.json.error, 'admin.token_file is not configured');
    });

    test('admin API framing and validation errors', async () => {
        const f = await start({ weight: '5%' });
        const auth = `Authorization: Bearer ${TOKENS.ops}\r\n`;
        const post = (extra, body = '') => rawExchange(f.adminPort,
            `POST /api/v1/routes/orders/weight HTTP/1.1\r\nHost: localhost\r\n${auth}${extra}\r\n${body}`, { closeTimeout: t(3000) });
        const chunked = await post('Transfer-Encoding: chunked\r\n', '10\r\n{"weight":"10%"}\r\n0\r\n\r\n');
        assert.equal(chunked.res.status, 411);
        const big = await post(`Content-Length: ${64 * 1024 + 1}\r\n`, 'x'.repeat(64 * 1024 + 1));
        assert.equal(big.res.status, 413);
        assert.equal(JSON.parse(big.res.text).error.length > 0, true);
        const bad = await post('Content-Length: 9\r\n', '{"weight"');
        assert.equal(bad.res.status, 400);
        assert.equal(bad.res.get('content-type'), 'application/json');
        assert.equal((await routeState(f)).weight, '5.00%');

        assert.equal((await admin(f, 'GET', '/api/v1/events?limit=0')).status, 400);
        assert.equal((await admin(f, 'GET', '/api/v1/events?limit=10001')).status, 400);
        const one = await admin(f, 'GET', '/api/v1/events?route=orders&limit=1');
        assert.equal(one.status, 200);
        assert.equal(one.json.events.length, 1);
        assert.equal((await admin(f, 'GET', '/api/v1/routes/nope')).status, 404);
        const all = await admin(f, 'GET', '/api/v1/routes');
        assert.deepEqual(all.json.routes.map((r) => r.name), ['orders']);
        const del = await admin(f, 'DELETE', '/api/v1/routes');
        assert.equal(del.status, 405);
        assert.equal(del.headers.allow, 'GET, HEAD');
    });

    test('the guard rolls back a failing new side and holds until resumed', async () => {
        let n = 0;
        fresh.handle = (rec, req, res) => {
            res.statusCode = ++n % 10 === 0 ? 500 : 200;
            res.end('new');
        };
        const f = await start({
            weight: '50%',
            ramp: { steps: ['50%', '100%'], interval: '1s' },
            guard: { min_requests: 50, window: '2s', max_p99_ratio: 10 },
        });
        const load = traffic(f.port);
        try {
            const st = await waitFor(async () => {
                const s = await routeState(f);
                return s.status === 'rolled_back' ? s : null;
            }, { timeout: t(10000), interval: 100, what: 'status rolled_back' });
            assert.equal(st.weight_bp, 0);
            await sleep(1500);
            const held = await routeState(f);
            assert.equal(held.status, 'rolled_back', 'stays rolled back under traffic');
            assert.equal(held.weight_bp, 0);
        } finally {
            await load.stop();
        }
        const rb = (await events(f, 'orders')).filter((e) => e.kind === 'rollback');
        assert.equal(rb.length, 1, JSON.stringify(rb));
        assert.equal(rb[0].actor, 'guard');
        assert.match(rb[0].reason, /%/, 'the reason carries the error figures');
        const m = await scrape(f.adminPort);
        assert.equal(metric(m, 'ficus_migration_guard_rollbacks_total', { route: 'orders' }), 1);
        assert.ok(f.countStderr(/event=migration route=orders actor=guard kind=rollback/) === 1);

        fresh.handle = null;
        const res = await ctl(f, ['resume', 'orders'], { token: TOKENS.ops });
        assert.equal(res.code, 0, res.stderr);
        const after = await routeState(f);
        assert.equal(after.status, 'ramping');
        assert.ok(after.weight_bp > 0, 'resume restores a share');
    });

    test('a healthy ramp advances to promoted', async () => {
        const f = await start({
            weight: '10%',
            ramp: { steps: ['10%', '50%', '100%'], interval: '1s' },
            guard: { min_requests: 20, window: '1s', max_p99_ratio: 10 },
        });
        const load = traffic(f.port);
        try {
            await waitFor(async () => (await routeState(f)).status === 'promoted',
                { timeout: t(15000), interval: 100, what: 'status promoted' });
        } finally {
            await load.stop();
        }
        const st = await routeState(f);
        assert.equal(st.weight_bp, 10000);
        const adv = (await events(f, 'orders')).filter((e) => e.kind === 'advance');
        assert.ok(adv.length >= 2, JSON.stringify(adv));
        assert.ok(adv.every((e) => e.actor === 'ramp'));
    });

    test('kill -9 mid-ramp: the restart resumes at the same weight and step', async () => {
        const migrate = {
            weight: '10%',
            ramp: { steps: ['10%', '50%', '100%'], interval: '1s' },
            guard: { min_requests: 20, window: '1s', max_p99_ratio: 10 },
        };
        const f = await start(migrate);
        const load = traffic(f.port);
        try {
            await waitFor(async () => (await routeState(f)).step >= 1,
                { timeout: t(10000), interval: 50, what: 'an advance' });
        } finally {
            await load.stop();
        }
        // Without traffic the guard holds: wait out the window, then snapshot.
        await sleep(t(2500));
        const before1 = await routeState(f);
        assert.equal(before1.status, 'ramping');
        assert.equal(before1.weight, '50.00%');
        f.signal('SIGKILL');
        await f.wait(t(5000));
        running.delete(f);
        const { dir } = f;
        f.dir = undefined; // keep the store for the restart
        await f.stop({ check: false });

        const g = await start(migrate, { dir });
        const after1 = await routeState(g);
        assert.equal(after1.weight, before1.weight);
        assert.equal(after1.step, before1.step);
        assert.equal(after1.status, before1.status);
    });

    test('operator changes survive reloads until the migrate section changes', async () => {
        const f = await start({ weight: '10%' });
        const set = await ctl(f, ['weight', 'orders', '30%'], { token: TOKENS.ops });
        assert.equal(set.code, 0, set.stderr);
        const r1 = await f.reload();
        assert.equal(r1.result, 'ok');
        assert.equal((await routeState(f)).weight, '30.00%', 'unchanged file: the operator wins');

        await f.reload(migConfig({ legacy, fresh, migrate: { weight: '20%' } }));
        assert.equal((await routeState(f)).weight, '20.00%', 'changed section: the config wins');
        const ev = (await events(f, 'orders')).at(-1);
        assert.equal(ev.kind, 'config');
        assert.equal(ev.actor, 'config');
        assert.match(ev.new, /^20\.00%/);
    });

    test('the override header pins a side only from allowed addresses', async () => {
        const base = { weight: '0%', override: { header: 'X-Ficus-Target', from: ['127.0.0.1/32'] } };
        const f = await start(base);
        const pin = async (value) => (await drive(f.port, users(20, value), { c: 4, headers: { 'X-Ficus-Target': value } })).counts;
        assert.deepEqual(await pin('new'), { new: 20 }, 'pinned to new at 0%');
        assert.deepEqual(await pin('orders'), { new: 20 }, 'the upstream name pins too');
        assert.deepEqual(await pin('legacy'), { legacy: 20 });
        const r = await request({ port: f.port, path: '/api/orders/pinned', headers: { 'X-Ficus-Target': 'new' } });
        assert.equal(r.headers['x-backend'], 'new');
        const e = await f.waitAccess((x) => x.path === '/api/orders/pinned');
        assert.equal(e.route, 'orders');
        assert.equal(e.side, 'new', JSON.stringify(e));

        await f.reload(migConfig({ legacy, fresh, migrate: { ...base, override: { header: 'X-Ficus-Target', from: ['10.0.0.0/8'] } } }));
        assert.deepEqual(await pin('new'), { legacy: 20 }, 'header ignored from a non-allowed address');
    });

    test('ctl prints tables of routes and events, and reports errors', async () => {
        const f = await start({ weight: '5%', ramp: { steps: ['5%', '25%'], interval: '10m' } });
        await ctl(f, ['pause', 'orders'], { token: TOKENS.ops });
        const routes = await ctl(f, ['routes'], { token: TOKENS.viewer });
        assert.equal(routes.code, 0, routes.stderr);
        const lines = routes.stdout.trim().split('\n');
        assert.match(lines[0], /^ROUTE\s+LEGACY\s+NEW\s+WEIGHT\s+STEP\s+STATUS\b.*REQ.*ERR%.*P99ms/);
        assert.match(lines[1], /^orders\s+legacy\s+orders\s+5\.00%\s+1\/2\s+paused\b/);

        const ev = await ctl(f, ['events', 'orders', '--limit', '10'], { token: TOKENS.viewer });
        assert.equal(ev.code, 0, ev.stderr);
        assert.match(ev.stdout, /^TIME\s+ROUTE\s+ACTOR\s+KIND\s+OLD → NEW\s+REASON/);
        assert.match(ev.stdout, /orders\s+config\s+config\s/);
        assert.match(ev.stdout, /orders\s+ops\s+pause\s+5\.00% ramping → 5\.00% paused/);

        const denied = await ctl(f, ['resume', 'orders'], { token: 'not-a-valid-token-at-all' });
        assert.equal(denied.code, 1);
        assert.match(denied.stderr, /^ficus ctl: 401: /);
        const conflict = await ctl(f, ['pause', 'orders'], { token: TOKENS.ops });
        assert.equal(conflict.code, 1);
        assert.match(conflict.stderr, /^ficus ctl: 409: .*paused/);
        const port = await freePort();
        const down = await ctl(f, ['routes'], { admin: `127.0.0.1:${port}` });
        assert.equal(down.code, 1);
        assert.match(down.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
        const noaddr = await ctl(f, ['routes'], { admin: null });
        assert.equal(noaddr.code, 2);
        assert.match(noaddr.stderr, /--admin.*-c FILE/);
        const help = await ctl(f, ['weight', '--help'], { admin: null });
        assert.equal(help.code, 0);
        assert.match(help.stdout, /usage: ficus ctl .*weight NAME PERCENT/);
    });
});
