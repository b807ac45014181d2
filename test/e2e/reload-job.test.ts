/**
 * Issue 9, scenario 4 (a reload during a running job), in Debian's chromium against the real server
 * process: a publish to the practice factory whose apply is slowed down (`--practice-fault
 * apply=delay:MS`); the page is reloaded while the job runs; the reloaded page follows the same job
 * (GET /api/session's busyJobId), shows its progress, then its result. No sleeps: the test waits on
 * page state, and the delay is long compared with a reload (the job is checked still running after it).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { apiCall, startServerProcess, stopServerProcess } from '../helpers/server-process.js';
import type { ServerProcess } from '../helpers/server-process.js';
import { launchChromium, browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');
/** Long compared with a page reload on a loaded machine; the test fails clearly (not flakily) if not. */
const APPLY_DELAY_MS = 15_000;

const skip = browserSkip;

describe('a reload during a running job follows the job again (chromium)', { skip, timeout: 180_000 }, () => {
  let tmp: string;
  let browser: Browser;
  let server: ServerProcess | undefined;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-reload-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (server) await stopServerProcess(server, 'SIGKILL');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('publish to the practice factory with a slow apply, reload: the page shows the running job, then Published', async () => {
    const practice = path.join(tmp, 'practice');
    server = await startServerProcess(
      [MAIN, 'serve', '--practice', practice, '--work', path.join(tmp, 'work'), '--port', '0', '--practice-fault', `apply=delay:${APPLY_DELAY_MS}`],
      process.env,
    );
    const s = server;
    assert.match(s.stderr(), /every apply waits 15000 ms/);
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(60_000);
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${s.origin}/#token=${s.token}`);
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();

    await page.getByRole('button', { name: /Keys/ }).click();
    await page.setInputFiles('#archive-file', path.join(practice, 'factory', 'offline-keys.tgz'));
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
    // The job is running (its first steps shown) before the reload.
    await page.locator('.progress', { hasText: 'Working…' }).waitFor();

    await page.reload();
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();
    // The reloaded page follows the same job: its progress, while the server still reports it running.
    const progress = page.locator('.progress', { hasText: 'Working…' });
    await progress.waitFor();
    const session = (await apiCall(s, 'GET', '/api/session')).json();
    assert.equal(typeof session['busyJobId'], 'string', `the job must still be running after the reload (apply waits ${APPLY_DELAY_MS} ms): ${JSON.stringify(session)}`);
    assert.ok((await progress.locator('li').count()) > 0, 'the running job\'s steps are listed');
    assert.equal(await page.getByRole('button', { name: 'Generate the new key and plan' }).count(), 0, 'not a fresh Plan form');

    // Then its result, without a new click.
    await page.locator('.recovery[data-state="published"], .result').first().waitFor({ timeout: APPLY_DELAY_MS + 60_000 });
    const after = (await apiCall(s, 'GET', '/api/session')).json();
    assert.equal(after['busyJobId'], undefined);
    const text = await page.locator('main').innerText();
    assert.match(text, /[Pp]ublished/);
    const root = (await apiCall(s, 'GET', '/api/root')).json() as { version: number };
    assert.equal(root.version, 2);
  });
});
