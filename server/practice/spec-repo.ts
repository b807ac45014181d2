import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildArchiveBytes } from '../archive/write.js';
import { emptyArchive } from '../keyring.js';
import { fioctlKeyBase } from '../archive/layout.js';
import type { JsonObject } from '../tuf/json.js';
import { archivePairFilesFor } from '../tuf/archive-keys.js';
import { fileDigestHex, keyIdFor, newRootKeyJson } from '../tuf/public-key.js';
import { generateKey } from '../tuf/private-key.js';
import type { PrivateKey } from '../tuf/private-key.js';
import { formatExpires, serializeRoot, toDocument } from '../tuf/metadata.js';
import type { KeyAlgorithm } from '../tuf/model.js';
import { LocalSigner, signRoot } from '../tuf/sign.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** The practice repository's one target file. */
export const PRACTICE_TARGET = 'hello.txt';

export interface SpecPracticeResult {
  dir: string;
  repo: string;
  archive: string;
  onlineKeys: string;
  rootKeyId: string;
}

/**
 * A practice standard TUF repository (TUF specification dialect, as python-tuf and tuf-js write
 * it): DIR/repo/metadata/{1.root.json, root.json, 1.targets.json, 1.snapshot.json, timestamp.json},
 * one target DIR/repo/targets/<sha256>.hello.txt,
 * the owner's key archive DIR/offline-keys.tgz (its .pub holds the key object exactly as root.json
 * has it), and the online keys as PEM files in DIR/online-keys/ (mode 0600).
 */
export async function createSpecPractice(
  dir: string,
  opts: { keyType?: KeyAlgorithm; now?: Date } = {},
): Promise<SpecPracticeResult> {
  const now = opts.now ?? new Date();
  const repo = path.join(dir, 'repo');
  const metadata = path.join(repo, 'metadata');
  await fs.mkdir(metadata, { recursive: true });
  await fs.mkdir(path.join(repo, 'targets'), { recursive: true });
  const onlineDir = path.join(dir, 'online-keys');
  await fs.mkdir(onlineDir, { recursive: true, mode: 0o700 });

  const rootKey = await generateKey(opts.keyType ?? 'ed25519');
  const online: Record<'targets' | 'snapshot' | 'timestamp', PrivateKey> = {
    targets: await generateKey('ed25519'),
    snapshot: await generateKey('ed25519'),
    timestamp: await generateKey('ed25519'),
  };
  const keys: JsonObject = {};
  const idOf = (k: PrivateKey): string => {
    const json = newRootKeyJson('spec', k.publicKey);
    const id = keyIdFor('spec', k.publicKey);
    keys[id] = json;
    return id;
  };
  const rootId = idOf(rootKey);
  const ids = { targets: idOf(online.targets), snapshot: idOf(online.snapshot), timestamp: idOf(online.timestamp) };
  const expires = formatExpires(new Date(now.getTime() + YEAR_MS));
  const rootSigned: JsonObject = {
    _type: 'root',
    spec_version: '1.0.31',
    version: 1,
    expires,
    consistent_snapshot: true,
    keys,
    roles: {
      root: { keyids: [rootId], threshold: 1 },
      targets: { keyids: [ids.targets], threshold: 1 },
      snapshot: { keyids: [ids.snapshot], threshold: 1 },
      timestamp: { keyids: [ids.timestamp], threshold: 1 },
    },
  };
  const sign = async (signed: JsonObject, key: PrivateKey, id: string): Promise<string> =>
    serializeRoot(toDocument(signed, await signRoot('spec', signed, [{ keyid: id, signer: new LocalSigner(key) }])));

  const rootText = await sign(rootSigned, rootKey, rootId);
  const shortExpiry = formatExpires(new Date(now.getTime() + 30 * DAY_MS));
  // One target, so a client can fetch something (consistent snapshot: targets/<sha256>.<name>).
  const hello = 'Hello from the practice repository.\n';
  const helloSha = fileDigestHex('sha256', hello);
  await writeFileAtomic(path.join(repo, 'targets', `${helloSha}.${PRACTICE_TARGET}`), hello, { mode: 0o644 });
  const targetsText = await sign(
    {
      _type: 'targets',
      spec_version: '1.0.31',
      version: 1,
      expires: expires,
      targets: { [PRACTICE_TARGET]: { length: Buffer.byteLength(hello), hashes: { sha256: helloSha } } },
    },
    online.targets,
    ids.targets,
  );
  const snapshotText = await sign(
    { _type: 'snapshot', spec_version: '1.0.31', version: 1, expires: shortExpiry, meta: { 'targets.json': { version: 1 } } },
    online.snapshot,
    ids.snapshot,
  );
  const timestampText = await sign(
    { _type: 'timestamp', spec_version: '1.0.31', version: 1, expires: shortExpiry, meta: { 'snapshot.json': { version: 1 } } },
    online.timestamp,
    ids.timestamp,
  );
  const files: [string, string][] = [
    ['1.root.json', rootText],
    ['root.json', rootText],
    ['1.targets.json', targetsText],
    ['targets.json', targetsText],
    ['1.snapshot.json', snapshotText],
    ['snapshot.json', snapshotText],
    ['timestamp.json', timestampText],
  ];
  for (const [name, text] of files) await writeFileAtomic(path.join(metadata, name), text, { mode: 0o644 });

  for (const role of ['targets', 'snapshot', 'timestamp'] as const) {
    const pem = online[role].toPem();
    await writeFileAtomic(path.join(onlineDir, `${role}.pem`), pem, { mode: 0o600 });
  }

  const pair = archivePairFilesFor('spec', rootKey, keys[rootId] as JsonObject);
  const base = fioctlKeyBase('root', rootId);
  const archiveBytes = await buildArchiveBytes(emptyArchive(), [
    { name: `${base}.pub`, data: pair.pub },
    { name: `${base}.sec`, data: pair.sec },
  ]);
  const archive = path.join(dir, 'offline-keys.tgz');
  await writeFileAtomic(archive, archiveBytes, { mode: 0o600 });
  return { dir, repo, archive, onlineKeys: onlineDir, rootKeyId: rootId };
}
