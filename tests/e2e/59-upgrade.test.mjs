// 59-: zero-downtime binary upgrade (issue 11, operator tools): the running
// ficus (`--expose-fds SOCK`) hands its listening sockets to a new one
// (`--takeover SOCK`) over a Unix socket (SCM_RIGHTS), then drains and exits.
//  - handover: continuous requests on fresh connections through two chained
//    upgrades (2 -> 3 -> 1 workers) fail none; ports (proxy and admin) stay;
//    every process served some of them; the old ones exit 0;
//  - aborted: a new process that fails to start after receiving the sockets
//    leaves the old one serving; --takeover without a peer fails clearly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import {
    Ficus, get, makeConfig, mkTempDir, requireBinary, runFicus, sleep, startBackend, t, waitFor,
} from './lib/harness.mjs';

requireBinary();
const cleanups = [];
after(async () => {
    for (const c of cleanups.reverse()) await c();
});

const route = (name, prefix, to) => ({ name, match: { path_prefix: prefix }, to });

/** Requests on fresh connections from `n` loops until stop(); counts results. */
function load(port, n = 4) {
    const st = { ok: 0, failed: 0, errors: [], running: true };
    const loops = [];
    for (let i = 0; i < n; i++) {
        loops.push((async () => {
            let k = 0;
            while (st.running) {
                try {
                    const r = await get(port(), `/load/${i}/${k++}`, {}, { timeout: t(5000) });
                    if (r.status === 200) st.ok++;
                    else {
                        st.failed++;
                        st.errors.push(`status ${r.status}`);
                    }
                } catch (e) {
                    st.failed++;
                    st.errors.push(e.message);
                }
            }
        })());
    }
    st.stop = async () => {
        st.running = false;
        await Promise.all(loops);
    };
    return st;
}

function tempDir(prefix) {
    const d = mkTempDir(prefix);
    cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
}

describe('handover', { timeout: t(90000) }, () => {
    test('two chained upgrades under continuous load: 0 failed requests', async () => {
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        const sock = path.join(tempDir('ficus-upgrade-'), 'takeover.sock');
        const cfg = (workers) => makeConfig({ upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')], workers });

        const first = await Ficus.start(cfg(2), { args: ['--expose-fds', sock] });
        cleanups.push(() => first.stop({ check: false }));
        const port = first.port;
        const st = load(() => port);
        cleanups.push(() => st.stop()); // a failed assertion must not leave the loops running
        await waitFor(() => st.ok >= 20, { what: '20 requests through the first process' });

        const second = await Ficus.start(cfg(3), { args: ['--takeover', sock, '--expose-fds', sock] });
        cleanups.push(() => second.stop({ check: false }));
        assert.equal(second.port, port, 'same proxy port');
        assert.equal(second.adminPort, first.adminPort, 'same admin port');
        assert.match(second.stderr.text, /event=listening kind=proxy addr=127\.0\.0\.1:\d+ from=takeover/);
        // Logged just after event=ready, which Ficus.start() waits for.
        await second.waitStderr(new RegExp(`event=takeover result=ok old_pid=${first.pid}\\b`));
        const r1 = await first.wait(t(15000));
        assert.equal(r1.code, 0, first.stderr.text);
        assert.match(first.stderr.text, new RegExp(`event=takeover_done peer_pid=${second.pid}\\b`));
        assert.ok(first.accessLog().length > 0, 'the first process served requests');

        const okBefore = st.ok;
        await waitFor(() => st.ok >= okBefore + 20, { what: '20 requests through the second process' });
        const third = await Ficus.start(cfg(1), { args: ['--takeover', sock] });
        cleanups.push(() => third.stop());
        assert.equal(third.port, port);
        const r2 = await second.wait(t(15000));
        assert.equal(r2.code, 0, second.stderr.text);
        assert.ok(second.accessLog().length > 0, 'the second process served requests');

        const okThird = st.ok;
        await waitFor(() => st.ok >= okThird + 20, { what: '20 requests through the third process' });
        await st.stop();
        assert.equal(st.failed, 0, `failed requests: ${st.errors.slice(0, 5).join('; ')}`);
        assert.ok(third.accessLog().length >= 20, 'the third process serves');
        assert.equal((await get(third.adminPort, '/healthz')).status, 200);
        const total = first.accessLog().length + second.accessLog().length + third.accessLog().length;
        assert.equal(total, st.ok, 'every request logged exactly once, by one of the processes');
        assert.equal(fs.existsSync(sock), false, 'the second process removed its socket file at exit');
    });
});

describe('aborted', { timeout: t(60000) }, () => {
    test('a successor that fails after receiving the sockets leaves the old process serving', async () => {
        const A = await startBackend('A');
        cleanups.push(() => A.close());
        const sock = path.join(tempDir('ficus-upgrade-'), 'takeover.sock');
        const blocker = net.createServer().listen(0, '127.0.0.1');
        await new Promise((r) => blocker.once('listening', r));
        cleanups.push(() => new Promise((r) => blocker.close(r)));
        const base = { upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')] };
        const old = await Ficus.start(makeConfig(base), { args: ['--expose-fds', sock] });
        cleanups.push(() => old.stop());

        // Same first listener (taken over), plus one on a port in use: start fails.
        const dir = tempDir('ficus-upgrade-new-');
        const file = path.join(dir, 'ficus.yaml');
        const bad = makeConfig({ ...base, listen: ['127.0.0.1:0', `127.0.0.1:${blocker.address().port}`] });
        fs.writeFileSync(file, `${JSON.stringify(bad)}\n`);
        const r = await runFicus(['serve', '-c', file, '--takeover', sock]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /address already in use/);
        await old.waitStderr(/event=takeover_aborted/);
        await sleep(200);
        assert.equal(old.exited, false, 'the old process keeps running');
        assert.equal((await get(old.port, '/still')).status, 200);

        // The old one still offers its sockets: a good successor takes over.
        const next = await Ficus.start(makeConfig(base), { args: ['--takeover', sock] });
        cleanups.push(() => next.stop());
        assert.equal(next.port, old.port);
        assert.equal((await old.wait(t(15000))).code, 0);
        assert.equal((await get(next.port, '/after')).status, 200);
    });

    test('--takeover with nobody exposing: a clear error', async () => {
        const dir = tempDir('ficus-upgrade-none-');
        const file = path.join(dir, 'ficus.yaml');
        fs.writeFileSync(file, `${JSON.stringify(makeConfig({ upstreams: { legacy: { servers: ['127.0.0.1:1'] } }, routes: [route('default', '/', 'legacy')] }))}\n`);
        const sock = path.join(dir, 'absent.sock');
        const r = await runFicus(['serve', '-c', file, '--takeover', sock]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`takeover ${sock}: No such file or directory \\(is the old ficus running with --expose-fds`));
        assert.doesNotMatch(r.stderr, /event=listening/);
    });
});
