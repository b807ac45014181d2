/**
 * The Plan step's "more key changes" panel in a real browser (Debian's chromium, the built SPA served
 * by `tuf-rotate serve --practice DIR`): add a root key + threshold 2 on the practice factory, preview,
 * see who signs and the command line; no serious or critical axe-core finding; nothing published.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const MAIN = path.join(ROOT, 'dist/server/main.js');
const require = createRequire(import.meta.url);
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing: browser tests skipped`
  : !existsSync(path.join(ROOT, 'dist/web/index.html'))
    ? 'dist/web is missing: run `npm run build` first'
    : false;

describe('Plan step: several key changes (chromium)', { skip, timeout: 90_000 }, () => {
  let tmp: string;
  let server: ChildProcess;
  let browser: Browser;
  let page: Page;
  let url: string;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-changes-'));
    server = spawn(process.execPath, [MAIN, 'serve', '--practice', path.join(tmp, 'practice'), '--port', '0'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
      setTimeout(() => reject(new Error('no URL printed')), 20_000);
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(20_000);
    const origin = new URL(url).origin;
    const axeSource = await fs.readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
    await page.route(`${origin}/__axe.js`, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: axeSource }));
  });

  after(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('previews add key + threshold 2: roles before/after, who signs, the command', async () => {
    await page.goto(url);
    await page.getByRole('button', { name: /Target/ }).click();
    await page.getByRole('button', { name: 'Use this target' }).click();
    await page.locator('#keys-h').waitFor();
    await page.setInputFiles('#archive-file', path.join(tmp, 'practice/factory/offline-keys.tgz'));
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await page.getByRole('button', { name: 'Next: review the current root' }).click();
    await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
    await page.locator('#changes-h').click();

    await page.getByLabel('Add a key to', { exact: true }).check();
    await page.getByLabel('Set the threshold of', { exact: true }).check();
    await page.getByLabel('Threshold', { exact: true }).fill('2');
    await page.getByRole('button', { name: 'Preview 2 changes' }).click();
    const result = page.locator('.changes .result');
    await result.waitFor();
    const text = await result.innerText();
    assert.match(text, /Version 1 → 2/);
    assert.match(text, /Set the root threshold to 2/);
    assert.match(text, /New root \(new threshold\)\s+2 of 2/);
    assert.match(text, /tuf-rotate change <TARGET> --keys <ARCHIVE.tgz> --out <NEW.tgz> --add-key root --threshold root=2/);
    assert.ok(!(await page.content()).includes('PRIVATE KEY'));

    await page.addScriptTag({ url: `${new URL(url).origin}/__axe.js` });
    const axe = await page.evaluate(() => (globalThis as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string | null }[] }> } }).axe.run());
    assert.deepEqual(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id), []);
    await fs.mkdir(path.join(ROOT, 'test-results/screenshots'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results/screenshots/changes-panel.png'), fullPage: true });
  });
});
