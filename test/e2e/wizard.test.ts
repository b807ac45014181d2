/**
 * The whole journey in a real browser: the built SPA served by the real server (`tuf-rotate serve
 * --practice DIR`), driven with playwright-core through Debian's chromium. A refused archive, then a
 * rotation of the practice factory, then one of a local TUF repository. At every step: a screenshot,
 * no private key material in the page, no CSP violation, and no serious or critical axe-core finding.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
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
const SHOTS = path.join(ROOT, 'test-results/screenshots');
const require = createRequire(import.meta.url);

const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install chromium): browser tests skipped`
  : !existsSync(path.join(ROOT, 'dist/web/index.html'))
    ? 'dist/web is missing: run `npm run build` first'
    : false;

/** The private values of every .sec in a key archive (fioctl layout: {"keyval":{"private":"…"}}). */
function privateValues(archive: string): string[] {
  const text = execFileSync('tar', ['-xzOf', archive, '--wildcards', '*.sec'], { encoding: 'utf8' });
  const out: string[] = [];
  for (const m of text.matchAll(/"private"\s*:\s*"([^"]+)"/g)) {
    const v = m[1] ?? '';
    out.push(v);
    // A PEM inside the JSON: look for each long line of its body too.
    for (const line of v.split('\\n')) if (line.length >= 40 && !line.startsWith('-----')) out.push(line);
  }
  assert.ok(out.length > 0, `${archive} holds private keys`);
  return out;
}

interface AxeResult {
  passes: unknown[];
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[];
}

