'use strict';
// Browser test of the demo (util/browser-test.sh starts nginx and runs it):
// the pages render the groups the module assigned, clicks become events and
// statistics, and the admin page drives the experiments, which the pages
// follow. Debian's chromium, driven by playwright-core.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const crypto = require('node:crypto');
const { hashGroup, expectedGroup } = require('../../sim/oracle.js');

const BASE = process.env.ABTEST_BASE_URL || 'http://127.0.0.1:5050';
const TOP = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(TOP, 'build', 'screenshots');

const BTN = 'homepage_button_test';
const HEAD = 'headline_test';
// the browser test's own experiment (t/browser/targeting.conf): only some
// devices enter it
const CHK = 'checkout_test';
const HEADLINES = { Future: 'Build the future with us',
                    Journey: 'Start your journey with us' };
const BUTTONS = { A: 'Sign up', B: 'Get started' };

const T = { timeout: 30000 };

let browser;

before(async () => {
    browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu',
               '--disable-background-networking', '--disable-dev-shm-usage'],
        timeout: 20000,
    });
});

after(async () => {
    if (browser) await browser.close();
});

/* the API, from node */

async function api(method, uri, body) {
    const res = await fetch(BASE + uri, {
        method,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10000),
    });
    const text = await res.text();
    let data;
    try {
        data = JSON.parse(text);
    } catch (e) {
        throw new Error(`${method} ${uri}: ${res.status}, not JSON: ${text}`);
    }
    return { status: res.status, data };
}

async function get(uri) {
    const r = await api('GET', uri);
    assert.equal(r.status, 200, `GET ${uri}: ${JSON.stringify(r.data)}`);
    return r.data;
}

async function update(body) {
    const r = await api('POST', '/api/experiments/update', body);
    assert.equal(r.status, 200, `update ${JSON.stringify(body)}: `
                 + JSON.stringify(r.data));
    return r.data;
}

async function lastEventId() {
    let since = 0;
    for (;;) {
        const page = await get(`/events?since=${since}&limit=10000`);
        if (!page.length) return since;
        since = page[page.length - 1].id;
        if (page.length < 10000) return since;
    }
}

async function eventsSince(since) {
    const all = [];
    for (;;) {
        const page = await get(`/events?since=${since}&limit=10000`);
        all.push(...page);
        if (page.length < 10000) return all;
        since = page[page.length - 1].id;
    }
}

async function postEvents(events) {
    for (let i = 0; i < events.length; i += 500) {
        const r = await api('POST', '/backend/events',
                            events.slice(i, i + 500));
        assert.equal(r.status, 200, JSON.stringify(r.data));
    }
}

/* devices whose groups are known in advance, from the oracle */

const FIFTY = { [BTN]: { A: 50, B: 50 }, [HEAD]: { Future: 50, Journey: 50 } };

function pickDevice(prefix, want, groups = FIFTY, skip = 0) {
    for (let i = 0; i < 100000; i++) {
        const id = `${prefix}-${i}`;
        if (Object.keys(want).every((e) => hashGroup(id, e, groups[e]) === want[e])
            && skip-- <= 0) {
            return id;
        }
    }
    throw new Error('no device found');
}

// a device's bucket of a share (README, Who enters): sha256(text) read as
// a big-endian integer, modulo 10000
function bucket(text) {
    const hex = crypto.createHash('sha256').update(text, 'utf8').digest('hex');
    return Number(BigInt('0x' + hex) % 10000n);
}

function pickBy(prefix, ok) {
    for (let i = 0; i < 100000; i++) {
        if (ok(`${prefix}-${i}`)) return `${prefix}-${i}`;
    }
    throw new Error('no device found');
}

async function entered(deviceId, name) {
    const eg = await get(`/api/expgroups?device_id=${encodeURIComponent(deviceId)}`);
    return eg[name].in_experiment ? 'in' : eg[name].reason;
}

/* pages */

async function newContext(deviceId, options = {}) {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(10000);
    if (deviceId) {
        await context.addCookies([{ name: 'device_id', value: deviceId,
                                    url: BASE }]);
    }
    return context;
}

function isEvent(res, name) {
    const req = res.request();
    if (req.method() !== 'POST' || !res.url().endsWith('/events')) return false;
    try {
        return JSON.parse(req.postData()).event === name;
    } catch (e) {
        return false;
    }
}

