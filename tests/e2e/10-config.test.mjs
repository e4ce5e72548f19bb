// 10-: configuration checking, CLI and startup.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
    FICUS_BIN, Ficus, REPO, configText, get, makeConfig, mkTempDir, requireBinary, runFicus, startBackend, t,
} from './lib/harness.mjs';

const VERSION = fs.readFileSync(path.join(REPO, 'VERSION'), 'utf8').trim();
const tmp = mkTempDir('ficus-e2e-conf-');
let seq = 0;

function writeConf(text) {
    const p = path.join(tmp, `conf-${++seq}.yaml`);
    fs.writeFileSync(p, text);
    return p;
}

/** 1-based line and column of the `nth` occurrence of `needle` in `text`. */
function pos(text, needle, nth = 1) {
    let idx = -1;
    for (let i = 0; i < nth; i++) {
        idx = text.indexOf(needle, idx + 1);
        if (idx < 0) throw new Error(`test bug: ${JSON.stringify(needle)} not in config`);
    }
    const before = text.slice(0, idx).split('\n');
    return { line: before.length, col: before[before.length - 1].length + 1 };
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// A valid config; every line is spelled out so positions are easy to follow.
// The "to: orders" line is line 12 and its value starts in column 9, as in
// the documented example message.
const VALID = `listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
workers: 1
log: {access: stdout, format: json}
upstreams:
  legacy: {servers: ["127.0.0.1:9"], connect_timeout: 2s, read_timeout: 30s}
  orders:
    servers: ["127.0.0.1:10", "127.0.0.1:11"]
routes:
  - name: orders
    match: {path_prefix: /api/orders, methods: [GET, POST], host: shop.example.com, headers: {X-Beta: "1"}}
    to: orders
  - name: default
    match: {path_prefix: /}
    to: legacy
`;

/**
 * Run `ficus check` on `text`; expect exit 1 and a stderr line
 * "PATH:LINE:COL: cause" with LINE/COL at the given positions (col may be a
 * list of acceptable columns) and the cause matching `cause`.
 */
async function expectConfigError(text, { line, col, cause }) {
    const file = writeConf(text);
    const r = await runFicus(['check', '-c', file]);
    assert.equal(r.code, 1, `check should exit 1; stdout=${r.stdout} stderr=${r.stderr}`);
    const cols = Array.isArray(col) ? col : [col];
    const re = new RegExp(`${esc(file)}:${line}:(\\d+): (.*)`);
    const m = re.exec(r.stderr);
    assert.ok(m, `stderr should contain "${file}:${line}:<col>: <cause>"; got: ${r.stderr}`);
    assert.ok(cols.includes(Number(m[1])), `column should be ${cols.join(' or ')}; got ${m[1]} in: ${m[0]}`);
    if (cause) assert.match(m[2], cause);
    return { file, r, message: m[0] };
}

before(() => requireBinary());
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('cli', () => {
    test('version prints the VERSION file', async () => {
        const r = await runFicus(['version']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`\\b${esc(VERSION)}\\b`));
    });

    test('help lists the commands', async () => {
        const r = await runFicus(['help']);
        assert.equal(r.code, 0, r.stderr);
        for (const cmd of ['serve', 'check', 'version']) assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
    });

    for (const args of [['--help'], ['serve', '--help'], ['check', '--help'], ['version', '--help'], ['help', '--help']]) {
        test(`${args.join(' ')} exits 0 with usage on stdout`, async () => {
            const r = await runFicus(args);
            assert.equal(r.code, 0, `stderr: ${r.stderr}`);
            assert.match(r.stdout, /usage/i);
        });
    }

    test('serve --help does not start a server', async () => {
        const r = await runFicus(['serve', '--help'], { timeout: t(5000) });
        assert.equal(r.code, 0);
        assert.doesNotMatch(r.stderr, /event=(listening|ready)/);
    });

    test('an unknown command fails', async () => {
        const r = await runFicus(['frobnicate']);
        assert.notEqual(r.code, 0);
        assert.ok(r.stderr.length > 0, 'an error message on stderr');
    });
});

