import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canonicalize } from '@tufjs/canonical-json';
import { Key, Metadata, MetaFile, Root, Signature, Snapshot, Targets, Timestamp } from '@tufjs/models';
import { Updater } from 'tuf-js';
import { parseRoot } from '../../server/tuf/metadata.js';
import { cli } from '../helpers/cli.js';
import { serveFolder } from '../helpers/static-server.js';

type KeyPair = { id: string; key: Key; priv: crypto.KeyObject; alg: 'ecdsa' | 'ed25519' };

function makeKey(alg: 'ecdsa' | 'ed25519'): KeyPair {
  const { publicKey, privateKey } =
    alg === 'ecdsa' ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }) : crypto.generateKeyPairSync('ed25519');
  const pub =
    alg === 'ecdsa'
      ? publicKey.export({ type: 'spki', format: 'pem' }).toString()
      : (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).subarray(12).toString('hex');
  // As python-tuf's older securesystemslib wrote them: with keyid_hash_algorithms (an unknown field).
  const json = {
    keytype: alg === 'ecdsa' ? 'ecdsa' : 'ed25519',
    scheme: alg === 'ecdsa' ? 'ecdsa-sha2-nistp256' : 'ed25519',
    keyid_hash_algorithms: ['sha256', 'sha512'],
    keyval: { public: pub },
  };
  const id = crypto.createHash('sha256').update(canonicalize(json)).digest('hex');
  return { id, key: Key.fromJSON(id, json), priv: privateKey, alg };
}

function signer(k: KeyPair): (data: Buffer) => Signature {
  return (data) =>
    new Signature({
      keyID: k.id,
      sig: (k.alg === 'ecdsa' ? crypto.sign('sha256', data, { key: k.priv, dsaEncoding: 'der' }) : crypto.sign(null, data, k.priv)).toString('hex'),
    });
}

const YEAR = 365 * 24 * 3600 * 1000;

describe('a repository made by another tool (@tufjs/models), root key in a PEM file', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tuf-rotate-other-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('rotates it; tuf-js ends on version 2 and unknown fields survive', async () => {
    const rootKey = makeKey('ecdsa');
    const online = makeKey('ed25519');
    const expires = new Date(Date.now() + YEAR).toISOString().replace(/\.\d+Z$/, 'Z');
    const root = new Root({
      version: 1,
      specVersion: '1.0.31',
      expires,
      consistentSnapshot: false,
      unrecognizedFields: { 'x-other-tool': { note: 'kept' } },
    });
    root.addKey(rootKey.key, 'root');
    for (const role of ['targets', 'snapshot', 'timestamp']) root.addKey(online.key, role);
    const rootMd = new Metadata(root);
    rootMd.sign(signer(rootKey));
    const targetsMd = new Metadata(new Targets({ version: 1, specVersion: '1.0.31', expires }));
    targetsMd.sign(signer(online));
    const snapshotMd = new Metadata(
      new Snapshot({ version: 1, specVersion: '1.0.31', expires, meta: { 'targets.json': new MetaFile({ version: 1 }) } }),
    );
    snapshotMd.sign(signer(online));
    const timestampMd = new Metadata(
      new Timestamp({ version: 1, specVersion: '1.0.31', expires, snapshotMeta: new MetaFile({ version: 1 }) }),
    );
    timestampMd.sign(signer(online));

    const meta = path.join(dir, 'repo', 'metadata');
    await fs.mkdir(meta, { recursive: true });
    const write = (name: string, md: { toJSON(): unknown }): Promise<void> => fs.writeFile(path.join(meta, name), JSON.stringify(md.toJSON(), null, 1));
    await write('1.root.json', rootMd);
    await write('root.json', rootMd);
    await write('targets.json', targetsMd);
    await write('snapshot.json', snapshotMd);
    await write('timestamp.json', timestampMd);
    // The holder keeps the root key as a SEC1 PEM file.
    const pemFile = path.join(dir, 'root-key.pem');
    await fs.writeFile(pemFile, rootKey.priv.export({ type: 'sec1', format: 'pem' }).toString(), { mode: 0o600 });

    const out = path.join(dir, 'new-keys.tgz');
    const r = await cli(['rotate', '--keys', pemFile, '--out', out, '--repo', path.join(dir, 'repo'), '--key-type', 'ecdsa', '--json']);
    assert.equal(r.code, 0, r.stderr);

    const v2 = parseRoot(await fs.readFile(path.join(meta, '2.root.json')));
    assert.equal(v2.version, 2);
    assert.deepEqual(v2.signedJson['x-other-tool'], { note: 'kept' });
    assert.deepEqual(v2.keys[online.id]?.json['keyid_hash_algorithms'], ['sha256', 'sha512']);

    const clientDir = path.join(dir, 'client');
    await fs.mkdir(clientDir);
    await fs.copyFile(path.join(meta, '1.root.json'), path.join(clientDir, 'root.json'));
    const server = await serveFolder(meta);
    try {
      await new Updater({ metadataDir: clientDir, metadataBaseUrl: server.url, config: { fetchRetries: 0 } }).refresh();
    } finally {
      await server.close();
    }
    assert.equal(parseRoot(await fs.readFile(path.join(clientDir, 'root.json'))).version, 2);
  });
});
