// 63-: findings of the stateful fuzzer (fuzz/stateful/), one test each,
// named after the finding.
//  - close-with-unread-input: when Ficus closes a client connection after a
//    response (the upstream delimited the body by closing, the client asked
//    for Connection: close, ...) while pipelined bytes the client sent are
//    still unread in the socket, close() makes the kernel send a TCP reset,
//    and the client may lose the response it was about to read (RFC 9112
//    §9.6). Found by seed 0x00000025.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { Ficus, makeConfig, onRawRequests, parseMessage, requireBinary, sleep, startRawBackend, t } from './lib/harness.mjs';

const H = 'Host: a.test\r\n';
let R;
let ficus;

/** Raw backend: answers after 50 ms; /eof-* with a body delimited by its close. */
function slowResponder(sock) {
    onRawRequests(sock, (msg) => {
        const body = `answer to ${msg.target}`;
        setTimeout(() => {
            if (msg.target.startsWith('/eof-')) sock.end(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${body}`);
            else sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }, 50);
    });
}

before(async () => {
    requireBinary();
    R = await startRawBackend(slowResponder);
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

/**
 * Send `first`, then (while its answer is pending) `more`, which Ficus will
 * not read before it closes. Resolves {data, reset}: everything received
 * and whether the connection ended with a reset.
 */
function exchange(first, more) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(ficus.port, '127.0.0.1');
        const chunks = [];
        let reset = false;
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`no close within 5 s; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
        }, t(5000));
        sock.on('data', (d) => chunks.push(d));
        sock.on('error', (e) => {
            if (e.code === 'ECONNRESET') reset = true;
        });
        sock.on('close', () => {
            clearTimeout(timer);
            resolve({ data: Buffer.concat(chunks), reset });
        });
        sock.on('connect', async () => {
            sock.write(first);
            await sleep(15);
            sock.write(more);
            // A client that reads late (here: a busy event loop): the answer and
            // whatever follows it are all queued in its socket before it reads.
            const until = Date.now() + 150;
            while (Date.now() < until) { /* busy */ }
        });
    });
}

describe('close-with-unread-input', { timeout: t(60000) }, () => {
    const cases = [
        ['the upstream delimits the body by closing', `GET /eof-1 HTTP/1.1\r\n${H}\r\n`, '/eof-1'],
        ['the client asked for Connection: close', `GET /cl-1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, '/cl-1'],
        ['an HTTP/1.0 request without keep-alive', `GET /ten-1 HTTP/1.0\r\n${H}\r\n`, '/ten-1'],
    ];
    for (const [what, first, path] of cases) {
        test(`${what}: the response arrives whole, then a clean close (20 times)`, async () => {
            const lost = [];
            for (let i = 0; i < 20; i++) {
                const { data, reset } = await exchange(first, `GET /pipelined-${i} HTTP/1.1\r\n${H}\r\n`);
                let res = null;
                try {
                    res = parseMessage(data, { closed: true });
                } catch {
                    /* truncated: recorded below */
                }
                if (!res || res.status !== 200 || res.text !== `answer to ${path}` || reset) {
                    lost.push(`#${i}: reset=${reset} got ${JSON.stringify(data.toString('latin1').slice(0, 120))}`);
                }
            }
            assert.deepEqual(lost, [], 'responses lost to a reset');
            assert.ok(!R.requests?.some((r) => r.target.startsWith('/pipelined-')), 'the pipelined request is never forwarded');
        });
    }
});