describe('web wizard (chromium)', { skip, timeout: 90_000 }, () => {
  let tmp: string;
  let server: ChildProcess;
  let url: string;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let serverErr = '';
  const secrets: string[] = [];
  const cspViolations: string[] = [];
  let shot = 0;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-'));
    await fs.mkdir(SHOTS, { recursive: true });
    // A standard TUF repository to rotate after the practice factory.
    execFileSync(process.execPath, [MAIN, 'practice', path.join(tmp, 'spec'), '--json'], { cwd: tmp });
    server = spawn(process.execPath, [MAIN, 'serve', '--practice', path.join(tmp, 'practice'), '--port', '0'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr?.on('data', (d: Buffer) => (serverErr += d.toString()));
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`server exited ${code}: ${serverErr}`)));
      setTimeout(() => reject(new Error(`no URL printed: ${serverErr}`)), 20_000);
    });
    origin = new URL(url).origin;
    secrets.push(...privateValues(path.join(tmp, 'practice/factory/offline-keys.tgz')), ...privateValues(path.join(tmp, 'spec/offline-keys.tgz')));

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    // axe-core from a same-origin URL, so the page's CSP (script-src 'self') stays on and is tested too.
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

  /** Screenshot, no secrets in the DOM, no serious or critical accessibility finding. */
  async function check(name: string): Promise<void> {
    shot += 1;
    await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
    const html = await page.content();
    assert.ok(!html.includes('PRIVATE KEY'), `${name}: the page shows a PEM private key`);
    for (const s of secrets) assert.ok(!html.includes(s), `${name}: the page shows private key material`);
    if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ url: `${origin}/__axe.js` });
    // Both colour schemes: the palette switches with prefers-color-scheme.
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const result = await page.evaluate(() => (globalThis as unknown as { axe: { run: () => Promise<AxeResult> } }).axe.run());
      assert.ok(result.passes.length > 10, `${name}: axe-core ran`);
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(
        bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`),
        [],
        `${name} (${colorScheme}): accessibility`,
      );
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  async function heading(id: string): Promise<void> {
    await page.locator(`#${id}`).waitFor();
  }

  /** From the Keys step with the target chosen: upload, review, plan, diff, sign, save, publish, record. */
  async function rotate(label: string, archive: string, savePath?: string, conflictingRoot?: { file: string; copyOf: string }): Promise<void> {
    await page.setInputFiles('#archive-file', archive);
    await page.getByRole('cell', { name: /root/ }).first().waitFor();
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await check(`${label}-keys`);
    assert.equal(await page.getByRole('button', { name: /Publish/ }).first().isDisabled(), true, 'publish is not reachable yet');

    await page.getByRole('button', { name: 'Next: review the current root' }).click();
    await heading('root-h');
    await page.locator('svg.graph').waitFor();
    assert.match(await page.locator('main').innerText(), /held by the archive/);
    await check(`${label}-root`);

    await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
    await heading('plan-h');
    assert.equal(await page.locator('input[value="ed25519"]').isChecked(), true);
    await page.fill('#changelog', `e2e ${label} rotation`);
    await check(`${label}-plan`);
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();

    await heading('diff-h');
    const summary = await page.locator('.summary').innerText();
    assert.match(summary, /Version 1 → 2/);
    assert.match(summary, /Key added/);
    assert.match(summary, /Key removed/);
    assert.ok((await page.locator('.line.plus').count()) > 0, 'the line diff shows added lines');
    await check(`${label}-diff`);

    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await heading('sign-h');
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    assert.equal(await page.locator('.checklist li.fail').count(), 0);
    assert.ok((await page.locator('.checklist li.pass').count()) >= 3);
    await check(`${label}-sign`);

    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await heading('save-h');
    if (savePath) await page.fill('#save-path', savePath);
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved').waitFor();
    const saved = (await page.locator('.saved code.path').innerText()).trim();
    secrets.push(...privateValues(saved)); // the new private key must not be on the page either
    assert.match(await page.locator('.saved .sha').innerText(), /^[0-9a-f]{64}$/);
    await page.getByRole('button', { name: 'Prepare a download copy' }).click();
    await page.getByRole('link', { name: 'Download the saved archive' }).waitFor();
    await check(`${label}-save`);

    await page.getByRole('button', { name: 'Next: publish' }).click();
    await heading('publish-h');
    await check(`${label}-publish-ready`);
    if (conflictingRoot) {
      // A failed publish: someone else put a different version 2 in the repository meanwhile.
      await fs.copyFile(conflictingRoot.copyOf, conflictingRoot.file);
      await page.getByRole('button', { name: 'Publish', exact: true }).click();
      await page.locator('.error[role="alert"]').waitFor();
      assert.match(await page.locator('.error .code').innerText(), /^[A-Z_]+$/);
      assert.match(await page.locator('.error .hint').innerText(), /What to do/);
      await check(`${label}-publish-failed`);
      await fs.rm(conflictingRoot.file);
    }
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.locator('.result').waitFor();
    assert.match(await page.locator('.result').innerText(), /Published version 2/);
    await check(`${label}-published`);

    await page.getByRole('button', { name: 'Next: the ceremony record' }).click();
    await heading('record-h');
    await page.locator('pre.json').waitFor();
    const record = JSON.parse(await page.locator('pre.json').innerText()) as { tool: string; new: { version: number }; published?: unknown };
    assert.equal(record.tool, 'tuf-rotate');
    assert.equal(record.new.version, 2);
    assert.ok(record.published);
    await page.getByRole('link', { name: 'Download the record (JSON)' }).waitFor();
    await check(`${label}-record`);
  }

  it('refuses a bad archive, then rotates the practice factory and a local repository', async () => {
    await page.goto(url);
    // The token left the address bar for sessionStorage.
    assert.equal(new URL(page.url()).hash, '');
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();
    await page.getByRole('button', { name: /Target/ }).click();
    await heading('target-h');
    assert.equal(await page.locator('input[value="practice"]').isChecked(), true, 'the practice factory is preselected');
    await check('target');
    await page.getByRole('button', { name: 'Use this target' }).click();
    await heading('keys-h');

    // A refused archive: the error panel shows the code and what to do.
    await page.setInputFiles('#archive-file', { name: 'not-an-archive.tgz', mimeType: 'application/gzip', buffer: Buffer.from('this is not gzip\n') });
    const alert = page.locator('.error[role="alert"]');
    await alert.waitFor();
    assert.match(await alert.innerText(), /ARCHIVE_[A-Z_]+/);
    assert.match(await alert.innerText(), /What to do:/);
    await check('keys-refused');

    await rotate('factory', path.join(tmp, 'practice/factory/offline-keys.tgz'));

    // A local TUF repository (spec dialect): choose it, then the same journey.
    await page.getByRole('button', { name: /Target/ }).click();
    await heading('target-h');
    await page.locator('input[value="repo"]').check();
    await page.fill('#repo-dir', path.join(tmp, 'spec/repo'));
    await check('repo-target');
    await page.getByRole('button', { name: 'Use this target' }).click();
    await heading('keys-h');
    await rotate('repo', path.join(tmp, 'spec/offline-keys.tgz'), path.join(tmp, 'repo-keys-v2.tgz'), {
      file: path.join(tmp, 'spec/repo/metadata/2.root.json'),
      copyOf: path.join(tmp, 'spec/repo/metadata/1.root.json'),
    });
    assert.ok(existsSync(path.join(tmp, 'spec/repo/metadata/2.root.json')), 'the repository has 2.root.json');

    assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violations');
  });
});
