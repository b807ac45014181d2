/**
 * Two page defects of issue #14, in a real browser (Debian's chromium through playwright-core, the
 * built SPA served by `tuf-rotate serve`):
 * - key owners are shown by name ("Name (polis-id 1a2b3c4d)"), not by polis UUID: the single-owner
 *   warning of the Diff step and the Current root's key owners, with a hostile name that must
 *   neither inject markup nor pass for a key ID;
 * - offline mode offers the signed root as a download (VERSION.root.json, the written bytes);
 * - a PEM private key file as the key source in the Keys step (no archive).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { findRoleSigner, readKeyArchive } from '../../server/archive/read.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { cleanUserName } from '../../server/tuf/owner-names.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');

interface Served {
  child: ChildProcess;
  url: string;
}

async function serve(cwd: string, args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [MAIN, 'serve', ...args, '--port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving on (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { child, url };
}

async function stop(s: Served | undefined): Promise<void> {
  if (s?.child.exitCode === null) {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
}

/** Keys (a .tgz archive, or a PEM key file) → Current root → Plan → Diff (`atDiff`) → Sign → Save → Publish. */
async function rotate(page: Page, keys: { archive: string } | { pem: string }, atDiff: () => Promise<void>): Promise<void> {
  if ('archive' in keys) {
    await page.setInputFiles('#archive-file', keys.archive);
    await page.getByText(/The archive holds 1 of the current root keys/).waitFor();
  } else {
    await page.getByText('Or use a PEM private key file').click();
    await page.setInputFiles('#pem-file', keys.pem);
    await page.getByText(/Your keys hold 1 of the current root keys/).waitFor();
    assert.match(await page.locator('details.pem [role="status"]').innerText(), /Using root\.pem: ed25519 256 bits/);
    assert.equal(await page.locator('table').count(), 0, 'no empty archive table for PEM keys alone');
  }
  await page.getByRole('button', { name: 'Next: review the current root' }).click();
  await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
  await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
  await page.locator('#diff-h').waitFor();
  await atDiff();
  await page.getByRole('button', { name: 'Next: sign and verify' }).click();
  await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
  await page.locator('.verdict.ok').waitFor();
  await page.getByRole('button', { name: 'Next: save the keys' }).click();
  await page.getByRole('button', { name: 'Save the key archive' }).click();
  await page.locator('.saved').waitFor();
  await page.getByRole('button', { name: 'Next: publish' }).click();
  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await page.locator('.result').waitFor();
}

describe('key owners by name (chromium, practice factory)', { skip: browserSkip, timeout: 180_000 }, () => {
  let tmp: string;
  let s: Served | undefined;
  let browser: Browser | undefined;
  const HOSTILE = 'Ada <img src=x onerror="document.title=\'pwned\'"> Lovelace\u202E';

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-owners-'));
    // The practice factory `serve --practice` would create, made first so its owner's name can be hostile.
    const dir = path.join(tmp, 'practice', 'factory');
    await createPracticeFactory(dir, { rootKeyType: 'ed25519' });
    const file = path.join(dir, 'factory.json');
    const config = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
    config['user-name'] = HOSTILE;
    await fs.writeFile(file, JSON.stringify(config, null, 2) + '\n');
    s = await serve(tmp, ['--practice', path.join(tmp, 'practice'), '--work', path.join(tmp, 'work')]);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stop(s);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('the single-owner warning and the Current root name the owner; the name injects nothing', async () => {
    assert.ok(s && browser);
    const config = JSON.parse(await fs.readFile(path.join(tmp, 'practice', 'factory', 'factory.json'), 'utf8')) as { 'polis-id': string };
    const polis = config['polis-id'];
    const name = cleanUserName(HOSTILE);
    assert.equal(name, "Ada img src x onerror document.title 'pwned' Lovelace");
    const label = `${name} (polis-id ${polis.slice(0, 8)})`;

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('dialog', (d) => void d.accept());
    await page.goto(s.url);
    await page.locator('#keys-h').waitFor();
    await rotate(page, { archive: path.join(tmp, 'practice', 'factory', 'offline-keys.tgz') }, async () => {
      const warnings = await page.locator('.warning').allInnerTexts();
      const single = warnings.filter((w) => w.includes('belongs to'));
      assert.ok(single.length > 0, warnings.join(' | '));
      for (const w of single) {
        assert.ok(w.includes(`belongs to ${label}`), w);
        assert.ok(!w.includes(polis), `no polis UUID: ${w}`);
      }
    });

    // Version 2 has an x-key-owners entry for the new root key: the Current root lists it by name.
    await page.getByRole('button', { name: 'Current root' }).click();
    await page.locator('#root-h').waitFor();
    await page.getByRole('heading', { name: 'Key owners' }).waitFor();
    const owner = page.locator('.owner-name');
    assert.equal(await owner.innerText(), name);
    const line = await page.locator('li', { has: owner }).innerText();
    assert.ok(line.includes(`${name} (polis-id ${polis.slice(0, 8)})`), line);
    assert.ok(!line.includes(polis), line);
    assert.equal(await page.locator('main img').count(), 0, 'the name injected no element');
    assert.notEqual(await page.title(), 'pwned');
  });
});

describe('offline mode with a PEM key file: download the signed root (chromium, serve --offline)', { skip: browserSkip, timeout: 180_000 }, () => {
  let tmp: string;
  let s: Served | undefined;
  let browser: Browser | undefined;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-offline-dl-'));
    s = await serve(tmp, ['--offline', '--work', path.join(tmp, 'work')]);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stop(s);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('offers VERSION.root.json after writing it; the download is the written file, byte for byte', async () => {
    assert.ok(s && browser);
    const made = await createSpecPractice(path.join(tmp, 'spec'));
    const page = await (await browser.newContext({ viewport: { width: 800, height: 900 }, acceptDownloads: true })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('dialog', (d) => void d.accept());
    await page.goto(s.url);
    await page.locator('#root-file').waitFor();
    await page.setInputFiles('#root-file', path.join(made.repo, 'metadata', 'root.json'));
    await page.getByRole('button', { name: 'Use this target' }).click();
    await page.locator('#keys-h').waitFor();
    // The root key as a PEM file (no archive): #14 "no PEM key upload in the page".
    const pem = path.join(tmp, 'root.pem');
    const v1 = parseRoot(await fs.readFile(path.join(made.repo, 'metadata', 'root.json')));
    const archive = await readKeyArchive(await fs.readFile(made.archive), { name: 'practice archive' });
    await fs.writeFile(pem, findRoleSigner(archive, v1).privateKey.toPem(), { mode: 0o600 });
    await rotate(page, { pem }, async () => undefined);

    const result = await page.locator('.result').innerText();
    assert.match(result, /Written/);
    assert.match(result, /nothing was sent anywhere/i);
    assert.doesNotMatch(result, /Published/, 'offline mode only wrote a file');
    const written = path.join(tmp, 'work', '2.root.json');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download 2.root.json' }).click()]);
    assert.equal(download.suggestedFilename(), '2.root.json');
    const got = await fs.readFile(await download.path());
    assert.ok(got.equals(await fs.readFile(written)), 'the downloaded bytes are the written file');
    assert.equal(await page.locator('.error[role="alert"]').count(), 0);
  });
});