describe('check', () => {
    test('accepts a valid config', async () => {
        const r = await runFicus(['check', '-c', writeConf(VALID)]);
        assert.equal(r.code, 0, `stderr: ${r.stderr}`);
    });

    test('accepts workers auto/2, every duration unit and every access-log mode', async () => {
        for (const [workers, access] of [['auto', 'off'], ['2', 'stdout'], ['1', JSON.stringify(path.join(tmp, 'access.log'))]]) {
            const text = VALID.replace('workers: 1', `workers: ${workers}`)
                .replace('log: {access: stdout, format: json}', `log: {access: ${access}, format: json}\nlimits: {header_bytes: 16384, client_header_timeout: 1500ms, idle_timeout: 2m, max_connections: 100, drain_timeout: 1h}`);
            const r = await runFicus(['check', '-c', writeConf(text)]);
            assert.equal(r.code, 0, `workers=${workers} access=${access}: ${r.stderr}`);
        }
    });

    test('accepts the documented block-style example', async () => {
        const cfg = makeConfig({
            upstreams: { legacy: { servers: ['127.0.0.1:3000'], connect_timeout: '2s', read_timeout: '30s' } },
            routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
            limits: { header_bytes: 16384, client_header_timeout: '10s', idle_timeout: '60s', max_connections: 10000, drain_timeout: '5s' },
        });
        const r = await runFicus(['check', '-c', writeConf(configText(cfg))]);
        assert.equal(r.code, 0, r.stderr);
    });

    test('unknown top-level key: position of the key', async () => {
        const text = VALID.replace('listen: ["127.0.0.1:0"]', 'listn: ["127.0.0.1:0"]');
        await expectConfigError(text, { line: 1, col: 1, cause: /unknown key "listn"/ });
    });

    test('unknown nested key: position of the key', async () => {
        const text = VALID.replace('  orders:\n    servers:', '  orders:\n    conect_timeout: 2s\n    servers:');
        const p = pos(text, 'conect_timeout');
        await expectConfigError(text, { ...p, cause: /unknown key "conect_timeout"/ });
    });

    test('wrong type (sequence for a number): position of the value', async () => {
        const text = VALID.replace('workers: 1', 'workers: [1, 2]');
        await expectConfigError(text, { line: 3, col: 10, cause: /\S/ });
    });

    test('wrong type (scalar for a mapping): position of the value', async () => {
        const text = VALID.replace('    match: {path_prefix: /}', '    match: /');
        const p = pos(text, 'match: /\n');
        await expectConfigError(text, { line: p.line, col: p.col + 'match: '.length, cause: /\S/ });
    });

    test('undefined upstream: the documented message', async () => {
        const text = VALID.replace('    to: orders', '    to: ordrs');
        const { message } = await expectConfigError(text, { line: 12, col: 9, cause: /route "orders": upstream "ordrs" is not defined/ });
        assert.match(message, /:12:9: route "orders": upstream "ordrs" is not defined$/);
    });

    test('duplicate route name: position of the second one', async () => {
        const text = VALID.replace('  - name: default', '  - name: orders');
        const p = pos(text, '- name: orders', 2);
        await expectConfigError(text, { line: p.line, col: [p.col, p.col + 2, p.col + 8], cause: /duplicate.*orders|orders.*duplicate/i });
    });

    test('duplicate upstream name: position of the second one', async () => {
        const text = VALID.replace('  orders:\n    servers', '  legacy:\n    servers').replace('    to: orders', '    to: legacy');
        const p = pos(text, 'legacy:', 2);
        await expectConfigError(text, { line: p.line, col: p.col, cause: /duplicate.*legacy|legacy.*duplicate/i });
    });

    test('bad upstream address (port out of range): position of the value', async () => {
        const text = VALID.replace('"127.0.0.1:9"', '"127.0.0.1:99999"');
        const p = pos(text, '"127.0.0.1:99999"');
        await expectConfigError(text, { line: p.line, col: [p.col, p.col + 1], cause: /127\.0\.0\.1:99999|address/i });
    });

    test('bad listen address: position of the value', async () => {
        const text = VALID.replace('listen: ["127.0.0.1:0"]', 'listen: ["300.1.2.3:80"]');
        await expectConfigError(text, { line: 1, col: [10, 11], cause: /300\.1\.2\.3|address/i });
    });

    test('bad duration: position of the value', async () => {
        const text = VALID.replace('connect_timeout: 2s', 'connect_timeout: 2 seconds');
        const p = pos(text, '2 seconds');
        await expectConfigError(text, { line: p.line, col: p.col, cause: /\S/ });
    });

    test('route to an undefined upstream in block style', async () => {
        const text = VALID.replace('    to: legacy', '    to: nowhere');
        const p = pos(text, 'nowhere');
        await expectConfigError(text, { ...p, cause: /route "default": upstream "nowhere" is not defined/ });
    });

    test('YAML syntax error: PATH:LINE:COL', async () => {
        const file = writeConf(VALID.replace('routes:\n', 'routes: [\n'));
        const r = await runFicus(['check', '-c', file]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`${esc(file)}:\\d+:\\d+: \\S`));
    });

    test('missing file: exit 1 naming the path', async () => {
        const file = path.join(tmp, 'does-not-exist.yaml');
        const r = await runFicus(['check', '-c', file]);
        assert.equal(r.code, 1);
        assert.ok(r.stderr.includes(file), r.stderr);
    });
});

