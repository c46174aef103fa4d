#!/usr/bin/env node
'use strict';
// Visit simulator: the seed demo's simulate_visits.py for the nginx module.
//
//   node sim/simulate.js [-n 1000] [options]     (make simulate N=1000)
//
// Each visit is a new device: a fresh browser context (a fresh cookie jar)
// in Debian's headless Chromium, or with --http plain HTTP requests with a
// fresh cookie jar. The visit loads the page, which sends a pageview, and
// clicks its button with the probability of its group in the click
// experiment. Then it prints what the seed prints, computed from the
// events the module stored (GET /events), and the module's own statistics
// (GET /api/stats) beside them.

const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');
const { expectedGroup, expectedShares } = require('./oracle.js');

const USAGE = `usage: node sim/simulate.js [options]

  -n, --num-visits N     visits, each a new device (default 1000)
      --http             plain HTTP requests instead of Chromium (fast)
  -c, --concurrency N    visits at once (default 4 with Chromium, 64 --http)
      --click G=P,...    click probability per group of the click experiment
                         (default A=0.1,B=0.2)
      --click-exp NAME   the experiment whose group decides the click
                         (default homepage_button_test)
      --page PATH        the page visited: / (rendered by nginx, default) or
                         /frontend (rendered in the browser)
      --reset            reset every experiment's statistics first
      --seed N           seed of the click draws (default: random)
      --base URL         the demo (default http://127.0.0.1:5000)
      --timeout MS       per visit (default 20000)
      --no-progress      no progress bar on stderr
  -h, --help`;

/* options */

function parseArgs(argv) {
    const o = {
        n: 1000, http: false, concurrency: 0, click: { A: 0.1, B: 0.2 },
        clickExp: 'homepage_button_test', page: '/', reset: false,
        seed: null, base: process.env.ABTEST_BASE_URL || 'http://127.0.0.1:5000',
        timeout: 20000, progress: true,
    };
    const args = argv.slice();
    const value = (a) => {
        const eq = a.indexOf('=');
        if (a.startsWith('--') && eq > 0) return a.slice(eq + 1);
        if (!args.length) fail(`${a}: needs a value`);
        return args.shift();
    };
    const int = (a, v, min) => {
        if (!/^[0-9]+$/.test(v) || Number(v) < min) {
            fail(`${a}: expected an integer >= ${min}, got "${v}"`);
        }
        return Number(v);
    };

    while (args.length) {
        const a = args.shift();
        const name = a.startsWith('--') ? a.split('=')[0] : a;
        switch (name) {
        case '-n': case '--num-visits': o.n = int(a, value(a), 1); break;
        case '--http': o.http = true; break;
        case '-c': case '--concurrency': o.concurrency = int(a, value(a), 1); break;
        case '--click': o.click = parseClick(value(a)); break;
        case '--click-exp': o.clickExp = value(a); break;
        case '--page': o.page = value(a); break;
        case '--reset': o.reset = true; break;
        case '--seed': o.seed = int(a, value(a), 0); break;
        case '--base': o.base = value(a).replace(/\/+$/, ''); break;
        case '--timeout': o.timeout = int(a, value(a), 100); break;
        case '--no-progress': o.progress = false; break;
        case '-h': case '--help': console.log(USAGE); process.exit(0); break;
        default: fail(`unknown option "${a}"\n${USAGE}`);
        }
    }

    if (!o.page.startsWith('/')) fail('--page: a path starting with /');
    if (!o.concurrency) o.concurrency = o.http ? 64 : 4;
    if (o.seed === null) o.seed = crypto.randomInt(2 ** 31);
    return o;
}

function parseClick(s) {
    const click = {};
    for (const part of s.split(',')) {
        const m = /^([A-Za-z0-9_.-]+)=([0-9]*\.?[0-9]+)$/.exec(part.trim());
        if (!m || Number(m[2]) > 1) {
            fail(`--click: expected GROUP=PROBABILITY,... with probabilities `
                 + `from 0 to 1, got "${s}"`);
        }
        click[m[1]] = Number(m[2]);
    }
    return click;
}

function fail(msg) {
    process.stderr.write(`simulate: ${msg}\n`);
    process.exit(2);
}

/* a small seeded generator (mulberry32), so that a run can be repeated */

function rng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6D2B79F5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/* HTTP with keep-alive connections */

