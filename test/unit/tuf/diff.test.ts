import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SHARED_FIXTURES } from '../../helpers/assert-app-error.js';
import { diffLines, minimalDiffLines, type DiffLine } from '../../../shared/line-diff.js';
import { diffRoots, prettySigned, type WarningCode } from '../../../server/tuf/diff.js';
import { cloneJson, type JsonObject } from '../../../server/tuf/json.js';
import { parseRoot } from '../../../server/tuf/metadata.js';
import type { Root } from '../../../server/tuf/model.js';

function fixture(rel: string): Root {
  return parseRoot(readFileSync(new URL(rel, SHARED_FIXTURES)), rel);
}

const v1 = fixture('foundries/root-v1.json');
const v2 = fixture('foundries/root-v2.json');
const OLD_ROOT = '52f2adff0d110e0a48c0c3d87ae46bea838970796d10e5eddbdd40d1489062c7';
const NEW_ROOT = '685c4168da58d08895b0a405856875302c70a53daaf2267bf6abbdc90fbfd814';
const TARGETS_ONLINE = 'e147f1f767e045b5a967396ba4f1002d164c548514487d825f61fc570786fe24';
const POLIS = '00000000-0000-4000-8000-000000000001';
const NOW = new Date('2025-01-02T00:00:00Z');

function codes(d: { warnings: { code: WarningCode }[] }): WarningCode[] {
  return d.warnings.map((w) => w.code).sort();
}

/** Rebuilds both sides from a line diff: the diff must be a faithful edit script. */
function sides(lines: DiffLine[]): { a: string[]; b: string[] } {
  const a: string[] = [];
  const b: string[] = [];
  for (const l of lines) {
    if (l.op !== '+') {
      assert.equal(l.oldNo, a.length + 1);
      a.push(l.text);
    }
    if (l.op !== '-') {
      assert.equal(l.newNo, b.length + 1);
      b.push(l.text);
    }
  }
  return { a, b };
}

function signedOf(root: Root): JsonObject {
  return cloneJson(root.signedJson);
}

