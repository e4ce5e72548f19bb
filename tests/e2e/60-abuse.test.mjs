// 60-: abuse. Request smuggling and desync shapes over raw sockets (each
// checked against a backend that records every request, so a hidden second
// request shows up), slowloris, connection floods beyond max_connections, and
// resource bounds: huge header sections, deep pipelines and a large chunked
// upload, with Ficus's RSS read from /proc. After every case a normal GET
// must still get 200.
//
// Environment (besides harness.mjs's):
//   ABUSE_PIPELINE_N   pipelined GETs on one connection (default 100000)
//   ABUSE_BIG_GIB      size of the chunked upload in GiB (default 1)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    FICUS_BIN, Ficus, get, makeConfig, metric, prng, requireBinary, scrape, sleep, startBackend, t, waitFor,
} from './lib/harness.mjs';
import {
    Collector, MiB, ResponseStream, RssSampler, chunkedBody, connect, fdCount, fdSoftLimit, isAsanBuild, pump,
    readBytes, sendCollect, show, startEchoTargetBackend,
} from './lib/abuse-util.mjs';

const PIPELINE_N = Number(process.env.ABUSE_PIPELINE_N) || 100000;
const BIG_GIB = Number(process.env.ABUSE_BIG_GIB) || 1;
const HEADER_BYTES = 16384;
const RSS_CAP_KIB = 64 * 1024;
const ASAN = isAsanBuild(FICUS_BIN);

/**
 * Assert an RSS bound (KiB). Under AddressSanitizer RSS measures the
 * quarantine and shadow memory, not Ficus: the bound is only reported.
 */
function assertRss(kib, cap, what) {
    if (ASAN) {
        note(`ASan build: not checking ${what}: ${kib} KiB (bound ${cap} KiB)`);
        return;
    }
    assert.ok(kib < cap, `${what}: ${kib} KiB, bound ${cap} KiB`);
}

function note(msg) {
    if (process.env.ABUSE_VERBOSE) console.log(`# ${msg}`);
}

const cleanup = [];
after(async () => {
    // Run every cleanup; report the first failure (e.g. a sanitizer report
    // found when a Ficus instance stops).
    let first = null;
    for (const fn of cleanup.reverse()) await fn().catch((e) => (first ??= e));
    if (first) throw first;
});

