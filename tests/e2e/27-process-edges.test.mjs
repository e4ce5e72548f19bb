// 27-: process-level edges (issue 10), each test named after its finding:
//  - shutdown-metrics-during-drain: scrapes and API reads while the workers
//    finish never touch freed worker statistics (a SEGV before);
//  - listen-address-in-use: a second process on the same address fails with
//    "address already in use" instead of sharing the port via SO_REUSEPORT;
//  - sigusr1-reopens-logs: SIGUSR1 reopens the access log (logrotate) and
//    never kills the process;
//  - accept-emfile: out of file descriptors, queued connections are accepted
//    and closed (counted) instead of hanging until the next SYN.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import {
    Ficus, get, makeConfig, metric, mkTempDir, request, requireBinary, runFicus, scrape,
    sleep, startBackend, t, waitFor, configText, freePort,
} from './lib/harness.mjs';

requireBinary();
const cleanups = [];
after(async () => {
    for (const c of cleanups.reverse()) await c();
});

const route = (name, prefix, to) => ({ name, match: { path_prefix: prefix }, to });

async function backend() {
    const A = await startBackend('A');
    cleanups.push(() => A.close());
    return A;
}

describe('shutdown-metrics-during-drain', { timeout: t(60000) }, () => {
    test('/metrics and /api/v1/routes hammered through a drain: exit 0, no memory error', async () => {
        const A = await backend();
        A.handle = (rec, req, res) => setTimeout(() => res.end('slow'), t(800));
        const f = await Ficus.start(makeConfig({
            workers: 2,
            upstreams: { legacy: A },
            routes: [route('default', '/', 'legacy')],
            limits: { drain_timeout: '5s' },
        }));
        cleanups.push(() => f.stop());
        const adminPort = f.ports.admin[0];
        const slow = [0, 1, 2, 3].map((i) => request({ port: f.port, path: `/slow-${i}` }).catch(() => null));
        await A.waitRequests(4);
        f.signal('SIGTERM');
        let scrapes = 0;
        let done = false;
        f.wait().then(() => (done = true));
        const hammer = async (p) => {
            while (!done) {
                try {
                    const r = await get(adminPort, p, {}, { timeout: 1000 });
                    if (r.status === 200) scrapes++;
                } catch {
                    await sleep(1);
                }
            }
        };
        await Promise.all([hammer('/metrics'), hammer('/metrics'), hammer('/api/v1/routes'), hammer('/healthz')]);
        await Promise.all(slow);
        const { code, signal } = await f.wait();
        assert.equal(signal, null, 'not killed by a signal (SEGV)');
        assert.equal(code, 0);
        assert.ok(scrapes > 10, `admin answered during the drain (${scrapes} answers)`);
        await f.stop(); // fails on a sanitizer report
    });
});

