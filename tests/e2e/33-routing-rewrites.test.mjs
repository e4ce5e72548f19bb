// 33-: regex paths (match.path_regex), host wildcards and per-route rewrites
// (strip_prefix, set_headers, remove_headers). Raw backends record the exact
// request line and header lines the upstream receives, so duplicates and
// spelling are visible. Rewrites apply to what is sent (the upstream, both
// migration sides, shadow copies); routing always looks at the client's
// request. A catastrophic regex must not hang the worker: the PCRE2 match
// limit ends the match and the request gets a 500 at once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import {
    Ficus, configText, makeConfig, mkTempDir, rawExchange, requireBinary, runFicus,
    startRawBackend, t, waitFor,
} from './lib/harness.mjs';

let A;
let B;
let C;

const routes = () => [
    { name: 'orders', match: { path_regex: '^/api/v[0-9]+/orders' }, to: 'a' },
    { name: 'evil', match: { path_regex: '^/evil/(a+)+$' }, to: 'a' },
    { name: 'sub', match: { host: '*.wild.test' }, to: 'b' },
    { name: 'dom', match: { host: '.dom.test' }, to: 'b' },
    { name: 'tail', match: { host: 'www.tail.*' }, to: 'b' },
    {
        name: 'api',
        match: { path_prefix: '/api' },
        strip_prefix: '/api',
        set_headers: { 'X-Env': 'prod', Host: 'legacy.internal' },
        remove_headers: ['Cookie', 'X-Debug'],
        to: 'a',
    },
    {
        name: 'mig0',
        match: { path_prefix: '/m0' },
        strip_prefix: '/m0',
        set_headers: { 'X-Env': 'mig' },
        to: 'a',
        migrate: { to: 'b', weight: '0%' },
    },
    {
        name: 'mig',
        match: { path_prefix: '/mig' },
        strip_prefix: '/mig',
        set_headers: { 'X-Env': 'mig' },
        to: 'a',
        migrate: { to: 'b', weight: '100%' },
    },
    {
        name: 'sh',
        match: { path_prefix: '/sh' },
        strip_prefix: '/sh',
        set_headers: { 'X-Env': 'shadow' },
        remove_headers: ['X-Debug'],
        to: 'a',
        shadow: { to: 'c' },
    },
    { name: 'default', to: 'b' },
];

const config = () => makeConfig({ upstreams: { a: A, b: B, c: C }, routes: routes() });

before(async () => {
    requireBinary();
    [A, B, C] = await Promise.all([startRawBackend(), startRawBackend(), startRawBackend()]);
});

after(async () => {
    await Promise.all([A, B, C].filter(Boolean).map((b) => b.close()));
});

afterEach(() => [A, B, C].forEach((b) => b.reset()));

const wire = (target, host = 'a.test', extra = '') =>
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

