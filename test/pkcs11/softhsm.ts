/**
 * SoftHSM2 tokens for the PKCS#11 tests. Each test gets its own temporary SOFTHSM2_CONF and token
 * directory, initialised with `softhsm2-util --init-token`. The CLI runs in-process and unloads the
 * module at the end of each command, so the next command reads the next test's SOFTHSM2_CONF.
 *
 * When pkcs11js, the SoftHSM2 module or softhsm2-util is missing, the tests skip with the reason;
 * in CI (CI=true or TUF_ROTATE_REQUIRE_PKCS11=1) they fail instead.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export const SOFTHSM_MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => existsSync(p));
/** A PIN no other test data contains, so a scan for it finds only leaks. */
export const USER_PIN = '730418265901';
export const SO_PIN = '55550000';

const run = promisify(execFile);

function missing(): string | undefined {
  try {
    createRequire(import.meta.url)('pkcs11js');
  } catch {
    return 'the optional pkcs11js module is not installed';
  }
  if (SOFTHSM_MODULE === undefined) return 'SoftHSM2 (libsofthsm2) is not installed';
  if (!['/usr/bin/softhsm2-util', '/usr/local/bin/softhsm2-util'].some((p) => existsSync(p))) return 'softhsm2-util (package softhsm2) is not installed';
  return undefined;
}

/** `skip` for describe(): a reason outside CI; in CI a missing piece throws (the run fails). */
export function pkcs11Skip(): string | false {
  const why = missing();
  if (why === undefined) return false;
  if (process.env['CI'] === 'true' || process.env['TUF_ROTATE_REQUIRE_PKCS11'] === '1') {
    throw new Error(`PKCS#11 tests are required here, but ${why}.`);
  }
  return why;
}

export interface SoftToken {
  dir: string;
  conf: string;
  label: string;
  pinFile: string;
}

/** A fresh token in its own SOFTHSM2_CONF, which becomes this process's SOFTHSM2_CONF. */
export async function softToken(parent: string, label: string): Promise<SoftToken> {
  const dir = await fs.mkdtemp(path.join(parent, 'softhsm-'));
  const tokens = path.join(dir, 'tokens');
  await fs.mkdir(tokens);
  const conf = path.join(dir, 'softhsm2.conf');
  await fs.writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  await run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', USER_PIN], {
    env: { ...process.env, SOFTHSM2_CONF: conf },
  });
  process.env['SOFTHSM2_CONF'] = conf;
  const pinFile = path.join(dir, 'pin');
  await fs.writeFile(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
  return { dir, conf, label, pinFile };
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Every regular file under a folder (for the PIN scan). */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
