/** Shared by the API tests: a buildApp with a captured log, and requests that record every reply body. */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../server/app.js';
import type { AppOptions } from '../../server/app.js';

export const PORT = 4321;
export const HOST = `127.0.0.1:${PORT}`;

export interface TestApp {
  app: FastifyInstance;
  token: string;
  logs: string[];
  bodies: string[];
  /** An authorised request from the page itself (Host, Origin, Bearer token). */
  call: (method: 'GET' | 'POST', url: string, body?: unknown, headers?: Record<string, string>) => Promise<LightMyRequestResponse>;
  raw: (o: InjectOptions) => Promise<LightMyRequestResponse>;
}

export async function testApp(o: Partial<AppOptions> & { workDir: string }): Promise<TestApp> {
  const token = randomBytes(32).toString('base64url');
  const logs: string[] = [];
  const bodies: string[] = [];
  const app = await buildApp({
    token,
    port: PORT,
    target: undefined,
    logger: { level: 'trace', stream: { write: (line: string) => logs.push(line) } },
    ...o,
  });
  const raw = async (opts: InjectOptions): Promise<LightMyRequestResponse> => {
    const res = await app.inject(opts);
    bodies.push(res.body);
    return res;
  };
  const call: TestApp['call'] = (method, url, body, headers = {}) => {
    const isBuffer = Buffer.isBuffer(body);
    return raw({
      method,
      url,
      headers: {
        host: HOST,
        origin: `http://${HOST}`,
        authorization: `Bearer ${token}`,
        ...(method === 'POST' ? { 'content-type': isBuffer ? 'application/gzip' : 'application/json' } : {}),
        ...headers,
      },
      ...(method === 'POST' ? { payload: isBuffer ? body : JSON.stringify(body ?? {}) } : {}),
    });
  };
  return { app, token, logs, bodies, call, raw };
}

/** Polls a job until it is no longer running. */
export async function waitJob(t: TestApp, jobId: string): Promise<{ status: string; result?: Record<string, unknown>; error?: { code: string } }> {
  for (let i = 0; i < 600; i++) {
    const res = await t.call('GET', `/api/jobs/${jobId}`);
    if (res.statusCode !== 200) throw new Error(`job ${jobId}: ${res.statusCode} ${res.body}`);
    const job = res.json<{ status: string }>();
    if (job.status !== 'running') return job;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`job ${jobId} did not finish`);
}
