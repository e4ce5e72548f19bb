// 65-: TLS on listeners. A throw-away CA and leaf certificates are made with
// the openssl CLI in the test's temp dir; clients are node:tls. Covers SNI
// selection (exact, wildcard, unknown name -> default chain), RSA and ECDSA
// served side by side, ALPN, versions, keep-alive and pipelining, the
// handshake timeout, smuggling cases over TLS, config errors, and a
// certificate reload under load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    Ficus, makeConfig, metric, mkTempDir, rawExchange, requireBinary, runFicus, scrape, sleep,
    startBackend, startRawBackend, t, waitFor,
} from './lib/harness.mjs';
import { makeCA, makeLeaf, tlsConnect, tlsExchange, tlsRaw } from './lib/tls-util.mjs';
import { startWsServer, wsConnect } from './lib/ws.mjs';

const H = 'Host: a.example.com\r\n';
const RSA_ONLY = 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256';
const ECDSA_ONLY = 'ecdsa_secp256r1_sha256';

let dir;
let ca;
let rsa;
let ec;
let backend;
let ficus;
let tlsPort;
let plainPort;

function tlsListen(certs, extra = {}) {
    return { address: '127.0.0.1:0', tls: { certificates: certs.map((c) => ({ cert: c.cert, key: c.key })), ...extra } };
}

const LOG = { access: 'stdout', format: 'json', fields: ['time', 'request_id', 'path', 'status', 'tls_version', 'error'] };

function config(listenTls, { limits, upstreams } = {}) {
    return makeConfig({
        listen: ['127.0.0.1:0', listenTls],
        upstreams: upstreams || { legacy: backend },
        routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        limits: { handshake_timeout: `${t(400)}ms`, ...limits },
        log: LOG,
    });
}

before(async () => {
    requireBinary();
    dir = mkTempDir('ficus-tls-');
    ca = makeCA(dir);
    // RSA: exact and wildcard names; ECDSA: another name. First of each type = default.
    rsa = makeLeaf(ca, 'rsa', ['a.example.com', '*.wild.example.com'], { type: 'rsa' });
    ec = makeLeaf(ca, 'ec', ['b.example.com', 'a.example.com'], { type: 'ecdsa' });
    backend = await startBackend('legacy');
    ficus = await Ficus.start(config(tlsListen([rsa, ec])), { dir });
    [plainPort, tlsPort] = ficus.ports.proxy;
});

after(async () => {
    try {
        await ficus?.stop();
    } finally {
        await backend?.close();
    }
});

const caOpts = () => ({ ca: fs.readFileSync(ca.cert) });

async function peer(opts) {
    const s = await tlsConnect(tlsPort, { ...caOpts(), ...opts });
    try {
        const c = s.getPeerCertificate();
        return { cn: c.subject.CN, ec: c.asn1Curve !== undefined, rsa: c.modulus !== undefined,
            authorized: s.authorized, proto: s.getProtocol(), alpn: s.alpnProtocol, cipher: s.getCipher().name };
    } finally {
        s.destroy();
    }
}

async function tlsMetrics() {
    return scrape(ficus.adminPort);
}

