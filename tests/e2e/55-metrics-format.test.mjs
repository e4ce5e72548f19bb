// 55-: the /metrics exposition as a whole (issue 10, item 13): with a
// migrating route that is also shadowed, every family appears; the output
// must follow the text format's ordering rules, checked line by line by
// lib/exposition.mjs (one HELP/TYPE per family, samples grouped under it,
// histogram _sum/_count after the buckets of each series).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, get, makeConfig, metricSum, parseMetrics, request, requireBinary, startBackend, t, waitFor,
} from './lib/harness.mjs';
import { checkExposition } from './lib/exposition.mjs';

let ficus;
let legacy;
let fresh;
let candidate;

const json = (body) => (rec, req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body));
};

before(async () => {
    requireBinary();
    legacy = await startBackend('legacy');
    fresh = await startBackend('fresh');
    candidate = await startBackend('candidate');
    legacy.handle = json({ id: 1, total: 10 });
    fresh.handle = json({ id: 1, total: 10 });
    candidate.handle = json({ id: 1, total: 11 });
    ficus = await Ficus.start(makeConfig({
        upstreams: { legacy, fresh, candidate },
        routes: [
            {
                name: 'orders',
                match: { path_prefix: '/orders' },
                to: 'legacy',
                migrate: { to: 'fresh', weight: '50%', sticky: 'header:X-User-Id' },
                shadow: { to: 'candidate', sample: '100%' },
            },
            { name: 'default', match: { path_prefix: '/' }, to: 'legacy' },
        ],
        extra: { store: 'sqlite:ficus.db' },
    }), { env: { FICUS_CONTROL_TICK_MS: '100' } });
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        for (const b of [legacy, fresh, candidate]) await b?.close();
    }
});

describe('exposition checker', () => {
    const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 1\n'
        + '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n';
    test('accepts a well-formed exposition', () => {
        assert.deepEqual(checkExposition(ok).problems, []);
    });
    for (const [what, text, re] of [
        ['interleaved families', '# HELP a A.\n# TYPE a counter\n# HELP b B.\n# TYPE b counter\na 1\nb 1\n', /sample of a .* inside family b/],
        ['a family declared twice', `${ok}# HELP a_total A.\n# TYPE a_total counter\n`, /second HELP/],
        ['_sum before +Inf', '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 3\nh_bucket{le="+Inf"} 2\nh_count 2\n', /before the \+Inf bucket/],
        ['sample without TYPE', 'x 1\n', /before any HELP/],
        ['decreasing buckets', '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n', /decreases/],
        ['duplicate series', '# HELP a A.\n# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /duplicate/],
    ]) {
        test(`rejects ${what}`, () => {
            const { problems } = checkExposition(text);
            assert.ok(problems.some((p) => re.test(p)), `expected a problem matching ${re}, got ${JSON.stringify(problems)}`);
        });
    }
});

describe('/metrics', { timeout: t(60000) }, () => {
    test('every family is well-formed, with a migrating and shadowed route', async () => {
        for (let i = 0; i < 40; i++) {
            const r = await request({ port: ficus.port, path: `/orders/${i}`, headers: { 'X-User-Id': `u-${i}` } });
            assert.equal(r.status, 200);
        }
        assert.equal((await get(ficus.port, '/other')).status, 200);
        await waitFor(async () => {
            const m = parseMetrics((await get(ficus.adminPort, '/metrics')).text);
            return metricSum(m, 'ficus_shadow_copies_total', { route: 'orders' }) >= 40;
        }, { what: 'shadow copies compared', timeout: t(15000) });
        const r = await get(ficus.adminPort, '/metrics');
        assert.equal(r.status, 200);
        const { problems, families } = checkExposition(r.text);
        assert.deepEqual(problems, [], `exposition problems:\n${problems.join('\n')}`);
        for (const name of [
            'ficus_requests_total', 'ficus_request_duration_seconds', 'ficus_migration_requests_total',
            'ficus_migration_errors_total', 'ficus_migration_weight_ratio',
            'ficus_migration_guard_rollbacks_total', 'ficus_migration_duration_seconds',
            'ficus_shadow_copies_total', 'ficus_shadow_path_mismatches_total',
        ]) {
            assert.ok(families.has(name), `family ${name} present`);
            assert.ok(families.get(name).samples.length > 0, `family ${name} has samples`);
        }
        assert.equal(families.get('ficus_migration_duration_seconds').type, 'histogram');
        const sides = new Set(families.get('ficus_migration_requests_total').samples.map((s) => s.labels.side));
        assert.deepEqual([...sides].sort(), ['legacy', 'new']);
    });
});
