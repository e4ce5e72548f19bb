// 32-: request-path normalisation before routing (`paths`). A route for
// /admin must not be bypassed by /%61dmin, //admin or /public/../admin, and
// the upstream must act on the path that was matched: it receives the
// normalised path in its request line. Paths above the root and malformed
// %-encoding get a 400 and reach no backend. With every `paths` step off,
// the bytes go through as sent (the behaviour before normalisation).
// Raw sockets on both sides, so the exact request-line bytes are checked.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, configText, makeConfig, mkTempDir, rawExchange, requireBinary, runFicus,
    startRawBackend, t,
} from './lib/harness.mjs';

let A;
let B;

const routes = [
    { name: 'admin', match: { path_prefix: '/admin' }, to: 'a' },
    { name: 'default', match: { path_prefix: '/' }, to: 'b' },
];

const config = (extra = {}) => makeConfig({ upstreams: { a: A, b: B }, routes, extra });

before(async () => {
    requireBinary();
    [A, B] = await Promise.all([startRawBackend(), startRawBackend()]);
});

after(async () => {
    await Promise.all([A, B].filter(Boolean).map((b) => b.close()));
});

afterEach(() => [A, B].forEach((b) => b.reset()));

const wire = (target, extra = '') => `GET ${target} HTTP/1.1\r\nHost: a.test\r\n${extra}\r\n`;

/** Send `target` raw; expect a 200 from `backend` that saw exactly `want`. */
async function expectForwarded(ficus, target, backend, want) {
    const other = backend === A ? B : A;
    const since = ficus.accessLog().length;
    const { res } = await rawExchange(ficus.port, wire(target));
    assert.equal(res.status, 200, `${target}: status`);
    assert.equal(backend.requests.length, 1, `${target}: one request at the expected backend`);
    assert.equal(backend.requests[0].target, want, `${target}: request-target the upstream sees`);
    assert.equal(other.requests.length, 0, `${target}: nothing at the other backend`);
    const e = await ficus.waitAccess((x) => x.status === 200, { since });
    assert.equal(e.path, want, `${target}: access-log path`);
    assert.equal(e.route, backend === A ? 'admin' : 'default');
    A.reset();
    B.reset();
}

/** Send `target` raw; expect a 400, a closed connection and no backend request. */
async function expectRejected(ficus, target) {
    const { res, closed } = await rawExchange(ficus.port, wire(target), { closeTimeout: t(3000) });
    assert.equal(res.status, 400, `${target}: status`);
    assert.ok(closed, `${target}: connection closed after the 400`);
    assert.equal(A.totalBytes() + B.totalBytes(), 0, `${target}: no bytes reached a backend`);
}

describe('normalisation on (the default)', () => {
    let ficus;
    before(async () => {
        ficus = await Ficus.start(config());
    });
    after(async () => {
        await ficus?.stop();
    });

    test('encoded, doubled-slash and dot-segment spellings of /admin reach the admin route as /admin', async () => {
        for (const target of ['/admin', '/%61dmin', '/%61%64%6D%69%6e', '//admin', '///admin',
            '/public/../admin', '/./admin', '/x/y/%2e%2E/../admin', '/public/%2e%2e/admin']) {
            await expectForwarded(ficus, target, A, '/admin');
        }
    });

    test('absolute-form targets are normalised after the authority', async () => {
        await expectForwarded(ficus, 'http://a.test//public/../%61dmin', A, '/admin');
    });

    test('the query is kept byte for byte', async () => {
        await expectForwarded(ficus, '/%61dmin/./x?next=/../%2f&y=%zz', A, '/admin/x?next=/../%2f&y=%zz');
    });

    test('encoded slashes stay encoded (upper-cased) and do not separate segments', async () => {
        await expectForwarded(ficus, '/admin%2fx', A, '/admin%2Fx');
        await expectForwarded(ficus, '/public%2f..%2fadmin', B, '/public%2F..%2Fadmin');
    });

    test('other paths are normalised too and keep their trailing slash', async () => {
        await expectForwarded(ficus, '/a//b/./c/', B, '/a/b/c/');
        await expectForwarded(ficus, '/a/b/..', B, '/a/');
        await expectForwarded(ficus, '/%7Euser/%2Fetc', B, '/~user/%2Fetc');
    });

    test('paths above the root and malformed %-encoding get a 400', async () => {
        for (const target of ['/../admin', '/%2e%2e/admin', '/a/../../admin', '/%zz', '/admin%',
            '/admin%4', '/admin%4?x=1']) {
            await expectRejected(ficus, target);
        }
    });

    test('normalising in place leaves the next pipelined request intact', async () => {
        const c = await RawConn.open(ficus.port);
        try {
            await c.write(wire('//public/../%61dmin') + wire('/b//c'));
            const r1 = await c.readResponse();
            const r2 = await c.readResponse();
            assert.equal(r1.status, 200);
            assert.equal(r2.status, 200);
        } finally {
            c.destroy();
        }
        assert.deepEqual(A.requests.map((r) => r.target), ['/admin']);
        assert.deepEqual(B.requests.map((r) => r.target), ['/b/c']);
    });
});

describe('normalisation off', () => {
    let ficus;
    before(async () => {
        ficus = await Ficus.start(config({
            paths: { merge_slashes: false, decode_unreserved: false, resolve_dots: false },
        }));
    });
    after(async () => {
        await ficus?.stop();
    });

    test('paths go through as sent and are matched as sent', async () => {
        await expectForwarded(ficus, '/admin', A, '/admin');
        for (const target of ['/%61dmin', '//admin', '/public/../admin', '/../admin', '/%zz']) {
            await expectForwarded(ficus, target, B, target);
        }
    });
});

describe('paths section in ficus check', () => {
    const check = async (cfg) => {
        const dir = mkTempDir();
        const file = path.join(dir, 'ficus.yaml');
        fs.writeFileSync(file, configText(cfg));
        try {
            return await runFicus(['check', '-c', file]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };
    const withPrefix = (prefix, extra) => makeConfig({
        upstreams: { a: { servers: ['127.0.0.1:9'] } },
        routes: [{ name: 'r', match: { path_prefix: prefix }, to: 'a' }],
        extra,
    });

    test('a path_prefix that no normalised path can start with is an error', async () => {
        const r = await check(withPrefix('/%61dmin'));
        assert.equal(r.code, 1);
        assert.match(r.stderr, /match\.path_prefix: "\/%61dmin" never matches: request paths are normalised \(see paths\), write "\/admin"/);
        const r2 = await check(withPrefix('/a//b'));
        assert.equal(r2.code, 1);
        assert.match(r2.stderr, /write "\/a\/b"/);
    });

    test('a prefix ending inside a segment that starts with dots is fine', async () => {
        const r = await check(withPrefix('/.well'));
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await check(withPrefix('/api/.'))).code, 0);
    });

    test('with normalisation off the same prefix is accepted', async () => {
        const off = { paths: { merge_slashes: false, decode_unreserved: false, resolve_dots: false } };
        const r = await check(withPrefix('/%61dmin', off));
        assert.equal(r.code, 0, r.stderr);
    });

    test('values other than true and false, and unknown keys, are errors', async () => {
        const r = await check(withPrefix('/', { paths: { merge_slashes: 'yes' } }));
        assert.equal(r.code, 1);
        assert.match(r.stderr, /paths\.merge_slashes: expected true or false, got "yes"/);
        const r2 = await check(withPrefix('/', { paths: { merge: true } }));
        assert.equal(r2.code, 1);
        assert.match(r2.stderr, /unknown key "merge" in paths/);
    });
});