describe('certificate selection', { timeout: t(60000) }, () => {
    test('exact name, RSA-only client: the RSA chain, verified by the CA', async () => {
        const p = await peer({ servername: 'a.example.com', sigalgs: RSA_ONLY });
        assert.equal(p.cn, 'a.example.com');
        assert.ok(p.rsa, 'RSA key');
        assert.ok(p.authorized, 'chain verifies against the test CA');
    });

    test('a name both chains claim: ECDSA for an ECDSA client, RSA for an RSA one', async () => {
        const e = await peer({ servername: 'a.example.com', sigalgs: ECDSA_ONLY });
        assert.ok(e.ec, 'ECDSA key for the ECDSA-only client');
        assert.equal(e.cn, 'b.example.com', 'the ECDSA chain (its CN is its first name)');
        const r = await peer({ servername: 'a.example.com', sigalgs: RSA_ONLY });
        assert.ok(r.rsa);
    });

    test('wildcard name matches one label only', async () => {
        const p = await peer({ servername: 'x.wild.example.com', sigalgs: RSA_ONLY });
        assert.equal(p.cn, 'a.example.com');
        assert.ok(p.authorized, 'wildcard SAN covers x.wild.example.com');
        // Two labels under the wildcard: no match, so the default chain (also
        // the RSA one here), which the client then cannot verify for that name.
        const deep = await peer({ servername: 'y.x.wild.example.com', sigalgs: RSA_ONLY, rejectUnauthorized: false });
        assert.equal(deep.cn, 'a.example.com');
        assert.equal(deep.authorized, false);
    });

    test('ECDSA-only name: the ECDSA chain', async () => {
        const p = await peer({ servername: 'B.Example.COM', sigalgs: ECDSA_ONLY });
        assert.equal(p.cn, 'b.example.com');
        assert.ok(p.ec);
        assert.ok(p.authorized);
    });

    test('unknown name and no name get the default chains, never an error', async () => {
        const r = await peer({ servername: 'unknown.test', sigalgs: RSA_ONLY, rejectUnauthorized: false });
        assert.equal(r.cn, 'a.example.com', 'first RSA chain');
        const e = await peer({ servername: 'unknown.test', sigalgs: ECDSA_ONLY, rejectUnauthorized: false });
        assert.equal(e.cn, 'b.example.com', 'first ECDSA chain');
        const none = await peer({ servername: '', rejectUnauthorized: false });
        assert.ok(['a.example.com', 'b.example.com'].includes(none.cn));
    });
});