// loads a demo page, waits for its variant and its pageview; returns what
// it rendered
async function visit(page, uri, { click = false } = {}) {
    const pageview = page.waitForResponse((r) => isEvent(r, 'pageview'));
    const res = await page.goto(BASE + uri);
    assert.equal(res.status(), 200, `GET ${uri}`);
    if (uri === '/frontend') {
        await page.waitForSelector('body[data-rendered=api]');
    }
    const pv = await pageview;
    assert.equal(pv.status(), 200);
    // the page saw {"status":"ok"} (a keepalive request's body is not
    // Playwright's to read)
    await page.waitForSelector('body[data-sent~=pageview]');

    const seen = await page.evaluate(() => {
        const h1 = document.querySelector('h1[data-experiment]');
        const b = document.querySelector('button[data-experiment]');
        return {
            groups: { [h1.dataset.experiment]: h1.dataset.group,
                      [b.dataset.experiment]: b.dataset.group },
            headline: h1.textContent.trim(),
            button: b.textContent.trim(),
            buttonClass: b.className,
        };
    });
    const cookies = await page.context().cookies(BASE);
    seen.deviceId = (cookies.find((c) => c.name === 'device_id') || {}).value;
    seen.cookieGroup = (cookies.find((c) => c.name === 'exp_group') || {}).value;

    if (click) {
        const sent = page.waitForResponse((r) => isEvent(r, 'button_click'));
        await page.click('button[data-experiment]');
        const r = await sent;
        assert.equal(r.status(), 200);
        await page.waitForSelector('body[data-sent~=button_click]');
    }
    return seen;
}

// the page shows the variant of those groups, in every way it can
function assertRendered(seen, groups, where) {
    assert.equal(seen.groups[BTN], groups[BTN], `${where}: ${BTN}`);
    assert.equal(seen.groups[HEAD], groups[HEAD], `${where}: ${HEAD}`);
    assert.equal(seen.buttonClass, groups[BTN], `${where}: button class`);
    assert.equal(seen.button, BUTTONS[groups[BTN]], `${where}: button text`);
    assert.equal(seen.headline, HEADLINES[groups[HEAD]], `${where}: headline`);
    assert.equal(seen.cookieGroup, groups[BTN], `${where}: exp_group cookie`);
}

// what the module says and what the oracle says for a device now
async function assigned(deviceId) {
    const exps = await get('/api/experiments');
    const eg = await get(`/api/expgroups?device_id=${encodeURIComponent(deviceId)}`);
    const out = {};
    for (const name of [BTN, HEAD]) {
        const oracle = expectedGroup(deviceId, name, exps[name]);
        assert.equal(eg[name].group, oracle,
                     `${deviceId} ${name}: the module's group is the oracle's`);
        out[name] = oracle;
    }
    return out;
}

/* the admin page, watched for errors and CSP violations */

async function openAdmin(options = {}, setup = null) {
    const context = await newContext(null, options);
    const page = await context.newPage();
    if (setup) await setup(page);
    const problems = [];
    page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') {
            problems.push(`console ${m.type()}: ${m.text()}`);
        }
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
            console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
        });
    });
    const res = await page.goto(BASE + '/experiments');
    assert.equal(res.status(), 200);
    const csp = res.headers()['content-security-policy'];
    assert.match(csp, /script-src 'sha256-/);
    await page.waitForSelector(`section[data-experiment="${HEAD}"] table`);
    return { context, page, problems };
}

function card(page, name) {
    return page.locator(`section[data-experiment="${name}"]`);
}

async function cardState(page, name, state) {
    await page.waitForSelector(`section[data-experiment="${name}"]`
                               + `[data-state="${state}"][aria-busy="false"]`);
}

async function shownCount(page, name, group, field) {
    const text = await card(page, name)
        .locator(`tr[data-group="${group}"] td[data-field="${field}"]`)
        .textContent();
    return Number(text.replace(/[^0-9]/g, ''));
}

/* the tests, in order: each leaves the experiments active at 50/50 */

test('the oracle agrees with the seed\'s reference rows', T, () => {
    const rows = fs.readFileSync(path.join(TOP, 't/data/seed-assign.tsv'), 'utf8')
        .trim().split('\n').slice(1);
    assert.ok(rows.length >= 3000);
    for (const row of rows) {
        const [device, exp, spec, group] = row.split('\t');
        const groups = {};
        for (const part of spec.split(',')) {
            const i = part.lastIndexOf(':');
            groups[part.slice(0, i)] = Number(part.slice(i + 1));
        }
        assert.equal(hashGroup(device, exp, groups), group, row);
    }
});

test('both pages render the groups the module assigned', T, async () => {
    const exps = await get('/api/experiments');
    for (const name of [BTN, HEAD]) {
        assert.equal(exps[name].state, 'active');
        assert.deepEqual(exps[name].groups, FIFTY[name]);
    }

    // every combination of groups, and two devices new to the module
    const devices = [];
    for (const b of ['A', 'B']) {
        for (const h of ['Future', 'Journey']) {
            devices.push(pickDevice('render', { [BTN]: b, [HEAD]: h }));
        }
    }
    devices.push(null, null);

    for (const id of devices) {
        const context = await newContext(id);
        const page = await context.newPage();
        const server = await visit(page, '/');
        if (id) assert.equal(server.deviceId, id);
        else assert.match(server.deviceId, /^[0-9a-f-]{36}$/);
        const groups = await assigned(server.deviceId);
        assertRendered(server, groups, `/ for ${server.deviceId}`);

        const client = await visit(page, '/frontend');
        assert.equal(client.deviceId, server.deviceId);
        assertRendered(client, groups, `/frontend for ${server.deviceId}`);
        await context.close();
    }
});

