// 26-: edge hardening (issue 10). Each test is named after the finding it
// covers; each failed on the code before the fix.
//  - connection-names-framing: a Connection header naming Content-Length,
//    Transfer-Encoding or Host (request: 400; response: 502), nothing pooled,
//    and the next client on the same upstream pool gets its own answer;
//  - head-reject-no-body: local 400/414/431/505 answers to HEAD carry no body;
//  - chunk-ext-grammar: chunk extensions outside RFC 9112 7.1.1 are a 400,
//    valid ones are never forwarded (both directions);
//  - internal-headers: client-sent X-Ficus-* headers are not forwarded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, RawConn, makeConfig, onRawRequests, rawExchange, requireBinary, startRawBackend, t,
} from './lib/harness.mjs';

const H = 'Host: a.test\r\n';

/** Raw backend: /evil-* paths answer with a poisoned response; others echo the path. */
function scriptedResponder(sock, conn, rb) {
    onRawRequests(sock, (msg) => {
        rb.requests.push(msg);
        const poison = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON';
        if (msg.target === '/evil-cl') {
            // Connection: Content-Length: a proxy that drops the named header relays
            // "hello" + the poison response as one body delimited by close, or keeps
            // the connection and hands the poison to the next client.
            sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Content-Length\r\n\r\nhello${poison}`);
        } else if (msg.target === '/evil-te') {
            sock.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n5\r\nhello\r\n0\r\n\r\n${poison}`);
        } else if (msg.target === '/chunk-ext') {
            sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                + '5;name=value;q="a;b"\r\nhello\r\n1 ; x\r\n!\r\n0;last=1\r\nX-T: v\r\n\r\n');
        } else {
            const body = Buffer.from(msg.target);
            sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
            sock.write(body);
        }
    });
}

let R;
let ficus;

before(async () => {
    requireBinary();
    R = await startRawBackend(scriptedResponder);
    ficus = await Ficus.start(makeConfig({
        workers: 1, // one worker: one pool, so the second client would borrow the poisoned connection
        upstreams: { legacy: R },
        routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
    }));
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        await R?.close();
    }
});

