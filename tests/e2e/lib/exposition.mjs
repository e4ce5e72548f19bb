// A strict checker of the Prometheus text exposition format (version 0.0.4),
// stricter than parseMetrics() in harness.mjs: it checks the order of lines,
// not only their syntax. Node built-ins only.

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL_RE = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseLabels(text, where) {
    const labels = {};
    let rest = text ?? '';
    while (rest.length) {
        const m = LABEL_RE.exec(rest);
        if (!m) throw new Error(`${where}: bad label list at ${JSON.stringify(rest)}`);
        if (Object.hasOwn(labels, m[1])) throw new Error(`${where}: label ${m[1]} twice`);
        labels[m[1]] = m[2];
        rest = rest.slice(m[0].length);
        if (m[3] === '' && rest.length) throw new Error(`${where}: bad label list`);
    }
    return labels;
}

function parseValue(v, where) {
    if (v === '+Inf') return Infinity;
    if (v === '-Inf') return -Infinity;
    if (v === 'NaN') return NaN;
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`${where}: bad value ${JSON.stringify(v)}`);
    return Number(v);
}

/** Family a sample name belongs to, given the family declared last. */
function familyOf(name, cur) {
    if (cur && name === cur.name) return cur.type === 'histogram' ? null : cur.name;
    if (cur && cur.type === 'histogram') {
        for (const suf of ['_bucket', '_sum', '_count']) {
            if (name === cur.name + suf) return cur.name;
        }
    }
    if (cur && cur.type === 'summary') {
        for (const suf of ['_sum', '_count']) {
            if (name === cur.name + suf) return cur.name;
        }
    }
    return null;
}

const labelKey = (labels, drop) => JSON.stringify(Object.entries(labels).filter(([k]) => k !== drop).sort());

/**
 * Check `text` against the exposition rules and return the list of problems
 * (empty when it is well-formed):
 *  - every line is "# HELP name text", "# TYPE name type" or a sample;
 *  - each family has exactly one HELP and one TYPE, HELP first, before its samples;
 *  - every sample belongs to the family declared last (families never interleave,
 *    a family never appears twice), no sample without a TYPE;
 *  - no duplicate series;
 *  - histograms: for each label set, buckets with increasing `le` ending at +Inf,
 *    cumulative counts, then _sum and _count (after the buckets), _count equal
 *    to the +Inf bucket.
 * Also returns the families seen: {problems, families: Map(name -> {type, samples})}.
 */
export function checkExposition(text) {
    const problems = [];
    const families = new Map();
    const series = new Set();
    let cur = null;
    if (text.length && !text.endsWith('\n')) problems.push('output does not end with a newline');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    lines.forEach((line, i) => {
        const where = `line ${i + 1} ${JSON.stringify(line.slice(0, 120))}`;
        try {
            if (line.startsWith('#')) {
                const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
                if (!m) throw new Error(`${where}: a comment that is neither HELP nor TYPE`);
                const [, kind, name, rest] = m;
                if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`${where}: bad metric name`);
                let fam = families.get(name);
                if (kind === 'HELP') {
                    if (fam) throw new Error(`${where}: second HELP for ${name}`);
                    fam = { name, type: null, help: rest, samples: [], hist: new Map(), line: i + 1 };
                    families.set(name, fam);
                    cur = fam;
                    return;
                }
                if (!fam || cur !== fam) throw new Error(`${where}: TYPE without a HELP just before it`);
                if (fam.type) throw new Error(`${where}: second TYPE for ${name}`);
                if (fam.samples.length) throw new Error(`${where}: TYPE after samples of ${name}`);
                if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${JSON.stringify(rest)}`);
                fam.type = rest;
                return;
            }
            if (line.trim() === '') throw new Error(`${where}: empty line`);
            const m = SAMPLE_RE.exec(line);
            if (!m) throw new Error(`${where}: not a sample line`);
            const [, name, labelText, v] = m;
            const labels = parseLabels(labelText, where);
            const value = parseValue(v, where);
            if (!cur || !cur.type) throw new Error(`${where}: sample before any HELP/TYPE (or between them)`);
            const famName = familyOf(name, cur);
            if (famName === null) {
                const owner = [...families.values()].find((f) => familyOf(name, f) !== null);
                throw new Error(owner
                    ? `${where}: sample of ${owner.name} (declared at line ${owner.line}) inside family ${cur.name}`
                    : `${where}: sample without HELP/TYPE (current family ${cur.name})`);
            }
            const key = `${name}${labelKey(labels)}`;
            if (series.has(key)) throw new Error(`${where}: duplicate series`);
            series.add(key);
            cur.samples.push({ name, labels, value });
            if (cur.type === 'histogram') checkHistogramLine(cur, name, labels, value, where);
        } catch (e) {
            problems.push(e.message);
        }
    });
    for (const fam of families.values()) {
        if (!fam.type) problems.push(`family ${fam.name}: HELP without TYPE`);
        for (const [k, h] of fam.hist) {
            if (!h.inf) problems.push(`histogram ${fam.name} ${k}: no +Inf bucket`);
            if (!h.sum || !h.count) problems.push(`histogram ${fam.name} ${k}: missing _sum or _count`);
        }
    }
    return { problems, families };
}

function checkHistogramLine(fam, name, labels, value, where) {
    const isBucket = name.endsWith('_bucket');
    if (isBucket && !Object.hasOwn(labels, 'le')) throw new Error(`${where}: bucket without le`);
    if (!isBucket && Object.hasOwn(labels, 'le')) throw new Error(`${where}: le on a non-bucket sample`);
    const k = labelKey(labels, 'le');
    let h = fam.hist.get(k);
    if (!h) {
        h = { le: -Infinity, cum: 0, inf: null, sum: false, count: false };
        fam.hist.set(k, h);
    }
    if (isBucket) {
        if (h.sum || h.count) throw new Error(`${where}: bucket after _sum/_count of the same series`);
        if (h.inf !== null) throw new Error(`${where}: bucket after +Inf`);
        const le = parseValue(labels.le, where);
        if (!(le > h.le)) throw new Error(`${where}: le ${labels.le} not above the previous bucket`);
        if (value < h.cum) throw new Error(`${where}: bucket count decreases`);
        h.le = le;
        h.cum = value;
        if (le === Infinity) h.inf = value;
        return;
    }
    if (h.inf === null) throw new Error(`${where}: ${name.endsWith('_sum') ? '_sum' : '_count'} before the +Inf bucket`);
    if (name.endsWith('_sum')) {
        if (h.sum) throw new Error(`${where}: second _sum`);
        h.sum = true;
    } else {
        if (h.count) throw new Error(`${where}: second _count`);
        if (value !== h.inf) throw new Error(`${where}: _count ${value} != +Inf bucket ${h.inf}`);
        h.count = true;
    }
}
