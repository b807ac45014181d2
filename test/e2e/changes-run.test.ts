/**
 * Issue 10 in a real browser (Debian's chromium through playwright-core, the built SPA served by the
 * real `serve` process): several key changes chosen in the Plan step and run through plan → sign →
 * save → publish.
 * 1. The practice factory, 1280 px (the Diff step also at 800 px): add a root key + root threshold 2;
 *    the preview with throwaway keys, then the run; the roles and keys graph before/after, every
 *    document of the proposal; afterwards the served CI and production roots pass our verifier (from
 *    version 1), hold both root keys with threshold 2, and the saved archive holds both.
 * 2. A local practice repository, 800 px: rotate the targets key; the Diff lists root.json,
 *    targets.json, snapshot.json and timestamp.json; after publish tuf-js's Updater ends on version 2
 *    and downloads the practice target.
 * At every step: the focus is on the step's heading, nothing overflows the window, no private key
 * material in the page, no serious or critical axe-core finding in either colour scheme.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { KEYS_DIR } from '../../server/archive/layout.js';
import { readKeyArchive } from '../../server/archive/read.js';
import { buildArchiveBytes } from '../../server/archive/write.js';
import { FoundriesClient } from '../../server/backends/foundries-client.js';
import { verifyServed } from '../../server/backends/foundries.js';
import { heldKeysForRole, keyRingFromArchive } from '../../server/keyring.js';
import { buildPracticeFactory, practiceControl } from '../../server/practice/factory-server.js';
import { TOKEN_FILE } from '../../server/practice/state.js';
import { archivePairFilesFor } from '../../server/tuf/archive-keys.js';
import { parsePemPrivateKey } from '../../server/tuf/private-key.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { clientFetches } from '../helpers/accept.js';
import { browserSkip, launchChromium } from '../helpers/browser.js';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../helpers/server-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');
const SHOTS = path.join(ROOT, 'test-results/screenshots');
const require = createRequire(import.meta.url);

/** The little of the DOM the page functions below touch (the tests are type-checked without DOM types). */
interface Dom {
  document: {
    activeElement: { id?: string } | null;
    documentElement: { scrollWidth: number; clientWidth: number };
    querySelectorAll: (selector: string) => Iterable<DomElement>;
  };
}
interface DomElement {
  tagName: string;
  className: string;
  getBoundingClientRect: () => { right: number };
  scrollWidth: number;
  clientWidth: number;
  closest: (selector: string) => unknown;
}

interface AxeResult {
  passes: unknown[];
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[];
}

/** The private values of every .sec in a key archive (fioctl layout: {"keyval":{"private":"…"}}). */
function privateValues(archive: string): string[] {
  const text = execFileSync('tar', ['-xzOf', archive, '--wildcards', '*.sec'], { encoding: 'utf8' });
  return [...text.matchAll(/"private"\s*:\s*"([^"]+)"/g)].flatMap((m) => {
    const v = m[1] ?? '';
    return [v, ...v.split('\\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))];
  });
}

/**
 * The practice repository's key archive plus its online keys (targets, snapshot, timestamp) as
 * fioctl-layout pairs: what a maintainer holding every key of the repository uploads to re-sign
 * targets.json, snapshot.json and timestamp.json.
 */
async function archiveWithOnlineKeys(dir: string, out: string): Promise<void> {
  const root = JSON.parse(await fs.readFile(path.join(dir, 'repo/metadata/1.root.json'), 'utf8')) as {
    signed: { keys: Record<string, JsonObject>; roles: Record<string, { keyids: string[] }> };
  };
  const archive = await readKeyArchive(await fs.readFile(path.join(dir, 'offline-keys.tgz')));
  const additions: { name: string; data: Uint8Array }[] = [];
  for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
    const keyid = root.signed.roles[role]?.keyids[0] ?? '';
    const key = parsePemPrivateKey(await fs.readFile(path.join(dir, 'online-keys', `${role}.pem`), 'utf8'));
    const files = archivePairFilesFor('spec', key, root.signed.keys[keyid] ?? {});
    const base = `${KEYS_DIR}fioctl-${role}-${keyid}`;
    additions.push({ name: `${base}.pub`, data: files.pub }, { name: `${base}.sec`, data: files.sec });
  }
  await fs.writeFile(out, await buildArchiveBytes(archive, additions), { mode: 0o600 });
}

