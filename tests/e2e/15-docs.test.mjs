// 15-: the documentation keeps up with the binary. The lists checked here are
// read from the binary's help output (subcommands, ctl and debt commands) and
// from the admin dispatcher's source (endpoint paths), never written down in
// this file: a new command or endpoint fails this test until it is documented
// in docs/ficus.1 and docs/admin-api.md.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';

import { REPO, requireBinary, runFicus } from './lib/harness.mjs';

before(() => requireBinary());

const read = (p) => fs.readFileSync(path.join(REPO, p), 'utf8');

/** The man page as plain text: font escapes dropped, \- as -, request names kept. */
function manText() {
    return read('docs/ficus.1')
        .replace(/\\f[BIRP]/g, '')
        .replace(/\\-/g, '-')
        .replace(/\\ /g, ' ')
        .replace(/"/g, '');
}

/** Man page lines that name an entry (.TP tags, .B/.BI/.BR/.IP requests). */
function manTags(text) {
    return text.split('\n').filter((l) => /^\.(B|BI|BR|IP|TP|SH)\b/.test(l)).map((l) => l.replace(/^\.\w+\s*/, ''));
}

/** Command names of the "commands:" block of a usage text ("  name ..." lines). */
function commandsOf(usage) {
    const lines = usage.split('\n');
    const start = lines.findIndex((l) => /^commands:\s*$/.test(l));
    assert.ok(start >= 0, `a "commands:" block in:\n${usage}`);
    const out = [];
    for (const l of lines.slice(start + 1)) {
        if (l.trim() === '') break;
        const m = /^ {2}([a-z][a-z-]*)\b/.exec(l);
        if (m) out.push(m[1]);
    }
    assert.ok(out.length > 0, 'at least one command listed');
    return out;
}

async function help(args) {
    const r = await runFicus(args);
    assert.equal(r.code, 0, `ficus ${args.join(' ')} exits 0: ${r.stderr}`);
    return r.stdout;
}

/**
 * Every path the admin listener answers, from the dispatcher's source:
 * the fixed paths of src/admin/admin.c, the route prefix with its actions
 * (the actions[] table and the literal sub-paths of route_target), and the
 * registry paths of src/registry/registry_http.c. NAME and ID stand for the
 * variable segments, as in the documentation.
 */
function dispatcherPaths() {
    const admin = read('src/admin/admin.c');
    const reg = read('src/registry/registry_http.c');
    const paths = new Set();
    const prefix = /routes_prefix\[\] = "([^"]+)"/.exec(admin)[1];
    for (const [, p] of admin.matchAll(/"(\/[a-z0-9/_-]*)"/g)) {
        if (!p.endsWith('/')) paths.add(p);
    }
    paths.add(`${prefix}NAME`);
    const actions = /actions\[\] = \{([\s\S]*?)\};/.exec(admin)[1];
    for (const [, a] of actions.matchAll(/\{ "([a-z_]+)", FX_CTL_\w+ \}/g)) paths.add(`${prefix}NAME/${a}`);
    const routeTarget = /route_target\([\s\S]*?\n\}/.exec(admin)[0];
    for (const [, a] of routeTarget.matchAll(/strcmp\(slash \+ 1, "([a-z_]+)"\)/g)) paths.add(`${prefix}NAME/${a}`);
    const debt = /#define DEBT_PREFIX "([^"]+)"/.exec(reg)[1];
    for (const [, p] of reg.matchAll(/"(\/[a-z0-9/_-]+)"/g)) if (p.startsWith('/api/')) paths.add(p);
    paths.add(debt);
    const parse = /parse_target\([\s\S]*?\n\}/.exec(reg)[0];
    for (const [, a] of parse.matchAll(/strcmp\(rest, "([a-z_]+)"\)/g)) paths.add(`${debt}/${a}`);
    if (/\*t = T_ITEM/.test(parse)) paths.add(`${debt}/ID`);
    for (const [, a] of parse.matchAll(/strcmp\(slash, "\/([a-z_]+)"\)/g)) paths.add(`${debt}/ID/${a}`);
    return [...paths].sort();
}