describe('serve', () => {
    test('refuses a bad config: exit 1 with the error, never ready', async () => {
        const file = writeConf(VALID.replace('    to: orders', '    to: ordrs'));
        const r = await runFicus(['serve', '-c', file], { timeout: t(10000) });
        assert.equal(r.code, 1, r.stderr);
        assert.ok(r.stderr.includes(`${file}:12:9: route "orders": upstream "ordrs" is not defined`), r.stderr);
        assert.doesNotMatch(r.stderr, /event=ready/);
    });

    test('starts, logs listening lines and ready, serves, exits 0 on SIGTERM', async () => {
        const b = await startBackend('A');
        const f = await Ficus.start(makeConfig({
            upstreams: { legacy: b },
            routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        }));
        try {
            assert.ok(f.port > 0 && f.adminPort > 0 && f.port !== f.adminPort, `ports ${f.port}/${f.adminPort}`);
            assert.equal(f.readyLine.workers, '1');
            for (const l of f.stderr.lines.filter((x) => x.trim())) {
                assert.match(l, /^time=\S+ level=\w+ event=\S+/, `logfmt line: ${l}`);
            }
            const r = await get(f.port, '/hello');
            assert.equal(r.status, 200);
            assert.equal(r.text, 'A GET /hello');
            const h = await get(f.adminPort, '/healthz');
            assert.equal(h.status, 200);
        } finally {
            let s;
            try {
                s = await f.stop();
            } finally {
                await b.close();
            }
            assert.equal(s.killed, false, 'exited on SIGTERM without SIGKILL');
            assert.equal(s.code, 0);
        }
    });

    test('workers: 2 starts two workers that both serve', async () => {
        const b = await startBackend('A');
        const f = await Ficus.start(makeConfig({
            workers: 2,
            upstreams: { legacy: b },
            routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        }));
        try {
            assert.equal(f.readyLine.workers, '2');
            const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => get(f.port, `/w/${i}`)));
            assert.deepEqual(rs.map((r) => r.status), Array(20).fill(200));
            assert.equal(b.requests.length, 20);
        } finally {
            let s;
            try {
                s = await f.stop();
            } finally {
                await b.close();
            }
            assert.equal(s.code, 0);
        }
    });

    test('workers: auto starts', async () => {
        const b = await startBackend('A');
        const f = await Ficus.start(makeConfig({
            workers: 'auto',
            upstreams: { legacy: b },
            routes: [{ name: 'default', match: { path_prefix: '/' }, to: 'legacy' }],
        }));
        try {
            assert.ok(Number(f.readyLine.workers) >= 1, `workers=${f.readyLine.workers}`);
            assert.equal((await get(f.port, '/')).status, 200);
        } finally {
            try {
                await f.stop();
            } finally {
                await b.close();
            }
        }
    });

    test('fails (non-zero, never ready) when the listen address is taken', async () => {
        const blocker = net.createServer();
        await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
        const port = blocker.address().port;
        try {
            const file = writeConf(VALID.replace('listen: ["127.0.0.1:0"]', `listen: ["127.0.0.1:${port}"]`));
            const r = await runFicus(['serve', '-c', file], { timeout: t(10000) });
            assert.notEqual(r.code, 0);
            assert.doesNotMatch(r.stderr, /event=ready/);
        } finally {
            blocker.close();
        }
    });
});