function makeClient(base, sockets) {
    const url = new URL(base);
    const mod = url.protocol === 'https:' ? https : http;
    const agent = new mod.Agent({ keepAlive: true, maxSockets: sockets,
                                  maxFreeSockets: sockets });

    function request(method, path, { headers = {}, body = null,
                                     timeout = 20000 } = {}) {
        return new Promise((resolve, reject) => {
            const h = Object.assign({}, headers);
            if (body !== null) h['Content-Length'] = Buffer.byteLength(body);
            const req = mod.request({
                protocol: url.protocol, hostname: url.hostname,
                port: url.port, path, method, headers: h, agent,
            }, (res) => {
                const chunks = [];
                res.on('data', (c) => chunks.push(c));
                res.on('end', () => resolve({
                    status: res.statusCode, headers: res.headers,
                    body: Buffer.concat(chunks).toString('utf8'),
                }));
                res.on('error', reject);
            });
            req.setTimeout(timeout, () => {
                req.destroy(new Error(`${method} ${path}: no answer in `
                                      + `${timeout} ms`));
            });
            req.on('error', reject);
            if (body !== null) req.write(body);
            req.end();
        });
    }

    async function json(method, path, body) {
        const res = await request(method, path, body === undefined ? {} : {
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
        });
        let data;
        try {
            data = JSON.parse(res.body);
        } catch (e) {
            throw new Error(`${method} ${path}: ${res.status}, not JSON`);
        }
        if (res.status !== 200) {
            throw new Error(`${method} ${path}: ${res.status} `
                            + `${data && data.error ? data.error : res.body}`);
        }
        return data;
    }

    return { request, json, agent };
}

/* events: read from a given id on, following the ring while visits run */

const PAGE = 10000;

async function lastEventId(api) {
    let since = 0;
    for (;;) {
        const page = await api.json('GET', `/events?since=${since}&limit=${PAGE}`);
        if (!page.length) return since;
        since = page[page.length - 1].id;
        if (page.length < PAGE) return since;
    }
}

function eventTail(api, since) {
    const events = [];
    let last = since;
    let lost = 0;
    let stop = false;
    let error = null;

    async function readAll() {
        for (;;) {
            const page = await api.json('GET',
                                        `/events?since=${last}&limit=${PAGE}`);
            if (!page.length) return;
            if (last && page[0].id > last + 1) lost += page[0].id - last - 1;
            for (const e of page) {
                events.push({
                    id: e.id, event: e.event, source: e.source,
                    deviceId: e.deviceId, groups: e.groups || {},
                    btn: e.params && e.params.btn_type,
                });
            }
            last = page[page.length - 1].id;
            if (page.length < PAGE) return;
        }
    }

    const loop = (async () => {
        while (!stop) {
            try {
                await readAll();
            } catch (e) {
                error = e;
                return;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
    })();

    return {
        async finish() {
            stop = true;
            await loop;
            if (error) throw error;
            await readAll();
            return { events, lost };
        },
    };
}

/* progress bar on stderr */

function progress(total, enabled) {
    const tty = process.stderr.isTTY;
    const start = Date.now();
    let done = 0, failed = 0, shown = 0, lastDecile = -1;

    function draw(final) {
        if (!enabled) return;
        const now = Date.now();
        if (!final && tty && now - shown < 100) return;
        shown = now;
        const s = (now - start) / 1000;
        const rate = done / Math.max(s, 0.001);
        const eta = rate > 0 ? (total - done) / rate : 0;
        const frac = done / total;
        if (tty) {
            const width = 30;
            const full = Math.round(frac * width);
            process.stderr.write(
                `\r[${'#'.repeat(full)}${'-'.repeat(width - full)}] `
                + `${done}/${total} ${(frac * 100).toFixed(0)}% `
                + `${rate.toFixed(1)} visits/s `
                + (final ? `${s.toFixed(1)} s   ` : `ETA ${eta.toFixed(0)} s   `)
                + (failed ? `${failed} failed ` : '')
                + (final ? '\n' : ''));
        } else {
            const decile = Math.floor(frac * 10);
            if (decile !== lastDecile) {
                lastDecile = decile;
                process.stderr.write(`simulate: ${done}/${total} visits `
                                     + `(${(frac * 100).toFixed(0)}%), `
                                     + `${rate.toFixed(1)} visits/s`
                                     + (failed ? `, ${failed} failed` : '')
                                     + '\n');
            }
        }
    }

    return {
        tick(ok) { done++; if (!ok) failed++; draw(false); },
        end() { draw(true); },
    };
}

/* running visits with bounded concurrency */

async function runPool(n, concurrency, visit, bar) {
    const results = new Array(n);
    let next = 0;
    async function worker() {
        while (next < n) {
            const i = next++;
            try {
                results[i] = await visit(i);
                bar.tick(true);
            } catch (e) {
                results[i] = { error: e.message || String(e) };
                bar.tick(false);
            }
        }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    bar.end();
    return results;
}

/* a visit over plain HTTP: the requests and events the page would make */

function cookiesOf(res) {
    const jar = {};
    for (const line of res.headers['set-cookie'] || []) {
        const m = /^([^=;\s]+)=([^;]*)/.exec(line);
        if (m) jar[m[1]] = m[2];
    }
    return jar;
}

function groupsInHtml(html) {
    const groups = {};
    const re = /<[a-z0-9]+\b([^>]*\bdata-experiment="[^"]*"[^>]*)>/gi;
    let m;
    while ((m = re.exec(html))) {
        const exp = /\bdata-experiment="([^"]*)"/.exec(m[1]);
        const group = /\bdata-group="([^"]*)"/.exec(m[1]);
        if (exp && group && group[1]) groups[exp[1]] = group[1];
    }
    return groups;
}

