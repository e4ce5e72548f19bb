#!/usr/bin/env node
// Stateful differential fuzzer: drives a real `ficus serve` with random
// pipelined client traffic and misbehaving upstreams, and checks that every
// client gets exactly the answers to its own requests. See fuzz/README.md.
//
//   node fuzz/stateful/run.mjs --seconds 60        random seeds for 60 s
//   node fuzz/stateful/run.mjs --replay            every committed seed once
//   node fuzz/stateful/run.mjs --seed 0x1a2b3c4d [--keep 0:3,2] [--verbose]
//
// FICUS_BIN selects the binary (default build/ficus), FICUS_TEST_SCALE
// stretches every timeout (3 for the ASan build). Node built-ins only.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { FICUS_BIN, Ficus, makeConfig, requireBinary, sleep, t } from '../../tests/e2e/lib/harness.mjs';
import { checkConn, countFinals } from './oracle.mjs';
import { describe, scenario } from './scenario.mjs';
import { startUpstream } from './upstream.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SEEDS_FILE = path.resolve(HERE, '..', 'corpus', 'stateful', 'seeds');
const READ_TIMEOUT = t(1000);

function parseArgs(argv) {
    const o = { seconds: 0, replay: false, seeds: [], keep: null, verbose: false, minimise: true, workers: 1, save: true };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => argv[++i];
        if (a === '--seconds') o.seconds = Number(next());
        else if (a === '--replay') o.replay = true;
        else if (a === '--seed') o.seeds.push(...next().split(',').map((s) => Number(s) >>> 0));
        else if (a === '--keep') o.keep = next();
        else if (a === '--verbose' || a === '-v') o.verbose = true;
        else if (a === '--log') o.log = true;
        else if (a === '--no-minimise') o.minimise = false;
        else if (a === '--no-save') o.save = false;
        else if (a === '--workers') o.workers = Number(next());
        else if (a === '--seeds-file') o.seedsFile = next();
        else throw new Error(`unknown argument ${a}`);
    }
    return o;
}

