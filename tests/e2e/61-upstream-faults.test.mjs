// 61-: upstreams that misbehave on purpose, written with raw `net` servers:
// resets and truncation mid-response, responses longer than declared (with
// a second response hidden in the excess), an upstream that never answers,
// malformed status lines, and pooled keep-alive connections that the
// upstream closes as they are reused (idempotent requests are retried once,
// others are not). Each case checks the client's bytes, the access-log
// `error` reason and what the upstream saw; a normal GET must work after.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, get, makeConfig, parseMessage, request, requireBinary, sleep, t,
} from './lib/harness.mjs';
import { connect, Collector, sendCollect, show, startScriptedBackend } from './lib/abuse-util.mjs';

const H = 'Host: f.test\r\n';
const ok = (body, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const POISON = 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nPOISON!';
const MARK = 'm'.repeat(1000);

let ficus;
let F; // faults: behaviour chosen by the request path (read_timeout 1s)
let X; // responses longer than declared
const P = {}; // pool scenarios, one backend (and upstream) each

/** Default answer: who answered, on which upstream connection, to what. */
const normal = (name, { sock, conn, seq, target }) => sock.write(ok(`${name} ${conn} ${seq} ${target}`));

function faults(ctx) {
    const { sock, target } = ctx;
    const kind = target.split('/')[2];
    switch (kind) {
    case 'reset-mid':
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${MARK}`);
        setTimeout(() => sock.resetAndDestroy(), 100);
        break;
    case 'reset-mid-chunked':
        sock.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${MARK.length.toString(16)}\r\n${MARK}\r\n`);
        setTimeout(() => sock.resetAndDestroy(), 100);
        break;
    case 'trunc-chunked':
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab');
        setTimeout(() => sock.end(), 100);
        break;
    case 'trunc-length':
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
        setTimeout(() => sock.end(), 100);
        break;
    case 'hang':
        break;
    case 'bad': {
        const lines = {
            'letter-o': 'HTTP/1.1 2OO OK',
            'two-digits': 'HTTP/1.1 20 OK',
            'four-digits': 'HTTP/1.1 2000 OK',
            'no-space': 'HTTP/1.1200 OK',
            'protocol': 'HTTX/1.1 200 OK',
            'nul-reason': 'HTTP/1.1 200 O\0K',
            'empty': '',
        };
        sock.end(`${lines[target.split('/')[3]]}\r\nContent-Length: 2\r\n\r\nok`);
        break;
    }
    case 'bad-header':
        sock.end('HTTP/1.1 200 OK\r\nNoColonHere\r\nContent-Length: 2\r\n\r\nok');
        break;
    default:
        normal('F', ctx);
    }
}

function oversize(ctx) {
    const { sock, target } = ctx;
    const kind = target.split('/')[2];
    if (kind === 'big') {
        sock.write(ok('hello') + POISON);
    } else if (kind === 'big-late') {
        sock.write(ok('hello'));
        setTimeout(() => !sock.destroyed && sock.write(POISON), 100);
    } else {
        normal('X', ctx);
    }
}

/** Pool scenarios: how the upstream treats the second request on a connection. */
const POOL = {
    // Answers, then closes at once (the FIN follows the response).
    closeafter: (ctx) => {
        normal('P', ctx);
        ctx.sock.end();
    },
    // Answers, then half-closes 20 ms later while the connection idles in
    // Ficus's pool; like a server in lingering close it still reads.
    finidle: (ctx) => {
        normal('P', ctx);
        setTimeout(() => ctx.sock.end(), 20);
    },
    // Keeps the first exchange alive, closes (FIN) when a second request arrives.
    finonreuse: (ctx) => (ctx.seq === 0 ? normal('P', ctx) : ctx.sock.destroy()),
    // Same with a reset.
    rstonreuse: (ctx) => (ctx.seq === 0 ? normal('P', ctx) : ctx.sock.resetAndDestroy()),
};
const POOL_CASES = {
    p0: 'closeafter', p7: 'finidle', p1: 'finonreuse', p2: 'rstonreuse', p3: 'rstonreuse', p4: 'finonreuse', p5: 'rstonreuse', p6: 'finonreuse',
};

