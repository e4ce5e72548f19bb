// 16-: scripts/demo.sh (make demo) takes its ports as arguments and checks
// them before it starts anything. The demo itself is never started here:
// every case stops at the checks, or prints the configuration it would use.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { REPO, freePort, mkTempDir, requireBinary, runFicus, t } from './lib/harness.mjs';

before(() => requireBinary());

const DEMO = path.join(REPO, 'scripts', 'demo.sh');

/** Run scripts/demo.sh ARGS; resolves {code, stdout, stderr}. */
function demo(args) {
    return new Promise((resolve) => {
        execFile('bash', [DEMO, ...args], { cwd: REPO, timeout: t(15000) }, (err, stdout, stderr) => {
            resolve({ code: err ? (err.code ?? -1) : 0, signal: err?.signal, stdout, stderr });
        });
    });
}

const servers = [];
after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
});

/** A port with a listener on it (closed in after()). */
async function busyPort() {
    const s = net.createServer((c) => c.destroy());
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    return s.address().port;
}

describe('make demo: ports', () => {
    test('an occupied proxy port is refused before anything starts', async () => {
        const port = await busyPort();
        const r = await demo(['--port', String(port), '--admin-port', String(await freePort())]);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr, `demo: port ${port} is in use (another process listens there); run make demo PORT=...\n`);
        assert.equal(r.stdout, '', 'nothing started, nothing printed');
    });

    test('an occupied admin port names ADMIN_PORT', async () => {
        const admin = await busyPort();
        const r = await demo(['--port', String(await freePort()), '--admin-port', String(admin)]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^demo: port ${admin} is in use \\(another process listens there\\); run make demo ADMIN_PORT=\\.\\.\\.\\n$`));
    });

    test('a backend port (or the one after it) names its variable', async () => {
        const busy = await busyPort();
        const r = await demo(['--port', String(await freePort()), '--admin-port', String(await freePort()),
            '--legacy-port', String(busy - 1)]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^demo: port (${busy - 1}|${busy}) is in use .*run make demo LEGACY_PORT=\\.\\.\\.\\n$`));
    });

    test('invalid and clashing ports are usage errors (exit 2)', async () => {
        for (const args of [['--port', 'abc'], ['--port', '70000'], ['--port', '0'], ['--new-port', '65535'], ['--bogus']]) {
            const r = await demo(args);
            assert.equal(r.code, 2, `${args}: ${r.stderr}`);
            assert.match(r.stderr, /^demo: /);
        }
        const r = await demo(['--port', '3001']);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /port 3001 is used twice \(LEGACY_PORT and PORT/);
    });

    test('default ports: the configuration is examples/demo.yaml unchanged', async () => {
        const r = await demo(['--print-config']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, fs.readFileSync(path.join(REPO, 'examples', 'demo.yaml'), 'utf8'));
    });

    test('other ports: every address moves, and ficus check accepts the file', async () => {
        const r = await demo(['--print-config', '--port', '18080', '--admin-port', '19901', '--legacy-port', '13000', '--new-port', '14000']);
        assert.equal(r.code, 0, r.stderr);
        for (const p of ['18080', '19901', '13000', '13001', '14000', '14001']) assert.ok(r.stdout.includes(`127.0.0.1:${p}"`), `uses ${p}`);
        for (const p of ['8080', '9901', '3000', '3001', '4000', '4001']) {
            assert.doesNotMatch(r.stdout, new RegExp(`127\\.0\\.0\\.1:${p}\\b`), `no default port ${p} left`);
        }
        const dir = mkTempDir();
        const file = path.join(dir, 'demo.yaml');
        fs.writeFileSync(file, r.stdout);
        const c = await runFicus(['check', '-c', file]);
        assert.equal(c.code, 0, c.stderr);
    });
});
