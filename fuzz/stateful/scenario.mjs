// Scenario generation for the stateful differential fuzzer: everything an
// execution does is derived from one 32-bit seed, so a seed is a complete
// reproducer. Pure functions only (no I/O); Node built-ins only.
//
// A scenario is a list of client connections. Each carries a pipeline of
// requests (with the exact bytes to send, cut into writes with delays) and,
// per request, the plan the test upstream follows when that request reaches
// it, plus what the client is allowed to see (`expect`).
import { createHash } from 'node:crypto';

/** mulberry32: small, fast, good enough for test-case generation. */
export function makeRng(seed) {
    let a = seed >>> 0;
    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const r = {
        next,
        int: (n) => Math.floor(next() * n), // 0..n-1
        range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // lo..hi
        chance: (p) => next() < p,
        pick: (arr) => arr[Math.floor(next() * arr.length)],
        weighted: (table) => {
            // table: [[value, weight], ...]
            const total = table.reduce((n, [, w]) => n + w, 0);
            let x = next() * total;
            for (const [v, w] of table) {
                x -= w;
                if (x < 0) return v;
            }
            return table[table.length - 1][0];
        },
    };
    return r;
}

export const ID_RE = /q[0-9a-f]{8}c\d+[rs]\d+z/g;
export const sum = (buf) => createHash('sha1').update(buf).digest('hex').slice(0, 16);

const hex8 = (n) => (n >>> 0).toString(16).padStart(8, '0');
const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.';

/** Deterministic filler of `len` bytes that starts with the id (and never contains another). */
export function fill(tag, len) {
    const out = Buffer.alloc(len);
    const prefix = Buffer.from(`${tag}:`);
    prefix.copy(out, 0, 0, Math.min(len, prefix.length));
    let x = 0x811c9dc5;
    for (const ch of tag) x = Math.imul(x ^ ch.charCodeAt(0), 16777619) >>> 0;
    for (let i = prefix.length; i < len; i++) {
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        out[i] = ALPHA.charCodeAt(x % ALPHA.length);
    }
    return out;
}

/** The body the upstream sends for `id` (the oracle recomputes it). */
export const respBody = (id, len) => fill(`resp-${id}`, len);

const REASONS = { 200: 'OK', 201: 'Created', 203: 'Non-Authoritative Information', 404: 'Not Found', 410: 'Gone', 500: 'Internal Server Error' };
export const reason = (s) => REASONS[s] || 'Whatever';