describe('diffRoots', () => {
  it('summarises the Foundries root v1 → v2 rotation', () => {
    const d = diffRoots(v1, v2, { now: NOW });
    assert.equal(d.dialect, 'foundries');
    assert.deepEqual(d.version, { from: 1, to: 2 });
    assert.deepEqual(d.expires, { from: '2035-01-01T00:00:00Z', to: '2036-01-01T00:00:00Z' });
    assert.deepEqual(d.keysAdded, [{ keyid: NEW_ROOT, short: '685c4168', algorithm: 'ed25519', bits: 256, keytype: 'ED25519' }]);
    assert.deepEqual(d.keysRemoved, [{ keyid: OLD_ROOT, short: '52f2adff', algorithm: 'rsa', bits: 4096, keytype: 'RSA' }]);

    assert.deepEqual(
      d.roles.map((r) => r.name),
      ['root', 'targets', 'snapshot', 'timestamp'],
    );
    const root = d.roles[0];
    assert.deepEqual(root, { name: 'root', threshold: { from: 1, to: 1 }, keyidsAdded: [NEW_ROOT], keyidsRemoved: [OLD_ROOT], keyidsKept: [] });
    const targets = d.roles[1];
    assert.deepEqual(targets?.keyidsAdded, []);
    assert.deepEqual(targets?.keyidsRemoved, []);
    assert.equal(targets?.keyidsKept.length, 2);

    assert.deepEqual(d.changelog, {
      to: { polisId: POLIS, message: 'Rotate TUF root offline signing key', timestamp: '2025-01-01T12:00:00.123456789Z', label: `polis-id ${POLIS}` },
    });
    assert.deepEqual(d.owners, [{ keyid: NEW_ROOT, to: { polisId: POLIS, createdAt: '2025-01-01T12:00:00Z', label: `polis-id ${POLIS}` } }]);
    assert.deepEqual(d.otherFields, []);

    const { a, b } = sides(d.lines);
    assert.deepEqual(a, prettySigned(v1.signedJson));
    assert.deepEqual(b, prettySigned(v2.signedJson));
    const has = (op: DiffLine['op'], text: string): boolean => d.lines.some((l) => l.op === op && l.text === text);
    assert.ok(has('-', `    "${OLD_ROOT}": {`));
    assert.ok(has('+', `    "${NEW_ROOT}": {`));
    assert.ok(has('-', `        "${OLD_ROOT}"`));
    assert.ok(has('+', `        "${NEW_ROOT}"`));
    assert.ok(has('-', '  "version": 1'));
    assert.ok(has('+', '  "version": 2,'));
    assert.ok(has('+', `    "message": "Rotate TUF root offline signing key",`));
    assert.ok(has(' ', `        "${TARGETS_ONLINE}",`));
    // The unchanged Ed25519 targets keys are context, not changes.
    assert.ok(!d.lines.some((l) => l.op !== ' ' && l.text.includes(TARGETS_ONLINE)));

    // The new root key has one owner: the only warning for this (healthy) rotation.
    assert.deepEqual(codes(d), ['SINGLE_HOLDER']);
  });

  it('reports unknown-field changes of the sigstore chain (10 → 11)', () => {
    const d = diffRoots(fixture('sigstore-root-chain/10.root.json'), fixture('sigstore-root-chain/11.root.json'), { now: new Date('2025-03-01T00:00:00Z') });
    assert.equal(d.dialect, 'spec');
    assert.deepEqual(d.version, { from: 10, to: 11 });
    assert.deepEqual(d.keysAdded, []);
    assert.deepEqual(d.keysRemoved, []);
    const byPath = new Map(d.otherFields.map((f) => [f.path, f]));
    assert.deepEqual(byPath.get('x-tuf-on-ci-expiry-period'), { path: 'x-tuf-on-ci-expiry-period', from: 182, to: 197 });
    assert.deepEqual(byPath.get('x-tuf-on-ci-signing-period'), { path: 'x-tuf-on-ci-signing-period', from: 31, to: 46 });
    assert.deepEqual(byPath.get('roles.timestamp.x-tuf-on-ci-signing-period'), {
      path: 'roles.timestamp.x-tuf-on-ci-signing-period',
      from: 4,
      to: 6,
    });
    const uri = byPath.get('keys.7247f0dbad85b147e1863bade761243cc785dcb7aa410e7105dd3d2b61a36d2c.x-tuf-on-ci-online-uri');
    assert.ok(uri, 'the changed online URI of a kept key is reported');
    assert.equal(d.otherFields.length, 4);
    assert.ok(d.roles.every((r) => r.keyidsAdded.length === 0 && r.keyidsRemoved.length === 0));
    assert.equal(d.changelog, undefined);
    assert.deepEqual(d.owners, []);
    assert.ok(!codes(d).includes('RSA_PRESENT'));
    assert.ok(!codes(d).includes('NO_CHANGE'));
  });

  it('reports only version and expiry for sigstore 14 → 15 (the x-tuf-on-ci fields did not change)', () => {
    const d = diffRoots(fixture('sigstore-root-chain/14.root.json'), fixture('sigstore-root-chain/15.root.json'), { now: new Date('2026-07-01T00:00:00Z') });
    assert.deepEqual(d.version, { from: 14, to: 15 });
    assert.deepEqual(d.expires, { from: '2026-06-22T13:27:01Z', to: '2026-11-20T13:58:18Z' });
    assert.deepEqual(d.otherFields, []);
    assert.deepEqual(
      d.lines.filter((l) => l.op !== ' ').map((l) => l.op + l.text.trim()),
      ['-"expires": "2026-06-22T13:27:01Z",', '+"expires": "2026-11-20T13:58:18Z",', '-"version": 14,', '+"version": 15,'],
    );
  });

  it('accepts a bare signed object as the next root', () => {
    const d = diffRoots(v1, signedOf(v2), { now: NOW });
    assert.deepEqual(d.version, { from: 1, to: 2 });
    assert.equal(d.keysAdded[0]?.keyid, NEW_ROOT);
  });

  it('tolerates keys it cannot decode', () => {
    const next = signedOf(v1);
    (next.keys as JsonObject)['ff'.repeat(32)] = { keytype: 'ED25519', keyval: { public: 'not hex' } };
    (next.roles as { targets: { keyids: string[] } }).targets.keyids.push('ff'.repeat(32));
    const d = diffRoots(v1, next, { now: NOW });
    assert.deepEqual(d.keysAdded, [{ keyid: 'ff'.repeat(32), short: 'ffffffff', algorithm: undefined, bits: undefined, keytype: 'ED25519' }]);
  });
});