before(async () => {
    requireBinary();
    F = await startScriptedBackend(faults);
    X = await startScriptedBackend(oversize);
    for (const [name, mode] of Object.entries(POOL_CASES)) P[name] = await startScriptedBackend(POOL[mode]);
    const upstreams = {
        faults: { servers: [F.addr], connect_timeout: '1s', read_timeout: '1s' },
        oversize: { servers: [X.addr], connect_timeout: '1s', read_timeout: '1s' },
    };
    const routes = [
        { name: 'faults', match: { path_prefix: '/f/' }, to: 'faults' },
        { name: 'oversize', match: { path_prefix: '/x/' }, to: 'oversize' },
    ];
    for (const name of Object.keys(POOL_CASES)) {
        upstreams[name] = { servers: [P[name].addr], connect_timeout: '1s', read_timeout: '1s' };
        routes.push({ name, match: { path_prefix: `/${name}/` }, to: name });
    }
    ficus = await Ficus.start(makeConfig({
        upstreams,
        routes,
        limits: { client_header_timeout: '2s', idle_timeout: '30s' },
    }));
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        for (const b of [F, X, ...Object.values(P)]) await b?.close();
    }
});

/** The access-log entry of the request for `path` logged since index `since`. */
const logged = (path, since) => ficus.waitAccess((x) => x.path === path, { since, what: `access-log line for ${path}` });

async function assertHealthy(prefix = '/f/') {
    const p = `${prefix}healthy`;
    const r = await get(ficus.port, p, {}, { timeout: t(5000) });
    assert.equal(r.status, 200, `a normal GET ${p} afterwards → 200, got ${r.status} ${show(r.text)}`);
    assert.match(r.text, new RegExp(` ${p}$`), 'and gets its own response');
}

/** GET `path` on a fresh connection, read until Ficus closes it. */
async function fetchToClose(path, timeout = t(5000)) {
    const since = ficus.accessLog().length;
    const t0 = Date.now();
    const r = await sendCollect(ficus.port, `GET ${path} HTTP/1.1\r\n${H}\r\n`, { timeout });
    return { ...r, ms: Date.now() - t0, entry: await logged(path, since) };
}

describe('faults mid-response', { timeout: t(60000) }, () => {
    test('upstream reset mid Content-Length body → the client gets the bytes received, then the connection is cut', async () => {
        const r = await fetchToClose('/f/reset-mid/1');
        assert.ok(r.closed, `the client connection must be cut, not left hanging (got ${r.data.length} bytes)`);
        assert.match(r.text, /^HTTP\/1\.1 200 /, `got ${show(r.text)}`);
        const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
        assert.ok(body.length <= MARK.length && /^m*$/.test(body), `body is a prefix of what the upstream sent, got ${body.length} bytes ${show(body, 80)}`);
        assert.throws(() => parseMessage(r.data, { closed: true }), /truncated/, 'the client sees an incomplete response');
        assert.equal(r.entry.error, 'upstream_reset');
        assert.equal(r.entry.status, 200);
        await assertHealthy();
    });

    test('upstream reset mid chunked body → cut, no last chunk', async () => {
        const r = await fetchToClose('/f/reset-mid-chunked/1');
        assert.ok(r.closed, 'the client connection must be cut');
        assert.match(r.text, /^HTTP\/1\.1 200 /, `got ${show(r.text)}`);
        assert.ok(!/\r\n0\r\n\r\n$/.test(r.text), 'no terminating chunk for a truncated body');
        assert.throws(() => parseMessage(r.data, { closed: true }), /truncated/);
        assert.equal(r.entry.error, 'upstream_reset');
        await assertHealthy();
    });

    test('upstream closes mid chunk → cut after the bytes received, no last chunk', async () => {
        const r = await fetchToClose('/f/trunc-chunked/1');
        assert.ok(r.closed, 'the client connection must be cut');
        assert.match(r.text, /^HTTP\/1\.1 200 /, `got ${show(r.text)}`);
        assert.ok(r.text.includes('hello'), `the complete first chunk is passed on, got ${show(r.text)}`);
        assert.ok(!/\r\n0\r\n\r\n$/.test(r.text), `no terminating chunk for a truncated body, got ${show(r.text)}`);
        assert.throws(() => parseMessage(r.data, { closed: true }), /truncated/);
        assert.ok(['upstream_reset', 'upstream_bad_response'].includes(r.entry.error), `access-log error ${r.entry.error}`);
        await assertHealthy();
    });

    test('upstream closes mid Content-Length body → cut after the bytes received', async () => {
        const r = await fetchToClose('/f/trunc-length/1');
        assert.ok(r.closed, 'the client connection must be cut');
        const res = r.text;
        assert.match(res, /^HTTP\/1\.1 200 /, `got ${show(res)}`);
        assert.ok(res.endsWith('\r\n\r\n0123456789') || res.endsWith('\r\n\r\n'), `body is a prefix of what was sent, got ${show(res)}`);
        assert.throws(() => parseMessage(r.data, { closed: true }), /truncated/);
        assert.ok(['upstream_reset', 'upstream_bad_response'].includes(r.entry.error), `access-log error ${r.entry.error}`);
        await assertHealthy();
    });
});

