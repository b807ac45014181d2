import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSpecPractice } from '../../server/practice/spec-repo.js';
import { startServer } from '../../server/serve.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { Updater } from 'tuf-js';
import { serveFolder } from '../helpers/static-server.js';
import { testApp, waitJob, type TestApp } from './helpers.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The private halves stored in a key archive's .sec files (extracted with tar, independently of our reader). */
function privateValues(archive: string): string[] {
  const text = execFileSync('tar', ['-xzOf', archive, '--wildcards', '*.sec'], { encoding: 'utf8' });
  const out = [...text.matchAll(/"private"\s*:\s*"([^"]+)"/g)].map((m) => (m[1] ?? '').replace(/\\n/g, '\n'));
  assert.ok(out.length > 0, `no .sec entries in ${archive}`);
  return out;
}

/** Every reply body and log line is free of private key material and of the token. */
function assertNoSecrets(texts: string[], secrets: string[], token: string): void {
  for (const text of texts) {
    assert.ok(!text.includes('PRIVATE KEY'), `PEM private key in: ${text.slice(0, 200)}`);
    assert.ok(!text.includes(token), `the token in: ${text.slice(0, 200)}`);
    const lower = text.toLowerCase();
    for (const s of secrets) {
      // PEM secrets: compare a line of their base64 body; hex secrets: the whole value.
      const probe = s.includes('\n') ? (s.split('\n')[1] ?? s) : s.toLowerCase();
      assert.ok(!(s.includes('\n') ? text.includes(probe) : lower.includes(probe)), `private key material in: ${text.slice(0, 200)}`);
    }
  }
}

