// The client-side oracle: given the requests a client connection sent and
// every byte it received, decide whether each response belongs to its own
// request (in order), carries nothing of anyone else's, and whether the
// connection closed where it had to (and only there).
import { parseMessage } from '../../tests/e2e/lib/harness.mjs';
import { ID_RE, expectation, respBody } from './scenario.mjs';

const show = (b, n = 160) => JSON.stringify(Buffer.from(b).toString('latin1').slice(0, n));

function foreignIds(text, id) {
    const bad = new Set();
    for (const m of text.matchAll(ID_RE)) if (m[0] !== id) bad.add(m[0]);
    return [...bad];
}

/** Count complete final responses at the start of `bytes` (for the "done" test). */
export function countFinals(reqs, bytes) {
    let pos = 0;
    let n = 0;
    while (n < reqs.length) {
        let m;
        try {
            m = parseMessage(bytes.subarray(pos), { method: reqs[n].method });
        } catch {
            return { n, bad: true };
        }
        if (!m) return { n, bad: false };
        pos += m.length;
        if (m.status >= 200) n++;
        if (m.status >= 200 && /\bclose\b/i.test(m.get('connection') || '')) return { n, bad: false, closing: true };
    }
    return { n, bad: false };
}

/**
 * Check one client connection. `closed`: the peer closed (FIN or RST);
 * `timedOut`: we stopped waiting. Returns a list of failure strings.
 */
