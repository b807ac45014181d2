/**
 * #14 "no first-time rotation in the page": a Factory whose root key Foundries still holds, rotated
 * from the page (Debian's chromium, the built SPA of `tuf-rotate serve`): the Target step's
 * first-time box, no upload at Keys, the first root key handed over at Plan and written at once,
 * then sign, save, publish, and both chains verify.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory } from '../../server/practice/factory-server.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');

describe('first-time Factory rotation in the page (chromium)', { skip: browserSkip, timeout: 180_000 }, () => {
  let tmp: string;
  let child: ChildProcess | undefined;
  let app: FastifyInstance | undefined;
  let browser: Browser | undefined;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-first-time-e2e-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (child?.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child?.once('exit', r));
    }
    await app?.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('first-time box → no upload → plan (first root key handed over and written) → sign → save → publish', async () => {
    assert.ok(browser);
    const made = await createPracticeFactory(path.join(tmp, 'factory'), { rootKeyType: 'ed25519', firstTime: true });
    app = await buildPracticeFactory(made.dir);
    const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    const token = (await fs.readFile(made.tokenFile, 'utf8')).trim();
    const work = path.join(tmp, 'work');
    child = spawn(process.execPath, [MAIN, 'serve', '--offline', '--work', work, '--port', '0'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child?.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child?.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('dialog', (d) => void d.accept());
    await page.goto(url);
    await page.locator('#target-h').waitFor();
    await page.locator('input[name="kind"][value="factory"]').check();
    await page.fill('#factory-name', made.factory);
    await page.fill('#api-url', apiUrl);
    await page.fill('#api-token', token);
    await page.locator('#first-time').check();
    await page.getByRole('button', { name: 'Use this target' }).click();

    await page.locator('#keys-h').waitFor();
    assert.match(await page.locator('#keys-h').innerText(), /First-time rotation: no keys to upload/);
    assert.equal(await page.locator('#archive-file').count(), 0, 'no archive upload for a first-time rotation');
    await page.getByRole('button', { name: 'Next: review the current root' }).click();
    await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
    await page.locator('#diff-h').waitFor();
    const firstKeys = (await fs.readdir(work)).filter((n) => /^first-root-keys-.*\.tgz$/.test(n));
    assert.equal(firstKeys.length, 1, 'the handed-over first root key is on disk before anything is signed');

    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved').waitFor();
    await page.getByRole('button', { name: 'Next: publish' }).click();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.locator('.result').waitFor();
    assert.match(await page.locator('.result').innerText(), /Published/);

    const client = new FoundriesClient({ apiUrl, factory: made.factory, token });
    for (const prod of [false, true]) {
      const [v1, ...rest] = await client.history(prod);
      assert.ok(v1 && rest.length > 0 && verifyChain(v1, rest, { now: new Date() }).ok, `${prod ? 'production' : 'CI'} chain verifies`);
    }
    assert.equal((await client.updates()).status, 'NONE');
  });
});