describe('protocol settings', { timeout: t(60000) }, () => {
    test('TLS 1.3 and TLS 1.2 with AEAD ciphers; ALPN http/1.1', async () => {
        const p13 = await peer({ servername: 'a.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
        assert.equal(p13.proto, 'TLSv1.3');
        assert.equal(p13.alpn, 'http/1.1');
        const p12 = await peer({ servername: 'a.example.com', maxVersion: 'TLSv1.2', sigalgs: RSA_ONLY });
        assert.equal(p12.proto, 'TLSv1.2');
        assert.match(p12.cipher, /GCM|CHACHA20/, `AEAD cipher, got ${p12.cipher}`);
    });

    test('TLS 1.2 CBC ciphers are refused (AEAD only)', async () => {
        await assert.rejects(peer({ servername: 'a.example.com', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA256:AES128-SHA' }));
    });

    test('TLS 1.1 is refused with a protocol_version alert, and counted', async () => {
        const m0 = metric(await tlsMetrics(), 'ficus_tls_handshake_failures_total', { reason: 'protocol_version' }) ?? 0;
        await assert.rejects(
            peer({ servername: 'a.example.com', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
            (e) => /protocol version|unsupported protocol|no protocols available/i.test(String(e.message)),
        );
        await waitFor(async () => (metric(await tlsMetrics(), 'ficus_tls_handshake_failures_total', { reason: 'protocol_version' }) ?? 0) > m0,
            { what: 'protocol_version failure counted' });
    });

    test('ALPN without http/1.1 is refused (no_application_protocol)', async () => {
        await assert.rejects(peer({ servername: 'a.example.com', ALPNProtocols: ['h2'] }), /no application protocol|alert/i);
    });

    test('plain HTTP sent to the TLS port is dropped (http_request)', async () => {
        const m0 = metric(await tlsMetrics(), 'ficus_tls_handshake_failures_total', { reason: 'http_request' }) ?? 0;
        const { closed } = await rawExchange(tlsPort, `GET / HTTP/1.1\r\n${H}\r\n`, { closeTimeout: t(3000) }).catch((e) => ({ closed: true, e }));
        assert.ok(closed);
        await waitFor(async () => (metric(await tlsMetrics(), 'ficus_tls_handshake_failures_total', { reason: 'http_request' }) ?? 0) > m0,
            { what: 'http_request failure counted' });
    });
});

describe('HTTP over TLS', { timeout: t(60000) }, () => {
    test('keep-alive: several requests on one connection; X-Forwarded-Proto https', async () => {
        backend.reset();
        const c = await tlsRaw(tlsPort, { ...caOpts(), servername: 'a.example.com' });
        try {
            for (let i = 0; i < 5; i++) {
                await c.write(`GET /k${i} HTTP/1.1\r\n${H}\r\n`);
                const res = await c.readResponse();
                assert.equal(res.status, 200);
                assert.equal(res.text, `legacy GET /k${i}`);
            }
        } finally {
            c.destroy();
        }
        assert.equal(backend.requests.length, 5);
        assert.ok(backend.requests.every((r) => r.headers['x-forwarded-proto'] === 'https'));
        assert.equal(new Set(backend.requests.map((r) => r.conn)).size, 1, 'upstream connection reused');
    });

    test('plain listener beside it: X-Forwarded-Proto http', async () => {
        backend.reset();
        const { res } = await rawExchange(plainPort, `GET /plain HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        assert.equal(res.status, 200);
        assert.equal(backend.requests[0].headers['x-forwarded-proto'], 'http');
    });

    test('access log field tls_version: the version on TLS, null on plain', async () => {
        await tlsExchange(tlsPort, `GET /log13 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { tlsOpts: { ...caOpts(), servername: 'a.example.com' } });
        await tlsExchange(tlsPort, `GET /log12 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { tlsOpts: { ...caOpts(), servername: 'a.example.com', maxVersion: 'TLSv1.2' } });
        await rawExchange(plainPort, `GET /logplain HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        const byPath = await waitFor(() => {
            const m = new Map(ficus.accessLog().map((e) => [e.path, e]));
            return ['/log13', '/log12', '/logplain'].every((p) => m.has(p)) && m;
        }, { what: 'three access log lines' });
        assert.deepEqual(Object.keys(byPath.get('/log13')), LOG.fields);
        assert.equal(byPath.get('/log13').tls_version, 'TLSv1.3');
        assert.equal(byPath.get('/log12').tls_version, 'TLSv1.2');
        assert.equal(byPath.get('/logplain').tls_version, null);
    });

    test('pipelining: 20 requests in one write, 20 responses in order', async () => {
        const c = await tlsRaw(tlsPort, { ...caOpts(), servername: 'a.example.com' });
        try {
            let wire = '';
            for (let i = 0; i < 20; i++) wire += `GET /p${i} HTTP/1.1\r\n${H}\r\n`;
            await c.write(wire);
            for (let i = 0; i < 20; i++) {
                const res = await c.readResponse();
                assert.equal(res.text, `legacy GET /p${i}`);
            }
        } finally {
            c.destroy();
        }
    });

    test('large bodies both ways (2 MiB up, 3 MiB down) arrive intact', async () => {
        const up = Buffer.alloc(2 << 20, 'u');
        const down = Buffer.alloc(3 << 20);
        for (let i = 0; i < down.length; i++) down[i] = (i * 7) & 0xff;
        backend.handle = (rec, req, res) => {
            res.setHeader('X-Got', String(rec.body.length));
            res.end(down);
        };
        try {
            const c = await tlsRaw(tlsPort, { ...caOpts(), servername: 'a.example.com' });
            try {
                await c.write(`POST /big HTTP/1.1\r\n${H}Content-Length: ${up.length}\r\n\r\n`);
                await c.write(up);
                const res = await c.readResponse({ timeout: t(20000) });
                assert.equal(res.status, 200);
                assert.equal(res.get('x-got'), String(up.length));
                assert.ok(res.body.equals(down), 'response body intact');
            } finally {
                c.destroy();
            }
        } finally {
            backend.reset();
        }
    });

    test('handshakes are counted by version, cipher and resumption', async () => {
        const m = await tlsMetrics();
        const v13 = m.filter((s) => s.name === 'ficus_tls_handshakes_total' && s.labels.version === 'TLSv1.3');
        assert.ok(v13.length > 0 && v13.every((s) => s.labels.cipher && s.labels.resumed), JSON.stringify(v13));
        assert.ok(v13.reduce((a, s) => a + s.value, 0) >= 3, 'the three HTTP connections above at least');
    });

    test('TLS 1.2 session resumption', async () => {
        const s1 = await tlsConnect(tlsPort, { ...caOpts(), servername: 'a.example.com', maxVersion: 'TLSv1.2' });
        const session = s1.getSession();
        s1.destroy();
        const c = await tlsRaw(tlsPort, { ...caOpts(), servername: 'a.example.com', maxVersion: 'TLSv1.2', session });
        try {
            assert.ok(c.sock.isSessionReused(), 'session resumed');
            await c.write(`GET /resumed HTTP/1.1\r\n${H}\r\n`);
            assert.equal((await c.readResponse()).status, 200);
        } finally {
            c.destroy();
        }
        await waitFor(async () => (await tlsMetrics()).some((s) => s.name === 'ficus_tls_handshakes_total' && s.labels.resumed === 'true' && s.value > 0),
            { what: 'a resumed handshake counted' });
    });
});

describe('slow and abusive handshakes', { timeout: t(60000) }, () => {
    test('a client that never finishes the handshake is closed after limits.handshake_timeout', async () => {
        const m0 = metric(await tlsMetrics(), 'ficus_tls_handshake_failures_total', { reason: 'timeout' }) ?? 0;
        const sock = net.connect({ host: '127.0.0.1', port: tlsPort });
        await new Promise((r) => sock.once('connect', r));
        sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])); // a record header, then silence
        const t0 = Date.now();
        await new Promise((r) => { sock.once('close', r); sock.on('error', () => {}); sock.resume(); });
        const took = Date.now() - t0;
        assert.ok(took >= t(400) - 50 && took < t(400) + t(2000), `closed after ${took} ms (timeout ${t(400)} ms)`);
        await waitFor(async () => (metric(await tlsMetrics(), 'ficus_tls_handshake_failures_total', { reason: 'timeout' }) ?? 0) > m0,
            { what: 'timeout failure counted' });
    });

    test('the request-head deadline starts after the handshake', async () => {
        // handshake_timeout is 400 ms: an idle-after-handshake connection must
        // outlive it (client_header_timeout 10 s applies to the head).
        const c = await tlsRaw(tlsPort, { ...caOpts(), servername: 'a.example.com' });
        try {
            await sleep(t(700));
            await c.write(`GET /late HTTP/1.1\r\n${H}\r\n`);
            const res = await c.readResponse();
            assert.equal(res.status, 200);
        } finally {
            c.destroy();
        }
    });
});

describe('smuggling and abuse over TLS', { timeout: t(60000) }, () => {
    let raw;
    let f2;
    before(async () => {
        raw = await startRawBackend();
        f2 = await Ficus.start(config(tlsListen([rsa, ec]), { upstreams: { legacy: raw } }), { dir: mkTempDir('ficus-tls2-') });
    });
    after(async () => {
        await f2?.stop();
        await raw?.close();
    });
    const SMUGGLED = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;
    const CASES = [
        ['Content-Length with Transfer-Encoding', `POST /t HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
        ['duplicate Content-Length', `POST /t HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 34\r\n\r\nabc${SMUGGLED}`],
        ['Transfer-Encoding: chunked, chunked', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
        ['obs-fold hiding Transfer-Encoding', `POST /t HTTP/1.1\r\n${H}Content-Length: 5\r\nX-Foo: a\r\n Transfer-Encoding: chunked\r\n\r\nhello`],
        ['space before colon', `POST /t HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
        ['bare LF ending the head', `POST /t HTTP/1.1\r\n${H}Content-Length: 0\r\n\n${SMUGGLED}`],
        ['duplicate Host', `GET /t HTTP/1.1\r\n${H}Host: b.test\r\n\r\n`],
    ];
    for (const [name, wire] of CASES) {
        test(`${name} → 400, closed, nothing at the backend`, async () => {
            raw.reset();
            const port = f2.ports.proxy[1];
            const { res, closed } = await tlsExchange(port, wire, { tlsOpts: { ...caOpts(), servername: 'a.example.com' }, closeTimeout: t(5000) });
            assert.equal(res.status, 400);
            assert.ok(closed, 'closed after the error');
            assert.equal(raw.totalBytes(), 0, 'backend received nothing');
            const follow = await tlsExchange(port, `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { tlsOpts: { ...caOpts(), servername: 'a.example.com' } });
            assert.equal(follow.res.status, 200);
            assert.deepEqual(raw.requests.map((r) => r.target), ['/after']);
        });
    }

    test('a chunked body split across TLS records with a bad chunk → 400', async () => {
        raw.reset();
        const c = await tlsRaw(f2.ports.proxy[1], { ...caOpts(), servername: 'a.example.com' });
        try {
            await c.write(`POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhel`);
            await sleep(50);
            await c.write(`lo\r\nzz\r\n${SMUGGLED}`);
            const res = await c.readResponse();
            assert.equal(res.status, 400);
            assert.ok(await c.waitClose(t(5000)));
        } finally {
            c.destroy();
        }
        assert.ok(!raw.bytes().includes('smuggled'));
    });
});

describe('ficus check on TLS listeners', { timeout: t(60000) }, () => {
    function checkConfig(certs) {
        const d = mkTempDir('ficus-tls-check-');
        const file = path.join(d, 'ficus.yaml');
        fs.writeFileSync(file, `${JSON.stringify(config(tlsListen(certs)), null, 1)}\n`);
        return file;
    }

    test('prints each certificate with its names, key type and expiry', async () => {
        const r = await runFicus(['check', '-c', checkConfig([rsa, ec])]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /listen\[1\] 127\.0\.0\.1:0: tls/);
        assert.ok(r.stdout.includes(`tls ${rsa.cert}: names=a.example.com,*.wild.example.com key=rsa not_after=20`), r.stdout);
        assert.ok(r.stdout.includes(`tls ${ec.cert}: names=b.example.com,a.example.com key=ecdsa not_after=20`), r.stdout);
        assert.equal(r.stderr, '', 'no warning for 30-day certificates');
    });

    test('warns (exit 0) when a certificate expires within 14 days', async () => {
        const soon = makeLeaf(ca, 'soon', ['soon.example.com'], { type: 'ecdsa', days: 5 });
        const r = await runFicus(['check', '-c', checkConfig([soon])]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`warning: ${soon.cert.replace(/[.*]/g, '\\$&')}: certificate expires in [45] days`));
    });

    test('a key that does not match its certificate: exit 1, PATH: cause', async () => {
        const r = await runFicus(['check', '-c', checkConfig([{ cert: rsa.cert, key: ec.key }])]);
        assert.equal(r.code, 1);
        assert.ok(r.stderr.includes(`listen[1].tls: ${ec.key}: key does not match the certificate in ${rsa.cert}`), r.stderr);
    });

    test('an expired certificate: exit 1, PATH: cause', async () => {
        const old = makeLeaf(ca, 'old', ['old.example.com'], { days: -1 });
        const r = await runFicus(['check', '-c', checkConfig([old])]);
        assert.equal(r.code, 1);
        assert.ok(r.stderr.includes(`${old.cert}: certificate 1 of the chain expired on 2020-02-01T00:00:00Z`), r.stderr);
    });

    test('a missing file: exit 1, PATH: cause', async () => {
        const r = await runFicus(['check', '-c', checkConfig([{ cert: path.join(dir, 'nope.pem'), key: rsa.key }])]);
        assert.equal(r.code, 1);
        assert.ok(r.stderr.includes(`${path.join(dir, 'nope.pem')}: cannot open: No such file or directory`), r.stderr);
    });
});

describe('certificate reload on SIGHUP', { timeout: t(120000) }, () => {
    test('a renewed certificate is served after HUP, a bad pair keeps it, under load with 0 failures', async () => {
        const d = mkTempDir('ficus-tls-reload-');
        const live = { cert: path.join(d, 'live.pem'), key: path.join(d, 'live.key') };
        const v1 = makeLeaf(ca, 'v1', ['a.example.com'], { serial: 1111 });
        const v2 = makeLeaf(ca, 'v2', ['a.example.com'], { serial: 2222 });
        const install = (c) => {
            fs.copyFileSync(c.cert, `${live.cert}.new`);
            fs.renameSync(`${live.cert}.new`, live.cert);
            fs.copyFileSync(c.key, `${live.key}.new`);
            fs.renameSync(`${live.key}.new`, live.key);
        };
        install(v1);
        const f = await Ficus.start(config(tlsListen([live])), { dir: d });
        const port = f.ports.proxy[1];
        const opts = { ...caOpts(), servername: 'a.example.com' };
        const serial = async () => {
            const s = await tlsConnect(port, opts);
            try {
                return parseInt(s.getPeerCertificate().serialNumber, 16);
            } finally {
                s.destroy();
            }
        };
        try {
            assert.equal(await serial(), 1111);
            // An idle keep-alive connection from before the reload.
            const kept = await tlsRaw(port, opts);
            let stop = false;
            let ok = 0;
            const failures = [];
            const worker = async () => {
                while (!stop) {
                    try {
                        const { res } = await tlsExchange(port, `GET /load HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { tlsOpts: opts });
                        if (res.status === 200) ok++;
                        else failures.push(`status ${res.status}`);
                    } catch (e) {
                        failures.push(e.message);
                    }
                }
            };
            const load = [worker(), worker(), worker(), worker()];
            await sleep(t(300));

            install(v2);
            const good = await f.reload();
            assert.equal(good.result, 'ok', JSON.stringify(good));
            await waitFor(async () => (await serial()) === 2222, { what: 'renewed certificate served' });

            // A mismatched pair: the reload fails naming the file, v2 stays.
            fs.copyFileSync(ec.key, `${live.key}.new`);
            fs.renameSync(`${live.key}.new`, live.key);
            const bad = await f.reload();
            assert.equal(bad.result, 'error');
            assert.ok(bad.error.includes(`${live.key}: key does not match the certificate in ${live.cert}`), bad.error);
            await sleep(t(300));
            assert.equal(await serial(), 2222, 'the last good certificate is still served');

            stop = true;
            await Promise.all(load);
            assert.deepEqual(failures, [], `failed requests during the reloads (${ok} ok)`);
            assert.ok(ok > 20, `load loop made ${ok} requests`);

            await kept.write(`GET /kept HTTP/1.1\r\n${H}\r\n`);
            assert.equal((await kept.readResponse()).status, 200, 'connection from before the reloads still served');
            kept.destroy();
        } finally {
            await f.stop();
        }
    });
});

describe('WebSocket over a TLS listener', { timeout: t(60000) }, () => {
    test('a tunnel relays through TLS both ways, large messages intact, close handshake and close_notify', async () => {
        const app = await startWsServer('wsapp');
        const f = await Ficus.start(config(tlsListen([rsa]), { upstreams: { legacy: app } }), { dir });
        try {
            const port = f.ports.proxy[1];
            const r = await wsConnect(port, '/chat', { tlsOpts: { ...caOpts(), servername: 'a.example.com' } });
            assert.equal(r.status, 101, r.raw);
            assert.ok(r.ws, `bad Sec-WebSocket-Accept in ${r.raw}`);
            assert.equal(app.upgrades.at(-1).headers['x-forwarded-proto'], 'https');
            r.ws.send('hello over tls');
            assert.equal((await r.ws.next()).text, 'hello over tls');
            const big = Buffer.alloc(3 << 20);
            for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
            r.ws.send(big);
            const m = await r.ws.next();
            assert.equal(m.data.length, big.length);
            assert.ok(m.data.equals(big), '3 MiB message intact through TLS');
            const ended = new Promise((resolve) => r.sock.once('end', resolve));
            r.ws.close(1000, 'bye');
            await r.ws.until(() => r.ws.closeFrame, t(5000), 'close echo');
            // The server's end of the tunnel reaches the TLS client as a clean end of stream.
            await withTimeoutP(ended, t(5000), 'TLS end of stream after the close handshake');
        } finally {
            await f.stop();
            await app.close().catch(() => {});
        }
    });
});

function withTimeoutP(p, ms, what) {
    let timer;
    return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: timed out`)), ms); })])
        .finally(() => clearTimeout(timer));
}
