// 17-: `ficus plan` predicts what a reload changes, and the reload then does
// exactly that: a route is driven into a state through `ficus ctl`, plan runs
// against the live admin API with a changed file, SIGHUP applies the file,
// and the state the admin API reports must be the one plan printed. Also the
// offline comparison (--current), restart-only keys, exit codes 0/1/2 and
// check-style errors. Real binary, Node backends, SQLite store.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { configText, mkTempDir, requireBinary, runFicus, startBackend, t } from './lib/harness.mjs';
import { TOKENS, ctl, migConfig, routeState, startMig } from './lib/migration-util.mjs';

let legacy;
let fresh;
let spare;
const running = new Set();

before(async () => {
    requireBinary();
    legacy = await startBackend('legacy');
    fresh = await startBackend('new');
    spare = await startBackend('spare');
});

after(async () => {
    await Promise.all([legacy?.close(), fresh?.close(), spare?.close()]);
});

afterEach(async () => {
    for (const f of running) await f.stop();
    running.clear();
});

/* Ramping from 10% with an hour between steps: nothing moves on its own. */
const SLOW = { weight: '10%', ramp: { steps: ['10%', '50%'], interval: '1h' } };

async function start(migrate = SLOW) {
    const f = await startMig(migConfig({ legacy, fresh, migrate }));
    running.add(f);
    return f;
}

/** Write `cfg` beside the running config (same store path) and run plan on it. */
async function plan(f, cfg, args = [], { token = TOKENS.viewer } = {}) {
    const file = path.join(f.dir, 'new.yaml');
    fs.writeFileSync(file, configText(cfg));
    const env = { FICUS_ADMIN_TOKEN: token };
    return runFicus(['plan', '-c', file, '--admin', `http://127.0.0.1:${f.adminPort}`, ...args],
        { env, timeout: t(15000) });
}

