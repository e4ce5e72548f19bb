// 58-: process identity (issue 11, operator tools), run as root:
//  - user-nobody: `user: nobody` switches every id to nobody/nogroup after the
//    listeners, the access log and the store are open (/proc/PID/status);
//    requests are served, SIGHUP reloads (the config is re-read as nobody),
//    SIGUSR1 reopens the access log, the store files belong to nobody;
//  - pidfile: written with the pid after start, removed at exit; a second
//    start while the pidfile names a live process is refused, before binding;
//  - refusals: unknown user, a group alone, a store directory nobody cannot
//    write, `user:` when not started as root; `ficus check` does not resolve names.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import {
    FICUS_BIN, Ficus, configText, get, makeConfig, mkTempDir, requireBinary, runFicus,
    startBackend, t, waitFor,
} from './lib/harness.mjs';

requireBinary();
const cleanups = [];
after(async () => {
    for (const c of cleanups.reverse()) await c();
});

const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
const SKIP = process.getuid() !== 0 ? 'needs root' : nobody.status !== 0 ? 'no user "nobody"' : false;
const NOBODY = Number((nobody.stdout || '').trim());
const route = (name, prefix, to) => ({ name, match: { path_prefix: prefix }, to });

/** A temp dir everybody may read and write (the config is re-read as nobody). */
function openDir() {
    const dir = mkTempDir('ficus-privdrop-');
    fs.chmodSync(dir, 0o777);
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
}

