// Throw-away PKI for the TLS tests, made with the openssl CLI in a temp dir
// (nothing is committed), and TLS client helpers (node:tls).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

import { RawConn, t } from './harness.mjs';

function openssl(args, cwd) {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A CA (RSA 2048) in `dir`: returns {dir, cert, key} paths. */
export function makeCA(dir, name = 'ca') {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
        '-days', '30', '-subj', `/CN=Ficus Test CA ${name}`], dir);
    return { dir, name, cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

/**
 * A leaf certificate signed by `ca` for `names` (DNS SANs; CN = first name):
 * type 'rsa' (2048) or 'ecdsa' (P-256); `days` of validity, negative for an
 * already expired one (start and end in the past). Returns {cert, key} paths;
 * `cert` holds the leaf only (the CA is the trust anchor).
 */
export function makeLeaf(ca, file, names, { type = 'rsa', days = 30, serial } = {}) {
    const dir = ca.dir;
    const key = `${file}.key`;
    if (type === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], dir);
    else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
    openssl(['req', '-new', '-key', key, '-out', `${file}.csr`, '-subj', `/CN=${names[0]}`], dir);
    fs.writeFileSync(path.join(dir, `${file}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
    const args = ['x509', '-req', '-in', `${file}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-out', `${file}.pem`,
        '-extfile', `${file}.ext`, '-set_serial', String(serial ?? Math.floor(Math.random() * 1e9))];
    if (days < 0) {
        // openssl x509 has no start date option before 3.4: sign with a CA
        // command line that back-dates both ends.
        const cnf = path.join(dir, `${file}.ca.cnf`);
        fs.writeFileSync(cnf, [
            '[ca]', 'default_ca=d', '[d]', `dir=${dir}`, 'database=$dir/index.txt', `new_certs_dir=${dir}`,
            `serial=$dir/${file}.srl`, 'default_md=sha256', 'policy=p', 'copy_extensions=copy', 'unique_subject=no',
            '[p]', 'commonName=supplied', '',
        ].join('\n'));
        fs.writeFileSync(path.join(dir, 'index.txt'), '');
        fs.writeFileSync(path.join(dir, `${file}.srl`), '01\n');
        openssl(['ca', '-batch', '-config', cnf, '-cert', ca.cert, '-keyfile', ca.key, '-in', `${file}.csr`,
            '-out', `${file}.pem`, '-startdate', '20200101000000Z', '-enddate', '20200201000000Z',
            '-extfile', `${file}.ext`, '-notext'], dir);
    } else {
        openssl([...args, '-days', String(days)], dir);
    }
    return { cert: path.join(dir, `${file}.pem`), key: path.join(dir, key) };
}

/**
 * Connect with TLS to 127.0.0.1:port. opts go to tls.connect (servername,
 * ca, sigalgs, ALPNProtocols, minVersion, maxVersion, session...). Resolves
 * the socket once the handshake is done; rejects with the TLS error.
 */
export function tlsConnect(port, opts = {}) {
    return new Promise((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port, ...opts });
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`TLS connect to ${port} timed out`));
        }, opts.timeout ?? t(5000));
        sock.once('secureConnect', () => {
            clearTimeout(timer);
            resolve(sock);
        });
        sock.once('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
    });
}

/** A RawConn (harness) over a TLS connection. */
export async function tlsRaw(port, opts = {}) {
    const sock = await tlsConnect(port, opts);
    const c = new RawConn();
    c.attach(sock);
    return c;
}

/** Send `data` over a fresh TLS connection, read one response, optionally wait for the close. */
export async function tlsExchange(port, data, { tlsOpts = {}, method = 'GET', timeout = t(10000), closeTimeout = 0 } = {}) {
    const conn = await tlsRaw(port, tlsOpts);
    try {
        for (const part of Array.isArray(data) ? data : [data]) await conn.write(part);
        const res = await conn.readResponse({ method, timeout });
        let closed = conn.closed || conn.ended;
        if (closeTimeout > 0) closed = await conn.waitClose(closeTimeout);
        return { res, closed, extra: conn.rest(), conn };
    } finally {
        conn.destroy();
    }
}