test('the pages\' text never overlaps itself, at desktop and phone width',
     T, async () => {
    for (const width of [1280, 800, 390]) {
        const context = await newContext(null);
        const page = await context.newPage();
        await page.setViewportSize({ width, height: 800 });
        for (const uri of ['/', '/frontend']) {
            await visit(page, uri);
            // every line box of every inline element of the text: boxes of
            // different lines must not cross (a line too tight for its chips)
            const crossing = await page.evaluate(() => {
                const boxes = [];
                for (const el of document.querySelectorAll('main p *')) {
                    for (const r of el.getClientRects()) {
                        boxes.push({ el: el.textContent.slice(0, 20), r });
                    }
                }
                for (let i = 0; i < boxes.length; i++) {
                    for (let j = i + 1; j < boxes.length; j++) {
                        const a = boxes[i].r, b = boxes[j].r;
                        const w = Math.min(a.right, b.right)
                                  - Math.max(a.left, b.left);
                        const h = Math.min(a.bottom, b.bottom)
                                  - Math.max(a.top, b.top);
                        if (w > 1 && h > 1 && Math.abs(a.top - b.top) > 1) {
                            return `${boxes[i].el} and ${boxes[j].el}`;
                        }
                    }
                }
                return null;
            });
            assert.equal(crossing, null, `${uri} at ${width} px`);
        }
        await context.close();
    }
});

