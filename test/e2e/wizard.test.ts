/**
 * The whole journey in a real browser: the built SPA served by the real server (`tuf-rotate serve
 * --practice DIR`), driven with playwright-core through Debian's chromium. A refused archive, then a
 * rotation of the practice factory, then one of a local TUF repository. At every step: a screenshot,
 * no private key material in the page, no CSP violation, and no serious or critical axe-core finding.
 * Afterwards, everything else observable during the run is scanned for private key material too: every
 * HTTP response body the page received, the server's stdout and stderr, every file left in the test's
 * directory except the key archives, and the server's own temp folder; saved archives are 0600 and no
 * temporary file is left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page, Response } from 'playwright-core';
import { launchChromium, browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');
const SHOTS = path.join(ROOT, 'test-results/screenshots');
const require = createRequire(import.meta.url);

const skip = browserSkip;

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

/** Every file under `dir` (recursively, symlinks not followed), minus the folders in `exclude`. */
async function walk(dir: string, exclude: ReadonlySet<string> = new Set()): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!exclude.has(full)) out.push(...(await walk(full, exclude)));
    } else out.push(full);
  }
  return out;
}

/** Where any of `secrets` (or a PEM private key header) occurs in `text`, as short labels. */
function leaks(text: string, secrets: readonly string[]): string[] {
  const found: string[] = [];
  if (text.includes('PRIVATE KEY')) found.push("'PRIVATE KEY'");
  secrets.forEach((s, i) => {
    if (text.includes(s)) found.push(`secret #${i} (${s.slice(0, 6)}…)`);
  });
  return found;
}

/** Leftover temporary files: fioctl-style `<path>.tmp` and the atomic writer's `.<name>.<12 hex>.tmp`. */
const TEMP_FILE = [/\.tmp$/, /\.[^/]+\.[0-9a-f]{12}\.tmp$/];

/** The archive upload and download endpoints, whose bodies are read in a route (see before()). */
const ARCHIVE_API = /^http:\/\/127\.0\.0\.1:\d+\/api\/archive(\/new)?$/;

interface AxeResult {
  passes: unknown[];
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[];
}