describe('docs: man page and admin API reference', () => {
    let man;
    let tags;
    let api;
    before(() => {
        man = manText();
        tags = manTags(man);
        api = read('docs/admin-api.md');
    });

    test('every subcommand of `ficus help` has an entry in ficus.1 and is named in admin-api.md', async () => {
        const cmds = commandsOf(await help(['help']));
        assert.ok(cmds.includes('serve') && cmds.includes('ctl'), `parsed ${cmds}`);
        for (const c of cmds) {
            assert.ok(tags.some((t) => new RegExp(`^${c}\\b`).test(t)), `ficus.1 has an entry for "${c}"`);
            assert.ok(api.includes(`\`ficus ${c}`), `admin-api.md says whether "ficus ${c}" uses the admin API`);
            assert.ok(tags.includes(`ficus ${c}`) || tags.some((t) => t.startsWith(`ficus ${c} `)), `ficus.1 SYNOPSIS lists "ficus ${c}"`);
        }
    });

    test('every ctl command of `ficus ctl --help` is in ficus.1 and, with its endpoint, in admin-api.md', async () => {
        const cmds = commandsOf(await help(['ctl', '--help']));
        assert.ok(cmds.includes('diffs'), `parsed ${cmds}`);
        for (const c of [...cmds, 'help']) {
            assert.ok(tags.some((t) => new RegExp(`^ctl ${c}\\b`).test(t)), `ficus.1 has an entry "ctl ${c}"`);
            const row = api.split('\n').find((l) => l.startsWith(`| \`${c}`));
            assert.ok(row, `admin-api.md's ficus ctl table has a row for "${c}"`);
            if (c !== 'help') assert.match(row, /(GET|POST) \/api\/v1\//, `the "${c}" row names the endpoint it calls`);
        }
    });

    test('every debt command of `ficus debt --help` is in ficus.1 and admin-api.md', async () => {
        for (const c of commandsOf(await help(['debt', '--help']))) {
            assert.ok(tags.some((t) => new RegExp(`^debt ${c}\\b`).test(t)), `ficus.1 has an entry "debt ${c}"`);
            assert.ok(api.includes(`| \`ficus debt ${c}`), `admin-api.md lists "ficus debt ${c}"`);
        }
    });

    test('every admin endpoint of the dispatcher is in admin-api.md and ficus.1', () => {
        const paths = dispatcherPaths();
        assert.ok(paths.length >= 15, `found the dispatcher's paths: ${paths}`);
        for (const p of paths) {
            assert.match(api, new RegExp(`\`${p.replace(/[/?]/g, '\\$&')}[\`?]`), `admin-api.md documents ${p}`);
            assert.ok(new RegExp(`${p.replace(/[/?]/g, '\\$&')}([^a-zA-Z0-9/_-]|$)`, 'm').test(man), `ficus.1 documents ${p}`);
        }
    });

    test('ficus.1 documents every signal serve handles and the admin token settings', () => {
        const main = read('src/main.c');
        const sigs = [...main.matchAll(/sigaddset\(&set, (SIG[A-Z0-9]+)\)/g)].map((m) => m[1]);
        assert.ok(sigs.length >= 4, `signals from main.c: ${sigs}`);
        for (const s of sigs) assert.ok(tags.some((t) => t.includes(s)), `ficus.1 SIGNALS has ${s}`);
        for (const k of ['admin.open', 'admin.allowed_hosts', 'admin.token_file', 'read', 'operate', 'admin']) {
            assert.ok(man.includes(k), `ficus.1 mentions ${k}`);
        }
    });

    test('ficus.1 documents no command the binary does not have', async () => {
        const cmds = new Set(commandsOf(await help(['help'])));
        const named = tags.map((t) => /^ficus ([a-z]+)/.exec(t)).filter(Boolean).map((m) => m[1]);
        assert.ok(named.length >= cmds.size, `SYNOPSIS entries: ${named}`);
        for (const c of named) assert.ok(cmds.has(c), `"ficus ${c}" exists`);
        for (const t of tags) {
            const m = /^([a-z]+)\b/.exec(t);
            if (m && /^(plan|store|audit)$/.test(m[1]) && !cmds.has(m[1])) assert.fail(`ficus.1 has an entry for "${m[1]}", which ficus help does not list`);
        }
    });
});

describe('help texts print percent signs as written', () => {
    test('ficus ctl --help shows 25%, 100% and 0% (no %%)', async () => {
        const out = await help(['ctl', '--help']);
        assert.match(out, /e\.g\. 25%\)/);
        assert.match(out, /send 100% to the new side/);
        assert.match(out, /send 0% to the new side/);
        assert.doesNotMatch(out, /%%/);
    });

    test('no help text of any command or ctl/debt command shows %%', async () => {
        const texts = [await help(['help']), await help(['ctl', 'help']), await help(['report', '--help'])];
        for (const c of commandsOf(await help(['ctl', '--help']))) texts.push(await help(['ctl', c, '--help']));
        for (const c of commandsOf(await help(['debt', '--help']))) texts.push(await help(['debt', c, '--help']));
        for (const t of texts) assert.doesNotMatch(t, /%%/, t);
    });

    test('the weight usage error still formats its percentages', async () => {
        const r = await runFicus(['ctl', '--admin', '127.0.0.1:9', 'weight', 'orders', 'lots']);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /expected a percentage from 0% to 100% like 25%/);
    });
});
