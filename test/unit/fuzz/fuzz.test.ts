/**
 * Property tests over hostile input: mutated real archives and roots. Property: no crash, no hang,
 * only our coded errors (AppError). `FUZZ_RUNS` sets the count (npm test: modest; npm run fuzz: 10,000).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { readKeyArchive } from '../../../server/archive/read.js';
import { AppError } from '../../../server/errors.js';
import { canonicalDevice, canonicalSpec } from '../../../server/tuf/canonical-json.js';
import { diffRoots } from '../../../server/tuf/diff.js';
import type { Json } from '../../../server/tuf/json.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import { verifyRootUpdate } from '../../../server/tuf/verify.js';
import { SHARED_FIXTURES } from '../../helpers/assert-app-error.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200);
const fx = (p: string): string => fileURLToPath(new URL(p, SHARED_FIXTURES));

/** Runs f; an AppError is an accepted outcome, anything else thrown fails the property. */
async function onlyCoded(f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    assert.ok(e.hint.length > 0);
  }
}

/** A byte-level mutation: flips, overwrites, truncations and insertions at random places. */
const mutation = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 64 }) }),
  ),
  { minLength: 1, maxLength: 6 },
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(input: Uint8Array, ops: Mutation): Uint8Array {
  let b = Buffer.from(input);
  for (const op of ops) {
    if (b.length === 0) break;
    const at = op.at % b.length;
    if (op.kind === 'flip') b[at] = (b[at] ?? 0) ^ (1 << op.bit);
    else if (op.kind === 'set') b[at] = op.value;
    else if (op.kind === 'cut') b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(op.bytes), b.subarray(at)]);
  }
  return b;
}

describe('fuzz', () => {
  const archives: Uint8Array[] = [];
  const tars: Uint8Array[] = [];
  const roots: string[] = [];
  before(async () => {
    for (const f of ['foundries/offline-keys.v1.tgz', 'foundries/offline-keys.v2.tgz', 'foundries/garage-sign/example.tgz']) {
      const bytes = await fs.readFile(fx(f));
      archives.push(bytes);
      tars.push(gunzipSync(bytes));
    }
    for (const f of ['foundries/root-v1.json', 'foundries/root-v2.json', 'sigstore-root-chain/11.root.json', 'go-tuf-ed25519-root.v1.json']) {
      roots.push(await fs.readFile(fx(f), 'utf8'));
    }
  });

  it('the archive reader survives mutated gzip bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, async (i, ops) => {
        await onlyCoded(() => readKeyArchive(mutate(archives[i % archives.length] ?? new Uint8Array(), ops)));
      }),
      { numRuns: RUNS },
    );
  });

  it('the archive reader survives mutated tar bytes inside valid gzip', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, async (i, ops) => {
        await onlyCoded(() => readKeyArchive(gzipSync(mutate(tars[i % tars.length] ?? new Uint8Array(), ops))));
      }),
      { numRuns: RUNS },
    );
  });

  it('the root parser and verifier survive mutated real roots', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, async (i, ops) => {
        const text = roots[i % roots.length] ?? '';
        const bytes = mutate(Buffer.from(text), ops);
        await onlyCoded(() => {
          const r = parseRoot(bytes);
          const trusted = parseRoot(text);
          if (r.dialect === trusted.dialect) {
            const report = verifyRootUpdate(trusted, r, { now: new Date('2026-11-23T00:00:00Z') });
            assert.equal(typeof report.ok, 'boolean');
            diffRoots(trusted, r, { now: new Date('2026-11-23T00:00:00Z') });
          }
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('canonical forms are idempotent: parsing canonical bytes and canonicalising again gives the same bytes', () => {
    const value = fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).match(/\d\.\d|e[+-]?\d/i));
    fc.assert(
      fc.property(value, (v) => {
        const j = JSON.parse(JSON.stringify(v)) as Json;
        for (const canon of [canonicalSpec, canonicalDevice]) {
          let once: Uint8Array;
          try {
            once = canon(j);
          } catch (e) {
            if (e instanceof AppError) return;
            throw e;
          }
          const again = canon(JSON.parse(Buffer.from(once).toString('utf8')) as Json);
          assert.ok(Buffer.from(again).equals(Buffer.from(once)));
        }
      }),
      { numRuns: RUNS },
    );
  });
});