export function checkConn(conn, bytes, closed, timedOut) {
    const fails = [];
    const fail = (r, what) => fails.push(`conn ${conn.ci} ${r ? `${r.id} (#${r.idx})` : ''}: ${what}`);
    const text = bytes.toString('latin1');
    if (text.includes('POISON')) fail(null, `a hidden response reached this client: ${show(text.slice(text.indexOf('POISON') - 80), 200)}`);
    let pos = 0;
    let prevClose = null; // expectation.close of the previous response
    for (const r of conn.reqs) {
        const e = expectation(r);
        let seen100 = false;
        let m = null;
        let cut = null;
        for (;;) {
            const rest = bytes.subarray(pos);
            if (rest.length === 0 && closed) {
                cut = 'nothing';
                break;
            }
            try {
                m = parseMessage(rest, { method: r.method, closed });
            } catch (err) {
                if (/truncated/.test(err.message)) {
                    cut = 'truncated';
                    break;
                }
                fail(r, `unparsable bytes from Ficus: ${err.message}: ${show(rest)}`);
                return fails;
            }
            if (!m) {
                cut = closed ? 'truncated' : 'incomplete';
                break;
            }
            if (m.status >= 200) break;
            if (m.status !== 100 || !r.expect100 || seen100) fail(r, `unexpected interim response ${m.status} (expect100=${!!r.expect100})`);
            seen100 = true;
            pos += m.length;
            m = null;
        }
        const rest = bytes.subarray(pos);
        if (cut === 'incomplete') {
            fail(r, `no complete response and the connection is still open${timedOut ? ' (stuck)' : ''}; got ${show(rest)}`);
            return fails;
        }
        if (cut === 'nothing') {
            // Closed before this request was answered: only after a response
            // that allowed (or required) the close, or mid-response.
            if (prevClose === 'no' || prevClose === null) {
                fail(r, `connection closed without an answer (previous response did not close)${prevClose === null ? ' [first request]' : ''}`);
            }
            return fails;
        }
        if (cut === 'truncated') {
            const bad = foreignIds(rest.toString('latin1'), r.id);
            if (bad.length) fail(r, `truncated response carries foreign ids ${bad.join(',')}`);
            if (!e.cut) fail(r, `truncated response (plan ${r.plan.kind}${r.malformed ? `, malformed ${r.malformed.kind}` : ''}): ${show(rest)}`);
            const he = rest.indexOf('\r\n\r\n');
            if (he >= 0) {
                const head = rest.toString('latin1', 0, he);
                const eid = /\r\nx-echo-id: *(\S+)/i.exec(head);
                if (!eid || eid[1] !== r.id) fail(r, `truncated response head names ${eid?.[1]}`);
                if (r.plan.mode === 'cl' && r.method !== 'HEAD') {
                    const got = rest.subarray(he + 4);
                    const want = respBody(r.id, r.plan.len);
                    if (!want.subarray(0, got.length).equals(got)) fail(r, `truncated body is not a prefix of the upstream's: ${show(got)}`);
                }
            }
            return fails;
        }
        // An HTTP/1.0 client gets a chunked answer de-chunked and delimited by
        // the close: a truncated one then looks complete (inherent to 1.0).
        if (m.eof && e.cut && r.minor === 0 && r.plan.mode === 'chunked' && m.get('x-echo-id') === r.id
            && respBody(r.id, r.plan.len).subarray(0, m.body.length).equals(m.body) && m.body.length <= r.plan.len) {
            return fails;
        }
        // A complete final response.
        if (prevClose === 'must') {
            fail(r, `response after one that had to close the connection: ${show(rest)}`);
            return fails;
        }
        const bad = foreignIds(m.head + m.body.toString('latin1') + JSON.stringify(m.trailers), r.id);
        if (bad.length) fail(r, `response carries foreign ids ${bad.join(',')}: ${show(m.head)}`);
        const local = m.get('server') === 'ficus';
        if (local) {
            if (!e.local.includes(m.status)) fail(r, `Ficus answered ${m.status} itself; expected ${e.exact ? 'the upstream answer' : ''}${e.local.length ? ` local ${e.local}` : ''}${e.cut ? ' a truncated answer' : ''} (plan ${r.plan.kind})`);
            if (r.sendRid && r.malformed?.where !== 'head' && m.get('x-request-id') !== r.id) fail(r, `local ${m.status} names X-Request-Id ${m.get('x-request-id')}`);
            if (r.method !== 'HEAD' && !/^\d{3} /.test(m.text)) fail(r, `local ${m.status} body ${show(m.body)}`);
        } else {
            const p = r.plan;
            if (!e.exact) fail(r, `got an upstream answer ${m.status}; expected local ${e.local}${e.cut ? ' or a cut' : ''} (plan ${p.kind})`);
            if (m.get('x-echo-id') !== r.id) fail(r, `answer names X-Echo-Id ${m.get('x-echo-id')}`);
            if (m.status !== p.status) fail(r, `status ${m.status}, upstream sent ${p.status}`);
            if (m.get('x-echo-method') !== r.method) fail(r, `answer to method ${m.get('x-echo-method')}`);
            const wantSum = p.early ? ['early'] : [r.bodySum];
            if (!wantSum.includes(m.get('x-echo-sum'))) fail(r, `upstream saw body sum ${m.get('x-echo-sum')}, sent ${r.bodySum}`);
            if (r.method !== 'HEAD' && !m.body.equals(respBody(r.id, p.len))) fail(r, `body differs from the upstream's (${m.body.length} bytes, want ${p.len}): ${show(m.body)}`);
            if (r.method === 'HEAD' && m.body.length) fail(r, 'body in an answer to HEAD');
        }
        pos += m.length;
        const saysClose = /\bclose\b/i.test(m.get('connection') || '');
        if (e.close === 'must' && !saysClose) fail(r, `connection must close after this response, but it has no Connection: close (${m.get('connection')})`);
        prevClose = saysClose ? 'must' : e.close;
        if (prevClose === 'must') {
            if (!closed) fail(r, 'connection still open after a closing response');
            if (pos < bytes.length) fail(r, `bytes after a closing response: ${show(bytes.subarray(pos))}`);
            return fails;
        }
    }
    if (pos < bytes.length) fail(null, `bytes after the last response: ${show(bytes.subarray(pos))}`);
    return fails;
}
