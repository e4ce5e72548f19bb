// 57-: systemd integration (issue 11, operator tools):
//  - sd-notify: with NOTIFY_SOCKET set, `ficus serve` sends READY=1 once the
//    listeners are open, RELOADING=1 then READY=1 around a SIGHUP reload (also a
//    failed one), STOPPING=1 at SIGTERM; without it, serving is unchanged;
//  - unit-file: contrib/ficus.service passes `systemd-analyze verify` (skipped
//    when systemd-analyze is not installed); `make install` puts the unit and
//    contrib/ficus.logrotate under DESTDIR with PREFIX's binary path.
// NOTIFY_SOCKET is a Unix datagram socket, which Node cannot create: the
// helper build/test/notify_sink (tests/helpers/notify_sink.c, built by
// `make test-e2e`) binds it and prints one line per datagram.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import {
    FICUS_BIN, Ficus, REPO, get, makeConfig, mkTempDir, requireBinary, startBackend, t, waitFor,
} from './lib/harness.mjs';

requireBinary();
const cleanups = [];
after(async () => {
    for (const c of cleanups.reverse()) await c();
});

const SINK = process.env.FICUS_NOTIFY_SINK || path.join(path.dirname(FICUS_BIN), 'test', 'notify_sink');

/** Start notify_sink on a fresh socket path; .messages holds the datagrams received. */
async function startSink() {
    assert.ok(fs.existsSync(SINK), `${SINK} is missing (make ${path.relative(REPO, SINK)}, or make test-e2e)`);
    const dir = mkTempDir('ficus-notify-');
    const sock = path.join(dir, 'notify.sock');
    const child = spawn(SINK, [sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sink = { sock, messages: [], child };
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
        const parts = (partial + d).split('\n');
        partial = parts.pop();
        for (const p of parts) if (p !== 'listening') sink.messages.push(p);
        sink.bound ||= parts.includes('listening');
    });
    cleanups.push(() => {
        child.kill('SIGTERM');
        fs.rmSync(dir, { recursive: true, force: true });
    });
    await waitFor(() => sink.bound, { what: 'notify_sink to bind' });
    return sink;
}

const has = (sink, re) => sink.messages.findIndex((m) => re.test(m));

describe('sd-notify', { timeout: t(60000) }, () => {
    test('READY=1 after listen, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 at SIGTERM', async () => {
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        const sink = await startSink();
        const cfg = makeConfig({ upstreams: { legacy: A }, routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }] });
        const f = await Ficus.start(cfg, { env: { NOTIFY_SOCKET: sink.sock } });
        cleanups.push(() => f.stop());

        await waitFor(() => has(sink, /(^| )READY=1( |$)/) >= 0, { what: 'READY=1' });
        const ready = sink.messages[has(sink, /READY=1/)];
        assert.match(ready, new RegExp(`MAINPID=${f.pid}\\b`));
        assert.match(ready, /STATUS=serving/);
        // READY=1 comes after the listeners are open: a request right away is served.
        assert.equal((await get(f.port, '/x')).status, 200);
        assert.equal(sink.messages.length, 1, `only READY=1 so far: ${sink.messages}`);

        const ok = await f.reload(cfg);
        assert.equal(ok.result, 'ok');
        await waitFor(() => sink.messages.length >= 3, { what: 'RELOADING=1 then READY=1' });
        assert.match(sink.messages[1], /^RELOADING=1 MONOTONIC_USEC=\d+ STATUS=reloading /);
        assert.match(sink.messages[2], /^READY=1 STATUS=serving: 1 workers, 1 reloads ok, 0 failed$/);

        // A rejected file still ends the reload with READY=1 (the old config keeps serving).
        const bad = await f.reload('listen: [');
        assert.equal(bad.result, 'error');
        await waitFor(() => sink.messages.length >= 5, { what: 'second RELOADING=1/READY=1' });
        assert.match(sink.messages[3], /^RELOADING=1 /);
        assert.match(sink.messages[4], /^READY=1 .*1 reloads ok, 1 failed$/);

        const res = await f.stop();
        assert.equal(res.code, 0);
        await waitFor(() => sink.messages.length >= 6, { what: 'STOPPING=1' });
        assert.match(sink.messages[5], /^STOPPING=1 STATUS=draining/);
        assert.equal(sink.messages.length, 6, sink.messages.join('\n'));
    });

    test('NOTIFY_SOCKET naming nothing: a warning, serving unaffected', async () => {
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        const dir = mkTempDir('ficus-notify-');
        cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        const cfg = makeConfig({ upstreams: { legacy: A }, routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }] });
        const f = await Ficus.start(cfg, { env: { NOTIFY_SOCKET: path.join(dir, 'absent.sock') } });
        cleanups.push(() => f.stop());
        await f.waitStderr(/event=sd_notify_failed error=ENOENT/);
        assert.equal((await get(f.port, '/x')).status, 200);
        assert.equal((await f.stop()).code, 0);
    });
});