function eventBody(deviceId, event, params) {
    return JSON.stringify({
        ts: new Date().toISOString(), deviceId, source: 'browser', event,
        params,
    });
}

function httpVisitor(api, o, draws) {
    return async function visit(i) {
        const page = await api.request('GET', o.page, { timeout: o.timeout });
        if (page.status !== 200) throw new Error(`GET ${o.page}: ${page.status}`);
        const jar = cookiesOf(page);
        const deviceId = jar.device_id;
        if (!deviceId) throw new Error(`GET ${o.page}: no device_id cookie`);
        const cookie = Object.keys(jar).map((k) => `${k}=${jar[k]}`).join('; ');
        const headers = { Cookie: cookie, 'Content-Type': 'application/json' };

        const post = async (event, params) => {
            const res = await api.request('POST', '/events', {
                headers, body: eventBody(deviceId, event, params),
                timeout: o.timeout,
            });
            if (res.status !== 200) {
                throw new Error(`POST /events ${event}: ${res.status} ${res.body}`);
            }
        };

        await post('pageview', {});

        let groups = groupsInHtml(page.body);
        if (!groups[o.clickExp]) {
            // the page renders in the browser: ask the API, as its script does
            const res = await api.request('GET', '/api/expgroups?device_id='
                                          + encodeURIComponent(deviceId),
                                          { headers: { Cookie: cookie },
                                            timeout: o.timeout });
            const data = JSON.parse(res.body);
            groups = {};
            for (const exp of Object.keys(data)) {
                groups[exp] = data[exp].group || data[exp].fallback;
            }
        }

        const group = groups[o.clickExp];
        const clicked = draws[i] < (o.click[group] || 0);
        if (clicked) await post('button_click', { btn_type: group });
        return { deviceId, groups, clicked, cookieGroup: jar.exp_group };
    };
}

/* a visit in Chromium: a fresh context is a fresh cookie jar */

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
                       '--disable-background-networking',
                       '--disable-dev-shm-usage'];

async function launchChromium() {
    let chromium;
    try {
        ({ chromium } = require('playwright-core'));
    } catch (e) {
        fail('playwright-core is missing: run "npm ci" at the top of the '
             + 'repository (make simulate does)');
    }
    return chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true, args: CHROMIUM_ARGS,
    });
}

function isEvent(res, name) {
    const req = res.request();
    if (req.method() !== 'POST' || !/\/events(\?|$)/.test(res.url())) {
        return false;
    }
    try {
        const body = JSON.parse(req.postData() || 'null');
        return !Array.isArray(body) && body && body.event === name;
    } catch (e) {
        return false;
    }
}