describe('diffRoots warnings', () => {
  it('LOCKOUT: the held keys and the added key cannot meet the new root threshold', () => {
    const next = signedOf(v2);
    const root = (next.roles as { root: { keyids: string[]; threshold: number } }).root;
    root.keyids.push(TARGETS_ONLINE); // a key the operator does not hold
    root.threshold = 2;
    const d = diffRoots(v1, next, { heldKeyIds: [OLD_ROOT], now: NOW });
    assert.ok(codes(d).includes('LOCKOUT'));
    assert.equal(d.warnings.find((w) => w.code === 'LOCKOUT')?.severity, 'danger');
    assert.ok(!codes(d).includes('THRESHOLD_UNREACHABLE'));
    // Without knowing what the operator holds, no lockout claim.
    assert.ok(!codes(diffRoots(v1, next, { now: NOW })).includes('LOCKOUT'));
    // Holding the other key too makes it reachable.
    assert.ok(!codes(diffRoots(v1, next, { heldKeyIds: [OLD_ROOT, TARGETS_ONLINE], now: NOW })).includes('LOCKOUT'));
    // The plain v1 → v2 rotation: the new key is held, threshold 1.
    assert.ok(!codes(diffRoots(v1, v2, { heldKeyIds: [OLD_ROOT], now: NOW })).includes('LOCKOUT'));
  });

  it('THRESHOLD_UNREACHABLE: fewer distinct keys than the threshold', () => {
    const next = signedOf(v2);
    (next.roles as { root: { threshold: number } }).root.threshold = 2;
    assert.ok(codes(diffRoots(v1, next, { now: NOW })).includes('THRESHOLD_UNREACHABLE'));

    // One public key under a second key ID still counts once.
    const dup = signedOf(v2);
    const keys = dup.keys as JsonObject;
    keys['ab'.repeat(32)] = cloneJson(keys[NEW_ROOT] ?? null);
    const role = (dup.roles as { root: { keyids: string[]; threshold: number } }).root;
    role.keyids.push('ab'.repeat(32));
    role.threshold = 2;
    const d = diffRoots(v1, dup, { now: NOW });
    assert.ok(codes(d).includes('THRESHOLD_UNREACHABLE'));
    assert.equal(d.warnings.find((w) => w.code === 'THRESHOLD_UNREACHABLE')?.severity, 'danger');
  });

  it('SINGLE_HOLDER: every key of a role belongs to one owner', () => {
    assert.ok(codes(diffRoots(v1, v2, { now: NOW })).includes('SINGLE_HOLDER'));
    // No owners known: no claim.
    assert.ok(!codes(diffRoots(v2, v1, { now: NOW })).includes('SINGLE_HOLDER'));
    // Owners from ctx.holders when x-key-owners does not name the key.
    const withHolders = diffRoots(v2, v1, { now: NOW, holders: { [OLD_ROOT]: 'alice' } });
    assert.ok(withHolders.warnings.some((w) => w.code === 'SINGLE_HOLDER' && w.message.includes('alice')));

    // Two owners share the root role: fine.
    const next = signedOf(v2);
    const role = (next.roles as { root: { keyids: string[] } }).root;
    role.keyids.push(TARGETS_ONLINE);
    (next['x-key-owners'] as JsonObject)[TARGETS_ONLINE] = { 'polis-id': 'someone-else', 'created-at': '2025-01-01T12:00:00Z' };
    assert.ok(!codes(diffRoots(v1, next, { now: NOW })).includes('SINGLE_HOLDER'));
  });

  it('EXPIRES_SOON and EXPIRED', () => {
    const soon = diffRoots(v1, v2, { now: new Date('2035-12-20T00:00:00Z') });
    assert.ok(codes(soon).includes('EXPIRES_SOON'));
    assert.ok(!codes(soon).includes('EXPIRED'));
    assert.equal(soon.warnings.find((w) => w.code === 'EXPIRES_SOON')?.severity, 'warning');
    const gone = diffRoots(v1, v2, { now: new Date('2036-01-01T00:00:00Z') });
    assert.ok(codes(gone).includes('EXPIRED'));
    assert.ok(!codes(gone).includes('EXPIRES_SOON'));
    assert.equal(gone.warnings.find((w) => w.code === 'EXPIRED')?.severity, 'danger');
    const fine = diffRoots(v1, v2, { now: new Date('2035-12-01T00:00:00Z') });
    assert.ok(!codes(fine).includes('EXPIRES_SOON'));
  });

  it('RSA_PRESENT and NO_CHANGE: a Foundries root that keeps its RSA key and changes only the version', () => {
    const next = signedOf(v1);
    next.version = 2;
    const d = diffRoots(v1, next, { now: NOW });
    assert.deepEqual(codes(d), ['NO_CHANGE', 'RSA_PRESENT']);
    assert.match(d.warnings.find((w) => w.code === 'RSA_PRESENT')?.message ?? '', /52f2adff.*Ed25519/s);
    // fioctl's form escapes PEM newlines like the device's (foundries-operations.md §1 C1): a note, not a warning.
    assert.equal(d.warnings.find((w) => w.code === 'RSA_PRESENT')?.severity, 'info');
    assert.match(d.warnings.find((w) => w.code === 'RSA_PRESENT')?.message ?? '', /same bytes/);
    assert.equal(d.warnings.find((w) => w.code === 'NO_CHANGE')?.severity, 'info');
    assert.ok(!d.warnings.some((w) => w.message.includes('BEGIN PUBLIC KEY')));
    // Any other change is a change.
    const later = signedOf(v1);
    later.version = 2;
    later.expires = '2036-01-01T00:00:00Z';
    assert.ok(!codes(diffRoots(v1, later, { now: NOW })).includes('NO_CHANGE'));
  });

  it('no RSA_PRESENT for the spec dialect', () => {
    const d = diffRoots(fixture('sigstore-root-chain/14.root.json'), fixture('sigstore-root-chain/15.root.json'), { now: new Date('2026-07-01T00:00:00Z') });
    assert.ok(!codes(d).includes('RSA_PRESENT'));
  });
});

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] ?? 0;
      row[j] = x === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1] ?? 0);
      diag = up;
    }
  }
  return row[b.length] ?? 0;
}