describe('web wizard (chromium)', { skip, timeout: 300_000 }, () => {
  let tmp: string;
  let server: ChildProcess;
  let url: string;
  let origin: string;
  let browser: Browser;
  let page: Page;
  let serverErr = '';
  let serverOut = '';
  let serverTmp: string;
  const secrets: string[] = [];
  /** Every response body the page received (text), and the gzip downloads seen (asserted separately). */
  const bodies: { url: string; text: string }[] = [];
  const gzipBodies: { url: string; head: Buffer }[] = [];
  const bodyErrors: string[] = [];
  const pendingBodies: Promise<void>[] = [];
  /** The archives the tool saved, as the UI showed their paths. */
  const savedArchives: string[] = [];
  const cspViolations: string[] = [];
  let shot = 0;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-'));
    await fs.mkdir(SHOTS, { recursive: true });
    // A standard TUF repository to rotate after the practice factory.
    execFileSync(process.execPath, [MAIN, 'practice', path.join(tmp, 'spec'), '--json'], { cwd: tmp });
    // The server gets a temp folder of its own (other tests run at the same time and use os.tmpdir()).
    serverTmp = path.join(tmp, 'server-tmpdir');
    await fs.mkdir(serverTmp);
    server = spawn(process.execPath, [MAIN, 'serve', '--practice', path.join(tmp, 'practice'), '--work', path.join(tmp, 'practice'), '--port', '0'], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: serverTmp },
    });
    server.stderr?.on('data', (d: Buffer) => (serverErr += d.toString()));
    server.stdout?.on('data', (d: Buffer) => (serverOut += d.toString()));
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

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    // Publish asks for a confirmation naming the target and the version: accept it.
    page.on('dialog', (d) => void d.accept());
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    page.on('response', (response: Response) =>
      pendingBodies.push(collectBody(response).catch((e: unknown) => void bodyErrors.push(`${response.url()}: ${String(e)}`))),
    );
    // Chromium drops the body of the archive upload's JSON answer from its inspector cache ("Request
    // content was evicted"), and reports the archive download's body as empty, so response.body()
    // cannot read either. Pass that request through playwright
    // instead and keep the body it fetched; collectBody() then skips those responses.
    await page.route(ARCHIVE_API, async (route) => {
      const response = await route.fetch();
      const body = await response.body();
      if (/gzip/i.test(response.headers()['content-type'] ?? '')) gzipBodies.push({ url: route.request().url(), head: body.subarray(0, 2) });
      else bodies.push({ url: `${route.request().method()} ${route.request().url()}`, text: body.toString('latin1') });
      await route.fulfill({ response, body });
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

  /** Keeps the body of one response the page received (redirects have none). */
  async function collectBody(response: Response): Promise<void> {
    const status = response.status();
    if (status >= 300 && status < 400) return;
    if (ARCHIVE_API.test(response.url())) return; // read in the route (see before())
    let body: Buffer;
    try {
      body = await response.body();
    } catch (e) {
      // Only a page that navigated away or closed loses a body; record it so the count is visible.
      bodyErrors.push(`${response.request().method()} ${response.url()} ${status} ${(e as Error).message.split('\n')[0]}`);
      return;
    }
    const type = response.headers()['content-type'] ?? '';
    // The download of the saved archive is the one place keys may travel: only inside gzip bytes.
    if (/^application\/(x-)?gzip\b/i.test(type)) gzipBodies.push({ url: response.url(), head: body.subarray(0, 2) });
    else bodies.push({ url: response.url(), text: body.toString('latin1') });
  }

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
    // Whose rule each line is, and who would accept the root (#14).
    assert.match(await page.locator('.checklist li').first().innerText(), /\((libaktualizr|tuf-js, python-tuf)/);
    const matrix = await page.getByTestId('verifier-matrix').innerText();
    assert.match(matrix, label === 'factory' ? /libaktualizr: accepts[\s\S]*Foundries API: accepts/ : /tuf-js\/python-tuf: accepts[\s\S]*tough: accepts/);
    await check(`${label}-sign`);

    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await heading('save-h');
    if (savePath) await page.fill('#save-path', savePath);
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved').waitFor();
    const saved = (await page.locator('.saved code.path').innerText()).trim();
    savedArchives.push(saved);
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

  it('leaves no private key material anywhere observable, and no temporary file', async (t: TestContext) => {
    assert.ok(savedArchives.length >= 2, 'the journey saved two archives');
    assert.ok(secrets.length > 0);
    // Stop the browser and the server first, so that every body, log line and file is final.
    for (let n = 0; n !== pendingBodies.length; ) {
      n = pendingBodies.length;
      await Promise.all(pendingBodies);
    }
    await browser.close();
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }

    // 1. Every HTTP response body the page received.
    assert.deepEqual(bodyErrors, [], 'every response body could be read');
    assert.ok(bodies.length > 10, `response bodies were collected (${bodies.length})`);
    for (const b of bodies) assert.deepEqual(leaks(b.text, secrets), [], `response ${b.url} carries private key material`);
    for (const g of gzipBodies) assert.equal(g.head.toString('hex'), '1f8b', `${g.url} is served as application/gzip, so it must be gzip`);
    t.diagnostic(`${bodies.length} response bodies scanned, ${gzipBodies.length} gzip download(s) checked`);

    // 2. The server's stdout and stderr: no key material; the token only in the one printed URL line.
    const token = new URL(url).hash.replace(/^#token=/, '');
    assert.ok(token.length >= 16, 'the printed URL carries the token');
    assert.deepEqual(leaks(serverOut, secrets), [], 'server stdout carries private key material');
    assert.deepEqual(leaks(serverErr, secrets), [], 'server stderr carries private key material');
    const tokenLines = serverOut.split('\n').filter((l) => l.includes(token));
    assert.deepEqual(tokenLines, [`tuf-rotate: serving on ${url}`], 'the token is on stdout only in the URL line');
    assert.equal(serverOut.split(token).length - 1, 1, 'the token is printed exactly once');
    assert.ok(!serverErr.includes(token), 'the token is not on stderr');

    // 3. Every file left in the test's directory.
    // <tmp>/practice/factory/server-keys/ is the simulated Foundries server's own state: it holds the
    // practice server's online private keys (and its first root key) by design, as the real server
    // would. Likewise <tmp>/spec/online-keys/ holds the practice TUF repository's online keys
    // (snapshot, targets, timestamp PEMs), written by `tuf-rotate practice` in before(), before the
    // server started: the repository operator's state. Neither is something the run wrote for the user,
    // so these two folders alone are left out of the scan.
    const serverKeys = path.join(tmp, 'practice/factory/server-keys');
    const onlineKeys = path.join(tmp, 'spec/online-keys');
    for (const d of [serverKeys, onlineKeys]) assert.ok(existsSync(d), `${d} exists (else the exclusion below is stale)`);
    const files = await walk(tmp, new Set([serverKeys, onlineKeys]));
    const leftovers = files.filter((f) => TEMP_FILE.some((re) => re.test(f)));
    assert.deepEqual(leftovers, [], 'no temporary file is left behind');
    const leaked: string[] = [];
    for (const f of files) {
      if (f.endsWith('.tgz')) continue; // key archives: the one place keys belong
      const found = leaks(await fs.readFile(f, 'latin1'), secrets);
      if (found.length > 0) leaked.push(`${path.relative(tmp, f)}: ${found.join(', ')}`);
    }
    assert.deepEqual(leaked, [], 'files outside the key archives carry private key material');
    t.diagnostic(`${files.length} files scanned under ${tmp}`);
    for (const a of savedArchives) {
      assert.ok(a.startsWith(tmp + path.sep), `${a} was saved inside the test's directory`);
      assert.equal((await fs.stat(a)).mode & 0o777, 0o600, `${a} is 0600`);
    }

    // 4. The server's own temp folder (its TMPDIR): it must be left empty.
    assert.deepEqual(await fs.readdir(serverTmp), [], 'the server left nothing in its temp folder');
  });
});
