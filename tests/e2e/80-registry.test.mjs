// 80-: the technical debt registry: `ficus debt` on a store with no server
// (-c FILE), import/export round trips, errors, and the same commands
// through the admin API of a running server, whose progress samples make
// an item's live figures move when traffic crosses its route.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    configText, makeConfig, mkTempDir, requireBinary, runFicus, startBackend, t, waitFor,
} from './lib/harness.mjs';
import { TOKENS, admin, drive, migConfig, startMig, users } from './lib/migration-util.mjs';

let legacy;
let fresh;

before(async () => {
    requireBinary();
    legacy = await startBackend('legacy');
    fresh = await startBackend('new');
});

after(async () => {
    await Promise.all([legacy?.close(), fresh?.close()]);
});

/** A directory with a config whose store is dir/ficus.db (no server). */
function offlineConfig() {
    const dir = mkTempDir('ficus-reg-');
    const cfg = makeConfig({
        upstreams: { legacy, orders: fresh },
        routes: [
            { name: 'orders', match: { path_prefix: '/api/orders' }, to: 'legacy' },
            { name: 'billing', match: { path_prefix: '/api/billing' }, to: 'legacy' },
        ],
        extra: { store: 'sqlite:ficus.db' },
    });
    const file = path.join(dir, 'ficus.yaml');
    fs.writeFileSync(file, configText(cfg));
    return { dir, file };
}

/** `ficus debt ARGS` with no FICUS_ADMIN_TOKEN; resolves {code, stdout, stderr}. */
function debt(args, env = {}) {
    const e = { ...env };
    if (!('FICUS_ADMIN_TOKEN' in e)) e.FICUS_ADMIN_TOKEN = '';
    return runFicus(['debt', ...args], { env: e, timeout: t(15000) });
}

async function ok(args) {
    const r = await debt(args);
    assert.equal(r.code, 0, `ficus debt ${args.join(' ')}\n${r.stderr}`);
    return r.stdout;
}

async function showJson(where, id) {
    return JSON.parse(await ok([...where, 'show', id, '--format', 'json']));
}