/** A normal request on a fresh client connection; returns the response. */
async function follow(path) {
    const { res } = await rawExchange(ficus.port, `GET ${path} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { closeTimeout: t(3000) });
    return res;
}

describe('connection-names-framing', () => {
    for (const [name, hdrs] of [
        ['Content-Length', 'Content-Length: 40\r\nConnection: Content-Length\r\n'],
        ['Transfer-Encoding', 'Transfer-Encoding: chunked\r\nConnection: keep-alive, transfer-encoding\r\n'],
        ['Host', 'Content-Length: 40\r\nConnection: host\r\n'],
    ]) {
        test(`request Connection: ${name} is a 400, the pooled upstream is untouched`, async () => {
            // Warm the pool so that the attack and the follow-up would share a connection.
            assert.equal((await follow('/warm')).text, '/warm');
            R.reset();
            const smuggled = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;
            assert.equal(smuggled.length, 40);
            const body = name === 'Transfer-Encoding' ? `28\r\n${smuggled}\r\n0\r\n\r\n` : smuggled;
            const { res, closed } = await rawExchange(ficus.port, `POST /attack HTTP/1.1\r\n${H}${hdrs}\r\n${body}`, { closeTimeout: t(3000) });
            assert.equal(res.status, 400);
            assert.ok(closed, 'client connection closed');
            assert.equal(R.requests.length, 0, 'the upstream received nothing');
            const next = await follow('/second-client');
            assert.equal(next.status, 200);
            assert.equal(next.text, '/second-client', 'the second client gets its own answer');
            assert.deepEqual(R.requests.map((r) => r.target), ['/second-client']);
        });
    }

    for (const path of ['/evil-cl', '/evil-te']) {
        test(`response Connection naming its framing (${path}) is a 502 and the connection is not pooled`, async () => {
            assert.equal((await follow('/warm')).text, '/warm');
            const conn = await RawConn.open(ficus.port);
            try {
                await conn.write(`GET ${path} HTTP/1.1\r\n${H}\r\n`);
                const res = await conn.readResponse();
                assert.equal(res.status, 502);
                assert.ok(!res.text.includes('POISON') && !res.text.includes('hello'));
                assert.ok(await conn.waitClose(t(3000)), 'client connection closed after the 502');
            } finally {
                conn.destroy();
            }
            for (let i = 0; i < 3; i++) {
                const next = await follow(`/after-${i}`);
                assert.equal(next.status, 200);
                assert.equal(next.text, `/after-${i}`, 'no client receives the poisoned bytes');
            }
            const bad = R.conns.filter((c) => Buffer.concat(c.chunks).includes(`GET ${path} `));
            assert.ok(bad.length > 0 && bad.every((c) => c.closed || c.sock.destroyed || c.sock.readableEnded),
                'the upstream connection that answered is closed, not pooled');
        });
    }
});

describe('head-reject-no-body', () => {
    const cases = [
        [400, `HEAD / HTTP/1.1\r\n${H}Bad Header: x\r\n\r\n`],
        [414, `HEAD /${'a'.repeat(70000)} HTTP/1.1\r\n${H}\r\n`],
        [431, `HEAD / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(70000)}\r\n\r\n`],
        [505, `HEAD / HTTP/1.2\r\n${H}\r\n`],
    ];
    for (const [status, wire] of cases) {
        test(`a ${status} to HEAD carries headers only`, async () => {
            const conn = await RawConn.open(ficus.port);
            try {
                await conn.write(wire);
                const res = await conn.readResponse({ method: 'HEAD' });
                assert.equal(res.status, status);
                const cl = res.headers.find(([n]) => n.toLowerCase() === 'content-length');
                assert.ok(cl && Number(cl[1]) > 0, 'Content-Length of the GET answer');
                assert.ok(await conn.waitClose(t(3000)));
                assert.equal(conn.rest().length, 0, `no body bytes after the head, got ${JSON.stringify(conn.rest().toString('latin1').slice(0, 60))}`);
            } finally {
                conn.destroy();
            }
        });
    }
    test('a 400 to GET still has its body', async () => {
        const { res } = await rawExchange(ficus.port, `GET / HTTP/1.1\r\n${H}Bad Header: x\r\n\r\n`, { closeTimeout: t(3000) });
        assert.equal(res.status, 400);
        assert.match(res.text, /^400 Bad Request/);
    });
});

describe('chunk-ext-grammar', () => {
    const bad = [
        ['empty name', '1;\r\nx\r\n0\r\n\r\n'],
        ['empty name before =', '1;=v\r\nx\r\n0\r\n\r\n'],
        ['bad name', '1;a@b\r\nx\r\n0\r\n\r\n'],
        ['unterminated quoted-string', '1;a="open\r\nx\r\n0\r\n\r\n'],
        ['value with a space', '1;a=b c\r\nx\r\n0\r\n\r\n'],
        ['whitespace without ;', '1 \r\nx\r\n0\r\n\r\n'],
    ];
    for (const [what, body] of bad) {
        test(`request chunk extension with ${what} is a 400`, async () => {
            R.reset();
            const { res, closed } = await rawExchange(ficus.port, `POST /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`, { closeTimeout: t(3000) });
            assert.equal(res.status, 400);
            assert.ok(closed);
            assert.equal(R.requests.length, 0, 'no complete request reached the upstream');
        });
    }

    test('valid request chunk extensions are validated and not forwarded', async () => {
        R.reset();
        const body = '3;a=b;q="x;\\"y"\r\nabc\r\n2 ; c\r\nde\r\n0;last\r\nX-Trailer: 1\r\n\r\n';
        const { res } = await rawExchange(ficus.port, `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`, { closeTimeout: t(3000) });
        assert.equal(res.status, 200);
        assert.equal(res.text, '/ext');
        const got = R.bytes().toString('latin1');
        assert.ok(got.includes('\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n'), `framing re-emitted without extensions: ${JSON.stringify(got.slice(-80))}`);
        assert.ok(!got.includes(';'), 'no extension byte reached the upstream');
    });

    test('thousands of tiny chunks with extensions arrive whole, without extensions', async () => {
        R.reset();
        const n = 3000;
        const body = `${'1;e=v\r\nx\r\n'.repeat(n)}0\r\n\r\n`;
        const conn = await RawConn.open(ficus.port);
        try {
            // Split at odd offsets so that extensions straddle reads.
            const wire = Buffer.from(`POST /tiny HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`);
            for (let off = 0; off < wire.length; off += 7919) await conn.write(wire.subarray(off, off + 7919));
            const res = await conn.readResponse();
            assert.equal(res.status, 200);
        } finally {
            conn.destroy();
        }
        assert.equal(R.requests.length, 1);
        assert.equal(R.requests[0].body.toString(), 'x'.repeat(n));
        assert.ok(!R.bytes().includes(';'), 'no extension byte reached the upstream');
    });

    test('response chunk extensions are not relayed to the client', async () => {
        const conn = await RawConn.open(ficus.port);
        try {
            await conn.write(`GET /chunk-ext HTTP/1.1\r\n${H}\r\n`);
            const res = await conn.readResponse();
            assert.equal(res.status, 200);
            assert.equal(res.text, 'hello!');
            const raw = conn.buf.toString('latin1');
            assert.ok(raw.includes('\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\nX-T: v\r\n\r\n'), `client framing: ${JSON.stringify(raw.slice(-60))}`);
            assert.ok(!raw.includes(';'));
        } finally {
            conn.destroy();
        }
    });
});

describe('internal-headers', () => {
    test('client-sent X-Ficus-* headers never reach the upstream', async () => {
        R.reset();
        const { res } = await rawExchange(ficus.port,
            `GET /internal HTTP/1.1\r\n${H}X-Ficus-Shadow: 1\r\nx-ficus-target: new\r\nX-FICUS-Anything: y\r\nX-Ficusless: kept\r\nConnection: close\r\n\r\n`,
            { closeTimeout: t(3000) });
        assert.equal(res.status, 200);
        assert.equal(R.requests.length, 1);
        const names = R.requests[0].headers.map(([n]) => n.toLowerCase());
        assert.ok(!names.some((n) => n.startsWith('x-ficus-')), `forwarded: ${names.join(', ')}`);
        assert.ok(names.includes('x-ficusless'));
    });
});