describe('responses longer than declared', { timeout: t(60000) }, () => {
    /** Send `path` on keep-alive connection `c`; resolves the parsed response. */
    async function exchange(sock, c, path) {
        const from = c.length;
        sock.write(`GET ${path} HTTP/1.1\r\n${H}\r\n`);
        let msg = null;
        await c.until(() => {
            try {
                msg = parseMessage(c.bytes().subarray(from), {});
            } catch {
                return true;
            }
            return msg !== null || c.closed;
        }, t(5000), `response to ${path}`);
        assert.ok(msg, `response to ${path}: got ${show(c.bytes().subarray(from))}`);
        msg.end = from + msg.length;
        return msg;
    }

    test('excess in the same packet: the client gets exactly the declared bytes; the upstream connection is not reused', async () => {
        const sock = await connect(ficus.port);
        const c = new Collector(sock);
        try {
            const r1 = await exchange(sock, c, '/x/big/1');
            assert.equal(r1.status, 200);
            assert.equal(r1.text, 'hello');
            await sleep(100);
            const extra = c.bytes().subarray(r1.end);
            assert.equal(extra.length, 0, `nothing after the declared body, got ${show(extra)}`);
            const bigConn = X.requests.find((x) => x.target === '/x/big/1').conn;
            // Same client connection, then a new one: each gets its own response.
            if (!c.closed) {
                const r2 = await exchange(sock, c, '/x/after/1');
                assert.equal(r2.text.split(' ').slice(2).join(' '), '0 /x/after/1', `got ${show(r2.text)}`);
            }
            const r3 = await get(ficus.port, '/x/after/2');
            assert.notEqual(r3.text, 'POISON!', 'a later client must not get the hidden response');
            assert.match(r3.text, /^X \d+ \d+ \/x\/after\/2$/);
            const later = X.requests.filter((x) => x.target.startsWith('/x/after/'));
            assert.ok(later.every((x) => x.conn !== bigConn), `the upstream connection of the oversized response was reused: ${JSON.stringify(X.requests.map(({ conn, seq, target }) => ({ conn, seq, target })))}`);
            assert.ok(!c.text().includes('POISON'), 'the excess bytes never reach a client');
        } finally {
            sock.destroy();
        }
    });

    test('excess arriving 100 ms later on the idle pooled connection is never served to the next request', async () => {
        const r1 = await get(ficus.port, '/x/big-late/1');
        assert.equal(r1.text, 'hello');
        const lateConn = X.requests.find((x) => x.target === '/x/big-late/1').conn;
        await sleep(300); // the excess has reached Ficus's idle upstream connection
        const since = ficus.accessLog().length;
        const r2 = await get(ficus.port, '/x/after/3');
        assert.equal(r2.status, 200);
        assert.notEqual(r2.text, 'POISON!', 'response queue poisoning: the next request got the bytes left on the pooled connection');
        assert.match(r2.text, /^X \d+ \d+ \/x\/after\/3$/, `got ${show(r2.text)}`);
        assert.notEqual(X.requests.find((x) => x.target === '/x/after/3').conn, lateConn, 'the dirty connection is not reused');
        const e = await logged('/x/after/3', since);
        assert.equal(e.error, null);
    });
});

