// 56-: configurable access log fields (log.fields): the default line is
// unchanged, a custom list is honoured in order, the new fields carry sane
// values, hostile header values stay valid JSON, unknown names are refused
// with a suggestion. No timing is measured: only the order of the times.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, get, makeConfig, mkTempDir, requireBinary, runFicus, startBackend,
} from './lib/harness.mjs';

before(() => requireBinary());

const cleanups = [];
after(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
});

// Today's keys, in today's order: the default line must not change.
const DEFAULT_KEYS = ['time', 'request_id', 'client', 'method', 'path', 'route', 'upstream', 'server',
    'side', 'shadow', 'status', 'bytes_in', 'bytes_out', 'duration_us', 'error'];

const NEW_FIELDS = ['time', 'request_id', 'method', 'path', 'status', 'host', 'user_agent', 'referer',
    'protocol', 'upstream_connect_us', 'upstream_header_us', 'total_us', 'override_used', 'trace_id',
    'route', 'side', 'error'];

function config(A, N, log) {
    return makeConfig({
        upstreams: { legacy: A, neu: N },
        routes: [
            {
                name: 'mig', match: { path_prefix: '/mig' }, to: 'legacy',
                migrate: { to: 'neu', weight: '0%', override: { header: 'X-Ficus-Target', from: ['127.0.0.1/32'] } },
            },
            { name: 'default', match: { path_prefix: '/app' }, to: 'legacy' },
        ],
        log,
    });
}

/** Send raw request bytes, read the answer, return the access-log entry with request id `rid`. */
async function exchange(f, bytes, rid) {
    const c = await RawConn.open(f.port);
    try {
        await c.write(bytes);
        const r = await c.readResponse();
        const e = await f.waitAccess((x) => x.request_id === rid);
        return { r, e };
    } finally {
        c.destroy();
    }
}

/** The raw stdout line of request id `rid` (to check it is one valid JSON document). */
function rawLine(f, rid) {
    return f.stdout.lines.find((l) => l.includes(`"request_id":"${rid}"`));
}

describe('access log: default fields', () => {
    let f;
    before(async () => {
        const A = await startBackend('A');
        const N = await startBackend('N');
        cleanups.push(() => A.close(), () => N.close());
        f = await Ficus.start(config(A, N, { access: 'stdout', format: 'json' }));
        cleanups.push(() => f.stop());
    });

    test('the default line has exactly the keys of before, in the same order', async () => {
        const { r, e } = await exchange(f, 'GET /app/x HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: def-1\r\nUser-Agent: ua\r\n\r\n', 'def-1');
        assert.equal(r.status, 200);
        assert.deepEqual(Object.keys(e), DEFAULT_KEYS);
        assert.match(rawLine(f, 'def-1'), /^\{"time":"[^"]+","request_id":"def-1","client":"127\.0\.0\.1:\d+","method":"GET","path":"\/app\/x","route":"default","upstream":"legacy","server":"[^"]+","side":null,"shadow":false,"status":200,"bytes_in":\d+,"bytes_out":\d+,"duration_us":\d+,"error":null\}$/);
    });

    test('GET /api/v1/config shows the default field list', async () => {
        const r = await get(f.adminPort, '/api/v1/config');
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.body.toString()).log.fields, DEFAULT_KEYS);
    });
});

