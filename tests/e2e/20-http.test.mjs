// 20-: HTTP/1.1 conformance of the proxy path: forwarding, header rewriting,
// hop-by-hop headers, keep-alive, pipelining, bodies, HEAD/204/304,
// Expect: 100-continue and HTTP/1.0 clients.
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, get, makeConfig, request, requireBinary, sleep, startBackend, startRawBackend, t,
} from './lib/harness.mjs';

let ficus;
let A; // node backend, upstream "legacy"
let R; // raw backend, upstream "raw" (route /raw)

before(async () => {
    requireBinary();
    A = await startBackend('A');
    R = await startRawBackend();
    ficus = await Ficus.start(makeConfig({
        upstreams: { legacy: A, raw: R },
        routes: [
            { name: 'raw', match: { path_prefix: '/raw' }, to: 'raw' },
            { name: 'default', match: { path_prefix: '/' }, to: 'legacy' },
        ],
    }));
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        await A?.close();
        await R?.close();
    }
});

afterEach(() => {
    A.reset();
    R.reset();
});

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
const H = 'Host: proxy.test\r\n';

describe('forwarding', { timeout: t(30000) }, () => {
    test('method, target, headers and body reach the backend; the response comes back', async () => {
        A.handle = (rec, req, res) => {
            res.statusCode = 201;
            res.setHeader('X-Resp', 'yes');
            res.setHeader('Set-Cookie', ['a=1', 'b=2']);
            res.end(`got ${rec.body.length}`);
        };
        const r = await request({
            port: ficus.port, method: 'POST', path: '/echo/p?x=1&y=%20z',
            headers: { 'X-Custom': 'abc', 'Content-Type': 'text/plain' }, body: 'hello world',
        });
        assert.equal(r.status, 201);
        assert.equal(r.text, 'got 11');
        assert.equal(r.headers['x-resp'], 'yes');
        assert.equal(r.headers['x-backend'], 'A');
        assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
        assert.equal(A.requests.length, 1);
        const rec = A.requests[0];
        assert.equal(rec.method, 'POST');
        assert.equal(rec.url, '/echo/p?x=1&y=%20z');
        assert.equal(rec.body.toString(), 'hello world');
        assert.equal(rec.headers['x-custom'], 'abc');
        assert.equal(rec.headers['content-type'], 'text/plain');
        assert.equal(rec.headers['content-length'], '11');
    });

    test('adds X-Forwarded-For/Proto/Host and Via', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write('GET /xf HTTP/1.1\r\nHost: example.test:8080\r\n\r\n');
        assert.equal((await c.readResponse()).status, 200);
        await c.write('GET /xf2 HTTP/1.1\r\nHost: example.test:8080\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n');
        assert.equal((await c.readResponse()).status, 200);
        c.destroy();
        const [r1, r2] = A.requests;
        assert.equal(r1.headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(r1.headers['x-forwarded-proto'], 'http');
        assert.equal(r1.headers['x-forwarded-host'], 'example.test:8080');
        assert.equal(r1.headers.via, '1.1 ficus');
        assert.equal(r2.headers['x-forwarded-for'].replace(/\s+/g, ' '), '203.0.113.7, 127.0.0.1', 'client IP appended');
    });

    test('X-Request-Id: generated when absent, kept when present', async () => {
        await get(ficus.port, '/rid1');
        await get(ficus.port, '/rid2');
        await get(ficus.port, '/rid3', { 'X-Request-Id': 'client-id-42' });
        const [a, b, c] = A.requests.map((r) => r.headers['x-request-id']);
        assert.match(a ?? '', /^\S{8,}$/, 'a generated id');
        assert.match(b ?? '', /^\S{8,}$/);
        assert.notEqual(a, b, 'ids are unique');
        assert.equal(c, 'client-id-42');
        assert.equal(A.requests[2].rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id').length, 1, 'not duplicated');
    });

    test('traceparent: passed through unchanged when present', async () => {
        const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
        await get(ficus.port, '/tp', { traceparent: tp, tracestate: 'congo=t61rcWkgMzE' });
        assert.equal(A.requests[0].headers.traceparent, tp);
        assert.equal(A.requests[0].headers.tracestate, 'congo=t61rcWkgMzE');
    });

    test('traceparent: a new valid W3C one when absent', async () => {
        await get(ficus.port, '/tp1');
        await get(ficus.port, '/tp2');
        const ids = A.requests.map((r) => r.headers.traceparent);
        for (const tp of ids) {
            const m = TRACEPARENT.exec(tp ?? '');
            assert.ok(m, `traceparent ${tp} must be 00-<32 hex>-<16 hex>-01`);
            assert.notEqual(m[1], '0'.repeat(32), 'trace-id must not be all zeros');
            assert.notEqual(m[2], '0'.repeat(16), 'parent-id must not be all zeros');
        }
        assert.notEqual(ids[0].slice(3, 35), ids[1].slice(3, 35), 'distinct trace ids');
    });

    test('absolute-form request target is forwarded in origin form', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write('GET http://proxy.test/abs/p?q=1 HTTP/1.1\r\nHost: proxy.test\r\n\r\n');
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(A.requests[0].url, '/abs/p?q=1');
    });
});

