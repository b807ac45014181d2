/**
 * Issue 9, scenario 4, in a real browser (Debian's chromium through playwright-core) against the
 * real server process: the page opens on the work folder's ceremony as the server reconciled it.
 * The server is SIGKILLed when Publish starts (keys saved, nothing published); a fresh server's
 * page names the ceremony keys-saved with its archives and offers "Publish the saved root"; a
 * second tab that starts over is asked first, told which archive it would abandon, and abandons
 * nothing when it declines; Publish asks naming the target and the version; afterwards the banner
 * says published with the new archive as the valid one, and Current root shows version 2.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Dialog, Page } from 'playwright-core';
import { CeremonyStore } from '../../server/ceremony/store.js';
import { LocalRepoBackend } from '../../server/backends/local-repo.js';
import { assertValidArchive, clientsAccept } from '../helpers/accept.js';
import { cli } from '../helpers/cli.js';
import { exited, startServerProcess, stopServerProcess } from '../helpers/server-process.js';
import type { ServerProcess } from '../helpers/server-process.js';
import { launchChromium, browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');

const skip = browserSkip;

describe('the page opens on the reconciled ceremony (chromium)', { skip, timeout: 120_000 }, () => {
  let tmp: string;
  let browser: Browser;
  const servers: ServerProcess[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-ceremony-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) await stopServerProcess(s, 'SIGKILL');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  async function open(s: ServerProcess): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${s.origin}/#token=${s.token}`);
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();
    return page;
  }

  /** Answers the next dialog and returns its question. */
  function answer(page: Page, accept: boolean): Promise<string> {
    return new Promise((resolve) => {
      page.once('dialog', (d: Dialog) => {
        const q = d.message();
        void (accept ? d.accept() : d.dismiss()).then(() => resolve(q));
      });
    });
  }

  it('scenario 4: killed at publish, the fresh page offers the recovery publish, a second tab is asked first, Current root refreshes', async () => {
    const made = await cli(['practice', path.join(tmp, 'p'), '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    const work = path.join(tmp, 'work');
    const serveArgs = [MAIN, 'serve', '--repo', repo, '--work', work, '--port', '0'];

    // 1. A rotation in the page; the server dies when Publish starts (keys saved, nothing published).
    const s1 = await startServerProcess(serveArgs, { ...process.env, TUF_ROTATE_KILL_AT: 'check' });
    servers.push(s1);
    const died = exited(s1);
    let page = await open(s1);
    assert.match(await page.locator('header').innerText(), new RegExp(`Work folder: ${work.replace(/[/.]/g, '\\$&')}`));
    await page.getByRole('button', { name: /Keys/ }).click();
    await page.setInputFiles('#archive-file', archive);
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await page.getByRole('button', { name: /Plan/ }).first().click();
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    const saved = (await page.locator('.saved code.path').innerText()).trim();
    await page.getByRole('button', { name: 'Next: publish' }).click();
    const asked = answer(page, true);
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const question = await asked;
    assert.match(question, /root version 2/);
    assert.ok(question.includes(repo), `the confirmation names the target: ${question}`);
    assert.equal(await died, 'SIGKILL');
    await page.context().close();
    assert.equal((await new LocalRepoBackend(repo).currentRoot()).version, 1);

    // 2. A fresh server: the page opens on the ceremony, keys saved, with the recovery button.
    const s2 = await startServerProcess(serveArgs);
    servers.push(s2);
    page = await open(s2);
    const banner = page.locator('.recovery');
    await banner.waitFor();
    assert.equal(await banner.getAttribute('data-state'), 'keys-saved');
    let text = await banner.innerText();
    assert.ok(text.includes(saved), `the banner names the new archive: ${text}`);
    assert.match(text, /the uploaded key archive/);

    // 3. A second tab that starts a new ceremony is asked first, told what it abandons; declining changes nothing.
    const tab2 = await open(s2);
    await tab2.getByRole('button', { name: /Keys/ }).click();
    await tab2.setInputFiles('#archive-file', archive);
    await tab2.getByText(/holds 1 of the current root keys/).waitFor();
    await tab2.getByRole('button', { name: /Plan/ }).first().click();
    const abandon = answer(tab2, false);
    await tab2.getByRole('button', { name: 'Generate the new key and plan' }).click();
    const q2 = await abandon;
    assert.match(q2, /abandons ceremony/);
    assert.ok(q2.includes(saved), `the question names the saved archive: ${q2}`);
    const [c] = await new CeremonyStore(work).list();
    assert.equal(c?.state, 'keys-saved');
    await tab2.context().close();

    // 4. Publish the saved root from the first tab: asked naming the target and the version.
    const asked2 = answer(page, true);
    await page.getByRole('button', { name: /Publish the saved root \(version 2\)/ }).click();
    const q3 = await asked2;
    assert.match(q3, /version 2/);
    assert.ok(q3.includes(repo), q3);
    await page.locator('.recovery[data-state="published"]').waitFor();
    text = await page.locator('.recovery').innerText();
    assert.equal((await page.locator('.recovery code.valid-archive').innerText()).trim(), saved, text);

    // Current root shows the published version.
    await page.getByRole('button', { name: /Current root/ }).click();
    await page.locator('dd', { hasText: /^2$/ }).first().waitFor();

    // The tool names the valid archive correctly; our verifier and tuf-js accept the result.
    await assertValidArchive(repo, saved);
    const st = (await cli(['status', work, '--json'])).json() as { state: string; validArchive: string };
    assert.equal(st.state, 'published');
    assert.equal(st.validArchive, saved);
    assert.equal(await clientsAccept(repo), 2);
  });
});