describe('access log: log.fields', () => {
    let f;
    let A;
    before(async () => {
        A = await startBackend('A');
        const N = await startBackend('N');
        cleanups.push(() => A.close(), () => N.close());
        f = await Ficus.start(config(A, N, { access: 'stdout', format: 'json', fields: NEW_FIELDS }));
        cleanups.push(() => f.stop());
    });

    test('the configured keys, in the configured order, and nothing else', async () => {
        const { e } = await exchange(f, 'GET /app/1 HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: cus-1\r\n\r\n', 'cus-1');
        assert.deepEqual(Object.keys(e), NEW_FIELDS);
        const r = await get(f.adminPort, '/api/v1/config');
        assert.deepEqual(JSON.parse(r.body.toString()).log.fields, NEW_FIELDS);
    });

    test('host, user agent, referer, protocol, times, trace id', async () => {
        const { e } = await exchange(f,
            'GET /app/2?q=1 HTTP/1.1\r\nHost: shop.test:8080\r\nUser-Agent: curl/8.5.0\r\n'
            + 'Referer: https://shop.test/cart\r\nX-Request-Id: cus-2\r\n'
            + 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n', 'cus-2');
        assert.equal(e.host, 'shop.test:8080');
        assert.equal(e.user_agent, 'curl/8.5.0');
        assert.equal(e.referer, 'https://shop.test/cart');
        assert.equal(e.protocol, 'HTTP/1.1');
        assert.equal(e.trace_id, '0af7651916cd43dd8448eb211c80319c');
        assert.equal(e.override_used, false);
        assert.equal(e.path, '/app/2?q=1');
        for (const k of ['upstream_connect_us', 'upstream_header_us', 'total_us']) {
            assert.ok(Number.isInteger(e[k]) && e[k] >= 0, `${k}=${e[k]}`);
        }
        assert.ok(e.upstream_connect_us <= e.upstream_header_us, `connect ${e.upstream_connect_us} <= header ${e.upstream_header_us}`);
        assert.ok(e.upstream_header_us <= e.total_us, `header ${e.upstream_header_us} <= total ${e.total_us}`);
    });

    test('absent headers are null; HTTP/1.0; a generated trace id is logged', async () => {
        const { e } = await exchange(f, 'GET /app/3 HTTP/1.0\r\nX-Request-Id: cus-3\r\n\r\n', 'cus-3');
        assert.equal(e.protocol, 'HTTP/1.0');
        assert.equal(e.user_agent, null);
        assert.equal(e.referer, null);
        assert.match(e.trace_id, /^[0-9a-f]{32}$/);
        const fwd = A.requests.at(-1).headers.traceparent;
        assert.ok(fwd.includes(e.trace_id), `trace id ${e.trace_id} is the one sent upstream (${fwd})`);
    });

    test('override_used is true when the override header was honoured', async () => {
        const { r, e } = await exchange(f, 'GET /mig/1 HTTP/1.1\r\nHost: a\r\nX-Ficus-Target: new\r\nX-Request-Id: cus-4\r\n\r\n', 'cus-4');
        assert.equal(r.status, 200);
        assert.equal(e.override_used, true);
        assert.equal(e.side, 'new');
        const { e: e2 } = await exchange(f, 'GET /mig/2 HTTP/1.1\r\nHost: a\r\nX-Request-Id: cus-5\r\n\r\n', 'cus-5');
        assert.equal(e2.override_used, false);
        assert.equal(e2.side, 'legacy');
    });

    test('an exchange without upstream has null times and no error in the line', async () => {
        const { r, e } = await exchange(f, 'GET /nowhere HTTP/1.1\r\nHost: a\r\nX-Request-Id: cus-6\r\n\r\n', 'cus-6');
        assert.equal(r.status, 404);
        assert.equal(e.upstream_connect_us, null);
        assert.equal(e.upstream_header_us, null);
        assert.ok(Number.isInteger(e.total_us));
        assert.equal(e.error, 'no_route');
    });

    test('a hostile User-Agent (quotes, backslashes, tabs, high bytes) stays valid JSON, cut at 256 bytes', async () => {
        const head = Buffer.from('a"b\\c\td"}{\\u0000\'', 'latin1');
        const high = Buffer.from([0x80, 0xc3, 0x28, 0xff, 0xfe]);
        const ua = Buffer.concat([head, high, Buffer.alloc(600, 0x78)]);
        const req = Buffer.concat([
            Buffer.from('GET /app/ua HTTP/1.1\r\nHost: a\r\nX-Request-Id: cus-7\r\nReferer: x"\\\r\nUser-Agent: '),
            ua, Buffer.from('\r\n\r\n'),
        ]);
        const { r, e } = await exchange(f, req, 'cus-7');
        assert.equal(r.status, 200);
        const line = rawLine(f, 'cus-7');
        assert.ok(line, 'the line is on stdout');
        assert.doesNotThrow(() => JSON.parse(line));
        assert.ok(/^[\x20-\x7e]+$/.test(line), 'the line is printable ASCII (control and high bytes escaped)');
        // Each byte is logged as one code point: the first 256 bytes of the value.
        assert.equal(e.user_agent, ua.subarray(0, 256).toString('latin1'));
        assert.equal(e.referer, 'x"\\');
    });

    test('control bytes other than HTAB never reach the log: the parser refuses them', async () => {
        for (const b of [0x01, 0x1b, 0x7f]) {
            const c = await RawConn.open(f.port);
            await c.write(Buffer.concat([Buffer.from('GET /app/c HTTP/1.1\r\nHost: a\r\nUser-Agent: a'),
                Buffer.from([b]), Buffer.from('b\r\n\r\n')]));
            const r = await c.readResponse();
            c.destroy();
            assert.equal(r.status, 400, `byte 0x${b.toString(16)} refused`);
        }
        for (const l of f.stdout.lines.filter((x) => x.trim())) assert.doesNotThrow(() => JSON.parse(l), l);
    });
});

describe('access log: log.fields refused', () => {
    async function check(fields) {
        const dir = mkTempDir();
        const file = path.join(dir, 'ficus.yaml');
        const cfg = makeConfig({
            upstreams: { legacy: { servers: ['127.0.0.1:9'] } },
            routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
            log: { access: 'stdout', format: 'json', fields },
        });
        const { toYaml } = await import('./lib/harness.mjs');
        fs.writeFileSync(file, `${toYaml(cfg)}\n`);
        return runFicus(['check', '-c', file]);
    }

    test('an unknown field, with a did-you-mean', async () => {
        const r = await check(['time', 'user_agnet']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /log\.fields\[1\].*unknown field "user_agnet" \(did you mean user_agent\?\)/);
    });

    test('an unknown field far from every name: no suggestion', async () => {
        const r = await check(['zzzzzzzz']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /unknown field "zzzzzzzz"/);
        assert.doesNotMatch(r.stderr, /did you mean/);
    });

    test('a field listed twice, an empty list', async () => {
        const r = await check(['status', 'status']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /field "status" is listed twice/);
        const r2 = await check([]);
        assert.equal(r2.code, 1);
        assert.match(r2.stderr, /log\.fields.*expected a non-empty list/);
    });
});
