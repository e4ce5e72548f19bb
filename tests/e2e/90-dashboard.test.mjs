// 90-: the live /dashboard in headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core from tests/browser/node_modules, installed by
// scripts/deps.sh test): it loads with no console errors, shows the migrating
// route and the ranked debt with live figures, keeps titles as text, enables
// its controls only with a token, and a Pause clicked on the page pauses the
// route (checked through /api/v1/routes). A server with no migration and no
// debt renders too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { REPO, defaultConfig, requireBinary, startBackend, t, waitFor } from './lib/harness.mjs';
import { TOKENS, admin, events, migConfig, routeState, startMig, traffic } from './lib/migration-util.mjs';

const CHROMIUM = process.env.FICUS_CHROMIUM || '/usr/bin/chromium';
const BROWSER_PKG = path.join(REPO, 'tests', 'browser', 'package.json');
const EVIL = '<img src=x onerror="window.__pwned=1">Orders <b>still</b> read the legacy DB';

let legacy;
let fresh;
let browser;
const running = new Set();

function loadPlaywright() {
    const req = createRequire(BROWSER_PKG);
    try {
        return req('playwright-core');
    } catch (e) {
        throw new Error(`playwright-core is not installed in tests/browser (run scripts/deps.sh test): ${e.message}`);
    }
}

async function startServer(cfg, opts) {
    const f = await startMig(cfg, opts);
    running.add(f);
    return f;
}

/** A new page that records console errors and uncaught exceptions. */
async function openDashboard(f) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.problems = [];
    page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') page.problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
    const res = await page.goto(`http://127.0.0.1:${f.adminPort}/dashboard`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'] ?? '', /^text\/html/);
    await page.waitForFunction(() => /^updated/.test(document.getElementById('updated').textContent),
        null, { timeout: t(10000) });
    return page;
}

const rowTexts = (page, sel) => page.$$eval(sel, (rows) => rows.map((r) => r.innerText));

before(async () => {
    requireBinary();
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (run scripts/deps.sh test)`);
    const { chromium } = loadPlaywright();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    legacy = await startBackend('legacy');
    fresh = await startBackend('new');
});

after(async () => {
    for (const f of running) await f.stop().catch(() => {});
    await browser?.close();
    await Promise.all([legacy?.close(), fresh?.close()]);
});

describe('dashboard', { timeout: t(90000) }, () => {
    test('shows routes and ranked debt; Pause with the token pauses the route', async () => {
        const f = await startServer(migConfig({ legacy, fresh, migrate: { weight: '10%' } }), { env: { FICUS_PROGRESS_MS: '300' } });
        const load = traffic(f.port);
        await new Promise((r) => setTimeout(r, 500));
        await load.stop();
        const add = async (fields) => {
            const r = await admin(f, 'POST', '/api/v1/debt', { token: TOKENS.ops, body: fields });
            assert.equal(r.status, 201, r.text);
            return r.json;
        };
        await add({ title: 'Logging shim', kind: 'code', stability: 1, velocity: 1 });
        await add({ title: EVIL, kind: 'data', routes: ['orders'], stability: 5, velocity: 5, effort_days: 8 });
        await add({ title: 'Session store on the monolith', kind: 'architecture', routes: ['orders'], stability: 3, velocity: 2 });
        const api = await admin(f, 'GET', '/api/v1/debt');
        const ranked = (Array.isArray(api.json) ? api.json : api.json.items ?? api.json.debt).map((d) => d.id);
        assert.equal(ranked.length, 3);

        // Without a token the page loads but its data needs one (admin.token_file is set).
        const page = await openDashboard(f);
        await page.waitForFunction(() => /401/.test(document.getElementById('errors').textContent), null, { timeout: t(5000) });
        // A read-only token shows the data; the controls stay refused (403).
        await page.fill('#token', TOKENS.viewer);
        await page.click('#token-save');
        // The migrating route with its state and figures.
        const route = page.locator('#routes tbody tr[data-route="orders"]');
        await route.waitFor({ timeout: t(5000) });
        assert.equal(await route.locator('[data-status]').getAttribute('data-status'), (await routeState(f)).status);
        assert.match(await route.innerText(), /10\.00%/);
        // The debt in the API's ranked order, titles as text.
        await page.waitForFunction((n) => document.querySelectorAll('#debt tbody tr[data-id]').length === n, ranked.length);
        const shown = await page.$$eval('#debt tbody tr[data-id]', (rows) => rows.map((r) => r.dataset.id));
        assert.deepEqual(shown, ranked);
        const debtText = (await rowTexts(page, '#debt tbody tr')).join('\n');
        assert.ok(debtText.includes(EVIL), 'the title is shown literally');
        assert.equal(await page.evaluate(() => window.__pwned), undefined);
        assert.equal(await page.locator('main img, main b:text("still")').count(), 0, 'no markup from a title');
        assert.match(await page.locator('#cards').innerText(), /served by new services/);

        const pause = page.locator('button[data-route="orders"][data-action="pause"]');
        const was = (await routeState(f)).status;
        await page.waitForSelector('button[data-route="orders"][data-action="pause"]:not([disabled])', { timeout: t(5000) });
        await pause.click();
        await page.waitForFunction(() => /403/.test(document.getElementById('errors').textContent), null, { timeout: t(5000) });
        assert.equal((await routeState(f)).status, was, 'a read token cannot pause');
        page.problems.length = 0; // the refused calls were logged as console errors
        await page.fill('#token', TOKENS.ops);
        await page.click('#token-save');
        await page.waitForSelector('button[data-route="orders"][data-action="pause"]:not([disabled])', { timeout: t(5000) });
        assert.equal(await page.evaluate(() => sessionStorage.getItem('ficus.admin.token')), TOKENS.ops);
        await pause.click();
        await page.waitForSelector('#routes tr[data-route="orders"] [data-status="paused"]', { timeout: t(5000) });
        assert.equal((await routeState(f)).status, 'paused', 'the API reports the route paused');
        const ev = (await events(f, 'orders')).at(-1);
        assert.equal(ev.kind, 'pause');
        assert.equal(ev.actor, 'ops', 'the page acted with the entered token');
        await page.waitForFunction(() => [...document.querySelectorAll('#events tbody td')].some((td) => td.textContent === 'pause'),
            null, { timeout: t(7000) });
        assert.deepEqual(page.problems, [], 'no console errors');

        // A wrong token is refused on every call (the reads too), shown on the page, and changes nothing.
        await page.evaluate(() => sessionStorage.setItem('ficus.admin.token', 'wrong-token'));
        await page.click('#token-save'); // re-render with the (still stored) wrong token
        await page.waitForFunction(() => /401/.test(document.getElementById('errors').textContent), null, { timeout: t(5000) });
        assert.equal((await routeState(f)).status, 'paused');
        await page.close();
    });

    test('renders with no migration and no debt, without console errors', async () => {
        const f = await startServer(defaultConfig(legacy));
        const page = await openDashboard(f);
        assert.match(await page.locator('#routes tbody').innerText(), /No migrating routes/);
        assert.match(await page.locator('#debt tbody').innerText(), /No debt items/);
        assert.match(await page.locator('#diffs').innerText(), /No shadowed routes/);
        assert.equal(await page.locator('#errors').innerText(), '');
        assert.deepEqual(page.problems, []);
        await page.close();
    });
});