// runs in the page: waits until the variant is rendered (at once for the
// page rendered by nginx; after /api/expgroups for the one rendered in the
// browser), then returns its groups, cookies and the button's centre
function readPage(clickExp) {
    return new Promise((resolve) => {
        const started = Date.now();
        (function look() {
            const button = document.querySelector(
                `button[data-experiment="${clickExp}"][data-group]`);
            const client = document.body.dataset.render === 'client';
            const rendered = document.body.dataset.rendered;
            if (!button || (client && rendered !== 'api'
                            && rendered !== 'fallback')) {
                if (Date.now() - started > 10000) {
                    resolve({ error: 'the page rendered no variant in 10 s' });
                } else {
                    setTimeout(look, 10);
                }
                return;
            }
            const groups = {};
            for (const e of document.querySelectorAll(
                     '[data-experiment][data-group]')) {
                groups[e.dataset.experiment] = e.dataset.group;
            }
            const cookies = {};
            for (const c of document.cookie.split(/;\s*/)) {
                const eq = c.indexOf('=');
                if (eq > 0) cookies[c.slice(0, eq)] = c.slice(eq + 1);
            }
            button.scrollIntoView({ block: 'center' });
            const r = button.getBoundingClientRect();
            resolve({
                groups, cookies,
                classOk: button.classList.contains(button.dataset.group),
                x: r.left + r.width / 2, y: r.top + r.height / 2,
            });
        })();
    });
}

function browserVisitor(browser, o, draws) {
    const url = o.base + o.page;
    return async function visit(i) {
        const context = await browser.newContext();
        try {
            context.setDefaultTimeout(o.timeout);
            const page = await context.newPage();
            const pageview = page.waitForResponse((r) => isEvent(r, 'pageview'));
            pageview.catch(() => {});   // awaited below, unless goto fails
            const res = await page.goto(url, { waitUntil: 'domcontentloaded' });
            if (!res || res.status() !== 200) {
                throw new Error(`GET ${o.page}: ${res ? res.status() : 'no answer'}`);
            }

            // the page's groups, once rendered: its data-group attributes
            // (the seed read the h1's text and the button's class); one
            // round trip to the page, which is the expensive part
            const seen = await page.evaluate(readPage, o.clickExp);
            if (seen.error) throw new Error(seen.error);

            const pv = await pageview;
            if (!pv.ok()) throw new Error(`pageview: ${pv.status()}`);

            const group = seen.groups[o.clickExp];
            const clicked = draws[i] < (o.click[group] || 0);
            if (clicked) {
                // a real mouse click in the middle of the button
                const click = page.waitForResponse((r) => isEvent(r, 'button_click'));
                await page.mouse.click(seen.x, seen.y);
                const c = await click;
                if (!c.ok()) throw new Error(`button_click: ${c.status()}`);
            }

            return { deviceId: seen.cookies.device_id, groups: seen.groups,
                     clicked, classOk: seen.classOk,
                     cookieGroup: seen.cookies.exp_group };
        } finally {
            await context.close();
        }
    };
}

/* the seed's report */

const pct = (x) => (x * 100).toFixed(2) + '%';

function label(exps, name) {
    return (exps[name] && exps[name].title) || name;
}