describe('diffLines', () => {
  it('keeps every unchanged key whole when only the root key changes (v1 → v2)', () => {
    const d = diffRoots(v1, v2, { now: NOW });
    const newText = prettySigned(v2.signedJson);
    for (const [id, role] of [
      ['656d8d6f2c9142e06bf7825437be6a092b4e7882c30a72a53bc55c9c79a981b7', 'timestamp'],
      [TARGETS_ONLINE, 'targets'],
    ] as const) {
      assert.ok(v1.roles[role]?.keyids.includes(id));
      const start = newText.indexOf(`    "${id}": {`);
      assert.ok(start > 0);
      for (let n = start; n < start + 6; n++) {
        const line = d.lines.find((l) => l.newNo === n + 1);
        assert.equal(line?.op, ' ', `line ${n + 1} of the ${role} key: ${newText[n] ?? ''}`);
      }
    }
    // The old root key's block is removed as one piece, the new one added (in keys and in x-key-owners).
    const changed = d.lines.filter((l) => l.op !== ' ' && /^ {4}"[0-9a-f]{64}": \{$/.test(l.text));
    assert.deepEqual(
      changed.map((l) => `${l.op}${l.text.trim().slice(1, 9)}`),
      ['-52f2adff', '+685c4168', '+685c4168'],
    );
  });

  it('handles empty sides', () => {
    assert.deepEqual(diffLines([], []), []);
    assert.deepEqual(diffLines([], ['a']), [{ op: '+', text: 'a', newNo: 1 }]);
    assert.deepEqual(diffLines(['a'], []), [{ op: '-', text: 'a', oldNo: 1 }]);
  });

  it('is a minimal edit script (against a DP LCS) on random inputs', () => {
    const rand = rng(42);
    for (let round = 0; round < 300; round++) {
      const alphabet = 1 + Math.floor(rand() * 6);
      const gen = (): string[] => Array.from({ length: Math.floor(rand() * 25) }, () => String.fromCharCode(97 + Math.floor(rand() * alphabet)));
      const a = gen();
      const b = gen();
      const shown = sides(diffLines(a, b));
      assert.deepEqual(shown.a, a);
      assert.deepEqual(shown.b, b);
      const lines = minimalDiffLines(a, b);
      const s = sides(lines);
      assert.deepEqual(s.a, a);
      assert.deepEqual(s.b, b);
      const kept = lines.filter((l) => l.op === ' ').length;
      assert.equal(kept, lcsLength(a, b), `minimal for ${a.join('')} / ${b.join('')}`);
    }
  });

  it('diffs two ~2,000-line roots with many changes well under a second', () => {
    const rand = rng(7);
    const hex = (): string => Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');
    const build = (n: number, shared: string[]): JsonObject => {
      const keys: JsonObject = {};
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const id = (i % 3 === 0 ? shared[i] : undefined) ?? hex();
        ids.push(id);
        keys[id] = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: hex() } };
      }
      const role = { keyids: ids, threshold: 1 };
      return {
        _type: 'root',
        spec_version: '1.0.31',
        version: 1,
        expires: '2030-01-01T00:00:00Z',
        consistent_snapshot: true,
        keys,
        roles: { root: role, targets: role, snapshot: role, timestamp: role },
      };
    };
    const shared = Array.from({ length: 260 }, hex);
    const oldSigned = build(260, shared);
    const newSigned = build(260, shared);
    newSigned.version = 2;
    const old = parseRoot({ signatures: [], signed: oldSigned });
    assert.ok(prettySigned(oldSigned).length >= 2000, `${prettySigned(oldSigned).length} lines`);

    // CPU time, not wall-clock time: the bound must hold on a machine busy with other work.
    const cpuMs = (since: NodeJS.CpuUsage): number => {
      const u = process.cpuUsage(since);
      return (u.user + u.system) / 1000;
    };
    const t0 = process.cpuUsage();
    const d = diffRoots(old, newSigned, { now: NOW });
    const ms = cpuMs(t0);
    const s = sides(d.lines);
    assert.deepEqual(s.a, prettySigned(oldSigned));
    assert.deepEqual(s.b, prettySigned(newSigned));
    assert.ok(d.lines.filter((l) => l.op !== ' ').length > 1000, 'most lines changed');
    assert.ok(ms < 1000, `diffRoots took ${ms.toFixed(0)} ms of CPU time`);
    console.log(`# diffRoots on ~2,000 lines: ${ms.toFixed(0)} ms of CPU time`);

    // The worst case for the line diff alone: nothing in common.
    const a = Array.from({ length: 2000 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 2000 }, (_, i) => `b${i}`);
    const t1 = process.cpuUsage();
    assert.equal(diffLines(a, b).length, 4000);
    assert.ok(cpuMs(t1) < 1000, `diffLines took ${cpuMs(t1).toFixed(0)} ms of CPU time`);
  });
});
