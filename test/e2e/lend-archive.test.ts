/**
 * A second key archive in the page (Keys step, "Add another key archive"), in Debian's chromium
 * against the real server process (`serve --practice`): the practice factory keeps its offline
 * targets key in its own file (fioctl's `--targets-keys`), so a targets-key rotation needs both
 * archives. The added archive's keys are listed with their role; the targets key rotates, the
 * production tag and wave are listed among the documents, and after publish the Factory serves
 * v2 with the production targets signed by the new key. axe-clean, no overflow at 800 px.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { verifyServed } from '../../server/backends/foundries.js';
import { addPracticeWave, createPracticeFactory } from '../../server/practice/create.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { TOKEN_FILE } from '../../server/practice/state.js';
import { validTargetsSigners } from '../../server/practice/targets.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');
const require = createRequire(import.meta.url);
type AxeResult = { violations: { id: string; impact: string | null; help: string }[]; passes: unknown[] };
type Dom = { document: { documentElement: { scrollWidth: number; clientWidth: number } } };

describe('the page with a second key archive (chromium)', { skip: browserSkip, timeout: 300_000 }, () => {
  let tmp: string;
  let browser: Browser;
  let server: ServerProcess | undefined;
  let axeSource: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-lend-'));
    axeSource = await fs.readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (server) await stopServerProcess(server, 'SIGKILL');
    await fs.rm(tmp, { recursive: true, force: true });
  });

  async function check(page: Page, name: string): Promise<void> {
    const overflow = await page.evaluate(() => {
      const el = (globalThis as unknown as Dom).document.documentElement;
      return el.scrollWidth - el.clientWidth;
    });
    assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the window`);
    if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ url: `${new URL(page.url()).origin}/__axe.js` });
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const result = await page.evaluate(() => (globalThis as unknown as { axe: { run: () => Promise<AxeResult> } }).axe.run());
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${name} (${colorScheme}): accessibility`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  it('targets key rotated with the targets archive added beside the offline keys', async () => {
    const practice = path.join(tmp, 'practice');
    const factoryDir = path.join(practice, 'factory');
    const made = await createPracticeFactory(factoryDir, { rootKeyType: 'ed25519' });
    await addPracticeWave(factoryDir, 'wave-1');
    server = await startServerProcess([MAIN, 'serve', '--practice', practice, '--work', path.join(tmp, 'work'), '--port', '0'], process.env);
    const s = server;
    const page = await (await browser.newContext({ viewport: { width: 800, height: 900 } })).newPage();
    page.setDefaultTimeout(60_000);
    page.on('dialog', (d) => void d.accept());
    await page.route(`${s.origin}/__axe.js`, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: axeSource }));
    await page.goto(`${s.origin}/#token=${s.token}`);
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();

    await page.getByRole('button', { name: /Keys/ }).click();
    await page.setInputFiles('#archive-file', made.archivePath ?? '');
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await page.getByText('Add another key archive').click();
    await page.setInputFiles('#lend-file', path.join(factoryDir, 'targets-keys.tgz'));
    const lent = page.getByRole('table', { name: 'Keys of added archive 1' });
    await lent.waitFor();
    assert.match(await lent.innerText(), /targets/, 'the added key is the offline targets key of the current root');
    // The same file again: refused, and the keys on screen stay.
    await page.setInputFiles('#lend-file', path.join(factoryDir, 'targets-keys.tgz'));
    await page.locator('.error[role="alert"]', { hasText: 'already been added' }).waitFor();
    await lent.waitFor();
    await check(page, 'keys-lent');

    await page.getByRole('button', { name: 'Next: review the current root' }).click();
    await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
    await page.getByLabel(/Other key changes/).check();
    await page.getByLabel('Rotate the key of', { exact: true }).check();
    await page.getByLabel('Role to rotate').selectOption('targets');
    await page.getByRole('button', { name: 'Plan 1 change' }).click();
    await page.locator('[data-document]').first().waitFor();
    const names = await Promise.all((await page.locator('[data-document]').all()).map(async (d) => (await d.getAttribute('data-document')) ?? ''));
    for (const n of ['root.json', 'targets of tag main', 'targets of wave wave-1']) assert.ok(names.includes(n), `the diff lists ${n}: ${names.join(', ')}`);

    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved code.path').waitFor();
    await page.getByRole('button', { name: 'Next: publish' }).click();
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.locator('.result').waitFor();
    assert.match(await page.locator('.result').innerText(), /Published version 2/);
    await page.context().close();
    await stopServerProcess(s, 'SIGTERM');
    server = undefined;

    const app = await buildPracticeFactory(factoryDir);
    try {
      const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
      const token = (await fs.readFile(path.join(factoryDir, TOKEN_FILE), 'utf8')).trim();
      const client = new FoundriesClient({ apiUrl, factory: practiceControl(app).factory, token });
      const v = await verifyServed(client, new Date());
      assert.ok(v.ci.ok && v.prod.ok, JSON.stringify(v));
      const prodRoot = await client.currentRoot(true);
      assert.equal(prodRoot.version, 2);
      const targetsKeys = prodRoot.roles['targets']?.keyids ?? [];
      for (const [name, e] of Object.entries(await client.prodTargets())) {
        const signers = validTargetsSigners(prodRoot, e.signed, e.signatures);
        assert.ok(signers.length >= 2 && signers.every((k) => targetsKeys.includes(k)), `${name} meets the production threshold under the new root`);
      }
    } finally {
      await app.close();
    }
  });
});