/** Start Ficus in front of `backend` with `limits`; stopped after the file. */
async function startProxy(backend, limits, { routes } = {}) {
    const f = await Ficus.start(makeConfig({
        upstreams: { legacy: { servers: [backend.addr], connect_timeout: '1s', read_timeout: '5s' } },
        routes: routes || [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        limits: { header_bytes: HEADER_BYTES, idle_timeout: '60s', drain_timeout: '1s', ...limits },
    }));
    cleanup.push(() => f.stop());
    return f;
}

/** A normal GET on a fresh connection gets 200 from the backend. */
async function assertHealthy(f, path = '/health', what = '') {
    const r = await get(f.port, path, {}, { timeout: t(5000) });
    assert.equal(r.status, 200, `a normal GET ${path} after ${what} → 200, got ${r.status} ${show(r.text)}`);
    assert.equal(f.exited, false, 'ficus still running');
    return r;
}

// ---------------------------------------------------------------------------

describe('request smuggling and desync shapes', { timeout: t(120000) }, () => {
    let B; // node backend recording every request (method, url, headers, body)
    let f;
    before(async () => {
        requireBinary();
        B = await startBackend('S');
        cleanup.push(() => B.close());
        f = await startProxy(B, { client_header_timeout: '2s' }, {
            routes: [
                { name: 'abs', match: { path_prefix: '/abs/' }, to: 'legacy' },
                { name: 'default', match: { path_prefix: '/' }, to: 'legacy' },
            ],
        });
    });

    const H = 'Host: a.test\r\n';
    const SMUG = `GET /admin HTTP/1.1\r\n${H}\r\n`;
    const hex = (s) => Buffer.byteLength(s).toString(16);
    const post = (hdrs, body = '') => `POST /x HTTP/1.1\r\n${H}${hdrs}\r\n${body}`;

    /**
     * `stage` "head": rejected on the head, the backend sees nothing at all.
     * `stage` "body": the head is valid and may have been forwarded, but the
     * backend must not complete the request (nor see anything smuggled).
     */
    const REJECT = [
        // CL.TE / TE.CL
        ['CL.TE: Content-Length then Transfer-Encoding', post('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\nX${SMUG}`), 400],
        ['TE.CL: Transfer-Encoding then Content-Length', post('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', `${hex(SMUG)}\r\n${SMUG}\r\n0\r\n\r\n`), 400],
        ['CL.TE with Content-Length: 0', post('Content-Length: 0\r\nTransfer-Encoding: chunked\r\n', `${hex(SMUG)}\r\n${SMUG}\r\n0\r\n\r\n`), 400],
        // TE.TE obfuscation
        ['TE.TE: Transfer-Encoding: xchunked', post('Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: xchunked with Content-Length', post('Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: identity, chunked', post('Transfer-Encoding: identity, chunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: space before the colon', post('Transfer-Encoding : chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: duplicated, chunked then identity', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: duplicated, x then chunked', post('Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: duplicated, chunked twice', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: header line starting with a space', post(' Transfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: Transfer-Encoding folded into the previous line', post('Content-Length: 5\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: vertical tab before chunked', post('Transfer-Encoding: \x0bchunked\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: quoted "chunked"', post('Transfer-Encoding: "chunked"\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: chunked with a parameter', post('Transfer-Encoding: chunked;q=1\r\n', `0\r\n\r\n${SMUG}`), 400],
        ['TE.TE: NUL after chunked', post('Transfer-Encoding: chunked\0\r\n', `0\r\n\r\n${SMUG}`), 400],
        // Content-Length shapes
        ['Content-Length duplicated, same value', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), 400],
        ['Content-Length duplicated, different values', post(`Content-Length: 5\r\nContent-Length: ${5 + SMUG.length}\r\n`, `hello${SMUG}`), 400],
        ['Content-Length comma list, same values', post('Content-Length: 5, 5\r\n', 'hello'), 400],
        ['Content-Length comma list, different values', post(`Content-Length: 5,${5 + SMUG.length}\r\n`, `hello${SMUG}`), 400],
        ['Content-Length with a plus sign', post('Content-Length: +5\r\n', 'hello'), 400],
        ['Content-Length with a minus sign', post('Content-Length: -5\r\n', `hello${SMUG}`), 400],
        ['Content-Length with an inner space', post('Content-Length: 1 5\r\n', `hello${SMUG}`), 400],
        ['Content-Length hexadecimal', post('Content-Length: 0x5\r\n', 'hello'), 400],
        ['Content-Length decimal point', post('Content-Length: 5.0\r\n', 'hello'), 400],
        ['Content-Length 2^64 + 5 (overflow)', post('Content-Length: 18446744073709551621\r\n', `hello${SMUG}`), 400],
        ['Content-Length with space before the colon', post('Content-Length : 5\r\n', `hello${SMUG}`), 400],
        // NUL and bare CR
        ['NUL in a header value', `GET /x HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, 400],
        ['NUL in a header name', `GET /x HTTP/1.1\r\n${H}X-\0A: b\r\n\r\n`, 400],
        ['bare CR inside a header value', `GET /x HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
        ['bare CR as a header line terminator', `GET /x HTTP/1.1\r\n${H}X-A: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUG}`, 400],
        ['bare CR ending the request line', `GET /x HTTP/1.1\r${H}\r\n`, 400],
        ['header name with a space', `GET /x HTTP/1.1\r\n${H}X A: b\r\n\r\n`, 400],
        ['header line without a colon', `GET /x HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 400],
        ['empty header name', `GET /x HTTP/1.1\r\n${H}: b\r\n\r\n`, 400],
        // request line
        ['HTTP/0.9 request line (no version)', 'GET /admin\r\n\r\n', 400],
        ['HTTP/0.9 version', `GET /x HTTP/0.9\r\n${H}\r\n`, 505],
        ['lower-case protocol name', `GET /x http/1.1\r\n${H}\r\n`, 400],
        ['two spaces in the request line', `GET  /x HTTP/1.1\r\n${H}\r\n`, 400],
        ['extra token after the version', `GET /x HTTP/1.1 x\r\n${H}\r\n`, 400],
        ['absolute-form with nothing after http://', `GET http:// HTTP/1.1\r\n${H}\r\n`, 400],
        ['absolute-form with an empty host', `GET http:///admin HTTP/1.1\r\n${H}\r\n`, 400],
    ];

    const REJECT_BODY = [
        ['chunk-size overflow FFFFFFFFFFFFFFFFFFFF', `FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n${SMUG}`],
        ['chunk-size 2^64 + 5 written as 10000000000000005', `10000000000000005\r\nhello\r\n0\r\n\r\n${SMUG}`],
        ['chunk extension of 10 KB', `5;${'e'.repeat(10240)}\r\nhello\r\n0\r\n\r\n${SMUG}`],
        ['3,000 small chunk extensions (12 KB)', `5${';a=b'.repeat(3000)}\r\nhello\r\n0\r\n\r\n${SMUG}`],
        ['chunk extension on the last chunk of 10 KB', `5\r\nhello\r\n0;${'e'.repeat(10240)}\r\n\r\n${SMUG}`],
        ['NUL in a chunk extension', `5;a=\0\r\nhello\r\n0\r\n\r\n${SMUG}`],
        ['chunk data longer than its size', `3\r\nhello\r\n0\r\n\r\n${SMUG}`],
    ];

    async function expectRejected(wire, status, stage) {
        B.reset();
        const r = await sendCollect(f.port, wire, { timeout: t(3000) });
        const what = `request ${show(wire, 160)}`;
        assert.ok(r.res, `${what}: expected a ${status} response, got ${show(r.data)} (${r.parseError?.message})`);
        assert.equal(r.res.status, status, `${what}: status, got ${show(r.res.head)}`);
        assert.ok(r.closed, `${what}: Ficus must close the connection after ${status}`);
        assert.equal(r.data.length, r.res.length, `${what}: nothing after the ${status}, got ${show(r.data.subarray(r.res.length))}`);
        // The follow-up request also flushes anything Ficus may have forwarded.
        await assertHealthy(f, '/after', what);
        const seen = B.requests.map((x) => `${x.method} ${x.url}${x.complete ? '' : ' (incomplete)'}`);
        assert.ok(!B.requests.some((x) => /admin/.test(x.url)), `${what}: smuggled GET /admin reached the backend: ${JSON.stringify(seen)}`);
        if (stage === 'head') {
            assert.deepEqual(seen, ['GET /after'], `${what}: the backend must see only the follow-up request`);
        } else {
            assert.deepEqual(seen.filter((s) => !s.endsWith('(incomplete)')), ['GET /after'],
                `${what}: the backend must complete no request but the follow-up`);
        }
    }

    for (const [name, wire, status] of REJECT) {
        test(`${name} → ${status}, closed, nothing forwarded`, () => expectRejected(wire, status, 'head'));
    }
    for (const [name, body] of REJECT_BODY) {
        test(`${name} → 400, closed, no request completed`, () => expectRejected(
            post('Transfer-Encoding: chunked\r\n', body), 400, 'body'));
    }

    // Shapes that are valid HTTP/1.1: they must be framed exactly like the
    // plain form, so a request pipelined after them is a separate request.
    const ACCEPT_TE = [
        ['Transfer-Encoding: chunked<HTAB> (trailing OWS)', 'Transfer-Encoding: chunked\t\r\n'],
        ['Transfer-Encoding:<HTAB>chunked (leading OWS)', 'Transfer-Encoding:\tchunked\r\n'],
        ['Transfer-Encoding:   chunked   (extra spaces)', 'Transfer-Encoding:   chunked   \r\n'],
    ];
    for (const [name, hdr] of ACCEPT_TE) {
        test(`${name} is framed as chunked; the pipelined request is separate`, async () => {
            B.reset();
            const wire = post(hdr, `5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
            const r = await sendCollect(f.port, wire, { timeout: t(3000) });
            assert.ok(r.res, `no response: ${show(r.data)}`);
            assert.equal(r.res.status, 200, `got ${show(r.data)}`);
            assert.ok(r.text.includes('S GET /next'), `the pipelined GET /next is answered, got ${show(r.data, 600)}`);
            assert.deepEqual(B.requests.map((x) => `${x.method} ${x.url} ${x.body}`), ['POST /x hello', 'GET /next '],
                'backend sees the POST with body "hello", then GET /next');
        });
    }

    test('absolute-form GET http://x/ HTTP/1.1 is accepted and routed', async () => {
        B.reset();
        const since = f.accessLog().length;
        const r = await sendCollect(f.port, `GET http://x/ HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        assert.equal(r.res?.status, 200, `got ${show(r.data)}`);
        assert.equal(B.requests.length, 1);
        assert.match(B.requests[0].url, /^(http:\/\/x)?\/$/, `backend url ${B.requests[0].url}`);
        const e = await f.waitAccess((x) => x.path === '/' && x.method === 'GET', { since });
        assert.equal(e.status, 200);
        assert.equal(e.route, 'default');
    });

    test('absolute-form GET http://x/abs/1?q=1 is routed by its path', async () => {
        B.reset();
        const since = f.accessLog().length;
        const r = await sendCollect(f.port, `GET http://x/abs/1?q=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        assert.equal(r.res?.status, 200, `got ${show(r.data)}`);
        assert.equal(B.requests.length, 1);
        assert.match(B.requests[0].url, /^(http:\/\/x)?\/abs\/1\?q=1$/, `backend url ${B.requests[0].url}`);
        const e = await f.waitAccess((x) => x.path.startsWith('/abs/1'), { since });
        assert.equal(e.status, 200);
        assert.equal(e.route, 'abs', `routed by path /abs/1, access log ${JSON.stringify(e)}`);
    });
});

// ---------------------------------------------------------------------------

describe('slow clients and connection floods', { timeout: t(90000) }, () => {
    let E; // fast raw backend
    before(async () => {
        requireBinary();
        E = await startEchoTargetBackend();
        cleanup.push(() => E.close());
    });

    test('1,000 slowloris connections are cut at client_header_timeout; normal clients are served meanwhile', async (tc) => {
        const N = 1000;
        const limit = fdSoftLimit();
        if (limit < 4096) {
            tc.skip(`open-file limit is ${limit} (< 4096): run "ulimit -n 4096" first`);
            return;
        }
        const f = await startProxy(E, { client_header_timeout: '2s', max_connections: 2000 });
        const ficusLimit = fdSoftLimit(f.pid);
        if (ficusLimit < 4096) {
            tc.skip(`ficus open-file limit is ${ficusLimit} (< 4096)`);
            return;
        }
        const slow = [];
        try {
            for (let i = 0; i < N; i += 100) {
                const batch = await Promise.all(Array.from({ length: Math.min(100, N - i) }, async () => {
                    const sock = await connect(f.port);
                    const c = new Collector(sock);
                    c.startedAt = Date.now();
                    sock.write('GET / HTTP/1.1\r\nHost: a\r\n');
                    return c;
                }));
                slow.push(...batch);
            }
            const opened = Date.now();
            // One header byte every 500 ms on every connection.
            const drip = 'X-Slow: ' + 'a'.repeat(1000);
            let k = 0;
            const timer = setInterval(() => {
                for (const c of slow) if (!c.closed && !c.sock.destroyed) c.sock.write(drip[k % drip.length]);
                k++;
            }, 500);
            try {
                // A normal client meanwhile: 20 requests, each within 500 ms.
                const lat = [];
                for (let i = 0; i < 20; i++) {
                    const t0 = Date.now();
                    const r = await get(f.port, `/normal/${i}`, {}, { timeout: t(5000) });
                    lat.push(Date.now() - t0);
                    assert.equal(r.status, 200, `normal request ${i}`);
                    assert.equal(r.text, `/normal/${i}`);
                    await sleep(50);
                }
                const slowest = Math.max(...lat);
                assert.ok(slowest <= t(500), `normal requests took up to ${slowest} ms during slowloris (${lat.join(',')})`);
                // All slowloris connections closed by Ficus within 6 s.
                await waitFor(() => slow.every((c) => c.closed), {
                    timeout: Math.max(0, opened + t(6000) - Date.now()) + 10,
                    what: `slowloris connections closed (${slow.filter((c) => !c.closed).length} still open)`,
                }).catch((e) => {
                    assert.fail(`${slow.filter((c) => !c.closed).length} of ${N} slowloris connections still open 6 s after they started: ${e.message}`);
                });
            } finally {
                clearInterval(timer);
            }
            const lives = slow.map((c) => (c.endedAt ?? c.closedAt) - c.startedAt);
            const early = lives.filter((ms) => ms < 1500).length;
            assert.equal(early, 0, `${early} slowloris connections were closed before 1.5 s (client_header_timeout is 2s)`);
            const not408 = slow.filter((c) => !/^HTTP\/1\.1 408 /.test(c.text()));
            assert.equal(not408.length, 0,
                `every slowloris connection sent bytes, so each gets 408 before the close; ${not408.length} did not, e.g. ${show(not408[0]?.text() ?? '')} err=${not408[0]?.error?.code}`);
            const m = await scrape(f.adminPort);
            assert.equal(metric(m, 'ficus_client_connections'), 0, 'no client connection left open');
            assert.equal(E.targets.filter((x) => x === '/').length, 0, 'no slowloris request reached the backend');
            await assertHealthy(f, '/health', 'slowloris');
        } finally {
            for (const c of slow) c.sock.destroy();
            await f.stop();
        }
    });

    test('a flood beyond max_connections is shed at once, memory stays bounded, fds are released', async () => {
        const f = await startProxy(E, { client_header_timeout: '20s', max_connections: 50 });
        const fds0 = fdCount(f.pid);
        const rss = new RssSampler(f.pid);
        const socks = [];
        try {
            for (let i = 0; i < 200; i += 50) {
                socks.push(...await Promise.all(Array.from({ length: 50 }, async () => new Collector(await connect(f.port)))));
            }
            const t0 = Date.now();
            // The first 50 stay open; the other 150 are closed promptly.
            await waitFor(() => socks.filter((c) => c.closed).length >= 150, {
                timeout: t(2000), what: `150 excess connections closed (closed: ${socks.filter((c) => c.closed).length})`,
            });
            const shedMs = Date.now() - t0;
            await sleep(200);
            const open = socks.filter((c) => !c.closed).length;
            assert.equal(open, 50, `exactly max_connections (50) stay open, got ${open}`);
            let m = await scrape(f.adminPort);
            assert.equal(metric(m, 'ficus_client_connections'), 50);
            assert.ok(metric(m, 'ficus_rejected_connections_total') >= 150,
                `ficus_rejected_connections_total ${metric(m, 'ficus_rejected_connections_total')} < 150`);
            // Keep hammering for a second: connect, get closed, reconnect.
            let rejected = 0;
            const until = Date.now() + 1000;
            while (Date.now() < until) {
                const batch = await Promise.all(Array.from({ length: 50 }, async () => {
                    const c = new Collector(await connect(f.port));
                    return c.waitClose(t(2000));
                }));
                rejected += batch.filter(Boolean).length;
            }
            const r = rss.stop();
            assertRss(r.max, RSS_CAP_KIB, 'ficus VmRSS during the flood');
            m = await scrape(f.adminPort);
            assert.ok(metric(m, 'ficus_rejected_connections_total') >= 150 + rejected);
            for (const c of socks) c.sock.destroy();
            await waitFor(async () => metric(await scrape(f.adminPort), 'ficus_client_connections') === 0,
                { what: 'ficus_client_connections back to 0' });
            await assertHealthy(f, '/health', 'the flood');
            await waitFor(() => fdCount(f.pid) <= fds0 + 2, { what: `fds back to ${fds0} (now ${fdCount(f.pid)})` });
            note(`flood: shed 150 in ${shedMs} ms, ${rejected} more rejected, RSS ${r.base}→${r.max} KiB`);
        } finally {
            rss.stop();
            for (const c of socks) c.sock.destroy();
            await f.stop();
        }
    });
});


// ---------------------------------------------------------------------------

describe('resource bounds', { timeout: t(180000) }, () => {
    let E;
    before(async () => {
        requireBinary();
        E = await startEchoTargetBackend();
        cleanup.push(() => E.close());
    });

    /**
     * Stream up to `total` bytes of small header lines after a request line
     * and stop at the first response byte. Each write is a 64 KiB block
     * issued only once the previous one drained and after the event loop had
     * a chance to deliver incoming data: Ficus closes with unread input, so
     * its RST makes the next write fail and Node then drops the socket and
     * whatever response bytes it had not read yet.
     */
    async function headerFlood(f, total) {
        const read0 = readBytes(f.pid);
        const sock = await connect(f.port);
        const c = new Collector(sock);
        let readAtResponse = null;
        sock.once('data', () => (readAtResponse = readBytes(f.pid) - read0));
        const block = Buffer.from('X-Flood: 0123456789\r\n'.repeat(3120)); // 65,520 bytes
        sock.write('GET /flood HTTP/1.1\r\nHost: a\r\n');
        let written = 0;
        while (written < total && c.length === 0 && !c.closed && !sock.destroyed) {
            await new Promise((resolve) => setImmediate(resolve));
            if (c.length || c.closed || sock.destroyed) break;
            written += block.length;
            if (!sock.write(block)) {
                await new Promise((resolve) => {
                    const done = () => {
                        sock.off('drain', done);
                        sock.off('close', done);
                        resolve();
                    };
                    sock.on('drain', done);
                    sock.on('close', done);
                });
            }
        }
        const t0 = Date.now();
        const closed = await c.waitClose(t(10000));
        const closeMs = Date.now() - t0;
        sock.destroy();
        return { c, written, closed, closeMs, readAtResponse, read: readBytes(f.pid) - read0 };
    }

    test('100 MB of small headers on one connection → 431 after ~header_bytes, close, bounded memory', async () => {
        const f = await startProxy(E, { client_header_timeout: '30s' });
        try {
            const TOTAL = 100 * MiB;
            const rss = new RssSampler(f.pid, 20);
            let res;
            // A write racing the RST can still lose the response in the
            // client's socket (ECONNRESET with no byte read): try again then.
            for (let attempt = 0; attempt < 3; attempt++) {
                res = await headerFlood(f, TOTAL);
                if (res.c.length > 0 || res.c.error?.code !== 'ECONNRESET') break;
            }
            const r = rss.stop();
            const { c, written, closed, closeMs, readAtResponse, read } = res;
            const got = c.text();
            assert.match(got, /^HTTP\/1\.1 431 /, `expected 431, got ${show(got)} (socket error ${c.error?.code}, client wrote ${written} bytes)`);
            // After answering, Ficus lingers: it discards at most 1 MiB more input (or 1 s)
            // so that the client sees the 431 instead of a reset. What it may read in all is
            // therefore ~header_bytes plus that lingering allowance, never the 100 MB.
            const LINGER_BYTES = 1 * MiB;
            assert.ok(read <= 4 * HEADER_BYTES + LINGER_BYTES,
                `Ficus read ${read} bytes in all (${readAtResponse} when the client saw the answer; header_bytes ${HEADER_BYTES}, linger allowance ${LINGER_BYTES})`);
            assert.ok(closed, `connection closed after the 431 (closed after ${closeMs} ms)`);
            assert.ok(written < TOTAL, 'the client could not push 100 MB');
            assertRss(r.max, RSS_CAP_KIB, 'ficus VmRSS');
            assert.ok(!E.targets.includes('/flood'), 'nothing forwarded');
            await assertHealthy(f, '/health', 'the header flood');
            note(`header flood: client wrote ${written} bytes, ficus had read ${readAtResponse} at the response and ${read} in all, RSS max ${r.max} KiB`);
        } finally {
            await f.stop();
        }
    });

    test(`${PIPELINE_N} pipelined GETs on one connection are all answered, in order`, async () => {
        const f = await startProxy(E, { client_header_timeout: '30s' });
        try {
            E.targets.length = 0;
            const conns0 = E.connections;
            const rss = new RssSampler(f.pid, 200);
            const sock = await connect(f.port);
            let next = 0;
            let bad = null;
            const rs = new ResponseStream(({ status, body }) => {
                const want = `/p/${next}`;
                if (!bad && (status !== 200 || body.toString('latin1') !== want)) {
                    bad = `response #${next}: expected 200 ${want}, got ${status} ${show(body)}`;
                }
                next++;
            });
            let closed = false;
            let parseErr = null;
            sock.on('data', (d) => {
                try {
                    rs.push(d);
                } catch (e) {
                    parseErr ??= e;
                    sock.destroy();
                }
            });
            sock.on('close', () => (closed = true));
            const t0 = Date.now();
            function* gen() {
                const BATCH = 1000;
                for (let i = 0; i < PIPELINE_N; i += BATCH) {
                    let s = '';
                    for (let j = i; j < Math.min(PIPELINE_N, i + BATCH); j++) s += `GET /p/${j} HTTP/1.1\r\nHost: a\r\n\r\n`;
                    yield Buffer.from(s, 'latin1');
                }
            }
            await pump(sock, gen());
            await waitFor(() => next >= PIPELINE_N || closed || parseErr, {
                timeout: t(60000), interval: 100, what: `${PIPELINE_N} responses (got ${next})`,
            }).catch((e) => assert.fail(`${e.message}; got ${next} of ${PIPELINE_N} responses`));
            const ms = Date.now() - t0;
            const r = rss.stop();
            sock.destroy();
            assert.equal(parseErr, null, `response stream: ${parseErr?.message}`);
            assert.equal(bad, null, bad);
            assert.equal(next, PIPELINE_N, `responses received (closed=${closed})`);
            assert.equal(E.targets.length, PIPELINE_N, 'the backend saw every request');
            assert.ok(E.targets.every((x, i) => x === `/p/${i}`), 'the backend saw them in order');
            assert.ok(E.connections - conns0 <= 2, `${E.connections - conns0} upstream connections for one keep-alive client`);
            assertRss(r.max, RSS_CAP_KIB, 'ficus VmRSS');
            note(`pipeline: ${PIPELINE_N} in ${ms} ms (${Math.round(PIPELINE_N / (ms / 1000))}/s), RSS ${r.base}→${r.max} KiB`);
            await assertHealthy(f, '/health', 'the pipeline');
        } finally {
            await f.stop();
        }
    });

    test(`${BIG_GIB} GiB chunked upload streams through with RSS growth < 16 MiB`, async () => {
        const B = await startBackend('U');
        cleanup.push(() => B.close());
        let counted = 0;
        B.stream = (req, res) => {
            let n = 0;
            req.on('data', (d) => (n += d.length));
            req.on('end', () => {
                counted = n;
                res.end(String(n));
            });
        };
        const f = await startProxy(B, { client_header_timeout: '30s', client_body_timeout: '30s' });
        try {
            const TOTAL = Math.round(BIG_GIB * 1024 * MiB);
            const payload = prng(256 * 1024);
            const rss = new RssSampler(f.pid, 100);
            const sock = await connect(f.port);
            const c = new Collector(sock);
            const t0 = Date.now();
            const head = Buffer.from('POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
            await pump(sock, [head]);
            await pump(sock, chunkedBody(TOTAL, payload));
            await c.waitClose(t(60000));
            const ms = Date.now() - t0;
            const r = rss.stop();
            sock.destroy();
            const got = c.text();
            assert.match(got, /^HTTP\/1\.1 200 /, `got ${show(got)}`);
            assert.equal(got.slice(got.indexOf('\r\n\r\n') + 4), String(TOTAL), 'the backend counted every byte');
            assert.equal(counted, TOTAL);
            assertRss(r.growth, 16 * 1024, `ficus RSS growth during the upload (${r.base}→${r.max} KiB)`);
            note(`upload: ${TOTAL} bytes in ${ms} ms (${Math.round(TOTAL / MiB / (ms / 1000))} MiB/s), RSS ${r.base}→${r.max} KiB`);
            await assertHealthy(f, '/health', 'the upload');
        } finally {
            await f.stop();
        }
    });
});
