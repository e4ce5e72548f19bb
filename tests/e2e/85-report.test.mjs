// 85-: `ficus report`: its JSON carries exactly what /api/v1/progress and
// /api/v1/debt answer (from the store with -c, and through --admin), the
// HTML is one self-contained file that escapes every text (a debt title
// carrying a script tag stays text), Markdown has the tables, and bad usage
// exits 2. Real binary, Node backends, SQLite store written by the server
// and the `ficus debt` CLI.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeConfig, request, requireBinary, runFicus, startBackend, t, waitFor } from './lib/harness.mjs';
import { TOKENS, admin, ctl, startMig } from './lib/migration-util.mjs';

const EVIL = '<script>alert(1)</script>';
const EVIL2 = 'Catalog & "quotes" \'single\' <img src=x onerror=alert(2)>';

let legacy;
let fresh;
let f;

/** Wait until the server has written progress samples of the orders route. */
function progressSampled() {
    return waitFor(async () => {
        const r = await ficus(['report', '-c', f.configPath, '--format', 'json']);
        return JSON.parse(r.stdout).progress.routes.some((x) => x.route === 'orders' && x.series.length > 0);
    }, { timeout: t(15000), interval: 300, what: 'progress samples of route orders in the store' });
}

/** `ficus ARGS`; asserts exit 0 unless `code` is given. */
async function ficus(args, { code = 0 } = {}) {
    const r = await runFicus(args, { timeout: t(20000) });
    assert.equal(r.code, code, `ficus ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
    return r;
}

async function apiJson(p) {
    const r = await admin(f, 'GET', p);
    assert.equal(r.status, 200, `GET ${p}: ${r.status} ${r.text}`);
    return r.json;
}

const debtOf = (doc) => (Array.isArray(doc) ? doc : doc.items ?? doc.debt);

/**
 * Run `report ARGS --format json` until a run falls between two identical
 * API answers (the server samples progress in the background), then return
 * {report, api}.
 */
async function stableReport(args) {
    return waitFor(async () => {
        const before1 = { progress: await apiJson('/api/v1/progress'), debt: debtOf(await apiJson('/api/v1/debt')) };
        const r = await ficus(['report', ...args, '--format', 'json']);
        const after1 = { progress: await apiJson('/api/v1/progress'), debt: debtOf(await apiJson('/api/v1/debt')) };
        try {
            assert.deepEqual(after1, before1);
        } catch {
            return null;
        }
        return { report: JSON.parse(r.stdout), api: before1 };
    }, { timeout: t(20000), interval: 200, what: 'a report between two identical API answers' });
}

before(async () => {
    requireBinary();
    legacy = await startBackend('legacy');
    fresh = await startBackend('new');
    const cfg = makeConfig({
        upstreams: { legacy, orders: fresh },
        routes: [
            {
                name: 'orders',
                match: { path_prefix: '/api/orders' },
                to: 'legacy',
                migrate: { to: 'orders', weight: '0%', sticky: 'header:X-User-Id' },
            },
            { name: 'catalog', match: { path_prefix: '/api/catalog' }, to: 'legacy', shadow: { to: 'orders' } },
            { name: 'rest', match: { path_prefix: '/' }, to: 'legacy' },
        ],
        admin: { listen: '127.0.0.1:0', token_file: 'admin.token' },
        extra: { store: 'sqlite:ficus.db' },
    });
    f = await startMig(cfg, { env: { FICUS_PROGRESS_MS: '300' } });

    assert.equal((await ctl(f, ['weight', 'orders', '25%'], { token: TOKENS.ops })).code, 0);
    for (let i = 0; i < 40; i++) {
        await request({ port: f.port, path: '/api/orders/1', headers: { 'X-User-Id': `u${i}` } });
        await request({ port: f.port, path: `/api/catalog/${i}` });
    }
    const cfgPath = f.configPath;
    await ficus(['debt', 'add', '-c', cfgPath, '--title', EVIL, '--route', 'orders', '--kind', 'code',
        '--stability', '4', '--velocity', '5', '--effort', '3', '--owner', 'team <orders>']);
    await ficus(['debt', 'add', '-c', cfgPath, '--title', EVIL2, '--route', 'catalog', '--kind', 'data',
        '--stability', '2', '--velocity', '2']);
});

after(async () => {
    await f?.stop();
    await Promise.all([legacy?.close(), fresh?.close()]);
});

describe('ficus report', { timeout: t(90000) }, () => {
    test('JSON from the store equals the API: progress and ranked debt; events present', async () => {
        await progressSampled();
        const { report, api } = await stableReport(['-c', f.configPath]);
        assert.deepEqual(Object.keys(report).sort(), ['debt', 'diffs', 'events', 'generated', 'progress']);
        assert.match(report.generated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.deepEqual(report.progress, api.progress);
        assert.deepEqual(report.debt, api.debt);
        assert.equal(report.debt.length, 2);
        assert.deepEqual(report.debt.map((d) => d.title).sort(), [EVIL, EVIL2].sort());
        assert.ok(report.progress.routes.some((r) => r.route === 'orders' && r.migrating === true));

        const weight = report.events.find((e) => e.route === 'orders' && e.actor === 'ops');
        assert.ok(weight, `the ctl weight change is among the events: ${JSON.stringify(report.events)}`);
        assert.equal(weight.new.split(' ')[0], '25.00%');
        assert.ok(report.events.length <= 50);
    });

    test('diff summaries of the shadowed route, from the store and through --admin', async () => {
        // The shadow engine persists its counts about once a second.
        const local = await waitFor(async () => {
            const r = await ficus(['report', '-c', f.configPath, '--format', 'json']);
            const doc = JSON.parse(r.stdout);
            return doc.diffs.some((d) => d.route === 'catalog' && d.compared > 0) ? doc : null;
        }, { timeout: t(15000), interval: 300, what: 'shadow counts of catalog in the store' });
        assert.deepEqual(local.diffs.map((d) => d.route), ['catalog'], 'only shadowed routes have diff reports');
        const remote = JSON.parse((await ficus(['report', '--admin', `127.0.0.1:${f.adminPort}`, '--token-file', path.join(f.dir, 'admin.token'), '--format', 'json'])).stdout);
        assert.deepEqual(remote.diffs.map((d) => d.route), ['catalog']);
        assert.ok(remote.diffs[0].compared >= local.diffs[0].compared);
        const html = (await ficus(['report', '-c', f.configPath])).stdout;
        assert.match(html, /<h3>catalog <span class="sub">candidate orders<\/span><\/h3>/);
        const md = (await ficus(['report', '-c', f.configPath, '--format', 'md'])).stdout;
        assert.match(md, /^\| catalog \| orders \| \d+ \|/m);
    });

    test('JSON through --admin equals the API too', async () => {
        const { report, api } = await stableReport(['--admin', `http://127.0.0.1:${f.adminPort}`, '--token-file', path.join(f.dir, 'admin.token')]);
        assert.deepEqual(report.progress, api.progress);
        assert.deepEqual(report.debt, api.debt);
        assert.ok(report.events.some((e) => e.route === 'orders' && e.actor === 'ops'));
    });

    test('HTML is one self-contained file and escapes every text', async () => {
        await progressSampled();
        const out = path.join(f.dir, 'report.html');
        const r = await ficus(['report', '-c', f.configPath, '--format', 'html', '-o', out]);
        assert.equal(r.stdout, '', 'with -o nothing goes to stdout');
        const html = fs.readFileSync(out, 'utf8');
        assert.match(html, /^<!DOCTYPE html>/);
        assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
        assert.match(html, /@media print/);
        assert.match(html, /<style>/);
        // No script of any kind, no external resource of any kind.
        assert.doesNotMatch(html, /<script/i);
        assert.doesNotMatch(html, /https?:\/\//i);
        assert.doesNotMatch(html, /@import|url\(/i);
        // Every "<" of text is escaped, so each one left starts a real tag.
        const tags = html.match(/<[^>]*>/g);
        const names = new Set(tags.map((x) => /^<\/?([a-zA-Z!][a-zA-Z0-9]*)/.exec(x)?.[1].toLowerCase()));
        for (const bad of ['script', 'img', 'link', 'iframe', 'object', 'embed', 'a']) assert.ok(!names.has(bad), `<${bad}> in the report`);
        for (const tag of tags) assert.doesNotMatch(tag, /\s(on[a-z]+|src|href)\s*=/i, `attribute in ${tag}`);
        // The titles are there, as text.
        assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the script title is escaped');
        assert.ok(html.includes('Catalog &amp; &quot;quotes&quot; &#39;single&#39; &lt;img src=x onerror=alert(2)&gt;'));
        assert.ok(html.includes('team &lt;orders&gt;'));
        // Per-route bars, the trend chart or its placeholder, the sections.
        assert.match(html, /<svg class="bar"/);
        assert.match(html, /<svg class="chart"|Not enough progress samples/);
        for (const id of ['progress', 'debt', 'events', 'diffs']) assert.match(html, new RegExp(`<section id="${id}">`));
        const ranks = [...html.matchAll(/<tr><td class="n">(\d+)<\/td><td class="id">(DEBT-\d+)<\/td>/g)].map((m) => Number(m[1]));
        assert.deepEqual(ranks, [1, 2], 'debt rows are ranked');
    });

    test('Markdown has the tables, escaped', async () => {
        await progressSampled();
        const r = await ficus(['report', '-c', f.configPath, '--format', 'md']);
        const md = r.stdout;
        assert.match(md, /^# Ficus migration report/);
        assert.match(md, /^\| Route \| Migrating \| Weight \| Served by new \| Requests\/day \| Estimate \|$/m);
        assert.match(md, /^\| # \| ID \| Title \| Kind \| Status \| Owner \| Routes \|/m);
        assert.match(md, /^\| Time \| Route \| Actor \| Kind \| Change \| Reason \|$/m);
        assert.match(md, /^\| Route \| Candidate \| Compared \| Matched \| Mismatched \| Errored \| Mismatch rate \|$/m);
        assert.match(md, /^\|---/m);
        assert.match(md, /^\| orders \| yes \| 25\.00% \|/m);
        assert.ok(md.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
        assert.ok(!md.includes(EVIL), 'no raw HTML from a title');
        const rows = md.split('\n').filter((l) => /^\| [12] \| DEBT-/.test(l));
        assert.equal(rows.length, 2);
        // Every debt row has as many cells as the header (no pipe leaked from a title).
        const header = md.split('\n').find((l) => l.startsWith('| # | ID |'));
        const cells = (l) => l.replace(/\\\|/g, '').split('|').length;
        for (const row of rows) assert.equal(cells(row), cells(header), row);
    });

    test('usage errors exit 2; an unreadable config exits 1', async () => {
        const none = await ficus(['report'], { code: 2 });
        assert.match(none.stderr, /-c FILE or --admin URL/);
        const fmt = await ficus(['report', '-c', f.configPath, '--format', 'pdf'], { code: 2 });
        assert.match(fmt.stderr, /--format pdf/);
        await ficus(['report', '-c', f.configPath, '--bogus'], { code: 2 });
        const missing = await ficus(['report', '-c', path.join(f.dir, 'nope.yaml')], { code: 1 });
        assert.match(missing.stderr, /nope\.yaml/);
        const help = await ficus(['report', '--help']);
        assert.match(help.stdout, /^usage: ficus report/);
    });
});