describe('schema', () => {
    test('check lists every error, each as PATH:LINE:COL: cause, with did-you-mean', async () => {
        const text = `listen: "127.0.0.1:0"
listn: x
limits: {idle_timout: 5s, header_bytes: 1, max_headers: x}
upstreams:
  a: {servers: ["127.0.0.1:1"], conect_timeout: 1s}
routes:
  - name: r
    to: b
`;
        const file = writeConf(text);
        const r = await runFicus(['check', '-c', file]);
        assert.equal(r.code, 1, r.stderr);
        const lines = r.stderr.trim().split('\n');
        assert.deepEqual(lines, [
            `${file}:2:1: unknown key "listn" in top level (did you mean "listen"?)`,
            `${file}:3:10: unknown key "idle_timout" in limits (did you mean "idle_timeout"?)`,
            `${file}:3:41: limits.header_bytes: 1 is out of range 1024..1048576 bytes`,
            `${file}:3:57: limits.max_headers: expected an integer, got "x"`,
            `${file}:5:33: unknown key "conect_timeout" in upstream "a" (did you mean "connect_timeout"?)`,
            `${file}:8:9: route "r": upstream "b" is not defined`,
        ]);
    });

    test('a bare number is a percentage in the file, as for ctl and the API', async () => {
        const text = VALID.replace('    to: orders\n', '    to: orders\n    migrate: {to: legacy, weight: 10}\n');
        const r = await runFicus(['check', '-c', writeConf(text)]);
        assert.equal(r.code, 0, r.stderr);
    });

    test('config reference --format md prints a table per section', async () => {
        const r = await runFicus(['config', 'reference', '--format', 'md']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /<!-- BEGIN GENERATED: ficus config reference limits -->\n\| key \| type \| default \| range \| meaning \|/);
        assert.match(r.stdout, /\| `idle_timeout` \| duration \| `1m` \| 1ms\.\.24h \|/);
        const bad = await runFicus(['config', 'reference', '--format', 'html']);
        assert.equal(bad.code, 2);
    });

    test('docs/configuration.md holds the generated reference', async () => {
        const { generated, update } = await import('../../scripts/conf-reference.mjs');
        const doc = fs.readFileSync(path.join(REPO, 'docs', 'configuration.md'), 'utf8');
        const next = update(doc, generated(FICUS_BIN));
        assert.ok(next === doc, 'docs/configuration.md differs from `ficus config reference --format md`: '
            + 'run `make && node scripts/conf-reference.mjs` and commit the result');
    });
});

describe('examples/ficus.yaml', () => {
    const EXAMPLE = path.join(REPO, 'examples', 'ficus.yaml');

    test('passes ficus check', async () => {
        const r = await runFicus(['check', '-c', EXAMPLE]);
        assert.equal(r.code, 0, r.stderr);
    });

    test('shows every key of the schema (commented out is fine)', async () => {
        const r = await runFicus(['config', 'reference', '--format', 'md']);
        assert.equal(r.code, 0, r.stderr);
        const text = fs.readFileSync(EXAMPLE, 'utf8');
        const missing = [];
        let section = null;
        for (const line of r.stdout.split('\n')) {
            const b = /^<!-- BEGIN GENERATED: ficus config reference (.+) -->$/.exec(line);
            if (b) section = b[1];
            const k = /^\| `([a-z0-9_]+)` \|/.exec(line);
            if (k && !new RegExp(`^[ \\t]*(#[ \\t]*)?${k[1]}:`, 'm').test(text)) missing.push(`${section}.${k[1]}`);
        }
        assert.deepEqual(missing, [], `keys missing from examples/ficus.yaml: ${missing.join(', ')}`);
    });
});
