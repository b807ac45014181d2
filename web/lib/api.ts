/**
 * The only module that talks HTTP. Every call carries the per-launch token (moved from the URL
 * fragment to sessionStorage by main.ts) as a Bearer header, and every failure becomes an
 * ApiFailure with the server's error code and hint, so the UI can show both and branch on the code.
 */
import type { ApiErrorReply, Job, Route } from '../../shared/api.js';
import { getJob } from '../../shared/api.js';

const TOKEN_KEY = 'tuf-rotate-token';

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export class ApiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly status = 0,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

/** Turns anything thrown into an ApiFailure (network errors included). */
export function toFailure(e: unknown): ApiFailure {
  if (e instanceof ApiFailure) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new ApiFailure('NETWORK', `The local server did not answer: ${message}`, 'Check that tuf-rotate is still running, then try again.');
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token() ?? ''}`, ...extra };
}

function fillPath(path: string, params: Record<string, string> | undefined): string {
  return path.replace(/:([a-z]+)/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ''));
}

async function failure(res: Response): Promise<ApiFailure> {
  let body: Partial<ApiErrorReply> | undefined;
  try {
    body = (await res.json()) as Partial<ApiErrorReply>;
  } catch {
    body = undefined;
  }
  const err = body?.error;
  if (err) return new ApiFailure(err.code, err.message, err.hint, res.status);
  return new ApiFailure('INTERNAL', `The server replied ${res.status} ${res.statusText}.`, 'Look at the terminal running tuf-rotate.', res.status);
}

async function send(path: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw toFailure(e);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

async function callJson(r: Route, body: unknown, params: Record<string, string> | undefined): Promise<unknown> {
  const path = fillPath(r.path, params);
  const init: RequestInit =
    r.method === 'POST'
      ? { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body ?? {}) }
      : { method: 'GET', headers: headers() };
  const res = await send(path, init);
  return res.json();
}

/**
 * Calls a JSON route of the table in shared/api.ts. `T` is the route's reply type, named at the
 * call site with the aliases of shared/api.ts (e.g. `call<RootSummary>(getRoot)`): deriving it here
 * as FromSchema<R['reply']> for a generic R is more than TypeScript will expand.
 */
export function call<T>(r: Route, body?: unknown, params?: Record<string, string>): Promise<T> {
  return callJson(r, body, params) as Promise<T>;
}

async function uploadRaw(r: Route, data: Blob): Promise<unknown> {
  const res = await send(r.path, { method: 'POST', headers: headers({ 'content-type': 'application/gzip' }), body: data });
  return res.json();
}

/** POSTs raw bytes (the key archive upload: application/gzip). */
export function upload<T>(r: Route, data: Blob): Promise<T> {
  return uploadRaw(r, data) as Promise<T>;
}

/** GETs a file route (with the Bearer header, which a plain link cannot send) as a Blob. */
export async function download(r: Route): Promise<Blob> {
  const res = await send(r.path, { method: 'GET', headers: headers() });
  return res.blob();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for a job, reporting its progress as it grows. Polls GET /api/jobs/:id (EventSource cannot
 * send the Bearer header). Throws the job's error if it failed.
 */
export async function waitForJob(jobId: string, onProgress: (job: Job) => void): Promise<Job> {
  for (let delay = 100; ; delay = Math.min(delay * 1.5, 500)) {
    const job = (await callJson(getJob, undefined, { id: jobId })) as Job;
    onProgress(job);
    if (job.status === 'done') return job;
    if (job.status === 'failed') {
      const e = job.error;
      throw e ? new ApiFailure(e.code, e.message, e.hint) : new ApiFailure('INTERNAL', 'The step failed.', 'Look at the terminal running tuf-rotate.');
    }
    await sleep(delay);
  }
}