describe('hop-by-hop headers', { timeout: t(30000) }, () => {
    test('request: Connection, the headers it names, Keep-Alive, TE, Proxy-* are removed', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write('GET /hop HTTP/1.1\r\n' + H
            + 'Connection: keep-alive, X-Secret, x-other-secret\r\n'
            + 'X-Secret: 1\r\nX-Other-Secret: 2\r\nKeep-Alive: timeout=5\r\nTE: gzip;q=0.5\r\n'
            + 'Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\n'
            + 'X-Keep: yes\r\n\r\n');
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        const h = A.requests[0].headers;
        for (const name of ['x-secret', 'x-other-secret', 'keep-alive', 'proxy-authorization', 'proxy-connection']) {
            assert.equal(h[name], undefined, `${name} must not be forwarded`);
        }
        assert.ok(!/gzip/.test(h.te ?? ''), `TE must not be forwarded (got ${h.te})`);
        assert.ok(!/secret/i.test(h.connection ?? ''), `Connection must not be forwarded (got ${h.connection})`);
        assert.equal(h['x-keep'], 'yes');
    });

    test('request: Upgrade is removed', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /upg HTTP/1.1\r\n${H}Upgrade: foo/2\r\nX-Keep: yes\r\n\r\n`);
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(A.requests[0].headers.upgrade, undefined);
        assert.equal(A.requests[0].headers['x-keep'], 'yes');
    });

    test('response: Connection, the headers it names and Keep-Alive are removed', async () => {
        A.handle = (rec, req, res) => {
            res.setHeader('Connection', 'keep-alive, X-Resp-Secret');
            res.setHeader('X-Resp-Secret', '1');
            res.setHeader('Keep-Alive', 'timeout=99');
            res.setHeader('X-Resp-Keep', '1');
            res.end('ok');
        };
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /hop-resp HTTP/1.1\r\n${H}\r\n`);
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(r.text, 'ok');
        assert.equal(r.get('x-resp-secret'), undefined);
        assert.ok(!/99/.test(r.get('keep-alive') ?? ''), `upstream Keep-Alive must not be forwarded: ${r.get('keep-alive')}`);
        assert.ok(!/secret/i.test(r.get('connection') ?? ''));
        assert.equal(r.get('x-resp-keep'), '1');
    });
});

