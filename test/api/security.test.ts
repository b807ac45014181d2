import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RouteOptions } from 'fastify';
import type { Backend } from '../../server/backends/backend.js';
import { CSP } from '../../server/security.js';
import { startServer } from '../../server/serve.js';
import { ROUTES } from '../../shared/api.js';
import { HOST, PORT, testApp, type TestApp } from './helpers.js';

const JOB_ID = '0123456789abcdef0123456789abcdef';

function concrete(url: string): string {
  return url.replace(':id', JOB_ID);
}

describe('security: every /api route is closed by default', () => {
  let tmp: string;
  let t: TestApp;
  const routes: { method: string; url: string; bodyType: string }[] = [];

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-sec-'));
    const staticDir = path.join(tmp, 'web');
    await fs.mkdir(staticDir);
    await fs.writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>tuf-rotate</title>');
    await fs.writeFile(path.join(staticDir, 'app.js'), 'console.log(1)');
    t = await testApp({
      workDir: tmp,
      staticDir,
      beforeRoutes: (app) =>
        app.addHook('onRoute', (r: RouteOptions) => {
          for (const method of [r.method].flat()) {
            if (r.url.startsWith('/api')) routes.push({ method, url: r.url, bodyType: (r.config as { bodyType?: string } | undefined)?.bodyType ?? 'json' });
          }
        }),
    });
    await t.app.ready();
    assert.ok(routes.length >= ROUTES.length, 'every route was seen');
  });
  after(async () => {
    await t.app.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('registers exactly the routes of the shared route table', () => {
    const seen = new Set(routes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`));
    const table = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    assert.deepEqual([...seen].sort(), [...table].sort());
    assert.ok(routes.length >= ROUTES.length);
  });

  it('answers 401 UNAUTHORIZED to each /api route without the token, or with a wrong one', async () => {
    for (const r of routes) {
      for (const authorization of [undefined, 'Bearer wrong-token-of-some-length', `Basic ${t.token}`, `Bearer ${t.token}x`, `Bearer ${t.token.slice(0, -1)}`]) {
        const res = await t.raw({
          method: r.method as 'GET',
          url: concrete(r.url),
          headers: { host: HOST, 'content-type': r.bodyType === 'gzip' ? 'application/gzip' : 'application/json', ...(authorization ? { authorization } : {}) },
          ...(r.method === 'POST' ? { payload: '{}' } : {}),
        });
        assert.equal(res.statusCode, 401, `${r.method} ${r.url} (${authorization ?? 'no token'}): ${res.body}`);
        if (r.method !== 'HEAD') assert.equal(res.json().error.code, 'UNAUTHORIZED');
      }
    }
  });

  it('answers 403 FORBIDDEN_HOST to each /api route with a foreign Host, even with the token', async () => {
    for (const r of routes) {
      for (const host of ['evil.example', `evil.example:${PORT}`, '127.0.0.1', `127.0.0.1:${PORT + 1}`, `[::1]:${PORT}`, `127.0.0.1.nip.io:${PORT}`]) {
        const res = await t.raw({
          method: r.method as 'GET',
          url: concrete(r.url),
          headers: { host, authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
          ...(r.method === 'POST' ? { payload: '{}' } : {}),
        });
        assert.equal(res.statusCode, 403, `${r.method} ${r.url} with Host ${host}`);
        if (r.method !== 'HEAD') assert.equal(res.json().error.code, 'FORBIDDEN_HOST');
      }
    }
  });

  it('accepts localhost:PORT as well as 127.0.0.1:PORT', async () => {
    const res = await t.call('GET', '/api/health', undefined, { host: `localhost:${PORT}`, origin: `http://localhost:${PORT}` });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { ok: true, version: '0.1.0' });
  });

  it('refuses a foreign Origin and cross-site Sec-Fetch-Site, on POST and GET', async () => {
    const cases: [Record<string, string>, number][] = [
      [{ origin: 'http://evil.example' }, 403],
      [{ origin: 'null' }, 403],
      [{ origin: `https://${HOST}` }, 403],
      [{ origin: `http://localhost:${PORT}` }, 403], // Host is 127.0.0.1:PORT: the Origin must match it
      [{ 'sec-fetch-site': 'cross-site' }, 403],
      [{ 'sec-fetch-site': 'same-site' }, 403],
      [{ origin: `http://${HOST}`, 'sec-fetch-site': 'cross-site' }, 403],
      [{ origin: `http://${HOST}`, 'sec-fetch-site': 'same-origin' }, 409],
      [{ 'sec-fetch-site': 'none' }, 409],
    ];
    for (const [headers, status] of cases) {
      const res = await t.raw({
        method: 'POST',
        url: '/api/sign',
        headers: { host: HOST, authorization: `Bearer ${t.token}`, 'content-type': 'application/json', ...headers },
        payload: '{}',
      });
      assert.equal(res.statusCode, status, `${JSON.stringify(headers)}: ${res.body}`);
      assert.equal(res.json().error.code, status === 403 ? 'FORBIDDEN_ORIGIN' : 'SESSION_STATE');
      const get = await t.raw({ method: 'GET', url: '/api/session', headers: { host: HOST, authorization: `Bearer ${t.token}`, ...headers } });
      assert.equal(get.statusCode, status === 403 ? 403 : 200, `GET ${JSON.stringify(headers)}`);
    }
  });

  it('accepts a POST without Origin only when Sec-Fetch-Site is absent (a non-browser client with the token)', async () => {
    const res = await t.raw({ method: 'POST', url: '/api/sign', headers: { host: HOST, authorization: `Bearer ${t.token}`, 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(res.statusCode, 409); // past every check, refused by the session: nothing planned yet
    assert.equal(res.json().error.code, 'SESSION_STATE');
  });

  it('puts the security headers on API replies, errors, 404s and static files', async () => {
    const replies = [
      await t.call('GET', '/api/health'),
      await t.raw({ method: 'GET', url: '/api/health', headers: { host: HOST } }),
      await t.raw({ method: 'GET', url: '/', headers: { host: 'evil.example' } }),
      await t.call('GET', '/api/nothing-here'),
      await t.raw({ method: 'GET', url: '/', headers: { host: HOST } }),
      await t.raw({ method: 'GET', url: '/app.js', headers: { host: HOST } }),
    ];
    for (const res of replies) {
      assert.equal(res.headers['content-security-policy'], CSP);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['x-frame-options'], 'DENY');
    }
    assert.match(CSP, /default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'/);
    assert.equal(replies[0]?.headers['cache-control'], 'no-store');
    assert.equal(replies[1]?.headers['cache-control'], 'no-store');
    assert.equal(replies[3]?.statusCode, 404);
    assert.equal(replies[3]?.json().error.code, 'NOT_FOUND');
  });

  it('serves the web UI without the token but only to the loopback Host, with an index.html fallback', async () => {
    let res = await t.raw({ method: 'GET', url: '/', headers: { host: HOST } });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /<title>tuf-rotate<\/title>/);
    res = await t.raw({ method: 'GET', url: '/steps/keys', headers: { host: HOST } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    res = await t.raw({ method: 'GET', url: '/app.js', headers: { host: `evil.example:${PORT}` } });
    assert.equal(res.statusCode, 403);
    // Encoded or unknown API paths still need the token.
    for (const url of ['/%61pi/session', '/api/unknown', '/api', '/api/jobs/zz']) {
      res = await t.raw({ method: 'GET', url, headers: { host: HOST } });
      assert.equal(res.statusCode, 401, url);
    }
  });

  it('answers 415 to a POST with the wrong content type', async () => {
    const cases: [string, string | undefined][] = [
      ['/api/target', 'text/plain'],
      ['/api/target', 'application/x-www-form-urlencoded'],
      ['/api/target', 'multipart/form-data; boundary=x'],
      ['/api/plan', undefined],
      ['/api/sign', 'application/gzip'],
      ['/api/archive', 'application/json'],
      ['/api/archive', 'text/plain'],
    ];
    for (const [url, type] of cases) {
      const res = await t.raw({
        method: 'POST',
        url,
        headers: { host: HOST, origin: `http://${HOST}`, authorization: `Bearer ${t.token}`, ...(type ? { 'content-type': type } : {}) },
        payload: '{"kind":"repo","dir":"x"}',
      });
      assert.equal(res.statusCode, 415, `${url} as ${type ?? 'no type'}: ${res.body}`);
      assert.equal(res.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
    }
    // application/json with a charset parameter is JSON.
    const ok = await t.call('POST', '/api/target', { kind: 'repo', dir: 'no-such-dir' }, { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(ok.json().error.code, 'REPO_INVALID');
  });

  it('answers 413 to an oversized JSON body and an oversized archive', async () => {
    let res = await t.call('POST', '/api/target', { kind: 'offline', root: { pad: 'x'.repeat(1024 * 1024) } });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, 'BODY_TOO_LARGE');
    res = await t.call('POST', '/api/archive', Buffer.alloc(10 * 1024 * 1024 + 1, 0x1f));
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, 'ARCHIVE_TOO_LARGE');
    assert.equal((await t.call('GET', '/api/health')).statusCode, 200);
  });

  it('answers 400 naming the field for a body the schema refuses, and never echoes the body', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/api/plan', { keyType: 'dsa' }, /keyType/],
      ['/api/plan', {}, /keyType/],
      ['/api/plan', { keyType: 'ed25519', expiresDays: 0 }, /expiresDays/],
      ['/api/plan', { keyType: 'ed25519', extra: 1 }, /extra/],
      ['/api/target', { kind: 'repo' }, /dir/],
      ['/api/target', { kind: 'offline', root: 'not an object' }, /root/],
      ['/api/target', { kind: 'nowhere' }, /kind/],
      ['/api/save', { path: 7 }, /path/],
      ['/api/sign', { please: true }, /please/],
    ];
    for (const [url, body, field] of cases) {
      const res = await t.call('POST', url, body);
      assert.equal(res.statusCode, 400, `${url} ${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error.code, 'BAD_REQUEST');
      assert.match(res.json().error.message, field, res.body);
    }
    const res = await t.raw({
      method: 'POST',
      url: '/api/plan',
      headers: { host: HOST, authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      payload: '{"keyType": SECRET-LOOKING-TEXT',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'JSON_INVALID');
    assert.ok(!res.body.includes('SECRET-LOOKING-TEXT'));
  });

  it('answers 404 JOB_NOT_FOUND for an unknown job and 409 for steps out of order', async () => {
    let res = await t.call('GET', `/api/jobs/${JOB_ID}`);
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'JOB_NOT_FOUND');
    res = await t.call('GET', `/api/jobs/${JOB_ID}/events`);
    assert.equal(res.json().error.code, 'JOB_NOT_FOUND');
    res = await t.call('POST', '/api/plan', { keyType: 'ed25519' });
    assert.equal(res.json().error.code, 'TARGET_NOT_CONFIGURED');
    res = await t.call('POST', '/api/publish', {});
    assert.equal(res.json().error.code, 'PUBLISH_BEFORE_SAVE');
    res = await t.call('GET', '/api/record');
    assert.equal(res.json().error.code, 'SESSION_STATE');
  });

  it('hides the details of an unexpected error from the reply and logs them', async () => {
    const broken: Backend = {
      kind: 'repo',
      description: 'a broken target',
      currentRoot: () => Promise.reject(new Error('internal detail 7f3a')),
      history: () => Promise.reject(new Error('internal detail 7f3a')),
      begin: () => Promise.reject(new Error('internal detail 7f3a')),
      publish: () => Promise.reject(new Error('internal detail 7f3a')),
      abort: () => Promise.resolve(),
    };
    const b = await testApp({ workDir: tmp, target: broken });
    const res = await b.call('GET', '/api/root');
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().error.code, 'INTERNAL');
    assert.ok(!res.body.includes('7f3a'));
    assert.ok(b.logs.some((l) => l.includes('internal detail 7f3a')), 'the cause is logged');
    assert.ok(!b.logs.some((l) => l.includes(b.token)), 'the token is never logged');
    await b.app.close();
  });
});

describe('security over real HTTP', () => {
  it('listens on 127.0.0.1 only and checks Host against the bound port', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-sec-http-'));
    const server = await startServer({ target: undefined, workDir: tmp, staticDir: path.join(tmp, 'none') });
    try {
      const addr = server.app.server.address();
      assert.ok(addr !== null && typeof addr === 'object' && addr.address === '127.0.0.1');
      assert.match(server.token, /^[A-Za-z0-9_-]{43}$/);
      const get = (headers: Record<string, string>, url = '/api/health'): Promise<number> =>
        new Promise((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: server.port, path: url, headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }).on('error', reject);
        });
      assert.equal(await get({ authorization: `Bearer ${server.token}` }), 200);
      assert.equal(await get({ authorization: `Bearer ${server.token}`, host: `localhost:${server.port}` }), 200);
      assert.equal(await get({}), 401);
      assert.equal(await get({ authorization: `Bearer ${server.token}`, host: `attacker.example:${server.port}` }), 403);
      assert.equal(await get({ authorization: `Bearer ${server.token}`, host: '127.0.0.1:1' }), 403);
      const r = await fetch(`${server.origin}/api/session`, { headers: { authorization: `Bearer ${server.token}` } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    } finally {
      await server.close();
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});