function report(o, exps, visits, events, stats, meta) {
    const out = [];
    const names = Object.keys(exps);
    const ok = visits.filter((v) => !v.error);
    const n = ok.length;
    const shares = {};
    for (const name of names) shares[name] = expectedShares(exps[name]);

    out.push(`Simulated ${meta.visits} visits of ${o.base}${o.page} `
             + `(${meta.client}, concurrency ${o.concurrency}) `
             + `in ${meta.seconds.toFixed(1)} s, `
             + `${(meta.visits / meta.seconds).toFixed(1)} visits/s; `
             + `clicks ${Object.keys(o.click).map((g) => `${g}=${o.click[g]}`)
                 .join(', ')} by ${o.clickExp} group, seed ${o.seed}`);
    if (meta.visits !== n) out.push(`FAILED visits: ${meta.visits - n}`);
    out.push('');

    // split, from the groups the pages rendered
    for (const name of names) {
        out.push(`${label(exps, name)} Exp Split:`);
        const groups = Object.keys(exps[name].groups);
        for (const g of groups) {
            const c = ok.filter((v) => v.groups[name] === g).length;
            out.push(`Group ${g}: ${c} visits (${pct(n ? c / n : 0)}), `
                     + `Exact: ${pct(shares[name][g])}`);
        }
        const other = ok.filter((v) => !groups.includes(v.groups[name])).length;
        if (other) out.push(`Not rendered: ${other} visits`);
        out.push('');
    }

    // conversions, from the events the module stored for this run's devices
    const devices = new Set(ok.map((v) => v.deviceId));
    const mine = events.filter((e) => devices.has(e.deviceId)
                                      && e.source === 'browser');
    const clickShares = shares[o.clickExp] || {};
    const mix = Object.keys(clickShares).reduce(
        (s, g) => s + clickShares[g] * (o.click[g] || 0), 0);

    for (const name of names) {
        out.push(`${label(exps, name)} Exp events:`);
        for (const g of Object.keys(exps[name].groups)) {
            const v = mine.filter((e) => e.event === 'pageview'
                                         && e.groups[name] === g).length;
            const c = mine.filter((e) => e.event === 'button_click'
                                         && e.groups[name] === g).length;
            const conv = v ? c / v : 0;
            const err = v ? 2 * Math.sqrt(conv * (1 - conv) / v) : 0;
            const exact = name === o.clickExp
                ? `Exact: ${pct(o.click[g] || 0)}`
                : `Expected: ${pct(mix)}`;
            out.push(`Group ${g}: ${v} visits, ${c} clicks, `
                     + (v ? `Conv=${pct(conv)} +- ${pct(err)}`
                          : 'Conv=n/a') + `, ${exact}`);
        }
        out.push('');
    }

    // split independence, for every pair of experiments
    for (let i = 0; i < names.length; i++) {
        for (let j = i + 1; j < names.length; j++) {
            const a = names[i], b = names[j];
            out.push(`Split Independence ${a}/${b}:`);
            for (const ga of Object.keys(exps[a].groups)) {
                for (const gb of Object.keys(exps[b].groups)) {
                    const c = ok.filter((v) => v.groups[a] === ga
                                               && v.groups[b] === gb).length;
                    out.push(`('${ga}', '${gb}'): ${pct(n ? c / n : 0)}, `
                             + `expected (${pct(shares[a][ga] * shares[b][gb])})`);
                }
            }
            out.push('');
        }
    }

    // checks the seed did not make
    const pv = mine.filter((e) => e.event === 'pageview').length;
    const clicks = ok.filter((v) => v.clicked).length;
    const bc = mine.filter((e) => e.event === 'button_click').length;
    let groupMismatch = 0, oracleMismatch = 0, cookieMismatch = 0, classBad = 0;
    const byDevice = new Map(ok.map((v) => [v.deviceId, v]));
    for (const e of mine) {
        const v = byDevice.get(e.deviceId);
        for (const name of names) {
            if (e.groups[name] !== v.groups[name]) { groupMismatch++; break; }
        }
    }
    for (const v of ok) {
        for (const name of names) {
            if (v.groups[name] !== expectedGroup(v.deviceId, name, exps[name])) {
                oracleMismatch++;
                break;
            }
        }
        const ce = exps[o.clickExp];
        if (ce && v.cookieGroup !== undefined
            && v.cookieGroup !== v.groups[o.clickExp]) cookieMismatch++;
        if (v.classOk === false) classBad++;
    }
    out.push('Checks:');
    out.push(`Events of this run: ${pv} pageviews for ${n} visits, ${bc} `
             + `button_clicks for ${clicks} clicks`
             + (meta.lost ? `, ${meta.lost} events lost from the ring before `
                            + 'they were read' : ''));
    out.push(`Rendered group = the group nginx stored with the events: `
             + `${groupMismatch ? `${groupMismatch} events differ` : 'all'}`);
    out.push(`Rendered group = sha256 rule (independent oracle): `
             + `${oracleMismatch ? `${oracleMismatch} visits differ`
                                 : `all ${n} visits`}`
             + (meta.changed ? ' (the experiments changed during the run)' : ''));
    out.push(`exp_group cookie = rendered ${o.clickExp} group: `
             + `${cookieMismatch ? `${cookieMismatch} visits differ` : 'all'}`
             + (classBad ? `; ${classBad} buttons without their group's class`
                         : ''));
    out.push('');

    // the module's own statistics
    out.push('Module statistics (GET /api/stats, every event counted since the '
             + 'experiment started or was reset):');
    for (const name of names) {
        const st = stats[name];
        if (!st) continue;
        out.push(`${label(exps, name)} (${name}), ${st.state}, since ${st.since}, `
                 + `${st.exposure} -> ${st.goal}:`);
        for (const g of Object.keys(st.groups)) {
            const s = st.groups[g];
            const parts = [`Group ${g}: ${s.exposures} exposures, `
                           + `${s.conversions} conversions`];
            if (typeof s.rate === 'number') {
                parts.push(`Conv=${pct(s.rate)} +- ${pct(s.error)}`);
                if (s.ci95) {
                    parts.push(`95% CI [${pct(s.ci95[0])}, ${pct(s.ci95[1])}]`);
                }
            }
            if (g === st.control) parts.push('control');
            else {
                if (typeof s.uplift === 'number') {
                    parts.push(`uplift ${s.uplift >= 0 ? '+' : ''}`
                               + `${(s.uplift * 100).toFixed(1)}%`);
                }
                if (typeof s.p_value === 'number') {
                    parts.push(s.p_value === 0 ? 'p<1e-300'
                               : `p=${s.p_value.toPrecision(3)}`);
                }
            }
            out.push(parts.join(', '));
        }
        const srm = st.srm || {};
        out.push(typeof srm.chi2 === 'number'
            ? `SRM: chi2=${srm.chi2.toFixed(3)}, p=${srm.p_value.toPrecision(3)}, `
              + (srm.mismatch ? 'MISMATCH' : 'no mismatch')
            : 'SRM: not enough exposures');
        out.push('');
    }

    return out.join('\n') + '\n';
}