describe('ficus debt on a store (no server)', { timeout: t(60000) }, () => {
    test('create, update, close; every change is in the history', async () => {
        const { file } = offlineConfig();
        const c = ['-c', file];
        const made = await ok([...c, 'add', '--title', 'Orders read the legacy DB', '--route', 'orders',
            '--kind', 'data', '--stability', '4', '--velocity', '2', '--effort', '5', '--owner', 'team-a']);
        assert.match(made, /^DEBT-1 created: Orders read the legacy DB \(priority [\d.]+\)\n$/);
        await ok([...c, 'add', '--title', 'No tests for billing export', '--kind', 'testing']);

        const up = await ok([...c, 'update', 'DEBT-1', '--owner', 'team-b', '--stability', '5',
            '--route', 'orders', '--route', 'billing', '--status', 'in_progress']);
        assert.match(up, /^DEBT-1 updated/);
        let item = await showJson(c, 'DEBT-1');
        assert.equal(item.owner, 'team-b');
        assert.equal(item.stability, 5);
        assert.deepEqual(item.routes, ['orders', 'billing']);
        assert.equal(item.status, 'in_progress');
        const changed = Object.fromEntries(item.history.slice(1).map((h) => [h.field, [h.old, h.new]]));
        assert.deepEqual(changed, {
            owner: ['team-a', 'team-b'], stability: ['4', '5'], routes: ['orders', 'orders;billing'],
            status: ['open', 'in_progress'],
        });
        assert.equal(item.history[0].field, 'item');
        assert.ok(item.score.terms.length >= 8);
        const sum = item.score.terms.reduce((a, x) => a + x.contribution, 0);
        assert.ok(Math.abs(sum - item.priority) < 0.011, `terms add up to ${sum}, priority ${item.priority}`);

        const shown = await ok([...c, 'show', 'DEBT-1']);
        for (const term of item.score.terms) assert.match(shown, new RegExp(`^  ${term.name} `, 'm'));
        assert.match(shown, /^history:$/m);

        assert.match(await ok([...c, 'close', 'DEBT-1', '--as', 'paid']), /^DEBT-1 closed as paid: .*\(priority 0\.00\)/);
        item = await showJson(c, 'DEBT-1');
        assert.equal(item.status, 'paid');
        assert.equal(item.priority, 0);
        assert.equal(item.history.at(-1).new, 'paid');

        const list = JSON.parse(await ok([...c, 'list', '--format', 'json']));
        assert.deepEqual(list.map((i) => i.id), ['DEBT-2', 'DEBT-1'], 'ranked by priority; paid sinks');
        const open = JSON.parse(await ok([...c, 'list', '--status', 'open', '--format', 'json']));
        assert.deepEqual(open.map((i) => i.id), ['DEBT-2']);
        const byCreated = JSON.parse(await ok([...c, 'list', '--sort', 'created', '--format', 'json']));
        assert.deepEqual(byCreated.map((i) => i.id), ['DEBT-1', 'DEBT-2']);

        const table = (await ok([...c, 'list'])).split('\n');
        assert.match(table[0], /^ID\s+PRIO\s+STATUS\s+KIND\s+TITLE\s+ROUTES\s+REQ\/DAY\s+MIGR\s+5XX\s+P99\s+SHADOW\s+OWNER$/);
        const col = table[0].indexOf('STATUS');
        assert.equal(table[1].slice(col, col + 4), 'open', 'columns are aligned');
        assert.match(await ok([...c, 'list', '--format', 'md']), /^\| ID \| PRIO \|/);
        assert.match(await ok([...c, 'list', '--format', 'csv']), /^id,priority,status,kind,title,routes,owner,/);
    });

    test('errors: unknown id, invalid kind, impact out of range, usage', async () => {
        const { file } = offlineConfig();
        const c = ['-c', file];
        let r = await debt([...c, 'show', 'DEBT-99']);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'ficus debt: DEBT-99: no such item\n');
        r = await debt([...c, 'update', 'DEBT-99', '--owner', 'x']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /DEBT-99: no such item/);
        r = await debt([...c, 'add', '--title', 'x', '--kind', 'foo']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /unknown kind "foo" \(expected architecture, code, data, infrastructure, security, testing, dependency\)/);
        r = await debt([...c, 'add', '--title', 'x', '--stability', '9']);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'ficus debt: field "stability": 9 is outside 1..5\n');
        r = await debt([...c, 'add', '--title', 'x', '--velocity', 'lots']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /field "velocity": "lots" is not an integer 1\.\.5/);
        r = await debt([...c, 'close', 'DEBT-1', '--as', 'forgotten']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /cannot close as "forgotten"/);
        assert.equal(JSON.parse(await ok([...c, 'list', '--format', 'json'])).length, 0, 'nothing was created');

        for (const args of [['add', '--title', 'x'], [...c, 'frob'], [...c, 'list', '--colour', 'red'],
            [...c, 'show'], [...c, 'list', '--format', 'xml'], [...c, 'add', '--as', 'paid', '--title', 'x']]) {
            r = await debt(args);
            assert.equal(r.code, 2, `usage error for ${args.join(' ')}: ${r.stderr}`);
            assert.match(r.stderr, /^ficus debt: /);
        }
        for (const cmd of ['add', 'list', 'show', 'update', 'close', 'import', 'export']) {
            r = await debt([cmd, '--help']);
            assert.equal(r.code, 0);
            assert.match(r.stdout, new RegExp(`^usage: ficus debt ${cmd}`));
        }
        r = await debt(['--help']);
        assert.equal(r.code, 0);
        assert.match(r.stdout, /^usage: ficus debt/);
    });

    test('export, import into an empty store, export again: identical bytes', async () => {
        const a = offlineConfig();
        const ca = ['-c', a.file];
        await ok([...ca, 'add', '--title', 'Quotes "here", commas, ünïcödé', '--description', 'two\nlines, "quoted"',
            '--route', 'orders', '--route', 'billing', '--kind', 'security', '--effort', '0.5', '--owner', 'ops, team']);
        await ok([...ca, 'add', '--title', 'plain', '--effort', '12', '--notes', 'tab\there']);
        await ok([...ca, 'add', '--title', 'third']);
        await ok([...ca, 'close', 'DEBT-3', '--as', 'accepted']);
        for (const format of ['json', 'csv']) {
            const first = path.join(a.dir, `first.${format}`);
            await ok([...ca, 'export', '-o', first]);
            const b = offlineConfig();
            const out = await ok(['-c', b.file, 'import', first]);
            assert.equal(out, `imported 3 items from ${first}\n`);
            const again = await ok(['-c', b.file, 'export', '--format', format]);
            assert.equal(again, fs.readFileSync(first, 'utf8'), `${format} round trip`);
            if (format === 'csv') {
                assert.match(again, /^id,title,description,kind,routes,component,owner,status,stability,velocity,effort_days,notes,created,updated\r\n/);
                assert.match(again, /,orders;billing,/);
            }
        }
    });

    test('an import with a bad row imports nothing and names the row', async () => {
        const { dir, file } = offlineConfig();
        const c = ['-c', file];
        const csv = path.join(dir, 'bad.csv');
        fs.writeFileSync(csv, 'title,kind,stability\r\none,code,1\r\ntwo,data,2\r\nthree,code,9\r\nfour,code,3\r\n');
        let r = await debt([...c, 'import', csv]);
        assert.equal(r.code, 1);
        assert.equal(r.stderr, 'ficus debt: import row 3 (line 4): field "stability": 9 is outside 1..5\n');
        const json = path.join(dir, 'bad.json');
        fs.writeFileSync(json, JSON.stringify([{ title: 'a' }, { title: 'b' }, { title: 'c', kind: 'nope' }]));
        r = await debt([...c, 'import', json]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^ficus debt: import row 3: unknown kind "nope"/);
        fs.writeFileSync(json, '[{"title": "a"},');
        r = await debt([...c, 'import', json]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /bad\.json:1:\d+: /);
        assert.equal(JSON.parse(await ok([...c, 'export'])).length, 0, 'nothing imported');
    });
});

