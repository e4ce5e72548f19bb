// 40-: upstream failures and timeouts: refused, read timeout, malformed
// responses, resets and early closes, stale pooled connections, client-side
// timeouts; each with the right status, access-log error and metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, freePort, get, makeConfig, metric, parseMessage, requireBinary, scrape, sleep,
    startBackend, startBlackhole, startRawBackend, t, waitFor,
} from './lib/harness.mjs';

let ficus;
let F; // scripted raw backend, upstream "faulty" (read_timeout 500ms)
let OK; // healthy node backend, upstream "ok"
let S; // node backend closing idle keep-alive connections after 200ms, upstream "stale"
let refusedPort;
let BH; // a listener whose accept queue is full: connects hang
const counts = { refused: 0, timeouts: 0 };

const BIG = 100000;

/** The raw backend reads one request head and acts on its path. */
function scripted(sock) {
    let buf = '';
    let done = false;
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
        buf += d;
        if (done || !buf.includes('\r\n\r\n')) return;
        done = true;
        const target = buf.split(' ')[1];
        const kind = target.split('/')[2];
        switch (kind) {
        case 'hang':
            break; // never answer
        case 'garbage':
            sock.end('this is not http\r\n\r\n');
            break;
        case 'badstatus':
            sock.end('HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n');
            break;
        case 'status999':
            sock.end('HTTP/1.1 999 Nope\r\nContent-Length: 0\r\n\r\n');
            break;
        case 'conflict':
            sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
            break;
        case 'doublecl':
            sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!');
            break;
        case 'poison':
            // A valid response followed by bytes that look like a second one.
            sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'
                + 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON');
            break;
        case 'resetearly':
            sock.resetAndDestroy();
            break;
        case 'closeearly':
            sock.end();
            break;
        case 'resetmid':
            sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n${'x'.repeat(1000)}`);
            setTimeout(() => sock.resetAndDestroy(), 100);
            break;
        case 'closemid':
            sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
            setTimeout(() => sock.end(), 100);
            break;
        default:
            sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
        }
    });
}

before(async () => {
    requireBinary();
    F = await startRawBackend(scripted);
    OK = await startBackend('OK');
    S = await startBackend('S', { keepAliveTimeout: 200 });
    refusedPort = await freePort();
    BH = await startBlackhole();
    ficus = await Ficus.start(makeConfig({
        upstreams: {
            refused: { servers: [`127.0.0.1:${refusedPort}`], connect_timeout: '1s' },
            faulty: { servers: [F], read_timeout: '500ms' },
            stale: { servers: [S] },
            blackhole: { servers: [BH ? BH.addr : `127.0.0.1:${refusedPort}`], connect_timeout: '500ms', read_timeout: '10s' },
            ok: { servers: [OK] },
        },
        routes: [
            { name: 'refused', match: { path_prefix: '/refused' }, to: 'refused' },
            { name: 'faulty', match: { path_prefix: '/f/' }, to: 'faulty' },
            { name: 'stale', match: { path_prefix: '/stale' }, to: 'stale' },
            { name: 'blackhole', match: { path_prefix: '/blackhole' }, to: 'blackhole' },
            { name: 'default', match: { path_prefix: '/' }, to: 'ok' },
        ],
        limits: { client_header_timeout: '1s', idle_timeout: '2s' },
    }));
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        await F?.close();
        await OK?.close();
        await S?.close();
        BH?.close();
    }
});

/** GET `path` on a fresh raw connection; resolves {res, ms, entry (access log)}. */
async function fetchLogged(path) {
    const since = ficus.accessLog().length;
    const c = await RawConn.open(ficus.port);
    const t0 = Date.now();
    await c.write(`GET ${path} HTTP/1.1\r\nHost: f.test\r\n\r\n`);
    const res = await c.readResponse({ timeout: t(10000) });
    const ms = Date.now() - t0;
    c.destroy();
    const entry = await ficus.waitAccess((x) => x.path === path, { since, what: `access-log line for ${path}` });
    return { res, ms, entry };
}

function assertShortErrorBody(res) {
    assert.ok(res.body.length > 0 && res.body.length < 1024, `a short body, got ${res.body.length} bytes`);
    assert.equal(res.get('x-backend'), undefined, 'generated by Ficus');
}

describe('upstream errors', { timeout: t(60000) }, () => {
    test('connection refused → 502, error upstream_connect_failed', async () => {
        for (let i = 0; i < 2; i++) {
            const { res, entry } = await fetchLogged(`/refused/${i}`);
            counts.refused++;
            assert.equal(res.status, 502);
            assertShortErrorBody(res);
            assert.equal(entry.status, 502);
            assert.equal(entry.error, 'upstream_connect_failed');
            assert.equal(entry.route, 'refused');
            assert.equal(entry.upstream, 'refused');
        }
    });

    test('upstream never answers, read_timeout 500ms → 504, error upstream_timeout', async () => {
        const { res, ms, entry } = await fetchLogged('/f/hang');
        counts.timeouts++;
        assert.equal(res.status, 504);
        assertShortErrorBody(res);
        assert.ok(ms >= 450, `answered after ${ms} ms, before read_timeout`);
        assert.ok(ms < t(5000), `answered after ${ms} ms`);
        assert.equal(entry.status, 504);
        assert.equal(entry.error, 'upstream_timeout');
        assert.equal(entry.upstream, 'faulty');
    });

    test('connect timeout (connect_timeout 500ms) → 504', async (tc) => {
        if (!BH) {
            tc.skip('could not build a listener that drops SYNs on this system');
            return;
        }
        const { res, ms, entry } = await fetchLogged('/blackhole');
        assert.equal(res.status, 504);
        assert.ok(ms >= 450 && ms < t(5000), `answered after ${ms} ms with connect_timeout 500ms`);
        assertShortErrorBody(res);
        assert.equal(entry.status, 504);
        assert.match(entry.error ?? '', /timeout/, `error ${entry.error}`);
    });

    for (const [kind, what] of [
        ['garbage', 'not HTTP at all'],
        ['badstatus', 'non-numeric status'],
        ['status999', 'status out of range'],
        ['conflict', 'Content-Length and Transfer-Encoding'],
        ['doublecl', 'two different Content-Length values'],
    ]) {
        test(`malformed upstream response (${what}) → 502, error upstream_bad_response`, async () => {
            const { res, entry } = await fetchLogged(`/f/${kind}`);
            assert.equal(res.status, 502);
            assertShortErrorBody(res);
            assert.equal(entry.status, 502);
            assert.equal(entry.error, 'upstream_bad_response');
        });
    }

    test('upstream reset before responding → 502, error upstream_reset', async () => {
        const { res, entry } = await fetchLogged('/f/resetearly');
        assert.equal(res.status, 502);
        assertShortErrorBody(res);
        assert.equal(entry.error, 'upstream_reset');
    });

    test('upstream closes without responding → 502 with an error reason', async () => {
        const { res, entry } = await fetchLogged('/f/closeearly');
        assert.equal(res.status, 502);
        assert.equal(typeof entry.error, 'string');
        assert.ok(entry.error.startsWith('upstream_'), entry.error);
    });

    test('upstream reset mid-response → client connection cut, error upstream_reset', async () => {
        const since = ficus.accessLog().length;
        const c = await RawConn.open(ficus.port);
        await c.write('GET /f/resetmid HTTP/1.1\r\nHost: f.test\r\n\r\n');
        assert.ok(await c.waitClose(t(5000)), 'client connection closed');
        const bytes = c.rest();
        c.destroy();
        let complete = null;
        try {
            complete = parseMessage(bytes, { closed: true });
        } catch {
            /* truncated: expected */
        }
        assert.ok(!complete || complete.status >= 500,
            `the client must not see a complete successful response (got ${bytes.length} bytes)`);
        if (bytes.length) assert.match(bytes.toString('latin1'), /^HTTP\/1\.1 (200|502)/);
        const entry = await ficus.waitAccess((x) => x.path === '/f/resetmid', { since });
        assert.equal(entry.error, 'upstream_reset');
    });

    test('upstream closes mid chunked body → client connection cut without the last chunk', async () => {
        const since = ficus.accessLog().length;
        const c = await RawConn.open(ficus.port);
        await c.write('GET /f/closemid HTTP/1.1\r\nHost: f.test\r\n\r\n');
        assert.ok(await c.waitClose(t(5000)), 'client connection closed');
        const text = c.rest().toString('latin1');
        c.destroy();
        assert.ok(!/\r\n0\r\n\r\n$/.test(text), 'the terminating chunk must not be sent for a truncated body');
        assert.throws(() => parseMessage(c.rest(), { closed: true }), 'the response is incomplete');
        const entry = await ficus.waitAccess((x) => x.path === '/f/closemid', { since });
        assert.equal(typeof entry.error, 'string');
    });

    test('bytes after a complete upstream response never reach the next request', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write('GET /f/poison HTTP/1.1\r\nHost: f.test\r\n\r\n');
        const r1 = await c.readResponse();
        assert.equal(r1.status, 200);
        assert.equal(r1.text, 'ok');
        for (let i = 0; i < 3; i++) {
            await c.write(`GET /f/next-${i} HTTP/1.1\r\nHost: f.test\r\n\r\n`);
            const r = await c.readResponse();
            assert.notEqual(r.text, 'POISON', 'the leftover bytes were served as a response');
            assert.equal(r.status, 200);
            assert.equal(r.text, 'ok');
        }
        c.destroy();
    });

    test('Ficus keeps serving after the faults', async () => {
        const r = await get(ficus.port, '/healthy');
        assert.equal(r.status, 200);
        assert.equal(r.text, 'OK GET /healthy');
        assert.equal(ficus.exited, false);
    });

    test('metrics count connect errors and timeouts', async () => {
        const m = await scrape(ficus.adminPort);
        assert.equal(metric(m, 'ficus_upstream_connect_errors_total', { upstream: 'refused' }, { required: true }), counts.refused);
        assert.equal(metric(m, 'ficus_upstream_timeouts_total', { upstream: 'faulty' }, { required: true }), counts.timeouts);
        assert.equal(metric(m, 'ficus_requests_total', { route: 'refused', upstream: 'refused', code: '502' }), counts.refused);
        assert.equal(metric(m, 'ficus_requests_total', { route: 'faulty', upstream: 'faulty', code: '504' }), counts.timeouts);
    });
});

describe('connection reuse', { timeout: t(30000) }, () => {
    test('a pooled connection closed by the upstream while idle is not used', async () => {
        for (let i = 0; i < 3; i++) {
            const r = await get(ficus.port, `/stale/${i}`);
            assert.equal(r.status, 200, `request ${i}`);
            assert.equal(r.text, `S GET /stale/${i}`);
            // The backend closes the idle upstream connection after 200 ms.
            await waitFor(() => S.sockets.size === 0, { what: 'backend closing its idle connection' });
            await sleep(50);
        }
        assert.equal(S.requests.length, 3);
    });
});

describe('client timeouts', { timeout: t(30000) }, () => {
    test('client_header_timeout closes a connection with an incomplete head', async () => {
        const c = await RawConn.open(ficus.port);
        const t0 = Date.now();
        await c.write('GET /slow HTTP/1.1\r\nHost: f.test\r\n');
        const closed = await c.waitClose(t(6000));
        const ms = Date.now() - t0;
        const got = c.rest().toString('latin1');
        c.destroy();
        assert.ok(closed, 'closed by Ficus');
        assert.ok(ms >= 800, `closed after ${ms} ms, before client_header_timeout (1s)`);
        assert.ok(got === '' || /^HTTP\/1\.1 408 /.test(got), `nothing or a 408, got ${JSON.stringify(got.slice(0, 80))}`);
        assert.equal(OK.requests.filter((r) => r.url === '/slow').length, 0);
    });

    test('idle_timeout closes an idle keep-alive connection', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write('GET /idle HTTP/1.1\r\nHost: f.test\r\n\r\n');
        assert.equal((await c.readResponse()).status, 200);
        const t0 = Date.now();
        const closed = await c.waitClose(t(8000));
        const ms = Date.now() - t0;
        c.destroy();
        assert.ok(closed, 'closed by Ficus');
        assert.ok(ms >= 1500, `closed after ${ms} ms, before idle_timeout (2s)`);
    });
});