describe('upstream never answers and malformed responses', { timeout: t(60000) }, () => {
    test('no answer, read_timeout 1s → 504 within ~1.5 s, error upstream_timeout', async () => {
        const since = ficus.accessLog().length;
        const t0 = Date.now();
        const r = await request({ port: ficus.port, path: '/f/hang/1', timeout: t(5000) });
        const ms = Date.now() - t0;
        assert.equal(r.status, 504);
        assert.ok(ms >= 900, `answered after ${ms} ms, before read_timeout`);
        assert.ok(ms <= t(1500), `answered after ${ms} ms, expected ~1 s`);
        const e = await logged('/f/hang/1', since);
        assert.equal(e.status, 504);
        assert.equal(e.error, 'upstream_timeout');
        assert.equal(e.upstream, 'faults');
        await assertHealthy();
    });

    for (const [kind, line] of [
        ['letter-o', 'HTTP/1.1 2OO OK'],
        ['two-digits', 'HTTP/1.1 20 OK'],
        ['four-digits', 'HTTP/1.1 2000 OK'],
        ['no-space', 'HTTP/1.1200 OK'],
        ['protocol', 'HTTX/1.1 200 OK'],
        ['nul-reason', 'HTTP/1.1 200 O<NUL>K'],
        ['empty', '(empty line)'],
    ]) {
        test(`malformed status line ${JSON.stringify(line)} → 502, error upstream_bad_response`, async () => {
            const path = `/f/bad/${kind}`;
            const since = ficus.accessLog().length;
            const r = await get(ficus.port, path);
            assert.equal(r.status, 502, `got ${r.status} ${show(r.text)}`);
            assert.notEqual(r.text, 'ok', 'the upstream body is not passed on');
            const e = await logged(path, since);
            assert.equal(e.status, 502);
            assert.equal(e.error, 'upstream_bad_response');
            await assertHealthy();
        });
    }

    test('header line without a colon in the response → 502, error upstream_bad_response', async () => {
        const since = ficus.accessLog().length;
        const r = await get(ficus.port, '/f/bad-header/1');
        assert.equal(r.status, 502);
        const e = await logged('/f/bad-header/1', since);
        assert.equal(e.error, 'upstream_bad_response');
        await assertHealthy();
    });
});