describe('routing and rewrites', () => {
    let ficus;
    before(async () => {
        ficus = await Ficus.start(config());
    });
    after(async () => {
        await ficus?.stop();
    });

    /** Send one request; expect 200 from `backend` under `route`; return what it saw. */
    async function via(target, { host, extra, backend, route }) {
        [A, B, C].forEach((b) => b.reset());
        const since = ficus.accessLog().length;
        const { res } = await rawExchange(ficus.port, wire(target, host, extra));
        assert.equal(res.status, 200, `${host} ${target}: status`);
        const e = await ficus.waitAccess((x) => x.status === 200, { since });
        assert.equal(e.route, route, `${host} ${target}: route`);
        assert.equal(backend.requests.length, 1, `${host} ${target}: one request at the backend`);
        for (const other of [A, B].filter((b) => b !== backend)) {
            assert.equal(other.requests.length, 0, `${host} ${target}: nothing elsewhere`);
        }
        return backend.requests[0];
    }

    test('path_regex matches the normalised path without the query, anchored as written', async () => {
        for (const p of ['/api/v1/orders', '/api/v22/orders/7?x=1', '/api/v%31/orders', '/api//v3/orders']) {
            const r = await via(p, { backend: A, route: 'orders' });
            assert.match(r.target, /^\/api\/v[0-9]+\/orders/, `${p}: normalised, not stripped`);
        }
        // Not the regex: falls to the api route (and gets stripped there).
        assert.equal((await via('/api/vX/orders', { backend: A, route: 'api' })).target, '/vX/orders');
        assert.equal((await via('/x/api/v1/orders', { backend: B, route: 'default' })).target,
            '/x/api/v1/orders');
        assert.equal((await via('/q?p=/api/v1/orders', { backend: B, route: 'default' })).target,
            '/q?p=/api/v1/orders');
    });

    test('host wildcards: *.x any subdomain, .x the domain too, x.* any tail; case and port ignored', async () => {
        const cases = [
            ['a.wild.test', 'sub'], ['A.B.WILD.test:8080', 'sub'], ['wild.test', 'default'],
            ['dom.test', 'dom'], ['x.y.dom.test:1', 'dom'], ['baddom.test', 'default'],
            ['www.tail.example', 'tail'], ['WWW.TAIL.co.uk:443', 'tail'], ['www.tails.com', 'default'],
        ];
        for (const [host, route] of cases) await via('/h', { host, backend: B, route });
    });

    test('strip_prefix at a segment boundary, query kept, / when nothing is left', async () => {
        const cases = [
            ['/api/orders/1?x=1', '/orders/1?x=1', 'api'], ['/api', '/', 'api'], ['/api/', '/', 'api'],
            ['/api?x=1', '/?x=1', 'api'], ['/%61pi/x', '/x', 'api'], ['/web/../api/y', '/y', 'api'],
        ];
        for (const [sent, want, route] of cases) {
            const r = await via(sent, { backend: A, route });
            assert.equal(r.target, want, `${sent}: upstream target`);
        }
        const since = ficus.accessLog().length;
        await via('/api/z', { backend: A, route: 'api' });
        const e = await ficus.waitAccess((x) => x.route === 'api', { since });
        assert.equal(e.path, '/z', 'the access log shows the path sent upstream');
    });

    test('/apiary is not under /api: another route, not stripped', async () => {
        // The api route's path_prefix matches /apiary, strip_prefix does not apply.
        const r = await via('/apiary/x', { backend: A, route: 'api' });
        assert.equal(r.target, '/apiary/x');
    });

    test('set_headers replaces every client copy; remove_headers drops them in any case', async () => {
        const extra = 'X-Env: dev\r\nx-env: staging\r\nCookie: a=1\r\ncookie: b=2\r\nX-DEBUG: 1\r\nX-Keep: yes\r\n';
        const r = await via('/api/h', { extra, backend: A, route: 'api' });
        assert.deepEqual(r.getAll('x-env'), ['prod'], 'exactly one X-Env, the configured one');
        assert.deepEqual(r.getAll('host'), ['legacy.internal'], 'Host replaced');
        assert.deepEqual(r.getAll('x-forwarded-host'), ['a.test'], 'X-Forwarded-Host keeps the client host');
        assert.deepEqual(r.getAll('cookie'), []);
        assert.deepEqual(r.getAll('x-debug'), []);
        assert.deepEqual(r.getAll('x-keep'), ['yes']);
        const envLines = r.head.split('\r\n').filter((l) => /^x-env:/i.test(l));
        assert.deepEqual(envLines, ['X-Env: prod'], 'spelled as configured');
    });

    test('routing uses the client request: set_headers Host does not reroute', async () => {
        const r = await via('/api/h', { host: 'a.wild.test', backend: B, route: 'sub' });
        assert.deepEqual(r.getAll('host'), ['a.wild.test']);
    });

    test('both migration sides get the rewritten request', async () => {
        const r = await via('/mig/o?k=v', { extra: 'X-Env: client\r\n', backend: B, route: 'mig' });
        assert.equal(r.target, '/o?k=v', 'new side (100%)');
        assert.deepEqual(r.getAll('x-env'), ['mig']);
        const l = await via('/m0/o?k=v', { extra: 'X-Env: client\r\n', backend: A, route: 'mig0' });
        assert.equal(l.target, '/o?k=v', 'legacy side (0%)');
        assert.deepEqual(l.getAll('x-env'), ['mig']);
    });

    test('shadow copies get the rewritten request', async () => {
        const r = await via('/sh/p', { extra: 'X-Env: client\r\nX-Debug: 1\r\n', backend: A, route: 'sh' });
        assert.equal(r.target, '/p');
        assert.deepEqual(r.getAll('x-env'), ['shadow']);
        await waitFor(() => C.requests.length === 1, { what: 'the shadow copy' });
        const copy = C.requests[0];
        assert.equal(copy.target, '/p');
        assert.deepEqual(copy.getAll('x-env'), ['shadow']);
        assert.deepEqual(copy.getAll('x-debug'), []);
        assert.deepEqual(copy.getAll('x-ficus-shadow'), ['1']);
    });

    test('a catastrophic regex does not hang the worker: the match limit answers 500', async () => {
        const p = `/evil/${'a'.repeat(4000)}b`;
        const start = Date.now();
        const { res } = await rawExchange(ficus.port, wire(p), { timeout: t(5000) });
        const ms = Date.now() - start;
        assert.equal(res.status, 500);
        assert.ok(ms < t(1000), `answered in ${ms} ms`);
        assert.equal(A.requests.length + B.requests.length, 0, 'no later route took it');
        // The worker still serves.
        await via('/evil/aaa', { backend: A, route: 'evil' });
    });
});

describe('rewrite keys in ficus check', () => {
    const check = async (route) => {
        const dir = mkTempDir();
        const file = path.join(dir, 'ficus.yaml');
        const cfg = makeConfig({ upstreams: { a: { servers: ['127.0.0.1:9'] } }, routes: [{ name: 'r', to: 'a', ...route }] });
        fs.writeFileSync(file, configText(cfg));
        try {
            return await runFicus(['check', '-c', file]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    test('framing, hop-by-hop and X-Ficus-* names are refused in set_headers and remove_headers', async () => {
        for (const name of ['Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'TE',
            'Trailer', 'Keep-Alive', 'Expect', 'X-Ficus-Shadow']) {
            const r = await check({ set_headers: { [name]: 'v' } });
            assert.notEqual(r.code, 0, `set_headers ${name}`);
            assert.match(r.stderr, new RegExp(`route "r": set_headers: "${name}" is `), `set_headers ${name}`);
            const r2 = await check({ remove_headers: [name.toLowerCase()] });
            assert.notEqual(r2.code, 0, `remove_headers ${name}`);
            assert.match(r2.stderr, new RegExp(`route "r": remove_headers: "${name.toLowerCase()}" is `));
        }
    });

    test('a bad regex names the route, PCRE2 message and offset; path_prefix with path_regex is an error', async () => {
        const r = await check({ match: { path_regex: '^/(api' } });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /route "r": match\.path_regex: missing closing parenthesis at offset 6/);
        const r2 = await check({ match: { path_prefix: '/a', path_regex: '^/a' } });
        assert.notEqual(r2.code, 0);
        assert.match(r2.stderr, /route "r": match\.path_regex: cannot be combined with match\.path_prefix/);
        const ok = await check({ match: { path_regex: '^/a', host: '*.x.test' }, strip_prefix: '/a', set_headers: { 'X-A': 'b' }, remove_headers: ['Cookie'] });
        assert.equal(ok.code, 0, ok.stderr);
    });
});
