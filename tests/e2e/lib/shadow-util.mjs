// Helpers for the shadow-traffic suite: tiny JSON apps with full control of
// their answers (status, headers, body, delay), configs with a shadowed
// route, and readers of the diffs report. Node built-in modules only.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { Ficus, makeConfig, request, t, waitFor } from './harness.mjs';

/**
 * An http.createServer app on 127.0.0.1:0 that records every request
 * ({method, url, headers, rawHeaders, body (Buffer), time}) and answers with
 * `app.respond(rec)`, which returns {status, headers, json | body, delay}.
 * Every answer carries `X-Served-By: <name>` unless the respond function sets
 * it. Default answer: 200 {"served_by": name, "url": url}.
 */
export async function startApp(name) {
    const timers = new Set();
    const sockets = new Set();
    const server = http.createServer({ keepAliveTimeout: 30000, requestTimeout: 0 });
    server.headersTimeout = 0;
    const app = {
        name,
        requests: [],
        respond: null,
        reset() {
            this.requests.length = 0;
            this.respond = null;
        },
        /** Requests that are shadow copies (X-Ficus-Shadow: 1). */
        copies() {
            return this.requests.filter((r) => r.headers['x-ficus-shadow'] === '1');
        },
        async close() {
            for (const tm of timers) clearTimeout(tm);
            timers.clear();
            server.closeAllConnections?.();
            for (const s of sockets) s.destroy();
            await new Promise((r) => server.close(() => r()));
        },
    };
    server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
    });
    server.on('request', (req, res) => {
        const chunks = [];
        req.on('data', (d) => chunks.push(d));
        req.on('error', () => {});
        req.on('end', () => {
            const rec = {
                method: req.method,
                url: req.url,
                headers: req.headers,
                rawHeaders: req.rawHeaders,
                body: Buffer.concat(chunks),
                time: Date.now(),
            };
            app.requests.push(rec);
            let a;
            try {
                a = (app.respond || defaultRespond)(rec, app) || {};
            } catch (e) {
                a = { status: 500, body: String(e) };
            }
            const send = () => {
                if (res.destroyed || res.writableEnded) return;
                res.statusCode = a.status ?? 200;
                const headers = { 'X-Served-By': name, ...(a.headers || {}) };
                let body = a.body;
                if (a.json !== undefined) {
                    body = typeof a.json === 'string' ? a.json : JSON.stringify(a.json);
                    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
                        headers['Content-Type'] = 'application/json';
                    }
                }
                for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
                res.end(body ?? '');
            };
            if (a.delay) {
                const tm = setTimeout(() => {
                    timers.delete(tm);
                    send();
                }, a.delay);
                timers.add(tm);
            } else {
                send();
            }
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    app.port = server.address().port;
    app.addr = `127.0.0.1:${app.port}`;
    return app;
}

function defaultRespond(rec, app) {
    return { json: { served_by: app.name, url: rec.url } };
}

/**
 * Config with the given upstreams ({name: app | addr string | {servers,
 * ...options}}) and routes; the store lives in the instance's temp dir.
 */
export function shadowConfig({ upstreams, routes, workers = 1, admin, limits }) {
    const ups = {};
    for (const [n, u] of Object.entries(upstreams)) {
        if (typeof u === 'string') ups[n] = { servers: [u] };
        else if (u && typeof u.addr === 'string') ups[n] = { servers: [u.addr] };
        else ups[n] = { ...u, servers: u.servers.map((s) => (typeof s === 'string' ? s : s.addr)) };
    }
    return makeConfig({
        upstreams: ups,
        routes,
        workers,
        admin: admin ?? { listen: '127.0.0.1:0' },
        limits,
        extra: { store: 'sqlite:ficus.db' },
    });
}

/** The shadowed route "orders" on /orders from `to` (default legacy) with `shadow`. */
export function ordersRoute(shadow, { to = 'legacy', prefix = '/orders', name = 'orders', migrate } = {}) {
    const r = { name, match: { path_prefix: prefix }, to };
    if (migrate) r.migrate = migrate;
    r.shadow = shadow;
    return r;
}

/** GET /api/v1/routes/NAME/diffs[?samples=N]: {status, json, text}. */
export async function diffsRaw(f, route = 'orders', samples) {
    const q = samples === undefined ? '' : `?samples=${samples}`;
    const r = await request({ port: f.adminPort, path: `/api/v1/routes/${encodeURIComponent(route)}/diffs${q}` });
    let json = null;
    try {
        json = JSON.parse(r.text);
    } catch {
        /* not JSON */
    }
    return { status: r.status, json, text: r.text, headers: r.headers };
}

/** The diffs report of `route`; throws unless 200 with a JSON body. */
export async function diffs(f, route = 'orders', samples) {
    const r = await diffsRaw(f, route, samples);
    if (r.status !== 200 || !r.json) throw new Error(`GET diffs ${route}: ${r.status} ${r.text}`);
    return r.json;
}

/**
 * Poll the report until `pred(report)` holds; returns the report. The error
 * message carries the last report seen.
 */
export async function waitDiffs(f, pred, { route = 'orders', samples, timeout = t(6000), what = 'diffs' } = {}) {
    let last;
    try {
        return await waitFor(async () => {
            last = await diffs(f, route, samples);
            return pred(last) ? last : null;
        }, { timeout, interval: 50, what });
    } catch (e) {
        e.message += `\nlast report: ${JSON.stringify(last)?.slice(0, 3000)}`;
        throw e;
    }
}

/** Wait until `compared` reaches `n` (and stays there briefly: no extra copies). */
export async function waitCompared(f, n, opts = {}) {
    await waitDiffs(f, (d) => d.compared >= n, { ...opts, what: `compared >= ${n}` });
    await new Promise((r) => setTimeout(r, 150));
    return diffs(f, opts.route ?? 'orders', opts.samples);
}

/**
 * Headers of a stored sample as a lower-case name -> value map, whatever the
 * representation: {name: value}, [[name, value]], [{name, value}],
 * ["Name: value"] or "Name: value\r\n..." text. Repeated names join with ", ".
 */
export function headerMap(h) {
    const out = {};
    const add = (n, v) => {
        const k = String(n).toLowerCase();
        const val = Array.isArray(v) ? v.join(', ') : String(v);
        out[k] = out[k] === undefined ? val : `${out[k]}, ${val}`;
    };
    const addLine = (line) => {
        const i = line.indexOf(':');
        if (i > 0) add(line.slice(0, i).trim(), line.slice(i + 1).trim());
    };
    if (h == null) return out;
    if (typeof h === 'string') {
        for (const line of h.split(/\r?\n/)) addLine(line);
    } else if (Array.isArray(h)) {
        for (const e of h) {
            if (typeof e === 'string') addLine(e);
            else if (Array.isArray(e)) add(e[0], e[1]);
            else if (e && typeof e === 'object') add(e.name ?? e.key, e.value);
        }
    } else if (typeof h === 'object') {
        for (const [k, v] of Object.entries(h)) add(k, v);
    }
    return out;
}

/** Every file of the store (ficus.db and its -wal/-shm/-journal) concatenated. */
export function storeBytes(dir) {
    const parts = [];
    for (const n of fs.readdirSync(dir)) {
        if (n.startsWith('ficus.db')) parts.push(fs.readFileSync(path.join(dir, n)));
    }
    return Buffer.concat(parts);
}

/** Start Ficus on `cfg` (env: fast control tick; dir: reuse a temp dir and its store). */
export function startShadow(cfg, { env = {}, dir } = {}) {
    return Ficus.start(cfg, { env: { FICUS_CONTROL_TICK_MS: '100', ...env }, dir });
}

/** Run sequential GETs; resolves the responses. */
export async function getSeq(port, paths, headers = {}) {
    const out = [];
    for (const p of paths) out.push(await request({ port, path: p, headers }));
    return out;
}

/** Resident set size of process `pid` in bytes (VmRSS of /proc/PID/status), 0 if gone. */
export function vmRss(pid) {
    try {
        const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : 0;
    } catch {
        return 0;
    }
}

export const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