test('clicks become events and statistics', T, async () => {
    const since = await lastEventId();
    const before = await get('/api/stats');
    const devices = [pickDevice('click', { [BTN]: 'A', [HEAD]: 'Journey' }),
                     pickDevice('click', { [BTN]: 'B', [HEAD]: 'Future' })];

    for (const id of devices) {
        const context = await newContext(id);
        const page = await context.newPage();
        await visit(page, '/', { click: true });
        await visit(page, '/frontend', { click: true });
        await context.close();
    }

    const events = await eventsSince(since);
    for (const id of devices) {
        const mine = events.filter((e) => e.deviceId === id
                                          && e.source === 'browser');
        const groups = await assigned(id);
        assert.deepEqual(mine.map((e) => e.event).sort(),
                         ['button_click', 'button_click', 'pageview', 'pageview']);
        for (const e of mine) {
            assert.equal(e.device_id, id);
            assert.match(e.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
            assert.match(e.received, /Z$/);
            assert.deepEqual({ [BTN]: e.groups[BTN], [HEAD]: e.groups[HEAD] },
                             groups);
            assert.deepEqual(e.params, e.event === 'button_click'
                ? { btn_type: groups[BTN] } : {});
        }
        // the page rendered in the browser asked the API, which said so
        assert.ok(events.some((e) => e.deviceId === id && e.source === 'backend'
                                     && e.event === 'exp_groups'));
    }

    const now = await get('/api/stats');
    for (const [name, groups] of [[BTN, ['A', 'B']], [HEAD, ['Journey', 'Future']]]) {
        for (const g of groups) {
            const d = (f) => now[name].groups[g][f] - before[name].groups[g][f];
            assert.equal(d('exposures'), 2, `${name} ${g} exposures`);
            assert.equal(d('conversions'), 2, `${name} ${g} conversions`);
        }
    }
});

test('the admin page shows every experiment and refreshes its results', T,
     async () => {
    const { context, page, problems } = await openAdmin();
    const exps = await get('/api/experiments');
    let stats = await get('/api/stats');

    for (const name of Object.keys(exps)) {
        const c = card(page, name);
        await assert.doesNotReject(c.getByRole('heading',
                                               { name: exps[name].title }).waitFor());
        assert.equal(await c.locator('code').first().textContent(), name);
        assert.equal(await c.getAttribute('data-state'), 'active');
        for (const g of Object.keys(exps[name].groups)) {
            assert.equal(await c.getByLabel(new RegExp(`^${g}\\b`)).inputValue(),
                         String(exps[name].groups[g]));
            assert.equal(await shownCount(page, name, g, 'exposures'),
                         stats[name].groups[g].exposures);
        }
        // only the allowed transitions of an active experiment
        assert.deepEqual(await c.locator('.state-controls button')
                             .evaluateAll((bs) => bs.map((b) => b.dataset.action)),
                         ['rollout', 'inactive']);
    }

    // new events show up without a reload
    await page.evaluate(() => { window.stillHere = true; });
    const a = pickDevice('live', { [BTN]: 'A' });
    const before = stats[BTN].groups.A.exposures;
    await postEvents([{ event: 'pageview', deviceId: a, source: 'browser' }]);
    await page.waitForFunction(({ name, n }) => {
        const td = document.querySelector(`section[data-experiment="${name}"] `
                                          + 'tr[data-group="A"] '
                                          + 'td[data-field="exposures"]');
        return td && Number(td.textContent.replace(/[^0-9]/g, '')) === n;
    }, { name: BTN, n: before + 1 }, { timeout: 12000 });
    assert.equal(await page.evaluate(() => window.stillHere), true);

    assert.deepEqual(problems, []);
    await context.close();
});

test('with a store, the admin page shows the fleet\'s figures per device',
     T, async () => {
    // the demo has no store: its stats answer, with what a server with
    // one adds (README, The fleet's figures), stand in for the fleet's
    const stats = await get('/api/stats');
    const now = new Date().toISOString();
    const fleet = JSON.parse(JSON.stringify(stats));
    const devices = { A: [480, 53], B: [470, 81] };
    for (const g of Object.keys(devices)) {
        const [n, x] = devices[g];
        fleet[BTN].groups[g].devices = {
            exposures: n, conversions: x, rate: x / n, error: null,
            ci95: [x / n - 0.02, x / n + 0.02],
            uplift: g === 'A' ? null : (x / n) / (53 / 480) - 1,
            p_value: g === 'A' ? null : 0.0123,
            p_value_sequential: g === 'A' ? null : 0.0312,
            chance_to_beat_control: g === 'A' ? null : 0.978,
            expected_loss: g === 'A' ? null : 0.00021 };
    }
    Object.assign(fleet[BTN], { multiple: 2, source: 'store', as_of: now,
                                lag: 0.4, stale: false,
                                nodes: { web2: now, web1: now } });

    let answer = fleet;
    const { context, page, problems } = await openAdmin({}, (p) =>
        p.route(/\/api\/stats/, (route) => route.fulfill({
            status: 200, contentType: 'application/json',
            body: JSON.stringify(answer) })));

    const box = card(page, BTN).locator('.fleet');
    await box.waitFor();
    for (const g of Object.keys(devices)) {
        const row = box.locator(`tr[data-group="${g}"]`);
        assert.equal(await row.locator('td[data-field="devices-exposures"]')
                              .textContent(), String(devices[g][0]));
        assert.equal(await row.locator('td[data-field="devices-conversions"]')
                              .textContent(), String(devices[g][1]));
    }
    const line = await box.locator('p[data-field="fleet"]').textContent();
    assert.match(line, /^2 device\(s\) seen in more than one group/);
    assert.match(line, /Newest event 0\.4 s old/);
    assert.match(line, /last minute: web1, web2\./);
    assert.equal(await box.getAttribute('data-stale'), 'no');
    // the decision is the devices' where they are counted
    const btn = card(page, BTN);
    assert.match(await btn.locator('.decision h4').textContent(), /per device$/);
    assert.equal(await btn.locator('.decision tr[data-group="B"] '
                                   + 'td[data-field="chance"]').textContent(),
                 '97.8%');
    assert.equal(await btn.locator('.decision tr[data-group="B"] '
                                   + 'td[data-field="loss"]').textContent(),
                 '0.021%');
    assert.match(await btn.locator('p[data-field="verdict"]').textContent(),
                 /^B beats A: chance 97\.8%, significant at any look; /);
    // this server's own device figures (the demo's zone counts them)
    assert.equal(await card(page, HEAD).locator('.fleet h4').textContent(),
                 'Per device');
    await page.screenshot({ path: path.join(SHOTS, 'admin-fleet.png'),
                            fullPage: true });

    // the store unreachable: the last figures, said stale with the reason
    answer = JSON.parse(JSON.stringify(fleet));
    Object.assign(answer[BTN], { stale: true, devices_complete: false,
                                 reason: 'no answer within 2000 ms' });
    await page.waitForSelector(`section[data-experiment="${BTN}"] `
                               + '.fleet[data-stale="yes"]',
                               { timeout: 12000 });
    assert.match(await box.locator('[data-field="stale"]').textContent(),
                 /Stale: the store cannot be read now \(no answer within 2000 ms\)/);
    // and a full devices' table is said
    assert.match(await box.locator('[data-field="devices-incomplete"]')
                          .textContent(), /^Incomplete: the devices' table is full/);

    assert.deepEqual(problems, []);
    await context.close();
});

test('state changes on the admin page, and the pages follow', T, async () => {
    const { context, page, problems } = await openAdmin();
    const id = pickDevice('state', { [BTN]: 'A', [HEAD]: 'Journey' });
    const visitor = await newContext(id);
    const vpage = await visitor.newPage();

    assertRendered(await visit(vpage, '/'), { [BTN]: 'A', [HEAD]: 'Journey' },
                   'before');

    // roll out B, deactivate the headline
    const btn = card(page, BTN);
    await btn.getByLabel('Rollout group').selectOption('B');
    await btn.getByRole('button', { name: 'Roll out' }).click();
    await cardState(page, BTN, 'rollout');
    await card(page, HEAD).getByRole('button', { name: 'Deactivate', exact: true }).click();
    await cardState(page, HEAD, 'inactive');

    let exps = await get('/api/experiments');
    assert.equal(exps[BTN].state, 'rollout');
    assert.equal(exps[BTN].rollout_group, 'B');
    assert.equal(exps[HEAD].state, 'inactive');
    assert.match(await btn.locator('.badge').first().textContent(), /Rolled out/);
    assert.deepEqual(await btn.locator('.state-controls button')
                         .evaluateAll((bs) => bs.map((b) => b.dataset.action)),
                     ['rollout-group', 'active']);
    assert.deepEqual(await card(page, HEAD).locator('.state-controls button')
                         .evaluateAll((bs) => bs.map((b) => b.dataset.action)),
                     ['active']);

    // the pages follow on their next load: everyone B, headline's fallback
    const follow = { [BTN]: 'B', [HEAD]: 'Future' };
    assert.deepEqual(await assigned(id), follow);
    assertRendered(await visit(vpage, '/'), follow, '/ in rollout');
    assertRendered(await visit(vpage, '/frontend'), follow, '/frontend in rollout');
    const fresh = await newContext(null);
    const fpage = await fresh.newPage();
    assertRendered(await visit(fpage, '/'), follow, 'a new device in rollout');
    await fresh.close();

    // and back
    await btn.getByRole('button', { name: 'Reactivate', exact: true }).click();
    await cardState(page, BTN, 'active');
    await card(page, HEAD).getByRole('button', { name: 'Activate', exact: true }).click();
    await cardState(page, HEAD, 'active');
    exps = await get('/api/experiments');
    assert.equal(exps[BTN].state, 'active');
    assert.equal(exps[BTN].rollout_group, null);
    assert.equal(exps[HEAD].state, 'active');

    const back = { [BTN]: 'A', [HEAD]: 'Journey' };
    assert.deepEqual(await assigned(id), back);
    assertRendered(await visit(vpage, '/'), back, '/ active again');
    assertRendered(await visit(vpage, '/frontend'), back, '/frontend active again');

    // re-activation started the statistics afresh
    const stats = await get('/api/stats');
    assert.equal(stats[BTN].since, exps[BTN].started);

    await visitor.close();
    assert.deepEqual(problems, []);
    await context.close();
});

test('weights: validated on the page, saved through the API', T, async () => {
    const { context, page, problems } = await openAdmin();
    const c = card(page, HEAD);
    const future = c.getByLabel(/^Future\b/);
    const journey = c.getByLabel(/^Journey\b/);
    const save = c.getByRole('button', { name: 'Save weights' });
    let posts = 0;
    page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith('/update')) posts++;
    });

    for (const bad of ['0', '1.5', '-3', '']) {
        await future.fill(bad);
        await save.click();
        await assert.doesNotReject(c.locator('.field-error')
            .getByText('Weight of Future: enter a whole number of 1 or more.')
            .waitFor());
        assert.equal(await future.getAttribute('aria-invalid'), 'true');
    }
    assert.equal(posts, 0, 'nothing is sent while a weight is invalid');

    await future.fill('30');
    await journey.fill('70');
    await assert.doesNotReject(c.getByText('(30.0%)').waitFor());
    await save.click();
    await c.locator('.msg.ok').getByText('Weights saved').waitFor();
    assert.equal(posts, 1);
    let exps = await get('/api/experiments');
    assert.deepEqual(exps[HEAD].groups, { Future: 30, Journey: 70 });
    assert.match(await c.locator('.meta').textContent(), /Future 30 \(30%\)/);

    // devices new to the module follow the new weights
    const id = pickDevice('weights', { [HEAD]: 'Journey' },
                          { [HEAD]: { Future: 30, Journey: 70 } });
    assert.equal((await assigned(id))[HEAD], 'Journey');

    await future.fill('50');
    await journey.fill('50');
    await save.click();
    await c.locator('.msg.ok').getByText('Future 50, Journey 50').waitFor();
    exps = await get('/api/experiments');
    assert.deepEqual(exps[HEAD].groups, FIFTY[HEAD]);

    assert.deepEqual(problems, []);
    await context.close();
});

