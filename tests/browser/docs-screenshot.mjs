// The README's screenshot (docs/sample-app.png), against a running `scripts/run.sh`:
//
//   node tests/browser/docs-screenshot.mjs [http://localhost:5173] [docs/sample-app.png]
//
// Signs alice in (password from .local/state.json), adds a few items, marks one done, and leaves
// the 412 a stale edit gets on screen.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const app = process.argv[2] || 'http://localhost:5173';
const out = process.argv[3] || 'docs/sample-app.png';
const state = JSON.parse(readFileSync('.local/state.json', 'utf8'));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const ctx = await browser.newContext({ viewport: { width: 900, height: 640 }, deviceScaleFactor: 1 });
const settled = (p) => p.waitForFunction(() => document.body.dataset.busy === '0', null, { polling: 20 });
async function open() {
  const p = await ctx.newPage();
  await p.goto(app + '/');
  await p.waitForSelector('body[data-ready="true"]');
  await p.fill('#user', 'alice');
  await p.fill('#password', state.users.alice);
  await p.click('#signin');
  await p.waitForSelector('#session-panel:not([hidden])');
  await settled(p);
  return p;
}
const page = await open();
for (const [t, n] of [['Renew passport', 'before June'], ['Book the dentist', ''], ['Buy milk', ''], ['Rotate the origin-verify secret', 'see docs/deploy.md']]) {
  await page.fill('#new-title', t);
  await page.fill('#new-note', n);
  await page.click('#create');
  await settled(page);
}
const first = await page.$eval('#items li', (e) => e.dataset.id);
const last = await page.$$eval('#items li', (els) => els[els.length - 1].dataset.id);
await page.click(`li[data-id="${last}"] .edit`);
await settled(page);
await page.check(`li[data-id="${last}"] .edit-done`);
await page.click(`li[data-id="${last}"] .save`);
await settled(page);
// A stale edit: another tab saves first.
await page.click(`li[data-id="${first}"] .edit`);
await settled(page);
const other = await open();
await other.click(`li[data-id="${first}"] .edit`);
await settled(other);
await other.fill(`li[data-id="${first}"] .edit-title`, 'Rotate the secrets (both)');
await other.click(`li[data-id="${first}"] .save`);
await settled(other);
await other.close();
await page.bringToFront();
await page.fill(`li[data-id="${first}"] .edit-title`, 'Rotate the origin-verify secret today');
await page.click(`li[data-id="${first}"] .save`);
await settled(page);
await page.screenshot({ path: out, fullPage: true });
await browser.close();
console.log(out);
