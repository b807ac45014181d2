/**
 * The expiry countdown and the calendar download on the Current root screen, in a real browser: the
 * built page served by `tuf-rotate serve --repo DIR` (a repository whose root expires in 20 days),
 * driven with playwright-core through Debian's chromium. The downloaded .ics is parsed with ical.js.
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
import ICAL from 'ical.js';
import { CeremonyStore } from '../../server/ceremony/store.js';
import type { Browser, Page } from 'playwright-core';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { browserSkip } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const MAIN = path.join(ROOT, 'dist/server/main.js');
const SHOTS = path.join(ROOT, 'test-results/screenshots');
const require = createRequire(import.meta.url);
const DAY = 86_400_000;

const skip = browserSkip;

interface AxeResult {
  passes: unknown[];
  violations: { id: string; impact: string | null; help: string }[];
}

describe('expiry on the Current root screen (chromium)', { skip, timeout: 60_000 }, () => {
  let tmp: string;
  const servers: ChildProcess[] = [];
  let browser: Browser;
  let page: Page;
  let url: string;
  let repo: string;
  let serverErr = '';

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-e2e-expiry-'));
    await fs.mkdir(SHOTS, { recursive: true });
    // The root expires 20.5 days from now (half a day of margin: whole days shown, floor).
    const made = await createSpecPractice(path.join(tmp, 'spec'), { now: new Date(Date.now() - 365 * DAY + 20.5 * DAY) });
    repo = made.repo;
    url = await serve(repo, path.join(tmp, 'work-soon'));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const axeSource = await fs.readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
    await page.route(/\/__axe\.js$/, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: axeSource }));
  });

  /** `tuf-rotate serve --repo REPO` in its own work folder; resolves with the printed URL. */
  async function serve(repoDir: string, workDir: string): Promise<string> {
    await fs.mkdir(path.join(workDir, 'tmp'), { recursive: true });
    const server = spawn(process.execPath, [MAIN, 'serve', '--repo', repoDir, '--work', workDir, '--port', '0'], {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: path.join(workDir, 'tmp') },
    });
    servers.push(server);
    server.stderr?.on('data', (d: Buffer) => (serverErr += d.toString()));
    return new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`server exited ${code}: ${serverErr}`)));
    });
  }

  after(async () => {
    await browser?.close();
    for (const server of servers) {
      if (server.exitCode !== null) continue;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('shows "Expires in 20 days" in the warning colour, and the .ics download parses with the alarms before the expiry date', async () => {
    await page.goto(url);
    await page.getByRole('navigation', { name: 'Steps' }).getByRole('button', { name: /Current root/ }).click();
    await page.locator('#root-h').waitFor();
    const countdown = page.locator('#expiry-countdown');
    await countdown.waitFor();
    assert.match(await countdown.innerText(), /^Expires in 20 days \(version 1, /);
    assert.equal(await countdown.getAttribute('class').then((c) => c?.split(/\s+/).includes('soon')), true, 'coloured within 30 days');
    // (The test is compiled without the DOM library: the browser's getComputedStyle is reached through globalThis.)
    type Styles = { getComputedStyle: (el: unknown) => { borderLeftColor: string; backgroundColor: string } };
    const colours = await countdown.evaluate((el) => {
      const s = (globalThis as unknown as Styles).getComputedStyle(el);
      return { border: s.borderLeftColor, background: s.backgroundColor };
    });
    assert.notEqual(colours.background, 'rgba(0, 0, 0, 0)', 'the countdown has a background colour');

    // Accessibility of the screen with the new element (light and dark palettes).
    await page.addScriptTag({ url: `${new URL(url).origin}/__axe.js` });
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const result = await page.evaluate(() => (globalThis as unknown as { axe: { run: () => Promise<AxeResult> } }).axe.run());
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${colorScheme}: accessibility`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: path.join(SHOTS, 'expiry-current-root.png'), fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download calendar reminders (.ics)' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'tuf-root-expiry.ics');
    const file = path.join(tmp, 'downloaded.ics');
    await download.saveAs(file);
    const text = await fs.readFile(file, 'utf8');
    assert.ok(text.startsWith('BEGIN:VCALENDAR\r\n'));
    const events = new ICAL.Component(ICAL.parse(text)).getAllSubcomponents('vevent');
    assert.equal(events.length, 1);
    const ev = new ICAL.Event(events[0]!);
    const root = parseRoot(await fs.readFile(path.join(repo, 'metadata', 'root.json'), 'utf8'));
    const e = root.expiresAt;
    assert.deepEqual([ev.startDate.year, ev.startDate.month, ev.startDate.day], [e.getUTCFullYear(), e.getUTCMonth() + 1, e.getUTCDate()]);
    assert.match(ev.description, /\(version 1\) of local TUF repository /);
    const alarms = events[0]!.getAllSubcomponents('valarm').map((a) => {
      const t = ev.startDate.clone();
      t.addDuration(a.getFirstPropertyValue('trigger') as ICAL.Duration);
      return Math.round((Date.UTC(e.getUTCFullYear(), e.getUTCMonth(), e.getUTCDate()) - Date.UTC(t.year, t.month - 1, t.day)) / DAY);
    });
    assert.deepEqual(alarms, [60, 30, 7]);
    assert.equal(await page.locator('.error[role="alert"]').count(), 0, 'no error shown');
  });
  it('an expired root: "Expired 2 days ago" (2.5 days) in the danger colour; the Plan step asks for a reason, which the journal keeps', async () => {
    const made = await createSpecPractice(path.join(tmp, 'expired'), { now: new Date(Date.now() - 365 * DAY - 2.5 * DAY) });
    const workDir = path.join(tmp, 'work-expired');
    await page.goto(await serve(made.repo, workDir));
    await page.setInputFiles('#archive-file', made.archive);
    await page.getByRole('button', { name: 'Next: review the current root' }).click();
    const countdown = page.locator('#expiry-countdown');
    await countdown.waitFor();
    assert.match(await countdown.innerText(), /^Expired 2 days ago/);
    assert.equal(await countdown.getAttribute('class').then((c) => c?.split(/\s+/).includes('expired')), true);

    await page.getByRole('button', { name: 'Next: plan the rotation' }).click();
    await page.locator('#plan-h').waitFor();
    const reason = page.locator('#expired-reason');
    await reason.waitFor();
    // Empty: the form does not submit (required), so no plan is made.
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
    assert.equal(await reason.evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing), true);
    assert.equal(await page.locator('#diff-h').count(), 0);
    await page.screenshot({ path: path.join(SHOTS, 'expiry-plan-expired.png'), fullPage: true });

    const why = 'expired over the holidays; change ticket 42';
    await reason.fill(why);
    await page.getByRole('button', { name: 'Generate the new key and plan' }).click();
    await page.locator('#diff-h').waitFor();
    await page.getByRole('button', { name: 'Next: sign and verify' }).click();
    await page.getByRole('button', { name: 'Sign and verify', exact: true }).click();
    await page.locator('.verdict.ok').waitFor();
    await page.getByRole('button', { name: 'Next: save the keys' }).click();
    await page.getByRole('button', { name: 'Save the key archive' }).click();
    await page.locator('.saved').waitFor();
    // The ceremony in the work folder keeps the reason.
    const journal = await new CeremonyStore(workDir).current();
    assert.equal(journal?.allowExpired?.reason, why);
  });
});