test('coverage, target, layer, holdout and schedule: shown, and edited',
     T, async () => {
    let exps = await get('/api/experiments');
    assert.equal(exps[CHK].coverage, 0.2);
    assert.equal(exps[CHK].target, '$ab_human');
    assert.deepEqual(exps[CHK].layer, { name: 'checkout', from: 0, to: 0.6 });
    assert.equal(exps[CHK].start, null);
    assert.equal(exps[CHK].stop, '2099-12-31T00:00:00.000Z');
    for (const name of [BTN, HEAD]) {
        assert.equal(exps[name].coverage, 1);
        assert.equal(exps[name].target, null);
        assert.equal(exps[name].layer, null);
    }
    for (const name of Object.keys(exps)) assert.equal(exps[name].holdout, 0);

    // in checkout_test's 60% of its layer, and in at 35.5% but not at 20%
    const more = pickBy('coverage', (id) =>
        bucket(`${id}:layer:checkout`) < 6000
        && bucket(`${id}:${CHK}:coverage`) >= 2000
        && bucket(`${id}:${CHK}:coverage`) < 3550
        && bucket(`${id}:holdout`) >= 500);
    // held out at 5%
    const held = pickBy('holdout', (id) => bucket(`${id}:holdout`) < 500);
    assert.equal(await entered(more, CHK), 'coverage');
    assert.equal(await entered(held, BTN), 'in');

    const { context, page, problems } = await openAdmin();
    let posts = 0;
    page.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith('/update')) posts++;
    });
    const c = card(page, CHK);
    const shown = (cd, field) => cd.locator(`.meta dd[data-field="${field}"]`);
    // waits until the page shows it (it refreshes after each change)
    const shows = (cd, field, text) => shown(cd, field)
        .filter({ hasText: text }).waitFor();

    // as configured
    assert.equal(await shown(c, 'coverage').textContent(), '20%');
    assert.equal(await shown(c, 'target').textContent(), '$ab_human');
    assert.equal(await shown(c, 'layer').textContent(), 'checkout, 0%\u201360%');
    assert.equal(await shown(c, 'schedule-start').textContent(), '\u2014');
    assert.match(await shown(c, 'schedule-stop').textContent(),
                 /^2099-12-31 00:00:00 UTC \u00b7 in [0-9,]+ days$/);
    const b = card(page, BTN);
    assert.equal(await shown(b, 'coverage').textContent(), '100%');
    assert.equal(await shown(b, 'target').textContent(), 'every device');
    assert.equal(await shown(b, 'layer').textContent(), 'none');
    assert.match(await shown(b, 'started').textContent(), /\d\d:\d\d:\d\d/);
    const panel = page.getByRole('region', { name: 'Holdout', exact: true });
    assert.equal(await panel.locator('[data-field="holdout"]').textContent(),
                 'none');

    // coverage: checked on the page, saved through the API
    const coverage = c.getByLabel('Coverage (%)');
    const saveCoverage = c.getByRole('button', { name: 'Save coverage' });
    assert.equal(await coverage.inputValue(), '20');
    for (const bad of ['101', '-1', '12.345', '']) {
        await coverage.fill(bad);
        await saveCoverage.click();
        await c.locator('.field-error').getByText('Coverage: enter a '
                                                  + 'percentage').waitFor();
        assert.equal(await coverage.getAttribute('aria-invalid'), 'true');
    }
    assert.equal(posts, 0, 'nothing is sent while the coverage is invalid');
    await coverage.fill('35.5');
    await saveCoverage.click();
    await c.locator('.msg.ok').getByText('Coverage saved: 35.5%.').waitFor();
    assert.equal(posts, 1);
    exps = await get('/api/experiments');
    assert.equal(exps[CHK].coverage, 0.355);
    await shows(c, 'coverage', /^35\.5%$/);
    assert.equal(await entered(more, CHK), 'in', 'raised coverage adds it');

    // the schedule, in UTC
    const start = c.getByLabel('Start (UTC)');
    const stop = c.getByLabel('Stop (UTC)');
    const saveSchedule = c.getByRole('button', { name: 'Save schedule' });
    assert.equal(await start.inputValue(), '');
    assert.match(await stop.inputValue(), /^2099-12-31T00:00(:00)?$/);
    await start.fill('2099-01-01T08:30');
    await stop.fill('2099-06-30T12:00:15');
    await saveSchedule.click();
    await c.locator('.msg.ok').getByText('Schedule saved: start '
        + '2099-01-01T08:30:00Z, stop 2099-06-30T12:00:15Z.').waitFor();
    exps = await get('/api/experiments');
    assert.equal(exps[CHK].start, '2099-01-01T08:30:00.000Z');
    assert.equal(exps[CHK].stop, '2099-06-30T12:00:15.000Z');
    await shows(c, 'schedule-start', /^2099-01-01 08:30:00 UTC /);
    await shows(c, 'schedule-stop', /^2099-06-30 12:00:15 UTC /);
    assert.equal(await entered(more, CHK), 'schedule', 'before the start');

    // a stop before the start: the API's refusal is shown, nothing changes
    const refused = await api('POST', '/api/experiments/update',
                              { name: CHK, start: '2099-07-01T00:00:00Z',
                                stop: '2099-06-30T12:00:15Z' });
    assert.equal(refused.status, 400);
    await start.fill('2099-07-01T00:00');
    await saveSchedule.click();
    const alert = c.locator('.msg.err[role=alert]');
    await alert.waitFor();
    assert.equal(await alert.textContent(),
                 `400 Bad Request: ${refused.data.error}`);
    exps = await get('/api/experiments');
    assert.equal(exps[CHK].start, '2099-01-01T08:30:00.000Z');

    // and back as configured: no start
    await start.fill('');
    await stop.fill('2099-12-31T00:00');
    await saveSchedule.click();
    await c.locator('.msg.ok').getByText('Schedule saved: no start, stop '
                                         + '2099-12-31T00:00:00Z.').waitFor();
    exps = await get('/api/experiments');
    assert.equal(exps[CHK].start, null);
    assert.equal(exps[CHK].stop, '2099-12-31T00:00:00.000Z');
    await shows(c, 'schedule-start', /^\u2014$/);
    assert.equal(await entered(more, CHK), 'in');
    await coverage.fill('20');
    await saveCoverage.click();
    await c.locator('.msg.ok').getByText('Coverage saved: 20%.').waitFor();
    assert.equal((await get('/api/experiments'))[CHK].coverage, 0.2);
    assert.equal(await entered(more, CHK), 'coverage');

    // the holdout, server-wide: every experiment's
    const holdout = panel.getByLabel('Holdout (%)');
    assert.equal(await holdout.inputValue(), '0');
    await holdout.fill('5');
    await panel.getByRole('button', { name: 'Save holdout' }).click();
    await panel.locator('.msg.ok').getByText('Holdout saved: 5%.').waitFor();
    exps = await get('/api/experiments');
    for (const name of Object.keys(exps)) {
        assert.equal(exps[name].holdout, 0.05, name);
    }
    await panel.locator('[data-field="holdout"]')
        .filter({ hasText: /^5% of devices$/ }).waitFor();
    assert.equal(await entered(held, BTN), 'holdout');
    assert.equal(await entered(held, HEAD), 'holdout');
    await holdout.fill('0');
    await panel.getByRole('button', { name: 'Save holdout' }).click();
    await panel.locator('.msg.ok').getByText('Holdout saved: 0%.').waitFor();
    exps = await get('/api/experiments');
    for (const name of Object.keys(exps)) assert.equal(exps[name].holdout, 0);
    await panel.locator('[data-field="holdout"]')
        .filter({ hasText: /^none$/ }).waitFor();
    assert.equal(await entered(held, BTN), 'in');

    // the refused schedule is a failed load for the browser; nothing else
    assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
    await context.close();
});

