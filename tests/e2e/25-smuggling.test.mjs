// 25-: strict parsing against request smuggling and malformed input.
// Every case goes over a raw socket to a raw backend that records every byte
// it receives: the client must get the exact status and a closed connection,
// and the backend must not have received the request (or anything smuggled
// inside it); a normal request afterwards must still work.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, makeConfig, parseMessage, rawExchange, requireBinary, sleep, startRawBackend, t, waitFor,
} from './lib/harness.mjs';

let ficus;
let R;
const HEADER_BYTES = 8192;

before(async () => {
    requireBinary();
    R = await startRawBackend();
    ficus = await Ficus.start(makeConfig({
        upstreams: { legacy: R },
        routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        limits: { header_bytes: HEADER_BYTES },
    }));
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        await R?.close();
    }
});

const H = 'Host: a.test\r\n';
const SMUGGLED = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;

/** All complete requests in the bytes the raw backend received. */
function backendRequests() {
    let buf = R.bytes();
    const out = [];
    for (;;) {
        let m;
        try {
            m = parseMessage(buf, { request: true });
        } catch {
            out.push({ target: '<unparsable>' });
            break;
        }
        if (!m) break;
        out.push(m);
        buf = buf.subarray(m.length);
    }
    return out;
}

/**
 * Send `wire`, expect `status` and a closed connection; then check the backend
 * saw nothing (headOnly: not one byte; otherwise: no complete request and
 * nothing smuggled) and that a normal request still works.
 */