/** tuf-js's Updater from `trusted` over the repository (loopback HTTP): the root version it ends on, after downloading the practice target. */
async function updaterEndsOn(repo: string, trusted: string, clientDir: string): Promise<number> {
  await fs.mkdir(clientDir, { recursive: true });
  await fs.copyFile(trusted, path.join(clientDir, 'root.json'));
  return clientFetches(repo, clientDir);
}

describe('several key changes run from the page (chromium)', { skip: browserSkip, timeout: 300_000 }, () => {
  let tmp: string;
  let browser: Browser;
  let axeSource: string;
  const servers: ServerProcess[] = [];
  const secrets: string[] = [];

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-changes-'));
    await fs.mkdir(SHOTS, { recursive: true });
    axeSource = await fs.readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) await stopServerProcess(s, 'SIGTERM');
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  async function serve(practice: string, work: string): Promise<ServerProcess> {
    const s = await startServerProcess([MAIN, 'serve', '--practice', practice, '--work', work, '--port', '0']);
    servers.push(s);
    return s;
  }

  /** A page on the server at `width` px; confirmations are accepted and kept in `asked`. */
  async function open(s: ServerProcess, width: number, asked: string[]): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width, height: 900 } })).newPage();
    page.setDefaultTimeout(60_000);
    page.on('dialog', (d) => {
      asked.push(d.message());
      void d.accept();
    });
    await page.route(`${s.origin}/__axe.js`, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: axeSource }));
    await page.goto(`${s.origin}/#token=${s.token}`);
    await page.getByRole('navigation', { name: 'Steps' }).waitFor();
    return page;
  }

  /** The focus is on the step's heading (App.svelte moves it there after each step and action). */
  async function focusOn(page: Page, id: string): Promise<void> {
    await page.waitForFunction((h) => (globalThis as unknown as Dom).document.activeElement?.id === h, id);
  }

  /** Screenshot, no horizontal overflow, no private key material, axe clean in both colour schemes. */
  async function check(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `changes-${name}.png`), fullPage: true });
    const overflow = await page.evaluate(() => {
      const doc = (globalThis as unknown as Dom).document;
      const width = doc.documentElement.clientWidth;
      // Anything drawn past the window's right edge or past its own box (text running out of a banner),
      // outside the scrollable line-diff boxes.
      const past = [...doc.querySelectorAll('main *')].filter(
        (e) => e.closest('.pre') === null && (e.getBoundingClientRect().right > width + 1 || (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)),
      );
      return { page: doc.documentElement.scrollWidth - width, past: past.map((e) => `${e.tagName.toLowerCase()}.${e.className}`) };
    });
    assert.ok(overflow.page <= 0, `${name}: the page is ${overflow.page} px wider than the window`);
    assert.deepEqual(overflow.past, [], `${name}: drawn past the window's right edge or its own box`);
    const html = await page.content();
    assert.ok(!html.includes('PRIVATE KEY'), `${name}: the page shows a PEM private key`);
    for (const s of secrets) assert.ok(!html.includes(s), `${name}: the page shows private key material`);
    if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ url: `${new URL(page.url()).origin}/__axe.js` });
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const result = await page.evaluate(() => (globalThis as unknown as { axe: { run: () => Promise<AxeResult> } }).axe.run());
      assert.ok(result.passes.length > 10, `${name}: axe-core ran`);
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`), [], `${name} (${colorScheme}): accessibility`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  /** The documents the Diff step shows, in order. */
  async function documentNames(page: Page): Promise<string[]> {
    return Promise.all((await page.locator('[data-document]').all()).map(async (d) => (await d.getAttribute('data-document')) ?? ''));
  }

  /** Keys → Current root → Plan with "Other key changes" chosen. */
  async function toPlan(page: Page, archive: string): Promise<void> {
    await page.getByRole('button', { name: /Keys/ }).click();
    await page.setInputFiles('#archive-file', archive);
    await page.getByText(/holds 1 of the current root keys/).waitFor();
    await page.getByRole('button', { name: 'Next: review the current root' }).click();
    await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
    await focusOn(page, 'plan-h');
    assert.equal(await page.locator('input[name="mode"][value="rotate"]').isChecked(), true, 'the root-key rotation stays the default');
    await page.getByLabel(/Other key changes/).check();
  }

  /** Diff → Sign → Save → Publish, checking each step; returns the saved archive and the page's per-document lines. */
  async function signSavePublish(page: Page, label: string, asked: string[]): Promise<{ saved: string; signedText: string; publishText: string }> {
    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await focusOn(page, 'sign-h');
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await focusOn(page, 'sign-h');
    const signedText = await page.locator('.signed-docs').innerText();
    await check(page, `${label}-signed`);

    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await focusOn(page, 'save-h');
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved code.path').waitFor();
    await focusOn(page, 'save-h');
    const saved = (await page.locator('.saved code.path').innerText()).trim();
    secrets.push(...privateValues(saved));
    assert.match(await page.locator('.new-keys').innerText(), /New (root|targets) key [0-9a-f]{8}.*: in the archive/);
    await check(page, `${label}-saved`);

    await page.getByRole('button', { name: 'Next: publish' }).click();
    await focusOn(page, 'publish-h');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.locator('.result').waitFor();
    await focusOn(page, 'publish-h');
    const publishText = await page.locator('.result').innerText();
    assert.match(publishText, /Published version 2/);
    assert.match(asked.at(-1) ?? '', /version 2/);
    await check(page, `${label}-published`);
    return { saved, signedText, publishText };
  }

  it('practice factory: add a root key + threshold 2, graph and documents shown, published, the served roots checked', async () => {
    const practice = path.join(tmp, 'factory');
    const factoryDir = path.join(practice, 'factory');
    const s = await serve(practice, path.join(tmp, 'factory-work'));
    const archive = path.join(factoryDir, 'offline-keys.tgz');
    secrets.push(...privateValues(archive));
    const asked: string[] = [];
    const page = await open(s, 1280, asked);
    await toPlan(page, archive);

    await page.getByLabel('Add a key to', { exact: true }).check();
    await page.getByLabel('Set the threshold of', { exact: true }).check();
    await page.getByLabel('Threshold', { exact: true }).fill('2');
    const list = await page.locator('.will-change').innerText();
    assert.match(list, /Add a new root key/);
    assert.match(list, /Set the root threshold to 2/);
    // The preview with throwaway keys still works (and names the command line).
    await page.getByRole('button', { name: 'Preview with throwaway keys' }).click();
    await page.locator('.changes .result').waitFor();
    assert.match(await page.locator('.changes .result').innerText(), /--add-key root --threshold root=2/);
    await check(page, 'factory-plan');

    await page.getByRole('button', { name: 'Plan 2 changes' }).click();
    await focusOn(page, 'diff-h');
    const graph = page.getByTestId('roles-graph');
    const before = await graph.locator('section').nth(0).innerText();
    const afterText = await graph.locator('section').nth(1).innerText();
    assert.match(before, /root: threshold 1 of 1 key\b/);
    assert.match(afterText, /root: threshold 2 \(was 1\) of 2 keys/);
    assert.match(afterText, /ADDED/i, 'the added key is marked in words');
    assert.match(afterText, /production targets threshold \d/);
    assert.match(afterText, /held by your keys/);
    const names = await documentNames(page);
    assert.equal(names[0], 'root.json', 'the CI root comes first');
    assert.equal(names[1], 'root.json (production)', `the production root is next: ${names.join(', ')}`);
    assert.ok((await page.locator('[data-document] .line.plus').count()) > 0, 'the documents show added lines');
    await check(page, 'factory-diff');
    await page.setViewportSize({ width: 800, height: 900 });
    await check(page, 'factory-diff-800');
    await page.setViewportSize({ width: 1280, height: 900 });

    const { saved, signedText, publishText } = await signSavePublish(page, 'factory', asked);
    assert.match(signedText, /root\.json signed by [0-9a-f]{8}/);
    assert.match(signedText, /production/);
    assert.match(publishText, /root\.json published/);

    // Keys that cannot meet a threshold: the first archive holds 1 of the 2 root keys now needed. The
    // plan shows who must still sign and points to the Requests page; Sign is not offered.
    const steps = page.getByRole('navigation', { name: 'Steps' });
    await steps.getByRole('button', { name: /Target/ }).click(); // a published session starts again from its target
    await page.getByRole('button', { name: 'Use this target' }).click();
    await focusOn(page, 'keys-h');
    await page.setInputFiles('#archive-file', archive);
    await page.getByText(/cannot sign the next root/).waitFor();
    await steps.getByRole('button', { name: /Plan/ }).click();
    await focusOn(page, 'plan-h');
    await page.getByLabel(/Other key changes/).check();
    await page.getByLabel('Refresh the root expiry to', { exact: true }).check();
    await page.getByRole('button', { name: 'Plan 1 change' }).click();
    await focusOn(page, 'diff-h');
    const missing = await page.locator('.missing').innerText();
    assert.match(missing, /Your keys cannot make every signature/);
    assert.match(missing, /root\.json, trusted \(old\) threshold: 1 more signature needed/);
    assert.equal(await page.getByRole('link', { name: 'Signing requests' }).getAttribute('href'), '/requests');
    await check(page, 'factory-missing-diff');
    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await focusOn(page, 'sign-h');
    assert.equal(await page.getByRole('button', { name: 'Sign and verify', exact: true }).isDisabled(), true, 'Sign is not offered');
    assert.match(await page.locator('.missing').innerText(), /1 more, from [0-9a-f]{8}/);
    await check(page, 'factory-missing-sign');
    await page.context().close();
    await stopServerProcess(s, 'SIGTERM');

    // The served roots, with the server stopped: the practice factory over the same folder answers.
    const app = await buildPracticeFactory(factoryDir);
    try {
      const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
      const token = (await fs.readFile(path.join(factoryDir, TOKEN_FILE), 'utf8')).trim();
      const client = new FoundriesClient({ apiUrl, factory: practiceControl(app).factory, token });
      const st = await client.state();
      assert.equal(st.status, 'NONE', 'no transaction is left open');
      assert.equal(st.ci.version, 2);
      assert.equal(st.prod.version, 2);
      const v = await verifyServed(client, new Date());
      assert.ok(v.ci.ok && v.prod.ok, JSON.stringify(v));
      const served = await client.currentRoot();
      const rootRole = served.roles['root'];
      assert.equal(rootRole?.threshold, 2);
      assert.equal(rootRole?.keyids.length, 2);
      const ring = keyRingFromArchive(await readKeyArchive(await fs.readFile(saved)), saved);
      assert.equal(heldKeysForRole(ring, served).size, 2, `${saved} holds both root keys`);
    } finally {
      await app.close();
    }
  });

  it('local practice repository at 800 px: rotate the targets key; the diff lists every metadata file; tuf-js ends on the new version', async () => {
    const dir = path.join(tmp, 'spec');
    execFileSync(process.execPath, [MAIN, 'practice', dir, '--json'], { cwd: tmp });
    const archive = path.join(tmp, 'all-keys.tgz');
    await archiveWithOnlineKeys(dir, archive);
    secrets.push(...privateValues(archive));
    const repo = path.join(dir, 'repo');
    const s = await serve(path.join(tmp, 'spec-practice'), path.join(tmp, 'spec-work'));
    const asked: string[] = [];
    const page = await open(s, 800, asked);
    await page.getByRole('button', { name: /Target/ }).click();
    await page.locator('input[value="repo"]').check();
    await page.fill('#repo-dir', repo);
    await page.getByRole('button', { name: 'Use this target' }).click();
    await focusOn(page, 'keys-h');
    await toPlan(page, archive);

    await page.getByLabel('Rotate the key of', { exact: true }).check();
    await page.getByLabel('Role to rotate').selectOption('targets');
    assert.match(await page.locator('.will-change').innerText(), /Replace the targets key/);
    await check(page, 'repo-plan');
    await page.getByRole('button', { name: 'Plan 1 change' }).click();
    await focusOn(page, 'diff-h');
    const names = await documentNames(page);
    assert.equal(names[0], 'root.json', 'the root comes first');
    for (const n of ['targets.json', 'snapshot.json', 'timestamp.json']) assert.ok(names.includes(n), `the diff lists ${n}: ${names.join(', ')}`);
    assert.match(await page.getByTestId('roles-graph').locator('section').nth(1).innerText(), /targets: threshold 1 of 1 key[\s\S]*ADDED/i);
    await check(page, 'repo-diff');
    // A reload resumes on the Diff step with the same documents (the server keeps the plan).
    await page.reload();
    await page.getByTestId('documents').waitFor();
    assert.deepEqual(await documentNames(page), names);

    const { signedText } = await signSavePublish(page, 'repo', asked);
    assert.match(signedText, /targets\.json re-signed: signature by [0-9a-f]{8}.* added/);
    assert.match(signedText, /snapshot\.json re-signed/);
    assert.match(signedText, /timestamp\.json re-signed/);
    assert.doesNotMatch(signedText, /\S—/, 'a note is set off from its line by a space');
    assert.equal(await updaterEndsOn(repo, path.join(repo, 'metadata/1.root.json'), path.join(tmp, 'client')), 2);
    await page.context().close();
  });
});