function sseEvents(text: string): { event: string; data: unknown }[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

describe('a full rotation through the JSON API', () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-'));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('rotates a local repository: target → archive → plan → sign → save → publish → record, with no secret in any reply or log', async () => {
    const made = await createSpecPractice(path.join(tmp, 'practice'));
    const workDir = path.join(tmp, 'work');
    await fs.mkdir(workDir);
    const t: TestApp = await testApp({ workDir });
    const archiveBytes = await fs.readFile(made.archive);

    // A refused archive is a coded 4xx, and the server carries on.
    const bad = await t.call('POST', '/api/archive', Buffer.from('this is not a gzip file, just text'));
    assert.equal(bad.statusCode, 422);
    assert.equal(bad.json().error.code, 'ARCHIVE_INVALID');
    assert.equal((await t.call('GET', '/api/health')).statusCode, 200);

    let res = await t.call('GET', '/api/session');
    assert.equal(res.json().step, 'target');

    res = await t.call('POST', '/api/target', { kind: 'repo', dir: made.repo });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().root.version, 1);
    assert.equal(res.json().target.kind, 'repo');

    res = await t.call('POST', '/api/archive', archiveBytes);
    assert.equal(res.statusCode, 200, res.body);
    const uploaded = res.json();
    assert.equal(uploaded.archive.sha256, sha256(archiveBytes));
    assert.deepEqual(uploaded.rootKeys.held.map((h: { keyid: string }) => h.keyid), [made.rootKeyId]);
    assert.equal(uploaded.rootKeys.missing.length, 0);

    res = await t.call('GET', '/api/root');
    assert.equal(res.statusCode, 200);
    const rootRole = res.json().roles.find((r: { name: string }) => r.name === 'root');
    assert.equal(rootRole.keys[0].held, true);
    res = await t.call('GET', '/api/root/history');
    assert.deepEqual(res.json().versions.map((v: { version: number }) => v.version), [1]);

    // Plan: a job (key generation); poll it, then read its event stream once.
    res = await t.call('POST', '/api/plan', { keyType: 'ed25519', expiresDays: 365 });
    assert.equal(res.statusCode, 202, res.body);
    const planJobId = res.json().jobId as string;
    const planJob = await waitJob(t, planJobId);
    assert.equal(planJob.status, 'done', JSON.stringify(planJob));
    const plan = (planJob.result as { plan: { plan: { newVersion: number; newKeyId: string }; diff: { keysAdded: { keyid: string }[]; lines: unknown[] } } }).plan;
    assert.equal(plan.plan.newVersion, 2);
    assert.deepEqual(plan.diff.keysAdded.map((k) => k.keyid), [plan.plan.newKeyId]);
    assert.ok(plan.diff.lines.length > 0);
    const sse = await t.call('GET', `/api/jobs/${planJobId}/events`);
    assert.equal(sse.statusCode, 200);
    assert.match(String(sse.headers['content-type']), /^text\/event-stream/);
    const events = sseEvents(sse.body);
    assert.ok(events.some((e) => e.event === 'progress' && (e.data as { step: string }).step === 'generate'));
    assert.equal(events.at(-1)?.event, 'done');

    res = await t.call('POST', '/api/sign', {});
    assert.equal(res.statusCode, 202, res.body);
    const signJob = await waitJob(t, res.json().jobId);
    assert.equal(signJob.status, 'done', JSON.stringify(signJob));
    const verify = (signJob.result as { sign: { verify: { ok: boolean; results: { status: string }[] } } }).sign.verify;
    assert.equal(verify.ok, true);
    assert.ok(verify.results.every((r) => r.status !== 'fail'));

    // Invariant 1: no publish (and no download) before the keys are saved.
    res = await t.call('POST', '/api/publish', {});
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'PUBLISH_BEFORE_SAVE');
    res = await t.call('GET', '/api/archive/new');
    assert.equal(res.statusCode, 409);
    await assert.rejects(fs.stat(path.join(made.repo, 'metadata', '2.root.json')));

    res = await t.call('POST', '/api/save', {});
    assert.equal(res.statusCode, 202, res.body);
    const saveJob = await waitJob(t, res.json().jobId);
    assert.equal(saveJob.status, 'done', JSON.stringify(saveJob));
    const saved = (saveJob.result as { save: { path: string; sha256: string } }).save;
    assert.equal(saved.path, path.join(workDir, 'offline-keys-v2.tgz'));
    const savedBytes = await fs.readFile(saved.path);
    assert.equal(sha256(savedBytes), saved.sha256);
    assert.equal((await fs.stat(saved.path)).mode & 0o777, 0o600);
    assert.deepEqual(await fs.readFile(made.archive), archiveBytes, 'the input archive is unchanged');

    // Saving again to the same path is refused without overwrite (invariant 2).
    res = await t.call('POST', '/api/save', {});
    const again = await waitJob(t, res.json().jobId);
    assert.equal(again.status, 'failed');
    assert.equal(again.error?.code, 'FILE_EXISTS');

    res = await t.call('GET', '/api/archive/new');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/gzip');
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="offline-keys-v2\.tgz"$/);
    assert.equal(sha256(res.rawPayload), saved.sha256);
    t.bodies.pop(); // the archive the user asked for holds private keys by design

    res = await t.call('GET', '/api/root/new');
    assert.equal(res.statusCode, 200);
    assert.equal(parseRoot(res.body).version, 2);

    res = await t.call('POST', '/api/publish', {});
    assert.equal(res.statusCode, 202, res.body);
    const pubJob = await waitJob(t, res.json().jobId);
    assert.equal(pubJob.status, 'done', JSON.stringify(pubJob));
    const published = (pubJob.result as { publish: { location: string; version: number; verify: { ok: boolean } } }).publish;
    assert.equal(published.version, 2);
    assert.equal(published.verify.ok, true);
    assert.equal(published.location, path.join(made.repo, 'metadata', '2.root.json'));
    assert.equal(parseRoot(await fs.readFile(path.join(made.repo, 'metadata', '2.root.json'))).version, 2);
    assert.equal(parseRoot(await fs.readFile(path.join(made.repo, 'metadata', 'root.json'))).version, 2);

    // The real client (tuf-js), trusting version 1, follows the repository to version 2.
    const clientDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-api-client-'));
    await fs.copyFile(path.join(made.repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
    const files = await serveFolder(path.join(made.repo, 'metadata'));
    try {
      await new Updater({ metadataDir: clientDir, metadataBaseUrl: files.url, config: { fetchRetries: 0 } }).refresh();
    } finally {
      await files.close();
    }
    assert.equal(parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version, 2);
    await fs.rm(clientDir, { recursive: true, force: true });

    res = await t.call('POST', '/api/publish', {});
    assert.equal(res.statusCode, 409, 'a session publishes once');

    res = await t.call('GET', '/api/record');
    assert.equal(res.statusCode, 200, res.body);
    const record = res.json();
    assert.equal(record.old.version, 1);
    assert.equal(record.new.version, 2);
    assert.match(record.old.sha256, /^[0-9a-f]{64}$/);
    assert.notEqual(record.old.sha256, record.new.sha256);
    assert.deepEqual(record.keyIdsAdded, [plan.plan.newKeyId]);
    assert.deepEqual(record.keyIdsRemoved, [made.rootKeyId]);
    assert.equal(record.archive.sha256, saved.sha256);
    assert.equal(record.inputArchiveSha256, sha256(archiveBytes));
    assert.equal(record.verification.signed.ok, true);
    assert.equal(record.verification.published.ok, true);
    assert.ok(record.times.published);

    res = await t.call('GET', '/api/session');
    assert.equal(res.json().step, 'done');
    assert.equal(res.json().published, true);
    res = await t.call('GET', '/api/root');
    assert.equal(res.json().version, 2);
    res = await t.call('GET', '/api/root/history');
    assert.deepEqual(res.json().versions.map((v: { version: number }) => v.version), [1, 2]);

    const secrets = [...privateValues(made.archive), ...privateValues(saved.path)];
    assert.ok(t.logs.length > 10, 'the log was captured');
    assertNoSecrets([...t.bodies, ...t.logs], secrets, t.token);
    await t.app.close();
  });

  it('rotates an uploaded root.json (offline files) over real HTTP, streaming the sign job as server-sent events', async () => {
    const made = await createSpecPractice(path.join(tmp, 'offline'), { keyType: 'rsa' });
    const workDir = path.join(tmp, 'offline-work');
    await fs.mkdir(workDir);
    const logs: string[] = [];
    const server = await startServer({ target: undefined, workDir, staticDir: path.join(tmp, 'none'), logger: { level: 'trace', stream: { write: (l: string) => logs.push(l) } } });
    const bodies: string[] = [];
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: () => Record<string, unknown>; text: string }> => {
      const isBuf = Buffer.isBuffer(body);
      const r = await fetch(server.origin + url, {
        method,
        headers: {
          authorization: `Bearer ${server.token}`,
          ...(method === 'POST' ? { 'content-type': isBuf ? 'application/gzip' : 'application/json' } : {}),
        },
        ...(method === 'POST' ? { body: isBuf ? body : JSON.stringify(body ?? {}) } : {}),
      });
      const text = await r.text();
      bodies.push(text);
      return { status: r.status, json: () => JSON.parse(text) as Record<string, unknown>, text };
    };
    const wait = async (jobId: string): Promise<Record<string, unknown>> => {
      for (;;) {
        const job = (await call('GET', `/api/jobs/${jobId}`)).json();
        if (job['status'] !== 'running') return job;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
      const rootJson = JSON.parse(await fs.readFile(path.join(made.repo, 'metadata', 'root.json'), 'utf8')) as unknown;
      let res = await call('POST', '/api/target', { kind: 'offline', root: rootJson });
      assert.equal(res.status, 200, res.text);
      assert.equal((res.json()['target'] as { kind: string }).kind, 'offline');
      res = await call('POST', '/api/archive', await fs.readFile(made.archive));
      assert.equal(res.status, 200, res.text);

      res = await call('POST', '/api/plan', { keyType: 'ecdsa', changelog: 'practice rotation' });
      assert.equal(res.status, 202, res.text);
      assert.equal((await wait(res.json()['jobId'] as string))['status'], 'done');

      res = await call('POST', '/api/sign', {});
      assert.equal(res.status, 202);
      const signJobId = res.json()['jobId'] as string;
      // Stream it while it runs (fetch, as the page does: EventSource cannot send the token).
      const stream = await fetch(`${server.origin}/api/jobs/${signJobId}/events`, { headers: { authorization: `Bearer ${server.token}` } });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers.get('content-security-policy')?.includes("default-src 'self'"), true);
      const text = await stream.text();
      bodies.push(text);
      const events = sseEvents(text);
      assert.equal(events.at(-1)?.event, 'done', text);
      assert.ok(events.some((e) => e.event === 'progress' && (e.data as { step: string }).step === 'verify'));
      assert.equal(((events.at(-1)?.data as { result: { sign: { verify: { ok: boolean } } } }).result.sign.verify.ok), true);

      res = await call('POST', '/api/publish', {});
      assert.equal(res.status, 409);
      res = await call('POST', '/api/save', { path: 'keys/new-offline-keys.tgz' });
      assert.equal(res.status, 202);
      const saveJob = await wait(res.json()['jobId'] as string);
      // The folder does not exist: a coded failure, nothing written, the session can retry.
      assert.equal(saveJob['status'], 'failed');
      assert.equal((saveJob['error'] as { code: string }).code, 'FILE_WRITE_FAILED');
      res = await call('POST', '/api/save', { path: 'new-offline-keys.tgz' });
      const saved = await wait(res.json()['jobId'] as string);
      assert.equal(saved['status'], 'done', JSON.stringify(saved));
      const savedPath = ((saved['result'] as { save: { path: string } }).save).path;
      assert.equal(savedPath, path.join(workDir, 'new-offline-keys.tgz'));

      res = await call('POST', '/api/publish', {});
      const pub = await wait(res.json()['jobId'] as string);
      assert.equal(pub['status'], 'done', JSON.stringify(pub));
      const newRoot = parseRoot(await fs.readFile(path.join(workDir, '2.root.json')));
      assert.equal(newRoot.version, 2);
      assert.equal(newRoot.roles['root']?.keyids.length, 1);

      res = await call('GET', '/api/record');
      assert.equal(res.status, 200);
      assert.equal((res.json()['target'] as { kind: string }).kind, 'offline');

      assertNoSecrets([...bodies, ...logs], [...privateValues(made.archive), ...privateValues(savedPath)], server.token);
    } finally {
      await server.close();
    }
  });
});