function ids(pid) {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (k) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(st)[1].trim().split(/\s+/).map(Number);
    return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

async function backend() {
    const A = await startBackend('A');
    cleanups.push(() => A.close());
    return A;
}

describe('user-nobody', { skip: SKIP, timeout: t(60000) }, () => {
    test('ids switched after start; serving, reload, log reopen and store keep working', async () => {
        const A = await backend();
        const dir = openDir();
        const logPath = path.join(dir, 'access.log');
        const cfg = (routes) => makeConfig({
            upstreams: { legacy: A }, routes, log: { access: logPath, format: 'json' },
            workers: 2, extra: { user: 'nobody', pidfile: 'ficus.pid' },
        });
        const f = await Ficus.start(cfg([route('default', '/', 'legacy')]), { dir });
        cleanups.push(() => f.stop());
        assert.ok(f.stderr.lines.some((l) => /event=privileges_dropped user=nobody uid=65534/.test(l)), f.stderr.text);

        const got = ids(f.pid);
        assert.deepEqual(got.uid, [NOBODY, NOBODY, NOBODY, NOBODY], 'real, effective, saved, fs uid');
        assert.deepEqual(got.gid, [65534, 65534, 65534, 65534], 'nogroup');
        assert.deepEqual(got.groups, [65534], 'no supplementary group left');
        // Every thread (workers, admin, control, shadow) switched too.
        for (const task of fs.readdirSync(`/proc/${f.pid}/task`)) {
            assert.deepEqual(ids(`${f.pid}/task/${task}`).uid, [NOBODY, NOBODY, NOBODY, NOBODY], `thread ${task}`);
        }

        assert.equal((await get(f.port, '/before')).status, 200);
        await waitFor(() => fs.readFileSync(logPath, 'utf8').includes('/before'), { what: 'access-log line' });
        for (const name of ['access.log', 'ficus.db', 'ficus.db-wal', 'ficus.db-shm']) {
            const st = fs.statSync(path.join(dir, name));
            assert.equal(st.uid, NOBODY, `${name} belongs to nobody`);
        }
        assert.equal(fs.readFileSync(path.join(dir, 'ficus.pid'), 'utf8'), `${f.pid}\n`);
        const conf = JSON.parse((await get(f.adminPort, '/api/v1/config')).text);
        assert.equal(conf.user, 'nobody');
        assert.equal(conf.group, null);
        assert.equal(conf.pidfile, path.join(dir, 'ficus.pid'));

        // SIGHUP: the file is read again, as nobody.
        const r = await f.reload(cfg([route('new', '/new', 'legacy'), route('default', '/', 'legacy')]));
        assert.equal(r.result, 'ok', f.stderr.text);
        assert.equal(r.routes, '2');
        assert.equal((await get(f.port, '/new/x')).status, 200);
        await waitFor(() => fs.readFileSync(logPath, 'utf8').includes('"route":"new"'), { what: 'route new in the log' });

        // Rotation: rename, SIGUSR1, a new file (created by nobody) gets the next lines.
        fs.renameSync(logPath, `${logPath}.1`);
        f.signal('SIGUSR1');
        await f.waitStderr(/event=reopen_logs/);
        assert.equal((await get(f.port, '/after-rotate')).status, 200);
        await waitFor(() => fs.existsSync(logPath) && fs.readFileSync(logPath, 'utf8').includes('/after-rotate'), { what: 'line in the new file' });
        assert.equal(fs.statSync(logPath).uid, NOBODY);
        assert.equal(f.countStderr(/reopen_failed|level=error/), 0, f.stderr.text);

        const res = await f.stop();
        assert.equal(res.code, 0);
    });
});

describe('pidfile', { skip: SKIP, timeout: t(60000) }, () => {
    test('written at start, removed at exit; a second start with a live pidfile is refused', async () => {
        const A = await backend();
        const dir = openDir();
        const pidfile = path.join(dir, 'run.pid');
        const cfg = makeConfig({ upstreams: { legacy: A }, routes: [route('default', '/', 'legacy')], extra: { pidfile } });
        const f = await Ficus.start(cfg, { dir: fs.mkdtempSync(path.join(dir, 'a-')) });
        cleanups.push(() => f.stop());
        assert.equal(fs.readFileSync(pidfile, 'utf8'), `${f.pid}\n`);

        // Another config dir, same pidfile, port 0: nothing but the pidfile conflicts.
        const dir2 = fs.mkdtempSync(path.join(dir, 'b-'));
        const file2 = path.join(dir2, 'ficus.yaml');
        fs.writeFileSync(file2, configText(cfg));
        const second = await runFicus(['serve', '-c', file2]);
        assert.equal(second.code, 1, second.stderr);
        assert.match(second.stderr, new RegExp(`pidfile ${pidfile}: ficus already runs as pid ${f.pid}\\b`));
        assert.doesNotMatch(second.stderr, /event=listening/, 'refused before binding');
        assert.equal(fs.readFileSync(pidfile, 'utf8'), `${f.pid}\n`, 'the live pidfile is untouched');
        assert.equal((await get(f.port, '/still')).status, 200);

        assert.equal((await f.stop()).code, 0);
        assert.equal(fs.existsSync(pidfile), false, 'removed at exit');

        // A stale pidfile (dead pid) does not block the next start.
        fs.writeFileSync(pidfile, '999999999\n');
        const g = await Ficus.start(cfg, { dir: dir2 });
        cleanups.push(() => g.stop());
        assert.equal(fs.readFileSync(pidfile, 'utf8'), `${g.pid}\n`);
        assert.equal((await g.stop()).code, 0);
        assert.equal(fs.existsSync(pidfile), false);
    });
});

describe('refusals', { skip: SKIP, timeout: t(60000) }, () => {
    const base = (extra) => makeConfig({ upstreams: { legacy: { servers: ['127.0.0.1:1'] } }, routes: [route('default', '/', 'legacy')], extra });
    const write = (dir, extra) => {
        const file = path.join(dir, 'ficus.yaml');
        fs.writeFileSync(file, configText(base(extra)));
        return file;
    };

    test('unknown user: clear error naming the file; check does not resolve names', async () => {
        const file = write(openDir(), { user: 'no-such-user-fx' });
        const r = await runFicus(['serve', '-c', file]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`error="${file}: user \\\\"no-such-user-fx\\\\": no such user"`));
        assert.doesNotMatch(r.stderr, /event=listening/);
        const c = await runFicus(['check', '-c', file]);
        assert.equal(c.code, 0, c.stderr);
    });

    test('unknown group, group without user, malformed values', async () => {
        let r = await runFicus(['serve', '-c', write(openDir(), { user: 'nobody', group: 'no-such-group-fx' })]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /group \\"no-such-group-fx\\": no such group/);
        r = await runFicus(['serve', '-c', write(openDir(), { group: 'nogroup' })]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /group \\"nogroup\\": set user: too/);
        r = await runFicus(['check', '-c', write(openDir(), { user: 'no body' })]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /user: expected a user or group name or a numeric id, got "no body"/);
        r = await runFicus(['check', '-c', write(openDir(), { pidfile: 'run/' })]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /pidfile: expected a file path, got "run\/"/);
    });

    test('store directory nobody cannot write: refused before the drop', async () => {
        const dir = openDir();
        fs.chmodSync(dir, 0o755);
        const r = await runFicus(['serve', '-c', write(dir, { user: 'nobody', pidfile: 'p.pid' })]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /store .*ficus\.db: directory .* is not writable by user \\"nobody\\"/);
        assert.equal(fs.existsSync(path.join(dir, 'p.pid')), false, 'no pidfile left behind');
    });

    test('user: when not started as root', async () => {
        const dir = openDir();
        const file = write(dir, { user: 'nobody' });
        // nobody may not be able to reach the build directory (a checkout under a 0700
        // directory, as mktemp -d makes): run a copy from the open directory.
        const bin = path.join(dir, 'ficus');
        fs.copyFileSync(FICUS_BIN, bin);
        fs.chmodSync(bin, 0o755);
        const r = spawnSync(bin, ['serve', '-c', file], { uid: NOBODY, gid: 65534, encoding: 'utf8', timeout: t(10000) });
        assert.equal(r.error, undefined, `spawn as nobody: ${r.error}`);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`user \\\\"nobody\\\\": switching users needs root, and ficus runs as uid ${NOBODY}`));
    });
});

