/** The real server process (dist/server/main.js or server/main.ts under tsx), driven over loopback HTTP. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';

export interface ServerProcess {
  child: ChildProcess;
  origin: string;
  token: string;
  stderr: () => string;
}

export async function startServerProcess(command: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const child = spawn(process.execPath, command, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const m = /^tuf-rotate: serving on (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]{43})$/.exec(line);
  assert.ok(m, line);
  return { child, origin: m[1] ?? '', token: m[2] ?? '', stderr: () => stderr };
}

export async function apiCall(s: ServerProcess, method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: () => Record<string, unknown>; text: string }> {
  const isBuf = body instanceof Uint8Array;
  const res = await fetch(`${s.origin}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${s.token}`,
      origin: s.origin,
      ...(method === 'POST' ? { 'content-type': isBuf ? 'application/gzip' : 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body: isBuf ? body : JSON.stringify(body ?? {}) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

export interface JobEnd {
  status: string;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** Starts a job and waits for its end (polling; no timing assumption beyond "it ends"). */
export async function apiJob(s: ServerProcess, url: string, body: unknown = {}): Promise<JobEnd> {
  const res = await apiCall(s, 'POST', url, body);
  if (res.status !== 202) return { status: 'refused', error: (res.json()['error'] as { code: string; message: string } | undefined) ?? { code: String(res.status), message: res.text } };
  const id = res.json()['jobId'] as string;
  for (;;) {
    const job = (await apiCall(s, 'GET', `/api/jobs/${id}`)).json() as unknown as JobEnd;
    if (job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function stopServerProcess(s: ServerProcess, signal: NodeJS.Signals): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  s.child.kill(signal);
  await exited;
}

/** Resolves once the process has exited (it killed itself at a failpoint). */
export function exited(s: ServerProcess): Promise<NodeJS.Signals | null> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return Promise.resolve(s.child.signalCode);
  return new Promise((resolve) => s.child.once('exit', (_code, signal) => resolve(signal)));
}