async function expectRejected(wire, status, { headOnly = true } = {}) {
    R.reset();
    const { res, closed, extra } = await rawExchange(ficus.port, wire, { closeTimeout: t(5000) });
    assert.equal(res.status, status, `status for ${JSON.stringify(String(wire).slice(0, 120))}`);
    assert.ok(closed, 'connection closed after the error');
    assert.equal(extra.length, 0, `nothing after the error response, got ${JSON.stringify(extra.toString('latin1').slice(0, 100))}`);
    if (headOnly) {
        assert.equal(R.totalBytes(), 0, `backend must receive nothing, got ${JSON.stringify(R.bytes().toString('latin1').slice(0, 200))}`);
    }
    assert.ok(!R.bytes().includes('smuggled'), 'the smuggled request never reaches the backend');
    assert.equal(R.requests.length, 0, 'backend completed no request');

    // Follow-up on a fresh connection.
    const follow = await rawExchange(ficus.port, `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { closeTimeout: t(5000) });
    assert.equal(follow.res.status, 200);
    assert.equal(follow.res.text, '/after');
    assert.deepEqual(R.requests.map((r) => r.target), ['/after'], 'backend saw only the follow-up request');
    if (headOnly) {
        assert.deepEqual(backendRequests().map((r) => r.target), ['/after'], 'no other bytes at the backend');
    }
}

const CASES = [
    // [name, wire, status, headOnly]
    ['Content-Length with Transfer-Encoding', `POST /t HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding with Content-Length', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Content-Length: 0 with Transfer-Encoding', `POST /t HTTP/1.1\r\n${H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400],
    ['duplicate Content-Length, different values', `POST /t HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 34\r\n\r\nabc${SMUGGLED}`, 400],
    ['duplicate Content-Length, same value', `POST /t HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
    ['Content-Length list', `POST /t HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 400],
    ['Content-Length with plus sign', `POST /t HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
    ['Content-Length hex', `POST /t HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, 400],
    ['Content-Length negative', `POST /t HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n${SMUGGLED}`, 400],
    ['Content-Length empty', `POST /t HTTP/1.1\r\n${H}Content-Length: \r\n\r\n${SMUGGLED}`, 400],
    ['Content-Length trailing garbage', `POST /t HTTP/1.1\r\n${H}Content-Length: 5x\r\n\r\nhello`, 400],
    ['Content-Length with inner space', `POST /t HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\nhello${SMUGGLED}`, 400],
    ['Content-Length overflow', `POST /t HTTP/1.1\r\n${H}Content-Length: 18446744073709551621\r\n\r\nhello${SMUGGLED}`, 400],
    ['Transfer-Encoding: gzip, chunked', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding: chunked, chunked', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding twice', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding: identity', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding: xchunked', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding: chunked then gzip', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['Transfer-Encoding on HTTP/1.0', `POST /t HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['obs-fold in a header', `GET /t HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`, 400],
    ['obs-fold hiding Transfer-Encoding', `POST /t HTTP/1.1\r\n${H}Content-Length: 5\r\nX-Foo: a\r\n Transfer-Encoding: chunked\r\n\r\nhello`, 400],
    ['space before colon', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
    ['tab before colon', `GET /t HTTP/1.1\r\nHost\t: a.test\r\n\r\n`, 400],
    ['NUL in a header value', `GET /t HTTP/1.1\r\n${H}X-Nul: a\0b\r\n\r\n`, 400],
    ['NUL in a header name', `GET /t HTTP/1.1\r\n${H}X-N\0ul: ab\r\n\r\n`, 400],
    ['CR inside a header value', `GET /t HTTP/1.1\r\n${H}X-Cr: a\rb\r\n\r\n`, 400],
    ['bare LF line ends', `GET /t HTTP/1.1\n${H.replace('\r\n', '\n')}\n`, 400],
    ['one bare LF header line', `GET /t HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`, 400],
    ['bare LF ending the head', `POST /t HTTP/1.1\r\n${H}Content-Length: 0\r\n\n${SMUGGLED}`, 400],
    ['missing Host on HTTP/1.1', 'GET /t HTTP/1.1\r\nX-A: 1\r\n\r\n', 400],
    ['duplicate Host', `GET /t HTTP/1.1\r\n${H}Host: b.test\r\n\r\n`, 400],
];

// Bad chunked bodies: the head is valid, so Ficus may already have opened the
// upstream request; it must still answer 400, close, and never complete the
// request at the backend.
const CHUNK_CASES = [
    ['chunk size not hex', 'zz\r\nhello\r\n0\r\n\r\n'],
    ['chunk size negative', `-1\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk size with 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['chunk size overflow', `fffffffffffffffffffffff1\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk size empty', `\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk data longer than its size', `3\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
    ['chunk size line ended by bare LF', `5\nhello\r\n0\r\n\r\n${SMUGGLED}`],
];

describe('malformed framing and headers → 400, connection closed', { timeout: t(120000) }, () => {
    for (const [name, wire, status] of CASES) {
        test(name, () => expectRejected(wire, status));
    }
    for (const [name, body] of CHUNK_CASES) {
        test(name, () => expectRejected(
            `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`, 400, { headOnly: false },
        ));
    }
});

describe('limits and versions', { timeout: t(60000) }, () => {
    test('request line longer than header_bytes → 414', () => expectRejected(
        `GET /${'a'.repeat(HEADER_BYTES + 100)} HTTP/1.1\r\n${H}\r\n`, 414,
    ));

    test('headers bigger than header_bytes (many headers) → 431', () => {
        let hdrs = '';
        for (let i = 0; hdrs.length < HEADER_BYTES + 500; i++) hdrs += `X-Pad-${i}: ${'v'.repeat(400)}\r\n`;
        return expectRejected(`GET /t HTTP/1.1\r\n${H}${hdrs}\r\n`, 431);
    });

    test('one header bigger than header_bytes → 431', () => expectRejected(
        `GET /t HTTP/1.1\r\n${H}X-Big: ${'v'.repeat(HEADER_BYTES + 10)}\r\n\r\n`, 431,
    ));

    test('too many header lines → 431', () => {
        let hdrs = '';
        for (let i = 0; i < 150; i++) hdrs += `X-H${i}: ${i}\r\n`;
        return expectRejected(`GET /t HTTP/1.1\r\n${H}${hdrs}\r\n`, 431);
    });

    test('HTTP/2.0 request line → 505', () => expectRejected(`GET /t HTTP/2.0\r\n${H}\r\n`, 505));

    test('HTTP/3.0 request line → 505', () => expectRejected(`GET /t HTTP/3.0\r\n${H}\r\n`, 505));

    test('just under the limits: long target and a large header are forwarded intact', async () => {
        R.reset();
        const target = `/${'p'.repeat(3000)}`;
        const big = 'v'.repeat(4000);
        const { res } = await rawExchange(ficus.port, `GET ${target} HTTP/1.1\r\n${H}X-Big: ${big}\r\nConnection: close\r\n\r\n`, { closeTimeout: t(5000) });
        assert.equal(res.status, 200);
        assert.equal(R.requests.length, 1);
        assert.equal(R.requests[0].target, target);
        assert.equal(R.requests[0].get('x-big'), big);
    });
});

describe('message boundaries', { timeout: t(60000) }, () => {
    test('chunked and Content-Length bodies followed by pipelined requests are split exactly', async () => {
        R.reset();
        const c = await RawConn.open(ficus.port);
        await c.write(`POST /c1 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`
            + '4\r\nGET \r\n3\r\n/x \r\n0\r\n\r\n'
            + `POST /c2 HTTP/1.1\r\n${H}Content-Length: 13\r\n\r\nGET /y HTTP/1`
            + `GET /c3 HTTP/1.1\r\n${H}\r\n`);
        for (const p of ['/c1', '/c2', '/c3']) {
            const r = await c.readResponse();
            assert.equal(r.status, 200);
            assert.equal(r.text, p);
        }
        c.destroy();
        assert.deepEqual(R.requests.map((r) => r.target), ['/c1', '/c2', '/c3']);
        assert.equal(R.requests[0].body.toString(), 'GET /x ');
        assert.equal(R.requests[1].body.toString(), 'GET /y HTTP/1');
    });
});

describe('connection handling around errors', { timeout: t(60000) }, () => {
    test('a valid request pipelined before a smuggling attempt is answered, then 400 and close', async () => {
        R.reset();
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /ok1 HTTP/1.1\r\n${H}\r\nPOST /t HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`);
        const r1 = await c.readResponse();
        assert.equal(r1.status, 200);
        assert.equal(r1.text, '/ok1');
        const r2 = await c.readResponse();
        assert.equal(r2.status, 400);
        assert.ok(await c.waitClose(t(5000)), 'closed after 400');
        assert.equal(c.rest().length, 0, 'no response for the smuggled request');
        c.destroy();
        assert.deepEqual(R.requests.map((r) => r.target), ['/ok1']);
        assert.ok(!R.bytes().includes('smuggled'));
    });

    test('a 400 is logged in the access log with error "bad_request"', async () => {
        await sleep(300); // let lines of earlier tests land first
        const before = ficus.accessLog().length;
        await rawExchange(ficus.port, `GET /logged-bad HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`, { closeTimeout: t(5000) });
        let fresh = [];
        await waitFor(() => (fresh = ficus.accessLog().slice(before)).length > 0, { what: 'an access-log line for the rejected request' }).catch(() => {});
        assert.equal(fresh.length, 1, `exactly one new access-log line; stdout tail: ${ficus.stdout.text.slice(-500)}`);
        const e = fresh[0];
        assert.equal(e.status, 400);
        assert.equal(e.error, 'bad_request');
        assert.equal(e.upstream, '');
        assert.ok(e.path === '/logged-bad' || e.path === '', `path ${e.path}`);
    });
});
