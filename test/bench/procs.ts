/** Whole-process measurements: `tuf-rotate rotate` vs the openssl command line, and the server. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const ROOT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MAIN = path.join(ROOT_DIR, 'dist', 'server', 'main.js');

/** Runs a command to completion; throws on a non-zero status. Returns stdout. */
export function run(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${String(r.status)}: ${r.stderr}`);
  return r.stdout;
}

export function timedRun(cmd: string, args: string[], cwd?: string): number {
  const t0 = performance.now();
  run(cmd, args, cwd);
  return performance.now() - t0;
}

export interface Practice {
  repo: string;
  archive: string;
}

/** `tuf-rotate practice DIR --key-type T --json` (not timed). */
export function practice(dir: string, keyType: string): Practice {
  const out = run(process.execPath, [MAIN, 'practice', dir, '--key-type', keyType, '--json']);
  const j = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { target: string; archive: string };
  return { repo: j.target, archive: j.archive };
}

/** `tuf-rotate rotate` end to end as its own process; returns ms. */
export function timeOurRotate(p: Practice, dir: string, keyType: string): number {
  return timedRun(process.execPath, [MAIN, 'rotate', '--keys', p.archive, '--out', path.join(dir, 'out.tgz'), '--repo', p.repo, '--key-type', keyType, '--json']);
}

/**
 * The same cryptography with the openssl CLI: generate the new key, sign `data` with the new and
 * the old key, verify both signatures. Five processes; returns ms.
 */
export function timeOpenssl(dir: string, keyType: 'ed25519' | 'rsa', oldKey: string, data: string): number {
  const newKey = path.join(dir, `new-${keyType}.pem`);
  const sig = (k: string): string => `${k}.sig`;
  const t0 = performance.now();
  if (keyType === 'ed25519') {
    run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', newKey]);
    for (const k of [newKey, oldKey]) run('openssl', ['pkeyutl', '-sign', '-rawin', '-inkey', k, '-in', data, '-out', sig(k)]);
    for (const k of [newKey, oldKey]) run('openssl', ['pkeyutl', '-verify', '-rawin', '-inkey', k, '-in', data, '-sigfile', sig(k)]);
  } else {
    const pss = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'];
    run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096', '-out', newKey]);
    for (const k of [newKey, oldKey]) run('openssl', ['dgst', '-sha256', '-sign', k, ...pss, '-out', sig(k), data]);
    for (const k of [newKey, oldKey]) run('openssl', ['dgst', '-sha256', '-prverify', k, ...pss, '-signature', sig(k), data]);
  }
  return performance.now() - t0;
}

export async function oldOpensslKey(dir: string, keyType: 'ed25519' | 'rsa'): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `old-${keyType}.pem`);
  if (keyType === 'ed25519') run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', file]);
  else run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096', '-out', file]);
  return file;
}

export interface Served {
  child: ChildProcess;
  origin: string;
  token: string;
  /** ms from spawn to the URL line on stdout. */
  startMs: number;
  stop: () => Promise<void>;
}

/** Spawns `node dist/server/main.js serve --repo REPO --work CWD --port 0` and waits for its URL line. */
export function serve(repo: string, cwd: string): Promise<Served> {
  return serveWith(process.execPath, [MAIN, 'serve', '--repo', repo, '--work', cwd, '--port', '0'], cwd);
}

/** Spawns `npm start -- --repo REPO --work WORK --port 0` (in the package folder) and waits for its URL line. */
export function npmStart(repo: string, work: string): Promise<Served> {
  return serveWith('npm', ['start', '--silent', '--', '--repo', repo, '--work', work, '--port', '0'], ROOT_DIR);
}

/**
 * A package folder like ours whose `start` script does nothing (`true`), with a copy of our .npmrc:
 * `npm start` there costs what npm itself costs before and around any start script.
 */
export async function npmNoopPackage(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'npm-noop', version: '0.0.0', private: true, scripts: { start: 'true' } }, null, 2) + '\n');
  await fs.copyFile(path.join(ROOT_DIR, '.npmrc'), path.join(dir, '.npmrc')).catch(() => undefined);
  return dir;
}

/** `npm start --silent` in a folder made by npmNoopPackage, to its exit; ms. */
export function timeNpmNoop(dir: string): number {
  return timedRun('npm', ['start', '--silent'], dir);
}

/** Time of an empty Node process, `node -e ''` (the floor every command stands on); ms. */
export function timeNodeFloor(): number {
  return timedRun(process.execPath, ['-e', '']);
}

/**
 * Spawns a command that prints `serving on URL` and waits for that line. The child is the leader
 * of its own process group, so stop() ends it with whatever it started (npm start's node).
 */
export function serveWith(cmd: string, args: string[], cwd: string): Promise<Served> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
    }
    await exited;
  };
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)\/#token=(\S+)/.exec(out);
      if (m) resolve({ child, origin: m[1] as string, token: m[2] as string, startMs: performance.now() - t0, stop });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${String(code)} before printing its URL: ${err}`)));
  });
}

/** Resident memory of a process in MB, from /proc/PID/status. */
export async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) / 1024;
}

/** A client of the JSON API: token, JSON or gzip bodies (Host is 127.0.0.1:PORT from the URL). */
export function api(s: Served) {
  const call = async (method: 'GET' | 'POST', url: string, body?: unknown): Promise<Response> => {
    const isBuf = Buffer.isBuffer(body);
    const res = await fetch(s.origin + url, {
      method,
      headers: {
        authorization: `Bearer ${s.token}`,
        ...(method === 'POST' ? { 'content-type': isBuf ? 'application/gzip' : 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body: isBuf ? (body as Buffer) : JSON.stringify(body ?? {}) } : {}),
    });
    return res;
  };
  const json = async <T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> => {
    const res = await call(method, url, body);
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  /** Starts a job and waits for it through its event stream (which ends when the job ends). */
  const job = async (url: string, body: unknown = {}): Promise<{ status: string }> => {
    const { jobId } = await json<{ jobId: string }>('POST', url, body);
    const text = await (await call('GET', `/api/jobs/${jobId}/events`)).text();
    const blocks = text.split('\n\n').filter((b) => b.startsWith('event:'));
    const last = blocks.at(-1) ?? '';
    const data = /^data: (.*)$/m.exec(last)?.[1] ?? '{}';
    const j = JSON.parse(data) as { status: string };
    if (j.status !== 'done') throw new Error(`job ${url} ${j.status}: ${data.slice(0, 300)}`);
    return j;
  };
  return { call, json, job };
}