/* main */

// With a store (abtest_store) the statistics are the fleet's, read by
// each server every 2 s from PostgreSQL, where the shippers bring the
// events: they are waited for until read well after the last visit
// (at most 15 s), so that the report compares like with like.
async function fleetStats(api, visitsEnd) {
    const deadline = Date.now() + 15000;
    for (;;) {
        const stats = await api.json('GET', '/api/stats');
        const fleet = Object.values(stats).filter((e) => e.source === 'store');
        if (!fleet.length || Date.now() > deadline
            || fleet.every((e) => !e.stale && e.as_of
                                  && Date.parse(e.as_of) > visitsEnd + 2500)) {
            return stats;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
}


async function main() {
    const o = parseArgs(process.argv.slice(2));
    const api = makeClient(o.base, o.http ? o.concurrency + 4 : 8);
    // one draw per visit, made in advance: the same seed clicks the same
    // visits whatever order they finish in
    const random = rng(o.seed);
    const draws = Float64Array.from({ length: o.n }, () => random());

    let exps;
    try {
        exps = await api.json('GET', '/api/experiments');
    } catch (e) {
        fail(`${o.base} does not answer GET /api/experiments (${e.message}): `
             + 'is the demo running? (make demo)');
    }
    if (!exps[o.clickExp]) {
        fail(`--click-exp: no experiment "${o.clickExp}" at ${o.base}`);
    }

    if (o.reset) {
        for (const name of Object.keys(exps)) {
            await api.json('POST', '/api/experiments/update',
                           { name, reset_stats: true });
        }
        process.stderr.write('simulate: statistics reset\n');
    }

    const since = await lastEventId(api);
    const tail = eventTail(api, since);

    let browser = null, visit, client;
    if (o.http) {
        visit = httpVisitor(api, o, draws);
        client = 'HTTP, no browser';
    } else {
        browser = await launchChromium();
        visit = browserVisitor(browser, o, draws);
        client = `Chromium ${browser.version()}`;
    }

    process.stderr.write(`simulate: ${o.n} visits of ${o.base}${o.page} with `
                         + `${client}, concurrency ${o.concurrency}\n`);
    const t0 = process.hrtime.bigint();
    let visits;
    try {
        visits = await runPool(o.n, o.concurrency, visit, progress(o.n, o.progress));
    } finally {
        if (browser) await browser.close();
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

    const { events, lost } = await tail.finish();
    const after = await api.json('GET', '/api/experiments');
    const stats = await fleetStats(api, Date.now());
    api.agent.destroy();

    const changed = JSON.stringify(Object.keys(after).map((k) =>
        [k, after[k].state, after[k].groups, after[k].rollout_group]))
        !== JSON.stringify(Object.keys(exps).map((k) =>
            [k, exps[k].state, exps[k].groups, exps[k].rollout_group]));

    const failed = visits.filter((v) => v.error);
    if (failed.length) {
        const first = new Map();
        for (const v of failed) first.set(v.error, (first.get(v.error) || 0) + 1);
        for (const [msg, c] of first) {
            process.stderr.write(`simulate: ${c} visits failed: ${msg}\n`);
        }
    }

    process.stdout.write(report(o, exps, visits, events, stats,
                                { visits: o.n, seconds, client, lost, changed }));
    process.exitCode = failed.length || lost ? 1 : 0;
}

process.on('SIGINT', () => {
    process.stderr.write('\nsimulate: interrupted\n');
    process.exit(130);
});

main().catch((e) => {
    process.stderr.write(`simulate: ${e.stack || e}\n`);
    process.exit(1);
});