describe('pooled keep-alive connection closed by the upstream', { timeout: t(60000) }, () => {
    const reqs = (b) => b.requests.map(({ conn, seq, method, target }) => `${conn}.${seq} ${method} ${target}`);

    /** First a GET that leaves an idle pooled connection, then `second`. */
    async function primeThen(name, second) {
        const r1 = await get(ficus.port, `/${name}/first`);
        assert.equal(r1.status, 200);
        assert.equal(r1.text, `P 0 0 /${name}/first`);
        await sleep(100);
        const since = ficus.accessLog().length;
        const r2 = await request({ port: ficus.port, ...second, path: `/${name}/second` });
        const e = await logged(`/${name}/second`, since);
        return { r2, e };
    }

    test('upstream half-closes right after answering, 20 times → every next GET still gets 200', async () => {
        // Whether the FIN arrives with the response or just after it is a
        // race, hence the repetitions.
        const failures = [];
        for (let i = 0; i < 20; i++) {
            const first = await get(ficus.port, `/p0/first-${i}`);
            assert.equal(first.status, 200);
            await sleep(30);
            const t0 = Date.now();
            const r = await get(ficus.port, `/p0/second-${i}`, {}, { timeout: t(5000) });
            const ms = Date.now() - t0;
            const firstConn = P.p0.requests.find((x) => x.target === `/p0/first-${i}`).conn;
            if (r.status !== 200 || !new RegExp(`^P \\d+ 0 /p0/second-${i}$`).test(r.text)) {
                const seen = P.p0.requests.filter((x) => x.target.endsWith(`-${i}`)).map(({ conn, seq, target }) => `${conn}.${seq} ${target}`);
                failures.push(`#${i}: ${r.status} after ${ms} ms, upstream saw ${JSON.stringify(seen)} (conn.seq target)`);
            } else {
                assert.notEqual(P.p0.requests.find((x) => x.target === `/p0/second-${i}` && x.seq === 0).conn, firstConn);
            }
        }
        assert.deepEqual(failures, [], `${failures.length} of 20 GETs after an upstream FIN failed`);
    });

    test('upstream half-closes 20 ms after answering (idle in the pool) → the next GET gets 200 on a new connection', async () => {
        const { r2, e } = await primeThen('p7', { method: 'GET' });
        assert.equal(r2.status, 200, `got ${r2.status} ${show(r2.text)}; upstream saw ${JSON.stringify(reqs(P.p7))} (conn.seq method target)`);
        assert.equal(r2.text, 'P 1 0 /p7/second');
        assert.equal(P.p7.connections, 2, `upstream connections: ${JSON.stringify(reqs(P.p7))}`);
        assert.equal(e.error, null);
    });

    for (const [name, how] of [['p1', 'FIN'], ['p2', 'RST']]) {
        test(`GET on a pooled connection the upstream closes (${how}) as it is reused → retried once, 200`, async () => {
            const { r2, e } = await primeThen(name, { method: 'GET' });
            assert.equal(r2.status, 200, `got ${r2.status} ${show(r2.text)}; upstream saw ${JSON.stringify(reqs(P[name]))}`);
            assert.equal(r2.text, `P 1 0 /${name}/second`);
            assert.deepEqual(reqs(P[name]), [`0.0 GET /${name}/first`, `0.1 GET /${name}/second`, `1.0 GET /${name}/second`],
                'the GET went to the pooled connection, then once to a new one');
            assert.equal(P[name].connections, 2);
            assert.equal(e.status, 200);
            assert.equal(e.error, null);
        });
    }

    test('DELETE without a body is retried the same way', async () => {
        const { r2 } = await primeThen('p3', { method: 'DELETE' });
        assert.equal(r2.status, 200, `got ${r2.status}; upstream saw ${JSON.stringify(reqs(P.p3))}`);
        assert.deepEqual(reqs(P.p3), ['0.0 GET /p3/first', '0.1 DELETE /p3/second', '1.0 DELETE /p3/second']);
    });

    test('POST with a body is NOT retried → 502, error upstream_reset', async () => {
        const { r2, e } = await primeThen('p4', { method: 'POST', body: 'payload', headers: { 'Content-Type': 'text/plain' } });
        assert.equal(r2.status, 502, `got ${r2.status} ${show(r2.text)}; upstream saw ${JSON.stringify(reqs(P.p4))}`);
        assert.deepEqual(reqs(P.p4), ['0.0 GET /p4/first', '0.1 POST /p4/second'], 'the POST reached the upstream once');
        assert.equal(P.p4.connections, 1, 'no new upstream connection for the POST');
        assert.equal(e.status, 502);
        assert.equal(e.error, 'upstream_reset');
    });

    test('PUT with a body is NOT retried → 502', async () => {
        const { r2, e } = await primeThen('p5', { method: 'PUT', body: 'payload' });
        assert.equal(r2.status, 502, `got ${r2.status}; upstream saw ${JSON.stringify(reqs(P.p5))}`);
        assert.deepEqual(reqs(P.p5), ['0.0 GET /p5/first', '0.1 PUT /p5/second']);
        assert.equal(e.error, 'upstream_reset');
    });

    test('POST without a body is NOT retried either (POST is not idempotent) → 502', async () => {
        const { r2 } = await primeThen('p6', { method: 'POST', headers: { 'Content-Length': '0' } });
        assert.equal(r2.status, 502, `got ${r2.status}; upstream saw ${JSON.stringify(reqs(P.p6))}`);
        assert.deepEqual(reqs(P.p6), ['0.0 GET /p6/first', '0.1 POST /p6/second']);
    });

    test('Ficus still serves every upstream afterwards', async () => {
        await assertHealthy('/f/');
        await assertHealthy('/x/');
        assert.equal(ficus.exited, false);
    });
});
