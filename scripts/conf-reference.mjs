#!/usr/bin/env node
// Regenerate the configuration reference tables in docs/configuration.md
// from the schema: `ficus config reference --format md` prints one block per
// section, between "<!-- BEGIN GENERATED: ficus config reference PATH -->"
// and "<!-- END GENERATED -->"; each block replaces the block of the same
// PATH in the document (hand-written prose around them is kept).
//
//   node scripts/conf-reference.mjs           rewrite docs/configuration.md
//   node scripts/conf-reference.mjs --check   exit 1 when it is out of date
// FICUS_BIN names the binary (default build/ficus).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(REPO, 'docs', 'configuration.md');
const BLOCK = /<!-- BEGIN GENERATED: ficus config reference (.+?) -->\n[\s\S]*?<!-- END GENERATED -->\n/g;

/** Map of section path -> block text (with its marker lines). */
export function blocks(text) {
    const out = new Map();
    for (const m of text.matchAll(BLOCK)) out.set(m[1], m[0]);
    return out;
}

export function generated(bin) {
    return execFileSync(bin, ['config', 'reference', '--format', 'md'], { encoding: 'utf8' });
}

/** The document with every generated block replaced; throws when a section has no block. */
export function update(doc, gen) {
    const want = blocks(gen);
    const have = blocks(doc);
    for (const name of want.keys()) {
        if (!have.has(name)) throw new Error(`docs/configuration.md has no block for section "${name}"`);
    }
    for (const name of have.keys()) {
        if (!want.has(name)) throw new Error(`docs/configuration.md has a block for unknown section "${name}"`);
    }
    return doc.replace(BLOCK, (m, name) => want.get(name));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
    const bin = process.env.FICUS_BIN || path.join(REPO, 'build', 'ficus');
    const doc = fs.readFileSync(DOC, 'utf8');
    const next = update(doc, generated(bin));
    if (process.argv.includes('--check')) {
        if (next !== doc) {
            console.error('docs/configuration.md is out of date: run node scripts/conf-reference.mjs');
            process.exit(1);
        }
    } else if (next !== doc) {
        fs.writeFileSync(DOC, next);
    }
}
