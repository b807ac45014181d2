/**
 * The signing-request panel in a real browser (the built SPA served by `tuf-rotate serve`, driven
 * through Debian's chromium): open a request file, see its SAS large and the "who still signs"
 * table, import the coordinator's REQ.sigs.json and a holder's signatures file by drag and drop,
 * see a refusal with its code, and the table turn complete. Screenshots and axe-core in both colour schemes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { cli } from '../helpers/cli.js';
import { launchChromium, browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist/server/main.js');
const SHOTS = path.join(ROOT, 'test-results/screenshots');
const require = createRequire(import.meta.url);

const skip = browserSkip;

interface AxeResult {
  passes: unknown[];
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown }[] }[];
}

describe('signing-request panel (chromium)', { skip, timeout: 90_000 }, () => {
  let tmp: string;
  let server: ChildProcess;
  let origin: string;
  let token: string;
  let browser: Browser;
  let page: Page;
  let serverErr = '';
  const files: Record<string, string> = {};
  let sas: string[] = [];
  let repoDir = '';

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-req-'));
    await fs.mkdir(SHOTS, { recursive: true });
    // A repository whose root key is rotated to a key held by "newbie", who signs elsewhere.
    const made = await cli(['practice', path.join(tmp, 'p'), '--dialect', 'spec', '--json']);
    const { target: repo, archive } = made.json() as { target: string; archive: string };
    repoDir = repo;
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await fs.writeFile(path.join(tmp, 'n.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await fs.writeFile(path.join(tmp, 'n.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    const req = await cli(['request', '--repo', repo, '--keys', archive, '--rotate-key', 'root', '--new-key', path.join(tmp, 'n.pub.pem'), '--out', path.join(tmp, 'REQ.json'), '--owner', `${path.join(tmp, 'n.pub.pem')}=newbie`]);
    assert.equal(req.code, 3, req.stderr);
    const holder = path.join(tmp, 'holder');
    await fs.mkdir(holder);
    await fs.copyFile(path.join(tmp, 'REQ.json'), path.join(holder, 'REQ.json'));
    const signed = await cli(['sign', path.join(holder, 'REQ.json'), '--keys', path.join(tmp, 'n.pem'), '--out', path.join(holder, 'newbie.json')]);
    assert.equal(signed.code, 0, signed.stderr);
    files['REQ.json'] = await fs.readFile(path.join(tmp, 'REQ.json'), 'utf8');
    files['REQ.sigs.json'] = await fs.readFile(path.join(tmp, 'REQ.sigs.json'), 'utf8');
    files['newbie.json'] = await fs.readFile(path.join(holder, 'newbie.json'), 'utf8');
    sas = (JSON.parse(files['REQ.json']) as { sas: { words: string[] } }).sas.words;

    server = spawn(process.execPath, [MAIN, 'serve', '--repo', repo, '--port', '0'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr?.on('data', (d: Buffer) => (serverErr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
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
    token = /#token=([A-Za-z0-9_-]+)/.exec(url)?.[1] ?? '';
    assert.ok(token, url);
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(20_000);
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

  async function check(name: string): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `requests-${name}.png`), fullPage: true });
    if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ url: `${origin}/__axe.js` });
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const result = await page.evaluate(() => (globalThis as unknown as { axe: { run: () => Promise<AxeResult> } }).axe.run());
      assert.ok(result.passes.length > 10, `${name}: axe-core ran`);
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${name} (${colorScheme})`);
    }
  }

  /** A real drop event carrying one file, on the element with this test id. */
  async function dropFile(testid: string, name: string, text: string): Promise<void> {
    const dt = await page.evaluateHandle(([n, t]) => {
      const g = globalThis as unknown as { DataTransfer: new () => { items: { add: (f: File) => void } } };
      const d = new g.DataTransfer();
      d.items.add(new File([t ?? ''], n ?? 'file', { type: 'application/json' }));
      return d;
    }, [name, text] as const);
    await page.dispatchEvent(`[data-testid=${testid}]`, 'dragover', { dataTransfer: dt });
    await page.dispatchEvent(`[data-testid=${testid}]`, 'drop', { dataTransfer: dt });
  }

  it('opens the request: the SAS large, the summary, and who still signs', async () => {
    await page.goto(`${origin}/requests#token=${token}`);
    await page.getByRole('heading', { name: 'Signing request' }).waitFor();
    await page.setInputFiles('[data-testid=drop-request] input[type=file]', { name: 'REQ.json', mimeType: 'application/json', buffer: Buffer.from(files['REQ.json'] ?? '') });
    const words = page.getByTestId('sas-words');
    await words.waitFor();
    assert.equal((await words.innerText()).replace(/\s+/g, ' ').trim(), sas.join(' '));
    const size = await words.evaluate((el) => parseFloat((globalThis as unknown as { getComputedStyle: (e: unknown) => { fontSize: string } }).getComputedStyle(el).fontSize));
    assert.ok(size >= 32, `the SAS is large (${size}px)`);
    const table = page.getByTestId('who-signs');
    assert.match(await table.innerText(), /newbie[\s\S]*… waiting/);
    assert.match(await page.getByTestId('complete').innerText(), /Waiting/);
    assert.match(await page.locator('main').innerText(), /openssl pkeyutl -sign -rawin -inkey KEY\.pem -in REQ\.root\.v2\.bin/);
    await check('opened');
  });

  it("imports the coordinator's signatures and the holder's file by drag and drop; refuses a duplicate with its code", async () => {
    await dropFile('drop-signatures', 'REQ.sigs.json', files['REQ.sigs.json'] ?? '');
    await page.getByTestId('imported').waitFor();
    assert.match(await page.getByTestId('complete').innerText(), /Waiting/);
    await dropFile('drop-signatures', 'newbie.json', files['newbie.json'] ?? '');
    await page.getByText('Every threshold is met').waitFor();
    const table = await page.getByTestId('who-signs').innerText();
    assert.doesNotMatch(table, /waiting/);
    assert.match(table, /newbie[\s\S]*✓ signed/);
    await check('complete');
    await dropFile('drop-signatures', 'newbie.json', files['newbie.json'] ?? '');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /SIGNATURE_DUPLICATE/);
    await check('refused');
  });

  it('the coordinator publishes; the page checks the signed record and prints every event (PDF by chromium)', async () => {
    const imp = await cli(['sign', path.join(tmp, 'REQ.json'), '--import', path.join(tmp, 'holder', 'newbie.json'), '--who', 'coordinator']);
    assert.equal(imp.code, 0, imp.stderr);
    const pub = await cli(['publish', path.join(tmp, 'REQ.json'), '--repo', repoDir, '--keys', path.join(tmp, 'n.pem'), '--who', 'coordinator']);
    assert.equal(pub.code, 0, pub.stderr + pub.stdout);
    const recordText = await fs.readFile(path.join(tmp, 'REQ.record.json'), 'utf8');
    const events = (JSON.parse(recordText) as { signed: { events: { what: string }[] } }).signed.events;
    assert.ok(events.length >= 5, `events: ${events.map((e) => e.what).join(', ')}`);

    await page.emulateMedia({ media: 'screen', colorScheme: 'light' });
    await page.setInputFiles('[data-testid=drop-record] input[type=file]', { name: 'REQ.record.json', mimeType: 'application/json', buffer: Buffer.from(recordText) });
    const rec = page.getByTestId('ceremony-record');
    await rec.waitFor();
    assert.match(await rec.innerText(), /hash chain of \d+ events is intact/);
    assert.equal(await page.getByTestId('record-event').count(), events.length);
    await check('record');

    // Printed: only the record, every event row visible, nothing clipped in a scroll box.
    await page.emulateMedia({ media: 'print' });
    for (const row of await page.getByTestId('record-event').all()) assert.ok(await row.isVisible(), 'every event row shows in print');
    const clipped = await rec.evaluate((el) => {
      const all = [el, ...Array.from(el.querySelectorAll('*'))] as { scrollHeight: number; clientHeight: number; scrollWidth: number; clientWidth: number }[];
      return all.filter((x) => x.scrollHeight > x.clientHeight + 1 || x.scrollWidth > x.clientWidth + 1).length;
    });
    assert.equal(clipped, 0, 'no element of the record scrolls or clips');
    assert.equal(await page.getByTestId('drop-record').isVisible(), false, 'only the record prints');
    assert.equal(await page.getByTestId('sas-words').isVisible(), false, 'only the record prints');
    await page.screenshot({ path: path.join(SHOTS, 'requests-record-print.png'), fullPage: true });
    const pdf = await page.pdf({ format: 'A4', printBackground: true });
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    await fs.writeFile(path.join(SHOTS, 'requests-record.pdf'), pdf);
    assert.ok(pdf.length > 5000, `a PDF of ${pdf.length} bytes`);
    await page.emulateMedia({ media: 'screen' });

    // A tampered record is refused with its code.
    const tampered = JSON.parse(recordText) as { signed: { events: { who: string }[] } };
    (tampered.signed.events[1] ?? { who: '' }).who = 'mallory';
    await page.setInputFiles('[data-testid=drop-record] input[type=file]', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(tampered)) });
    await page.getByText('RECORD_TAMPERED').waitFor();
  });
});
