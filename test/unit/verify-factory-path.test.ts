/**
 * A rule only the Foundries API holds is a failure on the way to a Factory (the rotation's publish
 * step to a factory or practice target) and a warning elsewhere (#14). Checked through
 * publishRotation with a stand-in backend whose read-back root has a field the API does not model.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Backend, TargetKind } from '../../server/backends/backend.js';
import { publishRotation } from '../../server/ceremony.js';
import { canonicalDevice } from '../../server/tuf/canonical-json.js';
import type { JsonObject } from '../../server/tuf/json.js';
import { parseRoot } from '../../server/tuf/metadata.js';
import type { Root, RootDocument } from '../../server/tuf/model.js';
import { assertAppError } from '../helpers/assert-app-error.js';

const key = generateKeyPairSync('ed25519');
const spki = key.publicKey.export({ format: 'der', type: 'spki' });
const id = createHash('sha256').update(spki).digest('hex');

function doc(version: number, extra: JsonObject = {}): RootDocument {
  const role = { keyids: [id], threshold: 1 };
  const signed: JsonObject = {
    _type: 'Root',
    consistent_snapshot: false,
    expires: '2030-01-01T00:00:00Z',
    keys: { [id]: { keytype: 'ED25519', keyval: { public: spki.subarray(12).toString('hex') } } },
    roles: { root: role, targets: role, snapshot: role, timestamp: role },
    version,
    ...extra,
  };
  const sig = cryptoSign(null, canonicalDevice(signed), key.privateKey).toString('base64');
  return { signatures: [{ keyid: id, method: 'ed25519', sig }], signed };
}

function backend(kind: TargetKind, readBack: Root): Backend {
  return {
    kind,
    description: `a ${kind} stand-in`,
    currentRoot: () => Promise.resolve(readBack),
    history: () => Promise.resolve([readBack]),
    begin: () => Promise.reject(new Error('not used')),
    publish: () => Promise.resolve({ location: 'here', readBack }),
    abort: () => Promise.resolve(),
  };
}

describe('the Foundries API’s rules on the publish path', () => {
  const v1 = parseRoot(doc(1) as unknown as JsonObject);
  const v2doc = doc(2, { 'x-extra': 'not modelled by the API' });
  const v2 = parseRoot(v2doc as unknown as JsonObject);
  const now = new Date('2026-12-01T00:00:00Z');

  for (const kind of ['factory', 'practice'] as const) {
    it(`fails for a ${kind} target`, async () => {
      const e = await assertAppError(() => publishRotation(backend(kind, v2), v1, { document: v2doc, prod: undefined }, now), 'PUBLISH_FAILED');
      assert.match(e.message, /does not verify/);
    });
  }

  it('warns for a repository target', async () => {
    const r = await publishRotation(backend('repo', v2), v1, { document: v2doc, prod: undefined }, now);
    assert.ok(r.report.ok);
    assert.equal(r.report.results.find((x) => x.rule === 'api-fields')?.status, 'warn');
    assert.equal(r.report.matrix.find((m) => m.verifier === 'foundries-api')?.verdict, 'refuses');
  });
});