describe('ficus plan', { timeout: t(60000) }, () => {
    test('a changed migrate section: plan says reset, the reload resets to exactly that', async () => {
        const f = await start();
        const rb = await ctl(f, ['rollback', 'orders'], { token: TOKENS.ops });
        assert.equal(rb.code, 0, rb.stderr);
        assert.equal((await routeState(f)).status, 'rolled_back');

        const next = migConfig({ legacy, fresh, migrate: { weight: '20%', ramp: { steps: ['20%', '50%'], interval: '1h' } } });
        const text = await plan(f, next);
        assert.equal(text.code, 1, `changes exit 1: ${text.stderr}`);
        assert.match(text.stdout, /^route orders: changed: migrate\.weight_bp, migrate\.ramp$/m);
        assert.match(text.stdout,
            /^route orders: migration reset: rolled_back 0\.00% -> ramping 20\.00% because the route's migrate section changed in the configuration$/m);
        assert.doesNotMatch(text.stdout, /offline/);

        const json = await plan(f, next, ['--format', 'json']);
        assert.equal(json.code, 1, json.stderr);
        const p = JSON.parse(json.stdout);
        assert.equal(p.live_state, true);
        const mig = p.routes.find((r) => r.name === 'orders').migration;
        assert.equal(mig.action, 'reset');
        assert.equal(mig.before.status, 'rolled_back');

        const r = await f.reload(next);
        assert.equal(r.result, 'ok');
        const st = await routeState(f);
        assert.deepEqual({ status: st.status, weight: st.weight, weight_bp: st.weight_bp, step: st.step },
            mig.after, 'the reload applied what plan predicted');
        assert.equal(st.weight, '20.00%');
    });

    test('an unchanged migrate section: plan says kept, the reload keeps the operator state', async () => {
        const f = await start();
        assert.equal((await ctl(f, ['weight', 'orders', '30%'], { token: TOKENS.ops })).code, 0);
        const before = await routeState(f);
        assert.equal(before.status, 'paused');

        const next = migConfig({ legacy, fresh, migrate: SLOW });
        next.upstreams.legacy.servers.push(spare.addr);
        next.routes.push({ name: 'health', match: { path_prefix: '/health' }, to: 'legacy', strip_prefix: '/health' });
        const out = await plan(f, next, ['--format', 'json']);
        assert.equal(out.code, 1, out.stderr);
        const p = JSON.parse(out.stdout);
        const orders = p.routes.find((r) => r.name === 'orders');
        assert.equal(orders.change, 'unchanged');
        assert.equal(orders.migration.action, 'kept');
        assert.deepEqual(orders.migration.after, { status: 'paused', weight: '30.00%', weight_bp: 3000, step: before.step });
        const health = p.routes.find((r) => r.name === 'health');
        assert.equal(health.change, 'added');
        assert.equal(health.position, 2);
        assert.equal(health.migration, null);
        assert.deepEqual(p.upstreams, [{ name: 'legacy', change: 'changed', servers_added: [spare.addr], servers_removed: [], keys: [] }]);
        assert.equal(p.changes, 2);

        await f.reload(next);
        const st = await routeState(f);
        assert.deepEqual({ status: st.status, weight: st.weight, weight_bp: st.weight_bp, step: st.step },
            orders.migration.after);

        const same = await plan(f, next);
        assert.equal(same.code, 0, `no change after the reload exits 0: ${same.stdout}${same.stderr}`);
        assert.match(same.stdout, /^route orders: migration kept: paused 30\.00% -> paused 30\.00% because the route's migrate section is unchanged$/m);
        assert.match(same.stdout, /^0 changes$/m);
    });

    test('a route that starts migrating is initialised, one that stops ends: as the reload does', async () => {
        const f = await start();
        const next = migConfig({ legacy, fresh, migrate: SLOW });
        delete next.routes[0].migrate;
        next.routes.push({
            name: 'billing', match: { path_prefix: '/api/billing' }, to: 'legacy',
            migrate: { to: 'orders', weight: '5%' },
        });
        const out = await plan(f, next);
        assert.equal(out.code, 1, out.stderr);
        assert.match(out.stdout, /^route orders: changed: migrate$/m);
        assert.match(out.stdout, /^route orders: migration ended \(ramping 10\.00%\) because the route no longer migrates/m);
        assert.match(out.stdout, /^route billing: added at position 2$/m);
        assert.match(out.stdout, /^route billing: migration initialised: none -> steady 5\.00% because the route starts migrating/m);

        await f.reload(next);
        const billing = await routeState(f, 'billing');
        assert.equal(billing.status, 'steady');
        assert.equal(billing.weight, '5.00%');
        await assert.rejects(routeState(f, 'orders'), /GET route orders: 404/);
    });

    test('errors exit 2: an invalid new file (check-style), no token, no admin address', async () => {
        const f = await start();
        const dir = f.dir;
        const bad = path.join(dir, 'bad.yaml');
        fs.writeFileSync(bad, 'listen: ["127.0.0.1:0"]\nupstreams: {a: {servers: ["127.0.0.1:1"]}}\nroutes:\n  - {name: r, to: nope}\n');
        const b = await runFicus(['plan', '-c', bad, '--admin', `127.0.0.1:${f.adminPort}`]);
        assert.equal(b.code, 2);
        assert.match(b.stderr, /bad\.yaml:4:\d+: .*nope/);

        const denied = await plan(f, migConfig({ legacy, fresh, migrate: SLOW }), [], { token: '' });
        assert.equal(denied.code, 2, denied.stdout);
        assert.match(denied.stderr, /HTTP 401/);

        const noAdmin = path.join(dir, 'noadmin.yaml');
        fs.writeFileSync(noAdmin, 'listen: ["127.0.0.1:0"]\nupstreams: {a: {servers: ["127.0.0.1:1"]}}\nroutes:\n  - {name: r, to: a}\n');
        const n = await runFicus(['plan', '-c', noAdmin]);
        assert.equal(n.code, 2);
        assert.match(n.stderr, /no admin\.listen: give --admin URL or --current FILE/);
    });

    test('offline --current: restart-only keys are named, live state is unknown', async () => {
        const dir = mkTempDir('ficus-plan-');
        const old = migConfig({ legacy, fresh, migrate: SLOW, tokenFile: false });
        const next = migConfig({ legacy, fresh, migrate: { ...SLOW, weight: '50%' }, tokenFile: false });
        next.listen = ['127.0.0.1:0', '127.0.0.1:0'];
        next.workers = 2;
        next.limits = { max_headers: 50 };
        fs.writeFileSync(path.join(dir, 'old.yaml'), configText(old));
        fs.writeFileSync(path.join(dir, 'new.yaml'), configText(next));
        const r = await runFicus(['plan', '-c', path.join(dir, 'new.yaml'), '--current', path.join(dir, 'old.yaml')]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stdout, /^global listen: NEEDS A RESTART/m);
        assert.match(r.stdout, /^global workers: NEEDS A RESTART/m);
        assert.match(r.stdout, /^global limits: changed \(applied at reload\): limits\.max_headers$/m);
        assert.match(r.stdout, /^route orders: migration reset: \? -> ramping 50\.00% because the route's migrate section changed/m);
        assert.match(r.stdout, /^4 changes \(offline: live migration state unknown\)$/m);

        const same = await runFicus(['plan', '-c', path.join(dir, 'old.yaml'), '--current', path.join(dir, 'old.yaml')]);
        assert.equal(same.code, 0, same.stdout);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});
