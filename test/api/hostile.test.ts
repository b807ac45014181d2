/**
 * A bounded burst of hostile and valid requests against the real server on loopback (2,000
 * requests, 50 at a time; it stops by itself). The server must keep serving, every refusal must be
 * a 4xx with a coded error, and memory must stay bounded.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalRepoBackend } from '../../server/backends/local-repo.js';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { startServer } from '../../server/serve.js';
import type { RunningServer } from '../../server/serve.js';

interface Reply {
  status: number;
  body: string;
}

const TOTAL = 2000;
const CONCURRENCY = 50;

describe('hostile request burst', () => {
  let tmp: string;
  let server: RunningServer;
  let agent: http.Agent;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-hostile-'));
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    server = await startServer({ port: 0, target: new LocalRepoBackend(made.repo), workDir: tmp, logger: false });
    agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  });
  after(async () => {
    agent.destroy();
    await server.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  function send(o: { method: string; path: string; headers?: Record<string, string>; body?: Buffer; slow?: boolean }): Promise<Reply | 'dropped'> {
    return new Promise((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.port, method: o.method, path: o.path, headers: o.headers, agent: o.slow ? false : agent, timeout: 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', () => resolve('dropped'));
      req.on('timeout', () => req.destroy());
      if (o.slow) {
        // A slow body: half of it, then the client gives up.
        req.write((o.body ?? Buffer.alloc(0)).subarray(0, 10));
        setTimeout(() => req.destroy(), 100);
        return;
      }
      req.end(o.body);
    });
  }

  it('keeps serving; every refusal is a coded 4xx; memory stays bounded', async () => {
    const host = `127.0.0.1:${server.port}`;
    const good = { host, origin: `http://${host}`, authorization: `Bearer ${server.token}` };
    const json = { ...good, 'content-type': 'application/json' };
    const kinds: { name: string; expect: number; make: () => Parameters<typeof send>[0] }[] = [
      { name: 'valid session', expect: 200, make: () => ({ method: 'GET', path: '/api/session', headers: good }) },
      { name: 'valid root', expect: 200, make: () => ({ method: 'GET', path: '/api/root', headers: good }) },
      { name: 'no token', expect: 401, make: () => ({ method: 'GET', path: '/api/session', headers: { host } }) },
      { name: 'wrong token', expect: 401, make: () => ({ method: 'GET', path: '/api/root', headers: { ...good, authorization: 'Bearer nope' } }) },
      { name: 'foreign host', expect: 403, make: () => ({ method: 'GET', path: '/api/session', headers: { ...good, host: `evil.example:${server.port}` } }) },
      { name: 'foreign origin', expect: 403, make: () => ({ method: 'POST', path: '/api/plan', headers: { ...json, origin: 'http://evil.example' }, body: Buffer.from('{}') }) },
      { name: 'cross-site fetch', expect: 403, make: () => ({ method: 'POST', path: '/api/plan', headers: { ...json, 'sec-fetch-site': 'cross-site' }, body: Buffer.from('{}') }) },
      { name: 'wrong content type', expect: 415, make: () => ({ method: 'POST', path: '/api/target', headers: { ...good, 'content-type': 'text/plain' }, body: Buffer.from('{}') }) },
      { name: 'malformed JSON', expect: 400, make: () => ({ method: 'POST', path: '/api/target', headers: json, body: Buffer.from('{"kind": ') }) },
      { name: 'oversized JSON', expect: 413, make: () => ({ method: 'POST', path: '/api/target', headers: json, body: Buffer.alloc(1024 * 1024 + 10, 0x20) }) },
      { name: 'not a gzip archive', expect: 422, make: () => ({ method: 'POST', path: '/api/archive', headers: { ...good, 'content-type': 'application/gzip' }, body: Buffer.from('hello, not gzip') }) },
      { name: 'unknown route', expect: 404, make: () => ({ method: 'GET', path: '/api/no-such-route', headers: good }) },
    ];
    const rssBefore = process.memoryUsage().rss;
    const seen = new Map<string, number>();
    let next = 0;
    let slowSent = 0;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const i = next++;
        if (i % 100 === 0) {
          // A slow body now and then: the server must not wait on it forever.
          slowSent++;
          await send({ method: 'POST', path: '/api/target', headers: { ...json, 'content-length': '1000' }, body: Buffer.alloc(1000, 0x20), slow: true });
          continue;
        }
        const kind = kinds[i % kinds.length];
        assert.ok(kind);
        const reply = await send(kind.make());
        assert.notEqual(reply, 'dropped', `${kind.name}: the server dropped the connection`);
        if (reply === 'dropped') continue;
        assert.equal(reply.status, kind.expect, `${kind.name}: ${reply.status} ${reply.body.slice(0, 200)}`);
        if (reply.status >= 400) {
          const body = JSON.parse(reply.body) as { error?: { code?: string; message?: string; hint?: string } };
          assert.ok(body.error?.code && body.error.message && body.error.hint, `${kind.name}: coded error body`);
        }
        seen.set(kind.name, (seen.get(kind.name) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.equal(seen.size, kinds.length);
    assert.ok(slowSent > 0);

    // Still serving, and memory growth bounded (the server runs in this process).
    const after = await send({ method: 'GET', path: '/api/session', headers: good });
    assert.ok(after !== 'dropped' && after.status === 200);
    const growthMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    assert.ok(growthMb < 150, `RSS grew by ${growthMb.toFixed(1)} MB`);
  });
});
