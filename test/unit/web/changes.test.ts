/** The page's words for several key changes (web/lib/changes.ts): what will change, document order, what signing did. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeChange, documentLines, keyNamer, orderDocuments, ruleLabel, signedLine, type ChangesPlan, type DocumentView } from '../../../web/lib/changes.js';

const A = 'a1'.repeat(32);
const B = 'b2'.repeat(32);
const C = 'c3'.repeat(32);
const doc = (signed: object, keyids: string[]): string => JSON.stringify({ signatures: keyids.map((keyid) => ({ keyid, sig: 'x' })), signed }, null, 2);

describe('web/lib/changes', () => {
  it('says what each asked change will do', () => {
    assert.match(describeChange({ kind: 'rotate-key', role: 'root' }), /Replace your root key/);
    assert.match(describeChange({ kind: 'rotate-key', role: 'targets' }), /targets metadata is re-signed/);
    assert.match(describeChange({ kind: 'rotate-key', role: 'snapshot' }), /snapshot\.json is re-signed/);
    assert.equal(describeChange({ kind: 'add-key', role: 'root', owner: 'alice' }), 'Add a new root key owned by alice (generated now, saved in the new key archive).');
    assert.equal(describeChange({ kind: 'remove-key', keyid: A }, () => 'a1a1a1a1 (bob)'), 'Remove key a1a1a1a1 (bob) from every role it serves.');
    assert.match(describeChange({ kind: 'threshold', role: 'root', threshold: 1 }), /to 1 \(1 signature needed\)/);
    assert.match(describeChange({ kind: 'threshold', role: 'root', threshold: 2 }), /to 2 \(2 signatures needed\)/);
    assert.equal(describeChange({ kind: 'prod-targets-threshold', threshold: 2 }), 'Set the production targets threshold to 2.');
    assert.match(describeChange({ kind: 'refresh-expiry' }), /365 days/);
    assert.match(describeChange({ kind: 'rotate-online-keys', roles: ['snapshot', 'timestamp'] }), /snapshot, timestamp/);
  });

  it('puts the CI root first, then the production root, then the rest in the server order', () => {
    const d = (name: string, kind: DocumentView['kind']): DocumentView => ({ name, kind, before: '', after: '' });
    const ordered = orderDocuments([d('targets of tag main', 'factory-targets'), d('root.json (production)', 'prod-root'), d('targets.json', 'metadata'), d('root.json', 'root')]);
    assert.deepEqual(ordered.map((x) => x.name), ['root.json', 'root.json (production)', 'targets of tag main', 'targets.json']);
  });

  it('diffs a new document as all added lines', () => {
    const lines = documentLines({ name: 'x', kind: 'metadata', before: null, after: '{\n  "a": 1\n}' });
    assert.deepEqual(lines.map((l) => l.op), ['+', '+', '+']);
    const changed = documentLines({ name: 'x', kind: 'metadata', before: '{\n  "a": 1\n}', after: '{\n  "a": 2\n}' });
    assert.deepEqual(changed.map((l) => l.op), [' ', '-', '+', ' ']);
  });

  it('says what signing did to each document, naming owners', () => {
    const plan = { roles: { before: [], after: [{ name: 'targets', threshold: 1, keys: [{ keyid: B, keytype: 'ed25519', owner: 'alice', held: true, online: false, added: true, removed: false }] }] }, newKeys: [] } as unknown as ChangesPlan;
    const name = keyNamer(plan);
    assert.equal(name(B), 'b2b2b2b2 (alice)');
    assert.equal(name(C), 'c3c3c3c3');
    // Factory production targets: the signature sent is what is shown (the Factory keeps the rest).
    const tag: DocumentView = { name: 'targets of tag main', kind: 'factory-targets', before: doc({ v: 1 }, [A]), after: doc({ v: 1 }, [B]) };
    assert.equal(signedLine(tag, name), 'targets of tag main: signature by b2b2b2b2 (alice) added');
    assert.equal(signedLine({ ...tag, after: tag.before ?? '' }, name), 'targets of tag main: no new signature');
    const targets: DocumentView = { name: 'targets.json', kind: 'metadata', before: doc({ v: 1 }, [A]), after: doc({ v: 2 }, [B]) };
    assert.equal(signedLine(targets, name), 'targets.json re-signed: signature by b2b2b2b2 (alice) added; signature by a1a1a1a1 dropped');
    const snapshot: DocumentView = { name: 'snapshot.json', kind: 'metadata', before: doc({ v: 1 }, [C]), after: doc({ v: 2 }, [C]) };
    assert.equal(signedLine(snapshot, name), 'snapshot.json re-signed: signed by c3c3c3c3');
    const root: DocumentView = { name: 'root.json', kind: 'root', before: doc({ v: 1 }, [A]), after: doc({ v: 2 }, [A, B]), note: 'version 2' };
    assert.equal(signedLine(root, name), 'root.json signed by a1a1a1a1, b2b2b2b2 (alice)');
    assert.equal(signedLine({ name: 'odd', kind: 'metadata', before: null, after: 'not json' }, name), 'odd signed');
  });

  it('names the document of a signature rule', () => {
    assert.equal(ruleLabel({ document: 'root', rule: 'old', threshold: 1, available: 1, keys: [] }), 'root.json, trusted (old) threshold');
    assert.equal(ruleLabel({ document: 'prod-root', rule: 'new', threshold: 2, available: 1, keys: [] }), 'root.json (production), new threshold');
    assert.equal(ruleLabel({ document: 'snapshot', rule: 'new', threshold: 1, available: 1, keys: [] }), 'snapshot.json');
  });
});
