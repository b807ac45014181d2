/**
 * A practice-factory refusal as the page shows it (issue #10: "the CLI/page shows the refusal with
 * its code and hint"), in Debian's chromium against the real server process (`serve --practice`).
 * The practice factory's production tag has lost its offline targets signature, so the Factory
 * refuses to apply any new root (foundries-operations.md §6 rule 31). The page walks a root rotation
 * to Publish; the publish is refused: the error panel shows the code, the Factory's rule text and
 * the hint the server mapped from the Factory's 422 (server/backends/foundries-answers.ts
 * `ruleHint`, shared with the CLI). No sleeps: the test waits on page state.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createPracticeFactory } from '../../server/practice/create.js';
import { apiCall, startServerProcess, stopServerProcess } from '../helpers/server-process.js';
import type { ServerProcess } from '../helpers/server-process.js';
import { launchChromium, browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');

describe('a practice-factory refusal on the page (chromium)', { skip: browserSkip, timeout: 180_000 }, () => {
  let tmp: string;
  let browser: Browser;
  let server: ServerProcess | undefined;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-refusal-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (server) await stopServerProcess(server, 'SIGKILL');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('publish refused by rule 31: the error panel shows TARGET_REFUSED, the rule and what to do', async () => {
    const practice = path.join(tmp, 'practice');
    const factoryDir = path.join(practice, 'factory');
    const made = await createPracticeFactory(factoryDir, { rootKeyType: 'ed25519' });
    const tags = path.join(factoryDir, 'prod-targets.json');
    const t = JSON.parse(await fs.readFile(tags, 'utf8')) as { main: { signatures: unknown[] } };
    t.main.signatures = t.main.signatures.slice(0, 1);
    await fs.writeFile(tags, JSON.stringify(t));

    server = await startServerProcess([MAIN, 'serve', '--practice', practice, '--work', path.join(tmp, 'work'), '--port', '0'], process.env);
    const s = server;
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(60_000);
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${s.origin}/#token=${s.token}`);
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();

    await page.getByRole('button', { name: /Keys/ }).click();
    await page.setInputFiles('#archive-file', made.archivePath ?? '');
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await page.getByRole('button', { name: /Plan/ }).first().click();
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved').waitFor();
    await page.getByRole('button', { name: 'Next: publish' }).click();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();

    const alert = page.locator('.error[role="alert"]', { hasText: 'rule 31' });
    await alert.waitFor();
    assert.equal((await alert.locator('.code').innerText()).trim(), 'TARGET_REFUSED');
    assert.match(await alert.locator('.message').innerText(), /rule 31: production tag "main" would have 1 valid targets signatures, 2 needed/);
    const hint = await alert.locator('.hint').innerText();
    assert.match(hint, /What to do:.*sign the tags with an offline targets key of the new root/);
    assert.doesNotMatch(hint, /(^|\s)--[a-z]|\/api\//, 'no CLI option or API route in a hint for the browser');
    // Nothing was published: the Factory still serves version 1.
    const root = (await apiCall(s, 'GET', '/api/root')).json() as { version: number };
    assert.equal(root.version, 1);
  });
});