test('the API\'s errors are shown', T, async () => {
    const { context, page, problems } = await openAdmin();
    await page.getByLabel('Auto-refresh').uncheck();

    // the experiment stops behind the page's back; its Roll out is stale
    await update({ name: BTN, state: 'inactive' });
    const refused = await api('POST', '/api/experiments/update',
                              { name: BTN, state: 'rollout', rollout_group: 'B' });
    assert.equal(refused.status, 409);

    const c = card(page, BTN);
    await c.getByRole('button', { name: 'Roll out' }).click();
    const alert = c.locator('.msg.err[role=alert]');
    await alert.waitFor();
    assert.equal(await alert.textContent(), `409 Conflict: ${refused.data.error}`);

    // the page catches up, then offers only what is allowed
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await cardState(page, BTN, 'inactive');
    await c.getByRole('button', { name: 'Activate', exact: true }).click();
    await cardState(page, BTN, 'active');
    assert.equal((await get('/api/experiments'))[BTN].state, 'active');

    // the console shows the refused request (a 409 is a failed resource
    // load for the browser); nothing else
    assert.deepEqual(problems.filter((p) => !/status of 409/.test(p)), []);
    await context.close();
});

test('results, a sample ratio mismatch, reset; screenshots', T, async () => {
    // traffic: every device a pageview, clicks 10% in A and 20% in B; then
    // devices in Future only, which the headline's split does not explain
    const events = [];
    for (let i = 0; i < 800; i++) {
        const id = `traffic-${i}`;
        const g = hashGroup(id, BTN, FIFTY[BTN]);
        events.push({ event: 'pageview', deviceId: id, source: 'browser',
                      params: {} });
        if ((i * 7919) % 100 < (g === 'A' ? 10 : 20)) {
            events.push({ event: 'button_click', deviceId: id, source: 'browser',
                          params: { btn_type: g } });
        }
    }
    for (let i = 0; i < 300; i++) {
        events.push({ event: 'pageview', source: 'browser', params: {},
                      deviceId: pickDevice('srm', { [HEAD]: 'Future' }, FIFTY, i) });
    }
    await postEvents(events);

    const stats = await get('/api/stats');
    assert.equal(stats[HEAD].srm.mismatch, true);
    assert.equal(stats[BTN].srm.mismatch, false);

    const { context, page, problems } = await openAdmin();
    const head = card(page, HEAD);
    const warning = head.locator('.srm-warning[role=alert]');
    await assert.doesNotReject(warning.getByText('Sample ratio mismatch').waitFor());
    assert.equal(await card(page, BTN).locator('.srm-warning').isVisible(), false);

    // the numbers are the API's
    const s = stats[BTN].groups.B;
    const rate = await card(page, BTN)
        .locator('tr[data-group="B"] td[data-field="rate"]').textContent();
    assert.ok(rate.includes(`${(s.rate * 100).toFixed(2)}%`), rate);
    assert.ok(rate.includes(`[${(s.ci95[0] * 100).toFixed(2)}%, `
                            + `${(s.ci95[1] * 100).toFixed(2)}%]`), rate);
    assert.equal(await card(page, BTN)
        .locator('tr[data-group="B"] td[data-field="error"]').textContent(),
                 `\u00b1 ${(s.error * 100).toFixed(2)}%`);

    // the decision: chance to beat control, expected loss, the sequential
    // verdict, the planned sample, and the line that says it in words
    const btnCard = card(page, BTN);
    const row = (g, field) => btnCard.locator(`.decision tr[data-group="${g}"] `
                                              + `td[data-field="${field}"]`);
    const st = stats[BTN];
    const plan = st.sample_size;
    assert.equal(typeof s.chance_to_beat_control, 'number');
    // near-certainties are not rounded to one
    const chanceText = (c) => (c > 0.999 ? '> 99.9%' : c < 0.001 ? '< 0.1%'
                               : `${(c * 100).toFixed(1)}%`);
    assert.equal(await row('B', 'chance').textContent(),
                 chanceText(s.chance_to_beat_control));
    assert.equal(await row('B', 'loss').textContent(),
                 s.expected_loss < 0.00001
                   ? '< 0.001%' : `${(s.expected_loss * 100).toFixed(3)}%`);
    assert.equal(await row('A', 'chance').textContent(), '\u2014');
    const sig = s.p_value_sequential < plan.alpha;
    assert.match(await row('B', 'sequential').textContent(),
                 sig ? /^significant p / : /^not yet p /);
    assert.equal(typeof plan.per_group, 'number');
    for (const g of ['A', 'B']) {
        assert.match(await row(g, 'progress').textContent(),
                     new RegExp(`^${Math.round(st.groups[g].exposures
                                               / plan.per_group * 100)}%`));
    }
    const leader = s.chance_to_beat_control >= 0.5;
    const chance = leader ? s.chance_to_beat_control
                          : 1 - s.chance_to_beat_control;
    const verdict = await btnCard.locator('p[data-field="verdict"]')
                                 .textContent();
    assert.ok(verdict.startsWith(`${leader ? 'B beats A' : 'A beats B'}: `
                                 + `chance ${chanceText(chance)}, `
                                 + (sig ? 'significant at any look'
                                        : 'not significant yet')), verdict);
    assert.ok(verdict.endsWith(`; ${(plan.reached * 100).toFixed(0)}% of the `
                               + `planned sample (${plan.per_group
                                   .toLocaleString('en-US')} per group for a `
                               + '10% lift).'), verdict);

    fs.mkdirSync(SHOTS, { recursive: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: path.join(SHOTS, 'admin.png'), fullPage: true });

    const phone = await openAdmin({ viewport: { width: 390, height: 844 },
                                    deviceScaleFactor: 2, isMobile: true,
                                    hasTouch: true });
    await card(phone.page, HEAD).locator('.srm-warning').waitFor();
    const overflow = await phone.page.evaluate(() =>
        document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the phone page scrolls sideways by ${overflow}px`);
    await phone.page.screenshot({ path: path.join(SHOTS, 'admin-phone.png'),
                                  fullPage: true });
    await phone.page.setViewportSize({ width: 375, height: 812 });
    assert.ok(await phone.page.evaluate(() =>
        document.documentElement.scrollWidth <= window.innerWidth));
    assert.deepEqual(phone.problems, []);
    await phone.context.close();

    // reset: a second click confirms
    const reset = head.getByRole('button', { name: 'Reset statistics' });
    await reset.click();
    await head.getByRole('button', { name: 'Click again to reset' }).click();
    await head.locator('.msg.ok').getByText('Statistics reset.').waitFor();
    await page.waitForFunction((name) => {
        const c = document.querySelector(`section[data-experiment="${name}"]`);
        return c.dataset.srm === 'ok' && [...c.querySelectorAll(
            'td[data-field="exposures"]')].every((td) => td.textContent === '0');
    }, HEAD);
    assert.equal(await warning.isVisible(), false);
    const after = await get('/api/stats');
    assert.equal(after[HEAD].groups.Future.exposures, 0);
    assert.ok(after[BTN].groups.A.exposures > 0, 'the other experiment keeps its');

    assert.deepEqual(problems, []);
    await context.close();
});

test('hostile event names from clients take no place, and never run', T,
     async () => {
    // only the names the configuration lists are counted by name; a
    // client's other names are counted together, and never reach the page
    const names = ['<img src=x onerror="window.__xss=1">',
                   '</li><script>window.__xss=2</script>'];
    const deviceId = pickDevice('hostile', { [BTN]: 'A' });
    const before = (await get('/api/stats'))[BTN].groups.A.other_events;
    await postEvents(names.map((event) => ({ event, deviceId, params: {} })));
    const stats = await get('/api/stats');
    for (const n of names) {
        assert.equal(stats[BTN].groups.A.events[n], undefined, n);
    }
    assert.equal(stats[BTN].groups.A.other_events, before + names.length);

    const { context, page, problems } = await openAdmin();
    // where devices are counted, the figures counted in events are a fold
    const fold = card(page, BTN).locator('details.by-events');
    assert.equal(await fold.count(), 1);
    await fold.locator(':scope > summary').click();
    const details = card(page, BTN).locator('details.events');
    await details.locator('summary').click();
    const li = details.locator('li').filter({
        hasText: `others ${before + names.length}` });
    await li.waitFor();
    const text = await details.textContent();
    for (const n of names) {
        assert.ok(!text.includes(n), `not shown: ${text}`);
    }
    assert.equal(await details.locator('img, script').count(), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.deepEqual(problems, []);
    await context.close();
});