describe('connections', { timeout: t(30000) }, () => {
    test('keep-alive: 20 requests over one client connection, upstream connection reused', async () => {
        const c = await RawConn.open(ficus.port);
        for (let i = 0; i < 20; i++) {
            await c.write(`GET /ka/${i} HTTP/1.1\r\n${H}\r\n`);
            const r = await c.readResponse();
            assert.equal(r.status, 200);
            assert.equal(r.text, `A GET /ka/${i}`);
        }
        await sleep(50);
        assert.equal(c.closed, false, 'client connection still open');
        c.destroy();
        const conns = new Set(A.requests.map((r) => r.conn));
        assert.ok(conns.size <= 2, `upstream connections should be pooled; ${conns.size} used for 20 sequential requests`);
    });

    test('Connection: close from the client: answered, then closed', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /bye HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, 200);
        assert.equal(r.text, 'A GET /bye');
        assert.ok(await c.waitClose(t(5000)), 'connection closed after the response');
        c.destroy();
    });

    test('pipelining: 10 requests in one write, responses in order', async () => {
        // Later requests answer faster, so out-of-order forwarding would show.
        A.handle = (rec, req, res) => {
            const i = Number(rec.url.split('/').pop());
            setTimeout(() => res.end(`${rec.method} ${i} ${rec.body.toString()}`), (10 - i) * 15);
        };
        let wire = '';
        for (let i = 0; i < 10; i++) {
            wire += i === 4
                ? `POST /pipe/${i} HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`
                : `GET /pipe/${i} HTTP/1.1\r\n${H}\r\n`;
        }
        const c = await RawConn.open(ficus.port);
        await c.write(wire);
        for (let i = 0; i < 10; i++) {
            const r = await c.readResponse();
            assert.equal(r.status, 200);
            assert.equal(r.text, i === 4 ? 'POST 4 abc' : `GET ${i} `, `response ${i} in order`);
        }
        assert.equal(c.closed, false);
        c.destroy();
        assert.equal(A.requests.length, 10);
    });
});

