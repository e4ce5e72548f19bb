// 77-: shadow comparison fidelity (issue 14): two real backends that differ
// in an array's length, a field's type and a noisy field that a secondary
// also varies. The report names each difference once, at the right path,
// with its kind, and the noisy field never counts as a mismatch.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';

import { requireBinary, t } from './lib/harness.mjs';
import {
    getSeq, ordersRoute, shadowConfig, startApp, startShadow, waitCompared,
} from './lib/shadow-util.mjs';

let legacy;
let legacy2;
let candidate;
const running = new Set();

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
    for (const f of running) await f.stop();
    running.clear();
    legacy.reset();
    legacy2.reset();
    candidate.reset();
});

let seq = 0;
const doc = (url, { items, total, noise }) => ({
    id: /^\/orders\/([^/?]+)/.exec(url)?.[1] ?? null,
    items: Array.from({ length: items }, (_, i) => ({ sku: `s${i}`, price: i + 1 })),
    total,
    generated_at: noise,
});

describe('shadow fidelity', { timeout: t(60000) }, () => {
    test('array length at the array, a type change, and secondary noise that never counts', async () => {
        legacy.respond = (rec) => ({ json: doc(rec.url, { items: 3, total: 6, noise: `l${seq++}` }) });
        legacy2.respond = (rec) => ({ json: doc(rec.url, { items: 3, total: 6, noise: `s${seq++}` }) });
        // The candidate returns 5 items (length), total as a string (type),
        // and its own generated_at (noise).
        candidate.respond = (rec) => ({ json: doc(rec.url, { items: 5, total: '6', noise: `c${seq++}` }) });
        const cfg = shadowConfig({
            upstreams: { legacy, candidate, 'legacy-2': legacy2 },
            routes: [ordersRoute({ to: 'candidate', secondary: 'legacy-2', compare: { ignore_headers: ['Date', 'X-Served-By'] } })],
        });
        const f = await startShadow(cfg);
        running.add(f);
        const gets = await getSeq(f.port, [1, 2, 3, 4, 5, 6].map((i) => `/orders/${i}`));
        for (const r of gets) assert.equal(r.status, 200);
        const d = await waitCompared(f, 6, { samples: 10 });
        assert.equal(d.compared, 6);
        assert.equal(d.mismatched, 6);
        const ep = d.endpoints.find((e) => e.endpoint === 'GET /orders/{id}');
        assert.ok(ep, JSON.stringify(d.endpoints));
        const paths = ep.paths.map((p) => p.path).sort();
        // One length difference at $.items, not $.items[3] and $.items[4];
        // the noisy field is not a mismatch path.
        assert.deepEqual(paths, ['$.items', '$.total'], JSON.stringify(ep.paths));
        for (const p of ep.paths) assert.equal(p.count, 6, JSON.stringify(p));
        assert.ok(d.noise.some((n) => n.path === '$.generated_at'), JSON.stringify(d.noise));
        assert.ok(d.noise_excluded >= 5, `noise_excluded ${d.noise_excluded}`);
        assert.ok(d.samples.length >= 1);
        for (const s of d.samples) {
            const kinds = Object.fromEntries(s.differences.map((x) => [x.path, x.kind]));
            assert.equal(kinds['$.items'], 'length', JSON.stringify(s.differences));
            assert.equal(kinds['$.total'], 'type', JSON.stringify(s.differences));
            assert.equal(kinds['$.items[3]'], undefined);
            assert.equal(s.diffs_truncated, false);
        }
    });
});
