/**
 * Root chains for the verify benchmarks: N versions of a spec-dialect root, each rotating the root
 * key (version v is signed by the root key of v-1 and its own), built with our own core
 * (generateKey, signRoot). RSA-4096 keys come from a small pool (keys are slow to generate): the
 * key of version v is pool[(v-1) % pool], so consecutive versions always have different keys.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Updater } from 'tuf-js';
import { generateKey, type PrivateKey } from '../../server/tuf/private-key.js';
import { keyIdFor, newRootKeyJson } from '../../server/tuf/public-key.js';
import { formatExpires, parseRoot, serializeRoot, toDocument } from '../../server/tuf/metadata.js';
import type { KeyAlgorithm, Root } from '../../server/tuf/model.js';
import { LocalSigner, signRoot } from '../../server/tuf/sign.js';
import { verifyChain } from '../../server/tuf/verify/chain.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { serveFolder } from '../helpers/static-server.js';

export interface Chain {
  /** DIR/metadata holds 1.root.json … N.root.json, root.json, timestamp/snapshot/targets.json. */
  metadata: string;
  length: number;
}

const FAR = formatExpires(new Date(Date.now() + 5 * 365 * 24 * 3600 * 1000));

export async function buildChain(dir: string, alg: KeyAlgorithm, length: number, poolSize: number): Promise<Chain> {
  const metadata = path.join(dir, 'metadata');
  await fs.mkdir(metadata, { recursive: true });
  const pool: PrivateKey[] = await Promise.all(Array.from({ length: Math.min(poolSize, length) }, () => generateKey(alg)));
  const online = await generateKey('ed25519');
  const onlineId = keyIdFor('spec', online.publicKey);
  const onlineJson = newRootKeyJson('spec', online.publicKey);
  const ids = pool.map((k) => keyIdFor('spec', k.publicKey));
  const jsons = pool.map((k) => newRootKeyJson('spec', k.publicKey));
  const at = (v: number): number => (v - 1) % pool.length;
  let last = '';
  for (let v = 1; v <= length; v++) {
    const i = at(v);
    const id = ids[i] as string;
    const signed: JsonObject = {
      _type: 'root',
      spec_version: '1.0.31',
      version: v,
      expires: FAR,
      consistent_snapshot: false,
      keys: { [id]: jsons[i] as JsonObject, [onlineId]: onlineJson },
      roles: {
        root: { keyids: [id], threshold: 1 },
        targets: { keyids: [onlineId], threshold: 1 },
        snapshot: { keyids: [onlineId], threshold: 1 },
        timestamp: { keyids: [onlineId], threshold: 1 },
      },
    };
    const signers = [{ keyid: id, signer: new LocalSigner(pool[i] as PrivateKey) }];
    if (v > 1) {
      const p = at(v - 1);
      signers.push({ keyid: ids[p] as string, signer: new LocalSigner(pool[p] as PrivateKey) });
    }
    last = serializeRoot(toDocument(signed, await signRoot('spec', signed, signers)));
    await fs.writeFile(path.join(metadata, `${v}.root.json`), last);
  }
  await fs.writeFile(path.join(metadata, 'root.json'), last);
  const signOnline = async (signed: JsonObject): Promise<string> =>
    serializeRoot(toDocument(signed, await signRoot('spec', signed, [{ keyid: onlineId, signer: new LocalSigner(online) }])));
  const files: [string, JsonObject][] = [
    ['targets.json', { _type: 'targets', spec_version: '1.0.31', version: 1, expires: FAR, targets: {} }],
    ['snapshot.json', { _type: 'snapshot', spec_version: '1.0.31', version: 1, expires: FAR, meta: { 'targets.json': { version: 1 } } }],
    ['timestamp.json', { _type: 'timestamp', spec_version: '1.0.31', version: 1, expires: FAR, meta: { 'snapshot.json': { version: 1 } } }],
  ];
  for (const [name, signed] of files) await fs.writeFile(path.join(metadata, name), await signOnline(signed));
  return { metadata, length };
}

/**
 * Ours: read 1.root.json … upTo.root.json from disk, parse each (parseRoot) and walk the chain
 * (verifyChain), as `tuf-rotate verify --trusted 1.root.json --repo DIR` does.
 */
export async function verifyOurs(chain: Chain, upTo = chain.length): Promise<void> {
  // The files are read concurrently (a local repository's versions are all there to read); each
  // is parsed as it arrives. Reading them one after another left the process idle most of the time.
  const files = Array.from({ length: upTo }, (_, i) => path.join(chain.metadata, `${i + 1}.root.json`));
  const roots: Root[] = await Promise.all(files.map(async (f) => parseRoot(await fs.readFile(f))));
  const [trusted, ...rest] = roots;
  const report = verifyChain(trusted as Root, rest, { now: new Date() });
  if (!report.ok || report.finalVersion !== upTo) throw new Error(`our verifyChain failed at ${String(report.failedAt)}`);
}

/**
 * tuf-js: a fresh client trusting 1.root.json refreshes from the chain served on loopback (it
 * walks every N.root.json, then fetches timestamp, snapshot and targets). The server is started
 * once by the caller so both sides pay for one loopback server, not its start.
 */
export async function verifyTufJs(chain: Chain, baseUrl: string, clientDir: string): Promise<void> {
  await fs.rm(clientDir, { recursive: true, force: true });
  await fs.mkdir(clientDir, { recursive: true });
  await fs.copyFile(path.join(chain.metadata, '1.root.json'), path.join(clientDir, 'root.json'));
  const updater = new Updater({ metadataDir: clientDir, metadataBaseUrl: baseUrl, config: { maxRootRotations: 2000, fetchRetries: 0 } });
  await updater.refresh();
  const v = parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version;
  if (v !== chain.length) throw new Error(`tuf-js ended on version ${v}, not ${chain.length}`);
}

export { serveFolder };
