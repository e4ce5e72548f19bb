// 64-: finding of the stateful fuzzer (fuzz/stateful/, seed 0xac1c0a24).
//  - early-answer-bad-chunk: the upstream answers a chunked upload as soon
//    as it has the head, and Ficus is relaying that answer when the client's
//    next chunk turns out malformed. Ficus used to append its own
//    "400 Bad Request" response in the middle of the relayed body, so the
//    client read a corrupted message; it must cut the connection instead.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Ficus, RawConn, makeConfig, requireBinary, sleep, startRawBackend, t } from './lib/harness.mjs';

const H = 'Host: a.test\r\n';
let R;
let ficus;

/** Answers on the head: the response head and a first chunk now, the rest 300 ms later. */
function earlyResponder(sock) {
    let done = false;
    sock.on('data', () => {
        if (done) return;
        done = true;
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n');
        setTimeout(() => !sock.destroyed && sock.write('5\r\nlater\r\n0\r\n\r\n'), 300);
    });
}

before(async () => {
    requireBinary();
    R = await startRawBackend(earlyResponder);
    ficus = await Ficus.start(makeConfig({
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

describe('early-answer-bad-chunk', { timeout: t(30000) }, () => {
    for (const [what, bad] of [['non-hex chunk size', 'zz\r\nhello\r\n'], ['empty extension name', '1;\r\nx\r\n']]) {
        test(`${what} while the early answer is relayed: the connection is cut, no 400 inside the body`, async () => {
            const c = await RawConn.open(ficus.port);
            try {
                await c.write(`PUT /up HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`);
                await c.wait(() => (c.buf.includes('early\r\n') ? true : null), t(5000), 'the early answer');
                await c.write(bad);
                assert.ok(await c.waitClose(t(5000)), 'the connection is closed');
                await sleep(50);
                const got = c.buf.toString('latin1');
                assert.ok(got.startsWith('HTTP/1.1 200 OK\r\n'), `got ${JSON.stringify(got)}`);
                assert.equal(got.indexOf('HTTP/1.1', 1), -1, `a second response inside the relayed one: ${JSON.stringify(got)}`);
                assert.ok(!got.includes('0\r\n\r\n'), 'the relayed body is not terminated: the client sees a truncated answer');
            } finally {
                c.destroy();
            }
        });
    }
});
