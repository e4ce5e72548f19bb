#!/usr/bin/env node
// Screenshot of the live dashboard (docs/img/dashboard.png) with Debian's
// chromium driven by playwright-core from tests/browser (scripts/deps.sh
// installs both).
//
//   node scripts/screenshot.mjs [--demo SECONDS] [--url URL] [--token TOKEN] [-o FILE]
//
// --demo runs scripts/demo.sh (build first: make), lets it run SECONDS
// (default 45: the ramp advances and progress samples accumulate), takes the
// shot and stops the demo. Without it, an already running server at --url
// (default http://127.0.0.1:9901/dashboard, the demo's admin address) is shot.
// --token enters an admin token so the route controls show enabled.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const url = opt('--url', 'http://127.0.0.1:9901/dashboard');
const out = path.resolve(opt('-o', path.join(REPO, 'docs', 'img', 'dashboard.png')));
const token = opt('--token', args.includes('--demo') ? 'demo-token-0123456789abcdef' : '');
const demoSeconds = args.includes('--demo') ? Number(opt('--demo', '45')) || 45 : 0;

const { chromium } = createRequire(path.join(REPO, 'tests', 'browser', 'package.json'))('playwright-core');

let demo = null;
async function stopDemo() {
    if (!demo || demo.exitCode !== null) return;
    try {
        process.kill(-demo.pid, 'SIGTERM'); // the demo's own process group, started below
    } catch {
        /* already gone */
    }
    await new Promise((r) => {
        const timer = setTimeout(r, 5000);
        demo.once('exit', () => {
            clearTimeout(timer);
            r();
        });
    });
}

async function waitUp(target, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
        try {
            const r = await fetch(target);
            if (r.ok) return;
        } catch {
            /* not yet */
        }
        if (Date.now() > deadline) throw new Error(`${target} did not answer within ${ms} ms`);
        await sleep(250);
    }
}

async function main() {
    if (demoSeconds > 0) {
        demo = spawn('scripts/demo.sh', [], { cwd: REPO, detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
        await waitUp(url, 15000);
        console.error(`screenshot: demo running, waiting ${demoSeconds} s`);
        await sleep(demoSeconds * 1000);
    }
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
        const problems = [];
        page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
        await page.goto(url);
        if (token) {
            await page.fill('#token', token);
            await page.click('#token-save');
        }
        await page.waitForFunction(() => /^updated/.test(document.getElementById('updated').textContent));
        await sleep(500);
        fs.mkdirSync(path.dirname(out), { recursive: true });
        await page.screenshot({ path: out, fullPage: true });
        if (problems.length) console.error(`screenshot: console errors:\n${problems.join('\n')}`);
        console.error(`screenshot: wrote ${path.relative(process.cwd(), out)}`);
    } finally {
        await browser.close();
    }
}

main()
    .catch((e) => {
        console.error(`screenshot: ${e.message}`);
        process.exitCode = 1;
    })
    .finally(stopDemo);
