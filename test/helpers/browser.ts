/**
 * Debian's chromium for the browser tests (never a downloaded browser build), started the way this
 * machine needs: headless, no sandbox as root, and none of chromium's background network traffic.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Why the browser tests cannot run here (a `skip` reason), or false when they can. */
export const browserSkip: string | false = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (apt-get install chromium): browser tests skipped`
  : !existsSync(path.join(ROOT, 'dist/web/index.html'))
    ? 'dist/web is missing: run `npm run build` first'
    : false;

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