/** Split `buf` into chunked framing with random chunk sizes and (valid) extensions. */
function chunkify(rng, buf, { ext = false, trailers = [] } = {}) {
    const parts = [];
    let pos = 0;
    while (pos < buf.length) {
        const n = Math.min(buf.length - pos, rng.chance(0.3) ? rng.range(1, 8) : rng.range(1, 4096));
        const e = ext && rng.chance(0.5) ? rng.pick([';a=b', ';q="x;\\"y"', ' ; c', ';n1;n2=v2', ';tok=abc-1']) : '';
        parts.push(Buffer.from(`${rng.chance(0.2) ? n.toString(16).toUpperCase() : n.toString(16)}${e}\r\n`), buf.subarray(pos, pos + n), Buffer.from('\r\n'));
        pos += n;
    }
    const last = ext && rng.chance(0.4) ? '0;last=1' : '0';
    parts.push(Buffer.from(`${last}\r\n${trailers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`));
    return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// Upstream plans

const PLAN_KINDS = [
    ['ok', 62],
    ['close_silent', 5], // close (FIN or RST) without a byte; maybe only on the first attempt
    ['mid_head', 4], // part of a response head, then close
    ['bad_status', 3], // malformed status line
    ['s101', 3], // 101 Switching Protocols to a request that asked for no upgrade
    ['framing', 4], // ambiguous framing: Connection naming CL/TE, CL+TE, duplicate CL
    ['trunc', 8], // head, part of the body, close
    ['hang', 1], // never answers: 504 after read_timeout
];

function makePlan(rng, req) {
    let kind = rng.weighted(PLAN_KINDS);
    if (req.method === 'HEAD' && kind === 'trunc') kind = 'ok';
    const p = {
        kind,
        status: rng.weighted([[200, 8], [201, 1], [203, 1], [404, 1], [410, 1], [500, 1]]),
        mode: rng.weighted([['cl', 50], ['chunked', 35], ['eof', 15]]),
        len: rng.chance(0.05) ? rng.range(16000, 150000) : rng.range(0, 400),
        interim: rng.chance(0.2) ? Array.from({ length: rng.range(1, 2) }, () => rng.pick([100, 102, 103])) : [],
        delay: rng.chance(0.15) ? rng.range(5, 60) : 0,
        pieces: rng.chance(0.2) ? rng.range(2, 6) : 1,
        pieceDelay: rng.range(0, 8),
        upClose: rng.chance(0.1),
        garbage: rng.chance(0.08),
        early: req.hasBody && rng.chance(0.2),
        ext: rng.chance(0.5),
        trailers: rng.chance(0.4),
        rst: rng.chance(0.4),
        firstOnly: rng.chance(0.6),
        variant: rng.int(8),
        cut: rng.next(),
    };
    if (p.garbage && p.mode === 'eof') p.mode = 'cl';
    if (kind === 'trunc') {
        p.len = Math.max(p.len, 20);
        if (p.mode === 'eof') p.mode = 'cl';
    }
    return p;
}

/** The response bytes (as a list of pieces to write) for a normal answer. */
export function okResponse(rng, id, req, plan, { early = false } = {}) {
    const head = [`HTTP/1.1 ${plan.status} ${reason(plan.status)}`, `X-Echo-Id: ${id}`,
        `X-Echo-Sum: ${early ? 'early' : req.gotSum}`, `X-Echo-Method: ${req.method}`];
    const body = req.method === 'HEAD' ? Buffer.alloc(0) : respBody(id, plan.len);
    let bodyWire = body;
    if (plan.mode === 'cl') head.push(`Content-Length: ${plan.len}`);
    if (plan.mode === 'chunked') {
        head.push('Transfer-Encoding: chunked');
        if (req.method !== 'HEAD') bodyWire = chunkify(rng, body, { ext: plan.ext, trailers: plan.trailers ? [['X-Echo-Trailer', id]] : [] });
    }
    if (plan.upClose || plan.mode === 'eof') head.push('Connection: close');
    const interim = plan.interim.map((s) => (s === 103
        ? `HTTP/1.1 103 Early Hints\r\nLink: </hint-${id}>; rel=preload\r\n\r\n`
        : `HTTP/1.1 ${s} ${s === 100 ? 'Continue' : 'Processing'}\r\n\r\n`)).join('');
    return Buffer.concat([Buffer.from(`${interim}${head.join('\r\n')}\r\n\r\n`), bodyWire]);
}

/** A response that must never reach anyone (hidden after another one). */
export const poison = (otherId) => `HTTP/1.1 200 OK\r\nX-Echo-Id: ${otherId}\r\nContent-Length: ${7 + otherId.length}\r\n\r\nPOISON ${otherId}`;

// ---------------------------------------------------------------------------
// Client requests

const H = 'Host: f.test\r\n';

// [name, status]: malformed heads Ficus must refuse with `status` and close.
const BAD_HEADS = [
    ['cl_te', 400], ['te_cl', 400], ['dup_cl', 400], ['cl_plus', 400], ['te_gzip', 400], ['te_http10', 400],
    ['obs_fold', 400], ['space_colon', 400], ['nul_value', 400], ['bare_lf', 400], ['no_host', 400],
    ['dup_host', 400], ['conn_cl', 400], ['http20', 505], ['bad_pct', 400], ['above_root', 400],
];
// Valid heads, malformed chunked bodies: 400 (or the upstream's early answer) and close.
const BAD_BODIES = ['chunk_nonhex', 'chunk_ext_empty', 'chunk_overlong', 'chunk_bare_lf', 'chunk_ext_space'];

function badHeadWire(kind, method, target, id, smuggled) {
    const x = `X-Req: ${id}\r\n`;
    switch (kind) {
    case 'cl_te': return `POST ${target} HTTP/1.1\r\n${H}${x}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`;
    case 'te_cl': return `POST ${target} HTTP/1.1\r\n${H}${x}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`;
    case 'dup_cl': return `POST ${target} HTTP/1.1\r\n${H}${x}Content-Length: 3\r\nContent-Length: ${3 + smuggled.length}\r\n\r\nabc${smuggled}`;
    case 'cl_plus': return `POST ${target} HTTP/1.1\r\n${H}${x}Content-Length: +5\r\n\r\nhello`;
    case 'te_gzip': return `POST ${target} HTTP/1.1\r\n${H}${x}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${smuggled}`;
    case 'te_http10': return `POST ${target} HTTP/1.0\r\n${H}${x}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`;
    case 'obs_fold': return `${method} ${target} HTTP/1.1\r\n${H}${x}X-Folded: a\r\n b\r\n\r\n`;
    case 'space_colon': return `POST ${target} HTTP/1.1\r\n${H}${x}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`;
    case 'nul_value': return `${method} ${target} HTTP/1.1\r\n${H}${x}X-Nul: a\0b\r\n\r\n`;
    case 'bare_lf': return `${method} ${target} HTTP/1.1\r\n${H}${x}X-A: 1\nX-B: 2\r\n\r\n`;
    case 'no_host': return `${method} ${target} HTTP/1.1\r\n${x}X-A: 1\r\n\r\n`;
    case 'dup_host': return `${method} ${target} HTTP/1.1\r\n${H}${x}Host: b.test\r\n\r\n`;
    case 'conn_cl': return `POST ${target} HTTP/1.1\r\n${H}${x}Content-Length: ${smuggled.length}\r\nConnection: Content-Length\r\n\r\n${smuggled}`;
    case 'http20': return `${method} ${target} HTTP/2.0\r\n${H}${x}\r\n`;
    case 'bad_pct': return `${method} ${target.replace(/z(\?|$)/, 'z%zz$1')} HTTP/1.1\r\n${H}${x}\r\n`;
    case 'above_root': return `${method} /../../${target.slice(1)} HTTP/1.1\r\n${H}${x}\r\n`;
    default: throw new Error(kind);
    }
}

function badBody(kind, smuggled) {
    switch (kind) {
    case 'chunk_nonhex': return `zz\r\nhello\r\n0\r\n\r\n${smuggled}`;
    case 'chunk_ext_empty': return `1;\r\nx\r\n0\r\n\r\n${smuggled}`;
    case 'chunk_overlong': return `3\r\nhello\r\n0\r\n\r\n${smuggled}`;
    case 'chunk_bare_lf': return `5\nhello\r\n0\r\n\r\n${smuggled}`;
    case 'chunk_ext_space': return `1;a=b c\r\nx\r\n0\r\n\r\n${smuggled}`;
    default: throw new Error(kind);
    }
}

function makeRequest(rng, seed, ci, ri) {
    const id = `q${hex8(seed)}c${ci}r${ri}z`;
    const method = rng.weighted([['GET', 40], ['HEAD', 10], ['POST', 30], ['PUT', 20]]);
    const minor = rng.chance(0.1) ? 0 : 1;
    const route = rng.weighted([['a', 45], ['b', 35], ['s', 20]]);
    const target = `/${route}/${id}${rng.chance(0.3) ? `?k=${rng.int(1000)}&x=y` : ''}`;
    const req = { id, conn: ci, idx: ri, method, minor, route, target, hasBody: false, body: Buffer.alloc(0) };
    req.keepAlive10 = minor === 0 && rng.chance(0.6);
    req.connClose = minor === 1 && rng.chance(0.08);
    req.sendRid = rng.chance(0.5);
    req.malformed = null;

    if (rng.chance(0.07)) {
        const smuggled = `GET /${route}/q${hex8(seed)}c${ci}s${ri}z HTTP/1.1\r\n${H}\r\n`;
        if (rng.chance(0.7)) {
            const [kind, status] = rng.pick(BAD_HEADS);
            req.malformed = { kind, status, where: 'head' };
            const m = ['cl_te', 'te_cl', 'dup_cl', 'cl_plus', 'te_gzip', 'te_http10', 'space_colon', 'conn_cl'].includes(kind) ? 'POST' : method;
            req.method = m;
            req.wire = Buffer.from(badHeadWire(kind, m, target, id, smuggled), 'latin1');
            req.headLen = req.wire.length;
        } else {
            const kind = rng.pick(BAD_BODIES);
            req.malformed = { kind, status: 400, where: 'body' };
            req.method = rng.pick(['POST', 'PUT']);
            req.minor = 1;
            req.hasBody = true;
            const head = `${req.method} ${target} HTTP/1.1\r\n${H}X-Req: ${id}\r\n${req.sendRid ? `X-Request-Id: ${id}\r\n` : ''}Transfer-Encoding: chunked\r\n\r\n`;
            req.wire = Buffer.from(head + badBody(kind, smuggled), 'latin1');
            req.headLen = head.length;
        }
        req.plan = { ...makePlan(rng, req), kind: 'ok' };
        return req;
    }

    let mode = 'none';
    if (method === 'POST' || method === 'PUT') mode = rng.weighted([['cl', 55], ['chunked', minor === 1 ? 35 : 0], ['cl0', 10]]);
    else if (method === 'GET' && rng.chance(0.1)) mode = 'cl';
    const len = rng.chance(0.05) ? rng.range(10000, 100000) : rng.range(1, 300);
    if (mode === 'cl' || mode === 'chunked') req.body = fill(`req-${id}`, len);
    req.hasBody = req.body.length > 0;
    req.expect100 = minor === 1 && req.hasBody && rng.chance(0.15);
    const hdrs = [`${method} ${target} HTTP/1.${minor}`];
    if (minor === 1 || rng.chance(0.7)) hdrs.push(`Host: f.test`);
    hdrs.push(`X-Req: ${id}`);
    if (req.sendRid) hdrs.push(`X-Request-Id: ${id}`);
    if (req.connClose) hdrs.push(rng.pick(['Connection: close', 'Connection: keep-alive, close', 'connection: CLOSE']));
    if (req.keepAlive10) hdrs.push('Connection: keep-alive');
    if (req.expect100) hdrs.push('Expect: 100-continue');
    if (mode === 'cl' || mode === 'cl0') hdrs.push(`Content-Length: ${req.body.length}`);
    if (mode === 'chunked') hdrs.push('Transfer-Encoding: chunked');
    for (let i = rng.range(0, 3); i > 0; i--) hdrs.push(`X-Pad-${i}: ${'v'.repeat(rng.range(0, 200))}`);
    if (rng.chance(0.1)) hdrs.push('TE: trailers');
    const head = Buffer.from(`${hdrs.join('\r\n')}\r\n\r\n`);
    const body = mode === 'chunked'
        ? chunkify(rng, req.body, { ext: rng.chance(0.5), trailers: rng.chance(0.3) ? [['X-Req-Trailer', id]] : [] })
        : req.body;
    req.wire = Buffer.concat([head, body]);
    req.headLen = head.length;
    req.bodySum = sum(req.body);
    req.plan = makePlan(rng, req);
    return req;
}

/** Whether the client side alone makes Ficus close after this request. */
export const clientCloses = (r) => r.malformed !== null || r.connClose || (r.minor === 0 && !r.keepAlive10);

/**
 * What the client may see for `r`: exact (the upstream's answer, intact),
 * local (Ficus's own statuses), cut (a truncated response, then close), and
 * whether the connection then closes: 'must', 'may' or 'no'.
 */
export function expectation(r) {
    const p = r.plan;
    const e = { exact: false, local: [], cut: false, close: 'no' };
    if (r.malformed) {
        e.local = [r.malformed.status];
        e.close = 'must';
        // Only an upstream that answers on the head can answer first; if the
        // bad chunk comes while that answer is relayed, the connection is cut.
        if (r.malformed.where === 'body' && p.early) e.exact = e.cut = true;
        return e;
    }
    switch (p.kind) {
    case 'ok':
        e.exact = true;
        if (p.mode === 'eof' && r.method !== 'HEAD') e.close = 'must';
        if (p.mode === 'chunked' && r.minor === 0 && r.method !== 'HEAD') e.close = 'must'; // de-chunked, delimited by close
        if (p.early && r.hasBody && e.close === 'no') e.close = 'may';
        break;
    case 'close_silent':
        e.exact = p.firstOnly; // a GET on a reused connection is retried once
        e.local = [502];
        break;
    case 'mid_head':
    case 'bad_status':
    case 's101':
        e.local = [502];
        break;
    case 'framing':
        e.local = [502];
        e.close = 'must';
        break;
    case 'trunc':
        e.cut = true;
        e.close = 'must';
        break;
    case 'hang':
        e.local = [504];
        break;
    default:
        throw new Error(p.kind);
    }
    if (clientCloses(r)) e.close = 'must';
    return e;
}

/** Build the whole scenario for `seed`. */
export function scenario(seed) {
    const rng = makeRng(seed ^ 0x5eed1234);
    const nconns = rng.weighted([[1, 3], [2, 3], [3, 2], [4, 2], [6, 1], [8, 1]]);
    const conns = [];
    for (let ci = 0; ci < nconns; ci++) {
        const n = rng.chance(0.1) ? rng.range(7, 12) : rng.range(1, 6);
        const reqs = [];
        let closed = false;
        for (let ri = 0; ri < n; ri++) {
            const r = makeRequest(rng, seed, ci, ri);
            r.afterClose = closed; // must never reach the upstream
            reqs.push(r);
            if (clientCloses(r)) {
                closed = true;
                if (rng.chance(0.5)) break;
            }
        }
        // Cut the pipeline's bytes into writes; some split points sit on
        // request or head boundaries, all get a small delay.
        const wire = Buffer.concat(reqs.map((r) => r.wire));
        const cuts = new Set();
        let off = 0;
        for (const r of reqs) {
            if (rng.chance(0.3)) cuts.add(off + r.headLen); // head, then body
            if (r.expect100 && rng.chance(0.5)) cuts.add(off + r.headLen);
            off += r.wire.length;
            if (rng.chance(0.3)) cuts.add(off);
        }
        for (let i = rng.weighted([[0, 3], [1, 2], [3, 2], [10, 1]]); i > 0; i--) cuts.add(1 + rng.int(Math.max(1, wire.length - 1)));
        const points = [...cuts].filter((c) => c > 0 && c < wire.length).sort((a, b) => a - b);
        const writes = [];
        let prev = 0;
        for (const c of [...points, wire.length]) {
            writes.push({ bytes: wire.subarray(prev, c), delay: rng.chance(0.5) ? rng.range(0, 15) : 0 });
            prev = c;
        }
        conns.push({ ci, reqs, writes, startDelay: rng.range(0, 10) });
    }
    return { seed: seed >>> 0, conns, rng };
}

/** One line per request: what a person needs to reproduce the case by hand. */
export function describe(sc) {
    const out = [];
    for (const c of sc.conns) {
        out.push(`conn ${c.ci}: ${c.writes.length} write(s) of ${c.writes.map((w) => w.bytes.length).join('+')} bytes`);
        for (const r of c.reqs) {
            const p = r.plan;
            const what = r.malformed
                ? `MALFORMED ${r.malformed.where}:${r.malformed.kind}`
                : `${r.method} HTTP/1.${r.minor} body=${r.body.length}${r.expect100 ? ' expect-100' : ''}${r.connClose ? ' close' : ''}${r.keepAlive10 ? ' keep-alive' : ''}`;
            const plan = p.kind === 'ok'
                ? `ok ${p.status} ${p.mode} len=${p.len}${p.interim.length ? ` 1xx=${p.interim}` : ''}${p.delay ? ` delay=${p.delay}` : ''}${p.pieces > 1 ? ` pieces=${p.pieces}` : ''}${p.upClose ? ' up-close' : ''}${p.garbage ? ' garbage' : ''}${p.early ? ' early' : ''}`
                : `${p.kind}${p.kind === 'close_silent' ? (p.firstOnly ? ' first-only' : ' always') : ''}${p.rst ? ' rst' : ''} v${p.variant}`;
            out.push(`  ${r.id} ${r.target.split('?')[0]} ${what} | upstream: ${plan}${r.afterClose ? ' | after-close' : ''}`);
        }
    }
    return out.join('\n');
}
