/**
 * The web demo of `llmrec serve` in a real browser (docs/SERVING.md, "Web
 * demo"): playwright-core drives Debian's /usr/bin/chromium (headless, no
 * network but the loopback server) through the page: search, add items, see
 * every model's top-10 and the LLM re-rank render; then a test user with the
 * true next item. Saves docs/serve-demo.png. Skipped, saying why, when
 * /usr/bin/chromium is absent (CI installs Debian's `chromium`).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { SplitDataset } from '../src/data/types.js';
import { createServer, type LlmrecServer } from '../src/serve/server.js';
import { writeLm, writeRun } from './serve.fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'serve-demo.png');
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)`;

describe('llmrec serve: web demo in chromium', { skip }, () => {
  let dir: string;
  let data: SplitDataset;
  let server: LlmrecServer;
  let base: string;
  let browser: BrowserContext;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llmrec-serve-ui-'));
    data = await writeRun(join(dir, 'run'));
    writeLm(join(dir, 'lm'), data);
    server = await createServer({ run: join(dir, 'run'), lm: join(dir, 'lm'), port: 0, log: () => {} });
    base = await server.listen();
    // A fresh user-data dir per run (playwright takes it as launchPersistentContext's first argument).
    browser = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('search, add items, top-10 per model, LLM re-rank, test user with the true next item', async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/');
    await page.waitForFunction(`document.getElementById('status').textContent.includes('synthetic-shop')`);

    // Search by a word of a known title, add two results.
    const word = (data.itemMeta.get(3)!.title.split(' ')[0]);
    await page.fill('#search', word);
    await page.waitForFunction(`(() => {
      const li = [...document.querySelectorAll('#results li span')];
      return li.length > 0 && li.every((s) => s.textContent.toLowerCase().includes(${JSON.stringify(word.toLowerCase())}));
    })()`);
    const buttons = page.locator('#results li button');
    await buttons.nth(0).click();
    await buttons.nth(1).click();
    assert.equal(await page.locator('#history li').count(), 2);

    // Every model's column renders 10 items with scores (BPR-MF explains it needs a known user).
    await waitCount(page, '.model[data-model="sasrec"] li', 10);
    await waitCount(page, '.model[data-model="pop"] li', 10);
    assert.match(await page.locator('.model[data-model="bprmf"] .note').innerText(), /known users only/);
    const firstScore = await page.locator('.model[data-model="sasrec"] li .score').first().innerText();
    assert.match(firstScore, /^-?\d+\.\d{3}$/);

    // The LLM re-rank of the first model's top-10, with P(yes) and the prompt.
    await waitCount(page, '#rerank tbody tr', 10);
    const p = Number(await page.locator('#rerank tbody tr td.num').first().innerText());
    assert.ok(p > 0 && p < 1);
    await page.locator('#rerank details summary').first().click();
    assert.match(await page.locator('#rerank details pre').first().innerText(), /Answer:$/);

    // A test user: their history, the true next item, recommendations from every model.
    const user = data.userIds[4];
    await page.selectOption('#users', user);
    await page.waitForFunction(`!document.getElementById('truth').hidden`);
    assert.match(await page.locator('#truth').innerText(), new RegExp(escapeRe(data.itemMeta.get(data.test.target[4])!.title)));
    await waitCount(page, '.model[data-model="bprmf"] li', 10);

    // Back to the ad-hoc history for the screenshot (every panel filled).
    await page.click('#clear');
    await buttons.nth(0).click();
    await buttons.nth(2).click();
    await buttons.nth(3).click();
    await waitCount(page, '.model[data-model="sasrec"] li', 10);
    await waitCount(page, '#rerank tbody tr', 10);
    await page.locator('#rerank details summary').first().click();
    const tmp = `${SCREENSHOT}.tmp-${process.pid}.png`;
    await page.screenshot({ path: tmp, fullPage: true });
    renameSync(tmp, SCREENSHOT);
    assert.deepEqual(external, [], 'the demo must not load anything from outside the server');
    assert.deepEqual(errors, []);
  });
});

/** Waits until `selector` matches exactly n elements (evaluated in the page). */
async function waitCount(page: Page, selector: string, n: number): Promise<void> {
  await page.waitForFunction(`document.querySelectorAll(${JSON.stringify(selector)}).length === ${n}`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