describe('unit-file', () => {
    const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    const skip = analyze.error ? 'systemd-analyze is not installed' : false;
    test('contrib/ficus.service passes systemd-analyze verify', { skip }, () => {
        // verify wants the ExecStart binary to exist: point a copy of the unit at the built one.
        const dir = mkTempDir('ficus-unit-');
        cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        const unit = fs.readFileSync(path.join(REPO, 'contrib', 'ficus.service'), 'utf8')
            .replaceAll('/usr/local/bin/ficus', FICUS_BIN);
        const file = path.join(dir, 'ficus.service');
        fs.writeFileSync(file, unit);
        // --man=no: the man page is installed by `make install`, not here.
        const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
        const out = `${r.stdout}${r.stderr}`;
        assert.equal(r.status, 0, out);
        assert.equal(out.trim(), '', out);
        assert.match(unit, /^Type=notify$/m);
        assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
        const stop = /^TimeoutStopSec=(\d+)s$/m.exec(unit);
        assert.ok(stop && Number(stop[1]) > 30, 'TimeoutStopSec above the default drain_timeout (30s)');
    });
});

describe('make-install', { timeout: t(120000) }, () => {
    test('installs the unit (PREFIX path), logrotate snippet and an /etc config, keeps an existing one', () => {
        const dest = mkTempDir('ficus-install-');
        cleanups.push(() => fs.rmSync(dest, { recursive: true, force: true }));
        const run = () => spawnSync('make', ['-s', '-C', REPO, 'install', `DESTDIR=${dest}`, 'PREFIX=/opt/fx'], { encoding: 'utf8' });
        let r = run();
        assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
        const unit = fs.readFileSync(path.join(dest, 'opt/fx/lib/systemd/system/ficus.service'), 'utf8');
        assert.match(unit, /^ExecStart=\/opt\/fx\/bin\/ficus serve -c \/etc\/ficus\/ficus.yaml$/m);
        assert.doesNotMatch(unit, /\/usr\/local\/bin/);
        const rot = fs.readFileSync(path.join(dest, 'etc/logrotate.d/ficus'), 'utf8');
        assert.match(rot, /postrotate[\s\S]*kill -USR1[\s\S]*endscript/);
        const conf = path.join(dest, 'etc/ficus/ficus.yaml');
        assert.match(fs.readFileSync(conf, 'utf8'), /^store: sqlite:\/var\/lib\/ficus\/ficus.db$/m);
        assert.ok(fs.existsSync(path.join(dest, 'opt/fx/bin/ficus')));
        assert.ok(fs.existsSync(path.join(dest, 'opt/fx/share/man/man1/ficus.1')));
        fs.writeFileSync(conf, '# mine\n');
        r = run();
        assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
        assert.equal(fs.readFileSync(conf, 'utf8'), '# mine\n', 'an existing config is kept');
    });
});
