/**
 * Issue 9, scenarios 1 and 2 in a real browser (Debian's chromium through playwright-core) against
 * the real `serve` process on its embedded practice factory (`serve --practice DIR --work WORK`).
 * 1: Plan opens a transaction; the server is stopped; a fresh server's page opens on the reconciled
 *    ceremony naming the open transaction and offers Cancel; cancelled, the Factory has no open
 *    transaction; then a full rotation in the page publishes both chains.
 * 2: with `--practice-fault apply=503:once`, Publish applies CI only; the page shows the partial
 *    apply (never "No changes were made"), names the new archive as valid, offers Re-run apply; after
 *    it both chains are published, our verifier accepts them, and Current root shows version 2.
 * The practice factory keeps its state in files: the open transaction is DIR/factory/transaction.json,
 * and after the server stops, a practice factory started over the same folder answers for it.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { verifyServed } from '../../server/backends/foundries.js';
import { readKeyArchive } from '../../server/archive/read.js';
import { heldKeysForRole, keyRingFromArchive } from '../../server/keyring.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { TOKEN_FILE, TRANSACTION_FILE } from '../../server/practice/state.js';
import { startServerProcess, stopServerProcess } from '../helpers/server-process.js';
import type { ServerProcess } from '../helpers/server-process.js';
import { launchChromium, browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');

const skip = browserSkip;

describe('a Factory ceremony in the page, reconciled from the practice factory (chromium)', { skip, timeout: 180_000 }, () => {
  let tmp: string;
  let browser: Browser;
  const servers: ServerProcess[] = [];
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-factory-'));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) await stopServerProcess(s, 'SIGKILL');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  async function serve(practice: string, work: string, extra: string[] = []): Promise<ServerProcess> {
    const s = await startServerProcess([MAIN, 'serve', '--practice', practice, '--work', work, '--port', '0', ...extra]);
    servers.push(s);
    return s;
  }

  /** Opens the page; every confirmation is accepted and its question kept in `asked`. */
  async function open(s: ServerProcess, asked: string[]): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(60_000);
    page.on('dialog', (d) => {
      asked.push(d.message());
      void d.accept();
    });
    await page.goto(`${s.origin}/#token=${s.token}`);
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();
    return page;
  }

  async function uploadAndPlan(page: Page, archive: string): Promise<void> {
    await page.getByRole('button', { name: /Keys/ }).click();
    await page.setInputFiles('#archive-file', archive);
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await page.getByRole('button', { name: /Plan/ }).first().click();
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
    await page.getByRole('button', { name: 'Next: sign and verify' }).waitFor();
  }

  /** Sign, Save; returns the saved archive's path and leaves the page on the Publish step. */
  async function signAndSave(page: Page): Promise<string> {
    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved code.path').waitFor();
    const saved = (await page.locator('.saved code.path').innerText()).trim();
    await page.getByRole('button', { name: 'Next: publish' }).click();
    return saved;
  }

  /** With the server stopped: the practice factory over the same folder answers for the Factory's state. */
  async function factoryAfter(factoryDir: string, saved: string): Promise<void> {
    const app = await buildPracticeFactory(factoryDir);
    try {
      const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
      const token = (await fs.readFile(path.join(factoryDir, TOKEN_FILE), 'utf8')).trim();
      const client = new FoundriesClient({ apiUrl, factory: practiceControl(app).factory, token });
      const st = await client.state();
      assert.equal(st.status, 'NONE', 'no transaction is left open');
      assert.equal(st.ci.version, 2);
      assert.equal(st.prod.version, 2);
      // libaktualizr's rules (our verifier) over both served chains, from version 1.
      const v = await verifyServed(client, new Date());
      assert.ok(v.ci.ok && v.prod.ok, JSON.stringify(v));
      // The archive the page named valid signs for the root now served.
      const ring = keyRingFromArchive(await readKeyArchive(await fs.readFile(saved)), saved);
      assert.ok(heldKeysForRole(ring, await client.currentRoot()).size > 0, `${saved} holds a key of the served root`);
    } finally {
      await app.close();
    }
  }

  it('scenario 1: a transaction left open by a stopped server is named after a restart, cancelled from the page, then a rotation publishes', async () => {
    const practice = path.join(tmp, 's1');
    const factoryDir = path.join(practice, 'factory');
    const work = path.join(tmp, 's1-work');
    const archive = path.join(factoryDir, 'offline-keys.tgz');
    const asked: string[] = [];

    // Upload, Plan: a transaction is open on the practice factory; then the server is stopped.
    const s1 = await serve(practice, work);
    let page = await open(s1, asked);
    await uploadAndPlan(page, archive);
    const tx = JSON.parse(await fs.readFile(path.join(factoryDir, TRANSACTION_FILE), 'utf8')) as { txid: string; status: string };
    assert.equal(tx.status, 'STARTED');
    await page.context().close();
    await stopServerProcess(s1, 'SIGTERM');

    // A fresh server on the same work folder: the page opens on the ceremony, naming the open transaction.
    const s2 = await serve(practice, work);
    page = await open(s2, asked);
    const banner = page.locator('.recovery[data-state="staged"]');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.ok(text.includes(tx.txid), `the page names the open transaction ${tx.txid}: ${text}`);
    const cancel = page.getByRole('button', { name: 'Cancel the Factory transaction' });
    await cancel.waitFor();

    // Cancel it: asked first; the Factory has no open transaction afterwards.
    await cancel.click();
    await page.locator('.recovery[data-state="cancelled"]').waitFor();
    assert.match(asked.at(-1) ?? '', /Cancel the open TUF root updates/);
    assert.equal(existsSync(path.join(factoryDir, TRANSACTION_FILE)), false, 'the transaction is cancelled on the Factory');
    assert.match(await page.locator('.recovery').innerText(), /the uploaded key archive/);

    // A full rotation in the page publishes.
    await uploadAndPlan(page, archive);
    const saved = await signAndSave(page);
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.locator('.result').waitFor();
    assert.match(await page.locator('.result').innerText(), /Published version 2/);
    assert.match(asked.at(-1) ?? '', /root version 2/);
    await page.context().close();
    await stopServerProcess(s2, 'SIGTERM');
    await factoryAfter(factoryDir, saved);
  });

  it('scenario 2: a partial apply is shown with the valid archive, and Re-run apply publishes both chains', async () => {
    const practice = path.join(tmp, 's2');
    const factoryDir = path.join(practice, 'factory');
    const work = path.join(tmp, 's2-work');
    const archive = path.join(factoryDir, 'offline-keys.tgz');
    const asked: string[] = [];

    const s = await serve(practice, work, ['--practice-fault', 'apply=503:once']);
    const page = await open(s, asked);
    await uploadAndPlan(page, archive);
    const saved = await signAndSave(page);
    await page.getByRole('button', { name: 'Publish', exact: true }).click();

    // The partial apply: named as such, never "No changes were made", the new archive valid.
    const banner = page.locator('.recovery[data-state="partly-applied"]');
    await banner.waitFor();
    assert.doesNotMatch(await page.locator('main').innerText(), /no changes were made/i);
    assert.equal((await page.locator('.recovery code.valid-archive').innerText()).trim(), saved);
    const reapply = page.getByRole('button', { name: /Re-run apply/ });
    await reapply.waitFor();

    await reapply.click();
    await page.locator('.recovery[data-state="published"]').waitFor();
    assert.match(asked.at(-1) ?? '', /Re-run apply/);
    assert.equal((await page.locator('.recovery code.valid-archive').innerText()).trim(), saved);

    // Current root shows the published version.
    await page.getByRole('button', { name: /Current root/ }).click();
    await page.locator('dd', { hasText: /^2$/ }).first().waitFor();
    await page.context().close();
    await stopServerProcess(s, 'SIGTERM');
    await factoryAfter(factoryDir, saved);
  });
});