describe('ficus debt through the admin API of a running server', { timeout: t(90000) }, () => {
    let f;
    let where;
    after(async () => {
        await f?.stop();
    });

    test('--admin commands, tokens, and live figures that follow traffic', async () => {
        f = await startMig(migConfig({ legacy, fresh, migrate: { weight: '50%' } }),
            { env: { FICUS_PROGRESS_MS: '300' } });
        const tokenFile = path.join(f.dir, 'admin.token');
        where = ['--admin', `http://127.0.0.1:${f.adminPort}`, '--token-file', tokenFile];

        const made = await ok([...where, 'add', '--title', 'Orders on the monolith', '--route', 'orders',
            '--stability', '4']);
        assert.match(made, /^DEBT-1 created/);
        const unauth = await debt(['--admin', `http://127.0.0.1:${f.adminPort}`, 'add', '--title', 'x']);
        assert.equal(unauth.code, 1);
        assert.match(unauth.stderr, /HTTP 401/);
        let r = await debt([...where, 'add', '--title', 'x', '--stability', '9']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /field "stability": 9 is outside 1\.\.5 \(HTTP 400/);
        r = await debt([...where, 'show', 'DEBT-42']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /DEBT-42: no such item \(HTTP 404/);

        // The API and the store agree; the CLI reads the same store directly.
        const api = await admin(f, 'GET', '/api/v1/debt/DEBT-1');
        assert.equal(api.status, 200, api.text);
        assert.equal(api.json.title, 'Orders on the monolith');
        const direct = await showJson(['-c', f.configPath], 'DEBT-1');
        assert.equal(direct.history[0].actor, 'ops', 'the actor is the token name');
        const created = await admin(f, 'POST', '/api/v1/debt', { token: TOKENS.ops, body: { title: 'via API' } });
        assert.equal(created.status, 201, created.text);
        const closed = await admin(f, 'POST', `/api/v1/debt/${created.json.id}/close`,
            { token: TOKENS.ops, body: { as: 'accepted' } });
        assert.equal(closed.status, 200, closed.text);
        assert.equal(closed.json.status, 'accepted');

        const before = (await showJson(where, 'DEBT-1')).live;
        assert.equal(before.requests_per_day, 0);

        await drive(f.port, users(300, 'reg'));
        const item = await waitFor(async () => {
            const it = await showJson(where, 'DEBT-1');
            return it.live.requests_per_day > 0 && it.live.migrated_share > 0 ? it : null;
        }, { timeout: t(10000), what: 'live figures of DEBT-1 after traffic' });
        assert.ok(item.live.migrated_share > 0.3 && item.live.migrated_share < 0.7,
            `migrated share ${item.live.migrated_share} at weight 50%`);
        assert.ok(item.priority > 0);
        const traffic = item.score.terms.find((x) => x.name === 'traffic');
        assert.ok(traffic.contribution > 0, 'traffic raises the priority');

        const progress = await admin(f, 'GET', '/api/v1/progress');
        assert.equal(progress.status, 200, progress.text);
        const orders = progress.json.routes.find((x) => x.route === 'orders');
        assert.ok(orders, 'route orders in the progress document');
        assert.equal(orders.migrating, true);
        assert.ok(orders.share_new > 0.3 && orders.share_new < 0.7, `share_new ${orders.share_new}`);
        assert.ok(orders.series.length >= 1);

        const list = (await ok([...where, 'list'])).split('\n');
        assert.match(list[1], /^DEBT-1 /);
        assert.match(list[1], /\borders\b/);
    });
});