describe('bodies', { timeout: t(120000) }, () => {
    test('Content-Length request body', async () => {
        const r = await request({ port: ficus.port, method: 'PUT', path: '/cl', body: 'hello', headers: { 'Content-Length': '5' } });
        assert.equal(r.status, 200);
        assert.equal(A.requests[0].body.toString(), 'hello');
        assert.equal(A.requests[0].headers['content-length'], '5');
    });

    test('chunked request body with trailers, sent in pieces', async () => {
        A.handle = (rec, req, res) => res.end(`len=${rec.body.length}`);
        const c = await RawConn.open(ficus.port);
        await c.write(`POST /chunked-up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n`);
        await sleep(30);
        await c.write('1;ext=1\r\n \r\n');
        await sleep(30);
        await c.write('6\r\nworld!\r\n0\r\nX-Checksum: abc\r\n\r\n');
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(r.text, 'len=12');
        assert.equal(A.requests[0].body.toString(), 'hello world!');
        assert.deepEqual(A.requests[0].trailers, { 'x-checksum': 'abc' }, 'request trailers passed');
    });

    test('chunked response body with trailers', async () => {
        A.handle = async (rec, req, res) => {
            res.setHeader('Trailer', 'X-Resp-Trailer');
            res.write('part1-');
            await sleep(30);
            res.write('part2-');
            await sleep(30);
            res.addTrailers({ 'X-Resp-Trailer': 'done' });
            res.end('part3');
        };
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /chunked-down HTTP/1.1\r\n${H}\r\n`);
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(r.chunked, true, 'chunked toward an HTTP/1.1 client');
        assert.equal(r.text, 'part1-part2-part3');
        assert.deepEqual(r.trailers, [['x-resp-trailer', 'done']], 'response trailers passed');
    });

    for (const framing of ['Content-Length', 'chunked']) {
        test(`64 MiB upload (${framing}) streamed intact`, () => upload64(framing));
    }

    async function upload64(framing) {
        const BLOCK = 1 << 20;
        const N = 64;
        A.stream = (req, res) => {
            const h = createHash('sha256');
            let n = 0;
            req.on('data', (d) => {
                h.update(d);
                n += d.length;
            });
            req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
        };
        const sent = createHash('sha256');
        const result = await new Promise((resolve, reject) => {
            const req = http.request({
                host: '127.0.0.1', port: ficus.port, method: 'POST', path: '/upload', agent: false,
                headers: framing === 'chunked'
                    ? { 'Transfer-Encoding': 'chunked', 'Content-Type': 'application/octet-stream' }
                    : { 'Content-Length': String(BLOCK * N), 'Content-Type': 'application/octet-stream' },
            }, (res) => {
                let body = '';
                res.setEncoding('utf8');
                res.on('data', (d) => (body += d));
                res.on('end', () => resolve({ status: res.statusCode, body }));
            });
            req.on('error', reject);
            let i = 0;
            const pump = () => {
                while (i < N) {
                    const block = randomBytes(BLOCK);
                    sent.update(block);
                    i++;
                    if (!req.write(block)) {
                        req.once('drain', pump);
                        return;
                    }
                }
                req.end();
            };
            pump();
        });
        assert.equal(result.status, 200, result.body);
        const got = JSON.parse(result.body);
        assert.equal(got.n, BLOCK * N);
        assert.equal(got.sha, sent.digest('hex'));
        const rec = A.requests.at(-1);
        if (framing === 'chunked') assert.equal(rec.headers['transfer-encoding'], 'chunked');
        else assert.equal(rec.headers['content-length'], String(BLOCK * N));
    }

    test('64 MiB chunked download streamed intact, without buffering it all', async () => {
        const BLOCK = 1 << 20;
        const N = 64;
        const expect = createHash('sha256');
        const seed = randomBytes(BLOCK);
        const blocks = [];
        for (let i = 0; i < N; i++) {
            const b = Buffer.from(seed);
            b.writeUInt32BE(i, 0);
            blocks.push(b);
            expect.update(b);
        }
        A.stream = (req, res) => {
            req.resume();
            let i = 0;
            const pump = () => {
                while (i < N) {
                    if (!res.write(blocks[i++])) {
                        res.once('drain', pump);
                        return;
                    }
                }
                res.end();
            };
            pump();
        };
        const rssBefore = procTreeRss(ficus.pid);
        const { status, n, sha, rssPaused } = await new Promise((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port: ficus.port, path: '/download', agent: false }, (res) => {
                const h = createHash('sha256');
                let total = 0;
                let rss = null;
                res.pause();
                // Stop reading for a while: Ficus must apply backpressure to
                // the upstream rather than buffer the whole body.
                setTimeout(() => {
                    rss = procTreeRss(ficus.pid);
                    res.on('data', (d) => {
                        h.update(d);
                        total += d.length;
                    });
                    res.on('end', () => resolve({ status: res.statusCode, n: total, sha: h.digest('hex'), rssPaused: rss }));
                    res.resume();
                }, t(1500));
                res.on('error', reject);
            });
            req.on('error', reject);
            req.end();
        });
        assert.equal(status, 200);
        assert.equal(n, BLOCK * N);
        assert.equal(sha, expect.digest('hex'));
        if (rssBefore !== null && rssPaused !== null) {
            const grew = rssPaused - rssBefore;
            assert.ok(grew < 32 * 1024 * 1024, `Ficus RSS grew by ${(grew / 1048576).toFixed(1)} MiB while the client was not reading`);
        }
    });
});

describe('bodiless responses', { timeout: t(30000) }, () => {
    test('HEAD: headers only, connection stays usable', async () => {
        A.handle = (rec, req, res) => {
            res.setHeader('Content-Length', '1234');
            res.end(rec.method === 'HEAD' ? undefined : 'x'.repeat(1234));
        };
        const c = await RawConn.open(ficus.port);
        await c.write(`HEAD /head HTTP/1.1\r\n${H}\r\n`);
        const r = await c.readResponse({ method: 'HEAD' });
        assert.equal(r.status, 200);
        assert.equal(r.get('content-length'), '1234');
        await sleep(100);
        assert.equal(c.rest().length, 0, `no body bytes after a HEAD response, got ${JSON.stringify(c.rest().toString().slice(0, 50))}`);
        A.handle = null;
        await c.write(`GET /after-head HTTP/1.1\r\n${H}\r\n`);
        const r2 = await c.readResponse();
        c.destroy();
        assert.equal(r2.text, 'A GET /after-head');
        assert.equal(A.requests[0].method, 'HEAD');
    });

    test('204: no body, no framing headers, connection stays usable', async () => {
        A.handle = (rec, req, res) => {
            res.writeHead(204, { 'X-Empty': '1' });
            res.end();
        };
        const c = await RawConn.open(ficus.port);
        await c.write(`DELETE /204 HTTP/1.1\r\n${H}\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, 204);
        assert.equal(r.get('x-empty'), '1');
        assert.equal(r.get('transfer-encoding'), undefined, 'no Transfer-Encoding on 204');
        assert.equal(r.get('content-length'), undefined, 'no Content-Length on 204');
        await sleep(100);
        assert.equal(c.rest().length, 0, 'no body bytes after 204');
        A.handle = null;
        await c.write(`GET /after-204 HTTP/1.1\r\n${H}\r\n`);
        const r2 = await c.readResponse();
        c.destroy();
        assert.equal(r2.text, 'A GET /after-204');
    });

    test('304: no body, validators kept, connection stays usable', async () => {
        A.handle = (rec, req, res) => {
            res.writeHead(304, { ETag: '"v1"' });
            res.end();
        };
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /304 HTTP/1.1\r\n${H}If-None-Match: "v1"\r\n\r\n`);
        const r = await c.readResponse();
        assert.equal(r.status, 304);
        assert.equal(r.get('etag'), '"v1"');
        assert.equal(r.get('transfer-encoding'), undefined, 'no Transfer-Encoding on 304');
        assert.equal(A.requests[0].headers['if-none-match'], '"v1"');
        await sleep(100);
        assert.equal(c.rest().length, 0, 'no body bytes after 304');
        A.handle = null;
        await c.write(`GET /after-304 HTTP/1.1\r\n${H}\r\n`);
        const r2 = await c.readResponse();
        c.destroy();
        assert.equal(r2.text, 'A GET /after-304');
    });
});

describe('Expect and HTTP/1.0', { timeout: t(30000) }, () => {
    test('Expect: 100-continue is answered by Ficus before the body is sent', async () => {
        // The raw backend never sends 100 Continue itself.
        const c = await RawConn.open(ficus.port);
        await c.write(`POST /raw/expect HTTP/1.1\r\n${H}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
        const interim = await c.readResponse({ timeout: t(5000) });
        assert.equal(interim.status, 100);
        await c.write('hello');
        const r = await c.readResponse({ skip1xx: true });
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(r.text, '/raw/expect');
        assert.equal(R.requests.length, 1);
        assert.equal(R.requests[0].body.toString(), 'hello');
    });

    test('HTTP/1.0 client gets a de-chunked body from a chunked upstream response', async () => {
        A.handle = async (rec, req, res) => {
            res.write('one-');
            await sleep(20);
            res.write('two-');
            await sleep(20);
            res.end('three');
        };
        const c = await RawConn.open(ficus.port);
        await c.write(`GET /h10 HTTP/1.0\r\n${H}\r\n`);
        const closed = await c.waitClose(t(5000));
        assert.ok(closed, 'HTTP/1.0 connection without keep-alive is closed after the response');
        const r = await c.readResponse();
        assert.match(r.startLine, /^HTTP\/1\.[01] 200 /);
        assert.equal(r.get('transfer-encoding'), undefined, 'no chunked encoding toward an HTTP/1.0 client');
        assert.equal(r.text, 'one-two-three');
        assert.equal(c.rest().length, 0);
    });

    test('HTTP/1.0 POST with Content-Length', async () => {
        const c = await RawConn.open(ficus.port);
        await c.write(`POST /h10-post HTTP/1.0\r\n${H}Content-Length: 4\r\n\r\nabcd`);
        const r = await c.readResponse();
        c.destroy();
        assert.equal(r.status, 200);
        assert.equal(r.text, 'A POST /h10-post');
        assert.equal(A.requests[0].body.toString(), 'abcd');
    });
});

/** Resident set size in bytes of `pid` plus all its descendants (null if unreadable). */
function procTreeRss(pid) {
    try {
        let total = 0;
        const stack = [pid];
        while (stack.length) {
            const p = stack.pop();
            const status = fs.readFileSync(`/proc/${p}/status`, 'utf8');
            const m = /VmRSS:\s+(\d+) kB/.exec(status);
            if (m) total += Number(m[1]) * 1024;
            for (const tid of fs.readdirSync(`/proc/${p}/task`)) {
                const kids = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
                if (kids) stack.push(...kids.split(/\s+/).map(Number));
            }
        }
        return total;
    } catch {
        return null;
    }
}