export function readSeeds(file = SEEDS_FILE) {
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, 'utf8').split('\n')
        .map((l) => l.replace(/#.*/, '').trim()).filter(Boolean).map((s) => Number(s) >>> 0);
}

const hex = (s) => `0x${(s >>> 0).toString(16).padStart(8, '0')}`;

/** Keep only some connections / leading requests: "0:3,2" keeps conn 0's first 3 requests and all of conn 2. */
function restrict(sc, keep) {
    if (!keep) return sc;
    const want = new Map(keep.split(',').filter(Boolean).map((p) => {
        const [c, n] = p.split(':');
        return [Number(c), n === undefined ? Infinity : Number(n)];
    }));
    const conns = [];
    for (const c of sc.conns) {
        if (!want.has(c.ci)) continue;
        const reqs = c.reqs.slice(0, want.get(c.ci));
        const len = reqs.reduce((n, r) => n + r.wire.length, 0);
        const writes = [];
        let off = 0;
        for (const w of c.writes) {
            if (off >= len) break;
            writes.push({ ...w, bytes: w.bytes.subarray(0, Math.min(w.bytes.length, len - off)) });
            off += w.bytes.length;
        }
        conns.push({ ...c, reqs, writes });
    }
    return { ...sc, conns, keep };
}

const keepString = (sc) => sc.conns.map((c) => `${c.ci}:${c.reqs.length}`).join(',');

// ---------------------------------------------------------------------------
// One execution

function runConn(port, conn) {
    const delays = conn.writes.reduce((n, w) => n + w.delay, 0)
        + conn.reqs.reduce((n, r) => n + (r.plan.delay || 0) + (r.plan.pieces - 1) * r.plan.pieceDelay, 0);
    const hangs = conn.reqs.filter((r) => r.plan.kind === 'hang' && !r.malformed).length;
    const deadline = t(4000) + delays + hangs * (READ_TIMEOUT + t(500));
    return new Promise((resolve) => {
        const chunks = [];
        let closed = false;
        let timedOut = false;
        let finished = false;
        let settle = null;
        const sock = net.connect({ port, host: '127.0.0.1' });
        sock.setNoDelay(true);
        const bytes = () => (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        const finish = () => {
            if (finished) return;
            finished = true;
            clearTimeout(timer);
            clearTimeout(settle);
            sock.destroy();
            resolve(checkConn(conn, bytes(), closed, timedOut));
        };
        const check = () => {
            if (closed) return finish();
            const c = countFinals(conn.reqs, bytes());
            if (c.bad) return finish();
            // Every request answered: wait a little for stray bytes, then stop.
            if (c.n === conn.reqs.length && !c.closing && settle === null) settle = setTimeout(finish, 30);
            return undefined;
        };
        const timer = setTimeout(() => {
            timedOut = true;
            finish();
        }, deadline);
        sock.on('data', (d) => {
            chunks.push(d);
            check();
        });
        sock.on('end', () => {
            closed = true;
            check();
        });
        sock.on('close', () => {
            closed = true;
            check();
        });
        sock.on('error', () => {});
        sock.once('connect', async () => {
            for (const w of conn.writes) {
                if (w.delay) await sleep(w.delay);
                if (closed || finished || sock.destroyed) return;
                sock.write(w.bytes);
            }
        });
    });
}

async function runExec(env, sc) {
    const { ctx, ficus } = env;
    ctx.registry.clear();
    ctx.violations.length = 0;
    for (const c of sc.conns) for (const r of c.reqs) ctx.registry.set(r.id, r);
    const results = await Promise.all(sc.conns.map(async (c) => {
        await sleep(c.startDelay);
        return runConn(ficus.port, c);
    }));
    const fails = results.flat();
    // Violations seen at the upstreams (requests that never should have arrived,
    // framing errors): they may still be in flight for a moment.
    await sleep(5);
    fails.push(...ctx.violations);
    if (fails.length && env.opts?.log) {
        await sleep(50);
        const ids = new Set(fails.join(' ').match(/q[0-9a-f]{8}c\d+r\d+z/g) || []);
        for (const e of ficus.accessLog()) if ([...ids].some((id) => (e.path || '').includes(id))) fails.push(`access log: ${JSON.stringify(e)}`);
    }
    if (ficus.exited) fails.push(`ficus exited (code=${ficus.exitCode} signal=${ficus.signalCode})\n${ficus.stderr.text.slice(-3000)}`);
    return fails;
}

// ---------------------------------------------------------------------------
// Environment: three upstreams (a, b, and c as the shadow of route /s/) and Ficus

async function startEnv(opts) {
    const ctx = { registry: new Map(), violations: [] };
    const ups = {
        a: await startUpstream('a', ['a', 's'], ctx),
        b: await startUpstream('b', ['b'], ctx),
        c: await startUpstream('c', ['s'], ctx),
    };
    const u = (x) => ({ servers: [x.addr], read_timeout: `${READ_TIMEOUT}ms`, connect_timeout: '2s' });
    const config = makeConfig({
        workers: opts.workers,
        log: { access: opts.log ? 'stdout' : 'off', format: 'json' },
        upstreams: { a: u(ups.a), b: u(ups.b), c: u(ups.c) },
        routes: [
            { name: 'a', match: { path_prefix: '/a/' }, to: 'a' },
            { name: 'b', match: { path_prefix: '/b/' }, to: 'b' },
            { name: 's', match: { path_prefix: '/s/' }, to: 'a', shadow: { to: 'c' } },
        ],
    });
    const ficus = await Ficus.start(config);
    return { ctx, ups, ficus, config, opts };
}

async function stopEnv(env) {
    const errors = [];
    try {
        await env.ficus.stop();
    } catch (e) {
        errors.push(String(e.message || e));
    }
    for (const u of Object.values(env.ups)) await u.close();
    return errors;
}

function report(sc, fails) {
    const lines = [`FAIL seed ${hex(sc.seed)}${sc.keep ? ` --keep ${sc.keep}` : ''}`];
    for (const f of fails.slice(0, 20)) lines.push(`  - ${f}`);
    if (fails.length > 20) lines.push(`  ... ${fails.length - 20} more`);
    lines.push('scenario:', describe(sc).replace(/^/gm, '  '));
    return lines.join('\n');
}

/** Does `sc` fail on a fresh Ficus within `tries` runs? Returns the failures or null. */
async function failsAlone(sc, opts, tries = 3) {
    for (let i = 0; i < tries; i++) {
        const env = await startEnv(opts);
        const fails = await runExec(env, sc);
        fails.push(...(await stopEnv(env)));
        if (fails.length) return fails;
    }
    return null;
}

/** Drop connections, then trailing requests, while the failure persists. */
async function minimise(sc, opts) {
    let cur = sc;
    let fails = await failsAlone(cur, opts);
    if (!fails) return { sc: cur, fails: null };
    let budget = 24;
    for (const c of [...cur.conns]) {
        if (cur.conns.length <= 1 || budget-- <= 0) break;
        const cand = restrict(cur, cur.conns.filter((x) => x.ci !== c.ci).map((x) => `${x.ci}:${x.reqs.length}`).join(','));
        const f = await failsAlone(cand, opts, 2);
        if (f) [cur, fails] = [cand, f];
    }
    for (const c of cur.conns) {
        for (let n = c.reqs.length - 1; n >= 1 && budget-- > 0; n--) {
            const keep = cur.conns.map((x) => `${x.ci}:${x.ci === c.ci ? n : x.reqs.length}`).join(',');
            const cand = restrict(cur, keep);
            const f = await failsAlone(cand, opts, 2);
            if (!f) break;
            [cur, fails] = [cand, f];
        }
    }
    return { sc: { ...cur, keep: keepString(cur) }, fails };
}

function saveSeed(seed, why) {
    const have = new Set(readSeeds());
    if (have.has(seed >>> 0)) return;
    fs.mkdirSync(path.dirname(SEEDS_FILE), { recursive: true });
    fs.appendFileSync(SEEDS_FILE, `${hex(seed)}  # found ${new Date().toISOString().slice(0, 10)}: ${why.split('\n')[0].slice(0, 100)}\n`);
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    requireBinary();
    let seeds = opts.seeds;
    if (opts.replay) seeds = readSeeds(opts.seedsFile);
    const random = !opts.replay && seeds.length === 0;
    if (random && !opts.seconds) opts.seconds = 10;
    console.log(`stateful fuzz: ${FICUS_BIN} scale=${t(1)} workers=${opts.workers} ${random ? `random seeds for ${opts.seconds}s` : `${seeds.length} seed(s)`}`);

    let env = await startEnv(opts);
    const t0 = Date.now();
    let execs = 0;
    let lastPrint = t0;
    const found = [];
    const deadline = t0 + opts.seconds * 1000;
    let i = 0;
    for (;;) {
        let seed;
        if (random) {
            if (Date.now() >= deadline) break;
            seed = (Math.random() * 2 ** 32) >>> 0;
        } else {
            if (i >= seeds.length) break;
            seed = seeds[i++];
        }
        const sc = restrict(scenario(seed), opts.keep);
        if (opts.verbose) console.log(`seed ${hex(seed)}\n${describe(sc)}`);
        const fails = await runExec(env, sc);
        execs++;
        if (fails.length) {
            found.push({ seed, fails, sc });
            console.log(report(sc, fails));
            if (env.ficus.exited) {
                await stopEnv(env);
                env = await startEnv(opts);
            }
            if (random && opts.save) saveSeed(seed, fails[0]);
            if (random && opts.minimise) {
                const min = await minimise(sc, opts);
                if (!min.fails) console.log(`  seed ${hex(seed)} does not fail alone on a fresh Ficus (3 tries): depends on earlier state or timing`);
                else console.log(`minimal repro: node fuzz/stateful/run.mjs --seed ${hex(seed)} --keep ${min.sc.keep}\n${report(min.sc, min.fails)}`);
            }
        }
        const now = Date.now();
        if (random && now - lastPrint >= 10000) {
            lastPrint = now;
            console.log(`  ${execs} execs, ${(execs / ((now - t0) / 1000)).toFixed(1)}/s, ${found.length} failing`);
        }
    }
    const stopErrors = await stopEnv(env);
    const secs = (Date.now() - t0) / 1000;
    for (const e of stopErrors) console.log(`FAIL at shutdown: ${e}`);
    console.log(`stateful fuzz: ${execs} executions in ${secs.toFixed(1)} s (${(execs / secs).toFixed(1)}/s), ${found.length} failing${found.length ? `: ${found.map((f) => hex(f.seed)).join(' ')}` : ''}`);
    process.exitCode = found.length || stopErrors.length ? 1 : 0;
}

main().catch((e) => {
    console.error(e);
    process.exit(2);
});