describe('listen-address-in-use', { timeout: t(30000) }, () => {
    test('a second Ficus on the same address fails with "address already in use"', async () => {
        const A = await backend();
        const port = await freePort();
        const cfg = (adminPort) => makeConfig({
            workers: 2,
            listen: [`127.0.0.1:${port}`],
            admin: { listen: `127.0.0.1:${adminPort}` },
            upstreams: { legacy: A },
            routes: [route('default', '/', 'legacy')],
        });
        const first = await Ficus.start(cfg(0));
        cleanups.push(() => first.stop());
        const dir = mkTempDir();
        const file = path.join(dir, 'second.yaml');
        fs.writeFileSync(file, configText(cfg(0)));
        const r = await runFicus(['serve', '-c', file]);
        assert.equal(r.code, 1, `second instance must fail, stderr: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`listen 127\\.0\\.0\\.1:${port}: address already in use`));
        // The first one still owns every connection.
        for (let i = 0; i < 20; i++) assert.equal((await get(port, `/x${i}`)).status, 200);
        await waitFor(() => first.accessLog().length === 20, { what: '20 access-log lines in the first instance' });
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test('any other process on the address: the same clear failure', async () => {
        const A = await backend();
        const other = net.createServer(() => {});
        await new Promise((r) => other.listen(0, '127.0.0.1', r));
        cleanups.push(() => new Promise((r) => other.close(r)));
        const dir = mkTempDir();
        const file = path.join(dir, 'f.yaml');
        fs.writeFileSync(file, configText(makeConfig({
            listen: [`127.0.0.1:${other.address().port}`], upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')],
        })));
        const r = await runFicus(['serve', '-c', file]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /address already in use/);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});

describe('sigusr1-reopens-logs', { timeout: t(30000) }, () => {
    test('SIGUSR1 after a rename: new lines go to a new file, the process lives', async () => {
        const A = await backend();
        const dir = mkTempDir();
        cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        const logPath = path.join(dir, 'access.log');
        const f = await Ficus.start(makeConfig({
            upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')], log: { access: logPath, format: 'json' },
        }));
        cleanups.push(() => f.stop());
        assert.equal((await get(f.port, '/before')).status, 200);
        await waitFor(() => fs.existsSync(logPath) && fs.readFileSync(logPath, 'utf8').includes('/before'), { what: 'first line' });
        fs.renameSync(logPath, `${logPath}.1`);
        f.signal('SIGUSR1');
        await f.waitStderr(/\bevent=reopen_logs\b/);
        assert.equal((await get(f.port, '/after')).status, 200);
        await waitFor(() => fs.existsSync(logPath) && fs.readFileSync(logPath, 'utf8').includes('/after'), { what: 'line in the new file' });
        assert.ok(!fs.readFileSync(`${logPath}.1`, 'utf8').includes('/after'), 'the rotated file gets no new lines');
        f.signal('SIGUSR1');
        f.signal('SIGUSR1');
        await sleep(100);
        assert.equal(f.exited, false, 'SIGUSR1 never kills the process');
        assert.equal(f.countStderr(/\bevent=reload\b/), 0, 'SIGUSR1 is not a reload');
    });
});

describe('accept-emfile', { timeout: t(60000) }, () => {
    test('out of descriptors: a new connection is closed at once and counted, service resumes', async () => {
        const A = await backend();
        const f = await Ficus.start(makeConfig({
            upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')],
            // The held connections must not time out and free descriptors during the test.
            limits: { client_header_timeout: '10m', idle_timeout: '10m' },
        }));
        cleanups.push(() => f.stop());
        assert.equal((await get(f.port, '/warm')).status, 200);
        const open = fs.readdirSync(`/proc/${f.pid}/fd`).length;
        const limit = open + 4;
        const [soft, hard] = /Max open files\s+(\d+)\s+(\d+)/.exec(fs.readFileSync(`/proc/${f.pid}/limits`, 'utf8')).slice(1);
        execFileSync('prlimit', [`--pid=${f.pid}`, `--nofile=${limit}:${hard}`]);
        const held = [];
        cleanups.push(() => held.forEach((s) => s.destroy()));
        // Fill the table with idle client connections (each takes one descriptor)
        // until Ficus closes one: the connections past the limit are accepted and
        // closed (a reset), not left hanging in the queue.
        const connectOne = () => new Promise((resolve) => {
            const s = net.connect(f.port, '127.0.0.1');
            held.push(s);
            let state = 'hang';
            const timer = setTimeout(() => resolve(state), t(1500));
            s.on('connect', () => (state = 'open'));
            s.on('error', (e) => (state = e.code || 'error'));
            s.on('close', () => {
                clearTimeout(timer);
                resolve(state === 'open' ? 'closed' : state);
            });
        });
        let outcome = 'open';
        for (let i = 0; i < 12 && (outcome === 'open' || outcome === 'hang'); i++) outcome = await connectOne();
        assert.ok(outcome !== 'open' && outcome !== 'hang', `a connection past the limit is closed at once (${outcome})`);
        await f.waitStderr(/\bevent=accept_failed\b.*\berror=EMFILE\b/);
        for (const s of held) s.destroy();
        await sleep(200);
        execFileSync('prlimit', [`--pid=${f.pid}`, `--nofile=${soft}:${hard}`]);
        await waitFor(async () => (await get(f.port, '/again')).status === 200, { what: 'service after EMFILE' });
        const m = await scrape(f.ports.admin[0]);
        assert.ok(metric(m, 'ficus_accept_fd_exhausted_total', {}, { required: true }) >= 1);
    });
});
