/**
 * What every recovery scenario ends with: the repository's chain verifies with our verifier
 * (libaktualizr's rules) and a real tuf-js client follows it, and the archive the tool names as
 * valid holds a private key of the root the target now serves.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Updater } from 'tuf-js';
import { readKeyArchive } from '../../server/archive/read.js';
import { LocalRepoBackend } from '../../server/backends/local-repo.js';
import { heldKeysForRole, keyRingFromArchive } from '../../server/keyring.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import { serveFolder } from './static-server.js';

/** Our verifier and tuf-js both walk the repository's root chain from version 1; returns the final version. */
export async function clientsAccept(repo: string): Promise<number> {
  const backend = new LocalRepoBackend(repo);
  const history = await backend.history();
  const [first, ...rest] = history;
  assert.ok(first && first.version === 1, 'the repository has 1.root.json');
  const chain = verifyChain(first, rest, { now: new Date() });
  assert.ok(chain.ok, `our verifier accepts the chain (failed at ${chain.failedAt ?? '-'})`);
  const clientDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-client-'));
  const server = await serveFolder(path.join(repo, 'metadata'));
  try {
    await fs.copyFile(path.join(repo, 'metadata', '1.root.json'), path.join(clientDir, 'root.json'));
    const updater = new Updater({ metadataDir: clientDir, metadataBaseUrl: server.url, config: { fetchRetries: 0 } });
    await updater.refresh();
    const v = parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version;
    assert.equal(v, chain.finalVersion, 'tuf-js ends on the same root version');
    return v;
  } finally {
    await server.close();
    await fs.rm(clientDir, { recursive: true, force: true });
  }
}

/** The archive named valid holds a private key of the root role the repository serves now. */
export async function assertValidArchive(repo: string, archive: string | null | undefined): Promise<void> {
  assert.ok(typeof archive === 'string' && archive !== '', `a valid archive is named (${String(archive)})`);
  const current = await new LocalRepoBackend(repo).currentRoot();
  const ring = keyRingFromArchive(await readKeyArchive(await fs.readFile(archive)), archive);
  assert.ok(heldKeysForRole(ring, current).size > 0, `${archive} holds a key of root version ${current.version}`);
}

/**
 * tuf-js's Updater refreshes from the repository over loopback (from the root.json already in
 * `clientDir`), then downloads the practice target `hello.txt`; returns the root version it trusts.
 */
export async function clientFetches(repo: string, clientDir: string): Promise<number> {
  const server = await serveFolder(repo);
  try {
    const updater = new Updater({
      metadataDir: clientDir,
      metadataBaseUrl: `${server.url}/metadata`,
      targetBaseUrl: `${server.url}/targets`,
      targetDir: path.join(clientDir, 'downloads'),
      config: { fetchRetries: 0 },
    });
    await updater.refresh();
    const info = await updater.getTargetInfo('hello.txt');
    assert.ok(info, 'the target is listed in targets.json');
    await fs.mkdir(path.join(clientDir, 'downloads'), { recursive: true });
    const file = await updater.downloadTarget(info, path.join(clientDir, 'downloads', 'hello.txt'));
    assert.equal(await fs.readFile(file, 'utf8'), 'Hello from the practice repository.\n');
  } finally {
    await server.close();
  }
  return parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version;
}
