#!/usr/bin/env node
// Result handling for bench/run.sh (Node built-ins only).
//
//   node bench/report.mjs parse WRK_OUTPUT_FILE
//       One line: "rps p50_ms p99_ms requests errors" (errors = socket errors
//       + non-2xx/3xx responses). Exit 1 if the file is not wrk --latency output.
//   node bench/report.mjs report WORKDIR OUT_BASENAME
//       Reads WORKDIR/{meta.tsv,rounds.tsv,mem.tsv}, writes OUT_BASENAME.md and
//       OUT_BASENAME.json, prints the markdown on stdout.
//
// rounds.tsv: scenario path conns threads round contestant wrk_file cpu_ticks wall_s
//             proxy_core_busy_pct load_core_busy_pct   (-1 = not measured)
// mem.tsv:    contestant key value
// meta.tsv:   key value            (all tab-separated)
import fs from 'node:fs';
import process from 'node:process';

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000, h: 3600000 };

function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2]];
}

// Parse `wrk --latency` output. Returns null when the essentials are missing.
export function parseWrk(text) {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const p50 = /^\s+50%\s+(\S+)/m.exec(text);
  const p99 = /^\s+99%\s+(\S+)/m.exec(text);
  const reqs = /^\s+(\d+) requests in ([\d.]+\w+), (\S+) read/m.exec(text);
  if (!rps || !p50 || !p99 || !reqs) return null;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2 = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const socket_errors = sock
    ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
    : { connect: 0, read: 0, write: 0, timeout: 0 };
  const non2xx = non2 ? +non2[1] : 0;
  const errors = Object.values(socket_errors).reduce((a, b) => a + b, 0) + non2xx;
  return {
    rps: Number(rps[1]),
    p50_ms: toMs(p50[1]),
    p99_ms: toMs(p99[1]),
    requests: Number(reqs[1]),
    duration: reqs[2],
    read: reqs[3],
    socket_errors,
    non2xx,
    errors,
  };
}

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function readTsv(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

const round2 = (x) => (x == null ? null : Math.round(x * 100) / 100);
const round3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
const fmtInt = (x) => (x == null ? 'n/a' : Math.round(x).toLocaleString('en-US'));
const fmtMs = (x) => (x == null ? 'n/a' : x < 10 ? x.toFixed(3) : x.toFixed(1));
const fmtRatio = (x) => (x == null ? 'n/a' : `${x.toFixed(2)}x`);
const fmtCpu = (x) => (x == null ? 'n/a' : x.toFixed(0));
const fmtKib = (x) => (x == null ? 'n/a' : fmtInt(x));

// Busy % of the proxy's CPU not explained by the proxy itself (kernel softirq
// work for loopback traffic lands partly here) above which a run is flagged.
const NOISE_PCT = 15;

const NAMES = { ficus: 'Ficus', nginx: 'nginx', haproxy: 'HAProxy' };
const displayName = (c) => NAMES[c] || c;

function buildReport(dir) {
  const meta = Object.fromEntries(readTsv(`${dir}/meta.tsv`).map(([k, ...v]) => [k, v.join('\t')]));
  const contestants = (meta.contestants || '').split(/\s+/).filter(Boolean);
  const clk = Number(meta.clk_tck || 100);

  const scenarios = [];
  const byName = new Map();
  for (const [scenario, path, conns, threads, round, contestant, file, ticks, wall, pcore, lcore] of readTsv(`${dir}/rounds.tsv`)) {
    let s = byName.get(scenario);
    if (!s) {
      s = { name: scenario, path, connections: +conns, wrk_threads: +threads, results: {} };
      byName.set(scenario, s);
      scenarios.push(s);
    }
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const parsed = parseWrk(text) || { rps: null, p50_ms: null, p99_ms: null, errors: null,
      parse_error: 'unparseable wrk output' };
    const cpu = Number(ticks) >= 0 && Number(wall) > 0 ? (100 * Number(ticks)) / clk / Number(wall) : null;
    const r = (s.results[contestant] ||= { rounds: [] });
    const perCpu = cpu > 0 && parsed.rps != null ? parsed.rps / (cpu / 100) : null;
    r.rounds.push({ round: +round, ...parsed, proxy_cpu_pct: round2(cpu),
      req_per_proxy_cpu_s: perCpu == null ? null : Math.round(perCpu),
      proxy_core_busy_pct: pcore != null && Number(pcore) >= 0 ? Number(pcore) : null,
      load_core_busy_pct: lcore != null && Number(lcore) >= 0 ? Number(lcore) : null });
  }
  for (const s of scenarios) {
    for (const r of Object.values(s.results)) {
      r.median = {
        rps: round2(median(r.rounds.map((x) => x.rps))),
        p50_ms: round3(median(r.rounds.map((x) => x.p50_ms))),
        p99_ms: round3(median(r.rounds.map((x) => x.p99_ms))),
        proxy_cpu_pct: round2(median(r.rounds.map((x) => x.proxy_cpu_pct))),
        req_per_proxy_cpu_s: median(r.rounds.map((x) => x.req_per_proxy_cpu_s)),
      };
      r.errors_total = r.rounds.reduce((a, x) => a + (x.errors || 0), 0);
    }
    const f = s.results.ficus?.median.rps;
    const n = s.results.nginx?.median.rps;
    const h = s.results.haproxy?.median.rps;
    s.ratios = {
      ficus_over_nginx_rps: f && n ? round3(f / n) : null,
      ficus_over_haproxy_rps: f && h ? round3(f / h) : null,
    };
  }

  const memory = {};
  for (const [c, key, value] of readTsv(`${dir}/mem.tsv`)) {
    const m = (memory[c] ||= {});
    m[key] = value === '' || Number.isNaN(Number(value)) ? value : Number(value);
  }
  for (const m of Object.values(memory)) {
    if (m.idle_open > 0 && m.idle_rss_before_kib != null && m.idle_rss_after_kib != null) {
      m.idle_kib_per_conn = round3((m.idle_rss_after_kib - m.idle_rss_before_kib) / m.idle_open);
    }
  }

  const json = {
    date: meta.date,
    host: { nproc: +meta.nproc, cpu_model: meta.cpu_model, kernel: meta.kernel,
      background_cpu_pct_before_start: meta.background_cpu_pct === undefined ? null : +meta.background_cpu_pct },
    versions: { nginx: meta.nginx_version, haproxy: meta.haproxy_version, wrk: meta.wrk_version,
      node: meta.node_version },
    ficus: { commit: meta.ficus_commit, binary: meta.ficus_binary || null,
      built: meta.ficus_built || null,
      version: meta.ficus_version || null },
    settings: {
      quick: meta.quick === '1', seconds: +meta.seconds, rounds: +meta.rounds,
      warmup_seconds: +meta.warmup_seconds, proxy_cpu: meta.proxy_cpu, load_cpu: meta.load_cpu,
      idle_conns: +meta.idle_conns, upstream_idle: +meta.upstream_idle, contestants,
    },
    skipped: meta.skipped ? meta.skipped : null,
    scenarios,
    memory,
  };
  return { json, md: renderMd(json, contestants) };
}

function renderMd(j, contestants) {
  const L = [];
  L.push('# Ficus benchmark results', '');
  L.push(`- date: ${j.date}`);
  L.push(`- host: ${j.host.nproc} CPUs, ${j.host.cpu_model}, kernel ${j.host.kernel}` +
    (j.host.background_cpu_pct_before_start != null ? `, ${j.host.background_cpu_pct_before_start}% CPU busy before start` : ''));
  L.push(`- versions: ${j.versions.nginx}; ${j.versions.haproxy}; ${j.versions.wrk}; node ${j.versions.node}`);
  L.push(`- Ficus: commit ${j.ficus.commit}${j.ficus.version ? ` (${j.ficus.version})` : ''}` +
    (j.ficus.built ? `, binary built ${j.ficus.built}` : ''));
  L.push(`- settings: ${j.settings.seconds}s x ${j.settings.rounds} round(s) per contestant and scenario, ` +
    `${j.settings.warmup_seconds}s warm-up, proxy on CPU ${j.settings.proxy_cpu}, wrk + origin on CPU ${j.settings.load_cpu}` +
    `${j.settings.quick ? ', QUICK mode' : ''}`);
  if (j.skipped) L.push(`- skipped: ${j.skipped}`);
  L.push('');
  L.push('## Throughput and latency (medians over rounds)', '');
  L.push('| scenario | proxy | req/s | p50 ms | p99 ms | proxy CPU % | req per proxy CPU-s | errors | Ficus/this req/s |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of j.scenarios) {
    for (const c of contestants) {
      const r = s.results[c];
      if (!r) continue;
      const f = s.results.ficus?.median.rps;
      const ratio = c !== 'ficus' && f && r.median.rps ? f / r.median.rps : null;
      L.push(`| ${s.name} | ${displayName(c)} | ${fmtInt(r.median.rps)} | ${fmtMs(r.median.p50_ms)} | ` +
        `${fmtMs(r.median.p99_ms)} | ${fmtCpu(r.median.proxy_cpu_pct)} | ${fmtInt(r.median.req_per_proxy_cpu_s)} | ` +
        `${r.errors_total} | ` +
        `${c === 'ficus' ? '' : fmtRatio(ratio)} |`);
    }
  }
  L.push('');
  if (j.scenarios.some((s) => s.ratios.ficus_over_nginx_rps != null || s.ratios.ficus_over_haproxy_rps != null)) {
    L.push('## Ficus throughput ratios', '');
    L.push('| scenario | Ficus/nginx | Ficus/HAProxy |');
    L.push('|---|---:|---:|');
    for (const s of j.scenarios) {
      L.push(`| ${s.name} | ${fmtRatio(s.ratios.ficus_over_nginx_rps)} | ${fmtRatio(s.ratios.ficus_over_haproxy_rps)} |`);
    }
    L.push('');
  }
  L.push('## Memory', '');
  L.push(`| proxy | peak RSS after load (KiB) | RSS idle (KiB) | RSS with ${fmtInt(j.settings.idle_conns)} idle conns (KiB) | open | KiB per idle conn |`);
  L.push('|---|---:|---:|---:|---:|---:|');
  for (const c of contestants) {
    const m = j.memory[c];
    if (!m) continue;
    L.push(`| ${displayName(c)} | ${fmtKib(m.peak_rss_kib)} | ${fmtKib(m.idle_rss_before_kib)} | ` +
      `${fmtKib(m.idle_rss_after_kib)} | ${m.idle_open ?? 'n/a'} | ` +
      `${m.idle_kib_per_conn == null ? 'n/a' : m.idle_kib_per_conn.toFixed(2)} |`);
  }
  L.push('');
  const errs = [];
  for (const s of j.scenarios) {
    for (const [c, r] of Object.entries(s.results)) {
      for (const x of r.rounds) {
        if (x.parse_error) errs.push(`${displayName(c)} ${s.name} round ${x.round}: ${x.parse_error}`);
        else if (x.errors > 0) {
          const se = x.socket_errors;
          errs.push(`${displayName(c)} ${s.name} round ${x.round}: non-2xx ${x.non2xx}, socket errors ` +
            `connect ${se.connect} read ${se.read} write ${se.write} timeout ${se.timeout}`);
        }
      }
    }
  }
  const noisy = [];
  for (const s of j.scenarios) {
    for (const [c, r] of Object.entries(s.results)) {
      for (const x of r.rounds) {
        if (x.proxy_core_busy_pct != null && x.proxy_cpu_pct != null &&
            x.proxy_core_busy_pct - x.proxy_cpu_pct > NOISE_PCT) {
          noisy.push(`${displayName(c)} ${s.name} round ${x.round}: proxy CPU busy ` +
            `${x.proxy_core_busy_pct.toFixed(0)}%, of which the proxy ${x.proxy_cpu_pct.toFixed(0)}%`);
        }
      }
    }
  }
  if (noisy.length > 0) {
    errs.push(`other processes used the proxy's CPU during ${noisy.length} run(s) ` +
      `(more than ${NOISE_PCT} points beyond the proxy itself); those numbers are disturbed:`);
    for (const n of noisy) errs.push(`\t${n}`);
  }
  for (const [c, m] of Object.entries(j.memory)) {
    if (m.idle_failed > 0) errs.push(`${displayName(c)} idle test: ${m.idle_failed} connections failed`);
    if (m.idle_closed_by_peer > 0) errs.push(`${displayName(c)} idle test: ${m.idle_closed_by_peer} connections closed by the proxy while idle`);
  }
  L.push('## Errors', '');
  if (errs.length === 0) L.push('None: no socket errors, no non-2xx responses, no failed idle connections.');
  else for (const e of errs) L.push(e.startsWith('\t') ? `  - ${e.slice(1)}` : `- ${e}`);
  L.push('');
  L.push('Raw per-round numbers are in the JSON file next to this one. See bench/README.md for the method.');
  return L.join('\n') + '\n';
}

const [cmd, a1, a2] = process.argv.slice(2);
if (cmd === 'parse' && a1) {
  const r = parseWrk(fs.readFileSync(a1, 'utf8'));
  if (!r) process.exit(1);
  console.log(`${r.rps} ${r.p50_ms} ${r.p99_ms} ${r.requests} ${r.errors}`);
} else if (cmd === 'report' && a1 && a2) {
  const { json, md } = buildReport(a1);
  fs.writeFileSync(`${a2}.json`, JSON.stringify(json, null, 2) + '\n');
  fs.writeFileSync(`${a2}.md`, md);
  process.stdout.write(md);
} else {
  process.stderr.write('usage: report.mjs parse WRK_FILE | report WORKDIR OUT_BASENAME\n');
  process.exit(2);
}
