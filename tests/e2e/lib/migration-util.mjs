// Helpers for the progressive-migration suites: configs with a migrate
// section and an admin token file, `ficus ctl` runs, admin API calls and
// traffic drivers that count which backend answered.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { FICUS_BIN, Ficus, makeConfig, mkTempDir, request, t } from './harness.mjs';

/**
 * Admin tokens written to admin.token: "ops" (NAME:TOKEN, role admin), a bare
 * one ("admin"), "viewer" (role read) and "bot" (role operate).
 */
export const TOKENS = {
    ops: 'ops-4f1c9a7e2b8d4c6a9e0f1b2c',
    admin: 'bare-7d2e8f0a1c3b5d7e9f1a2b3c',
    viewer: 'viewer-5e6f7a8b9c0d1e2f3a4b',
    bot: 'bot-0a1b2c3d4e5f60718293a4b5',
};

/** Env for every migration instance: a fast control-plane tick. */
export const MIG_ENV = { FICUS_CONTROL_TICK_MS: '100' };

/**
 * Config with one route "orders" on /api/orders from upstream "legacy" to
 * "orders" (the new backend). `migrate` is merged over {to: 'orders',
 * weight: '0%', sticky: 'header:X-User-Id'}. tokenFile false leaves
 * admin.token_file out.
 */
export function migConfig({ legacy, fresh, migrate = {}, tokenFile = true }) {
    const admin = { listen: '127.0.0.1:0' };
    if (tokenFile) admin.token_file = 'admin.token';
    return makeConfig({
        upstreams: { legacy, orders: fresh },
        routes: [{
            name: 'orders',
            match: { path_prefix: '/api/orders' },
            to: 'legacy',
            migrate: { to: 'orders', weight: '0%', sticky: 'header:X-User-Id', ...migrate },
        }],
        admin,
        extra: { store: 'sqlite:ficus.db' },
    });
}

/** Write the token file into `dir`. */
export function writeTokens(dir) {
    fs.writeFileSync(path.join(dir, 'admin.token'),
        `# operators\nops:${TOKENS.ops}\n${TOKENS.admin}\nviewer:${TOKENS.viewer} read\nbot:${TOKENS.bot} operate\n`,
        { mode: 0o600 });
}

/** Start Ficus on `cfg` in `dir` (a new temp dir by default) with the token file. */
export async function startMig(cfg, { dir = mkTempDir('ficus-mig-'), env = {} } = {}) {
    writeTokens(dir);
    return Ficus.start(cfg, { dir, env: { ...MIG_ENV, ...env } });
}

/**
 * Run `ficus ctl ARGS` (with --admin of `f` unless `admin` is given or null).
 * Never rejects on a non-zero exit: resolves {code, stdout, stderr}.
 */
export function ctl(f, args, { token, admin, env = {} } = {}) {
    const pre = admin === null ? [] : ['--admin', admin ?? `http://127.0.0.1:${f.adminPort}`];
    const childEnv = { ...process.env, ...env };
    delete childEnv.FICUS_ADMIN_TOKEN;
    if (token !== undefined) childEnv.FICUS_ADMIN_TOKEN = token;
    return new Promise((resolve, reject) => {
        execFile(FICUS_BIN, ['ctl', ...pre, ...args], { env: childEnv, timeout: t(15000) },
            (err, stdout, stderr) => {
                if (err && typeof err.code !== 'number') reject(err);
                else resolve({ code: err ? err.code : 0, stdout, stderr });
            });
    });
}

/**
 * Call the admin API; resolves {status, headers, json (or null), text}. A GET
 * or HEAD without `token` reads with the read-only TOKENS.viewer (reads need
 * a token once admin.token_file is set); `token: null` sends none.
 */
export async function admin(f, method, p, { token, body } = {}) {
    const headers = {};
    const tok = token === undefined && (method === 'GET' || method === 'HEAD') ? TOKENS.viewer : token;
    if (tok) headers.Authorization = `Bearer ${tok}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await request({
        port: f.adminPort, method, path: p, headers,
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try {
        json = JSON.parse(r.text);
    } catch {
        /* not JSON */
    }
    return { status: r.status, headers: r.headers, json, text: r.text };
}

/** The state of route `name` (GET /api/v1/routes/NAME); throws unless 200. */
export async function routeState(f, name = 'orders') {
    const r = await admin(f, 'GET', `/api/v1/routes/${name}`);
    if (r.status !== 200) throw new Error(`GET route ${name}: ${r.status} ${r.text}`);
    return r.json;
}

/** Audit events (oldest first), optionally of one route. */
export async function events(f, route, limit) {
    const q = new URLSearchParams();
    if (route) q.set('route', route);
    if (limit) q.set('limit', String(limit));
    const r = await admin(f, 'GET', `/api/v1/events?${q}`);
    if (r.status !== 200) throw new Error(`GET events: ${r.status} ${r.text}`);
    return r.json.events;
}

/** One GET /api/orders/... through Ficus on `agent`; resolves the X-Backend name. */
function hit(port, agent, user, headers = {}) {
    return new Promise((resolve, reject) => {
        const h = { ...headers };
        if (user !== undefined) h['X-User-Id'] = user;
        const req = http.request({ host: '127.0.0.1', port, path: '/api/orders/1', headers: h, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, backend: res.headers['x-backend'] ?? null }));
            res.on('error', reject);
        });
        req.setTimeout(t(10000), () => req.destroy(new Error('request timed out')));
        req.on('error', reject);
        req.end();
    });
}

/**
 * Send one request per user in `users` (concurrency `c`). Resolves
 * {counts: {backendName: n}, side: Map(user -> backendName)}.
 */
export async function drive(port, users, { c = 16, headers = {} } = {}) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: c });
    const side = new Map();
    const counts = {};
    let next = 0;
    const worker = async () => {
        while (next < users.length) {
            const u = users[next++];
            const r = await hit(port, agent, u, headers);
            side.set(u, r.backend);
            counts[r.backend] = (counts[r.backend] || 0) + 1;
        }
    };
    try {
        await Promise.all(Array.from({ length: c }, worker));
    } finally {
        agent.destroy();
    }
    return { counts, side };
}

/**
 * Steady background traffic with a fresh X-User-Id per request, until
 * stop() (which resolves the counts by backend and status).
 */
export function traffic(port, { c = 8 } = {}) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: c });
    const counts = { total: 0, errors: 0, byBackend: {} };
    let running = true;
    let seq = 0;
    const worker = async () => {
        while (running) {
            try {
                const r = await hit(port, agent, `user-${seq++}`);
                counts.total++;
                if (r.status >= 500) counts.errors++;
                counts.byBackend[r.backend] = (counts.byBackend[r.backend] || 0) + 1;
            } catch {
                counts.errors++;
            }
        }
    };
    const done = Promise.all(Array.from({ length: c }, worker));
    return {
        counts,
        async stop() {
            running = false;
            await done;
            agent.destroy();
            return counts;
        },
    };
}

/** `n` distinct user ids with a prefix. */
export const users = (n, prefix = 'u') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
