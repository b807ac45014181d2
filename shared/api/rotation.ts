/** The rotation: plan, asked changes, signing, saving, publishing. */
import { algorithm, bool, dialect, int, str, strings } from './common.js';
import { rootDiffSchema, verifyReportSchema, warningSchema } from './verify.js';

export const planSummarySchema = {
  type: 'object',
  /** newKeyId, newKeyShort, algorithm, bits, replacedKeyId and signers are there for a root-key rotation only (not for other changes). */
  required: ['dialect', 'currentVersion', 'newVersion', 'removedKeyIds', 'expires', 'warnings'],
  additionalProperties: false,
  properties: {
    dialect,
    currentVersion: int,
    newVersion: int,
    newKeyId: str,
    newKeyShort: str,
    algorithm,
    bits: int,
    replacedKeyId: str,
    removedKeyIds: strings,
    signers: {
      type: 'array',
      items: { type: 'object', required: ['keyid', 'role'], additionalProperties: false, properties: { keyid: str, role: { type: 'string', enum: ['new', 'old'] } } },
    },
    expires: str,
    warnings: { type: 'array', items: warningSchema },
    /** The new key is in a hardware token (no private key in any archive). */
    newKeyToken: { type: 'object', required: ['uri', 'label'], additionalProperties: false, properties: { uri: str, label: str, noBackupAck: str } },
  },
} as const;

export const topRole = { type: 'string', enum: ['root', 'targets', 'snapshot', 'timestamp'] } as const;
export const onlineRole = { type: 'string', enum: ['targets', 'snapshot', 'timestamp'] } as const;
export const count = { type: 'integer', minimum: 1, maximum: 1000 } as const;

/** One change the page asks for (the command line's CHANGE, without key files). */
export const askedChangeSchema = {
  oneOf: [
    { type: 'object', required: ['kind', 'role'], additionalProperties: false, properties: { kind: { const: 'rotate-key' }, role: topRole } },
    { type: 'object', required: ['kind', 'role'], additionalProperties: false, properties: { kind: { const: 'add-key' }, role: topRole, owner: { type: 'string', minLength: 1, maxLength: 200 } } },
    { type: 'object', required: ['kind', 'keyid'], additionalProperties: false, properties: { kind: { const: 'remove-key' }, keyid: { type: 'string', pattern: '^[0-9a-fA-F]{8,128}$' } } },
    { type: 'object', required: ['kind', 'role', 'threshold'], additionalProperties: false, properties: { kind: { const: 'threshold' }, role: topRole, threshold: count } },
    { type: 'object', required: ['kind', 'threshold'], additionalProperties: false, properties: { kind: { const: 'prod-targets-threshold' }, threshold: count } },
    { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { const: 'refresh-expiry' }, days: { type: 'integer', minimum: 1, maximum: 3650 } } },
    { type: 'object', required: ['kind', 'roles'], additionalProperties: false, properties: { kind: { const: 'rotate-online-keys' }, roles: { type: 'array', items: onlineRole, maxItems: 3 } } },
  ],
} as const;

export const signatureRuleSchema = {
  type: 'object',
  required: ['document', 'rule', 'threshold', 'keys', 'available'],
  additionalProperties: false,
  properties: {
    document: { type: 'string', enum: ['root', 'prod-root', 'targets', 'snapshot', 'timestamp'] },
    rule: { type: 'string', enum: ['old', 'new'] },
    threshold: int,
    available: int,
    keys: {
      type: 'array',
      items: { type: 'object', required: ['keyid', 'available'], additionalProperties: false, properties: { keyid: str, owner: str, available: bool } },
    },
  },
} as const;

/** One top-level role of a root, before or after the changes (the roles and keys graph). */
export const roleViewSchema = {
  type: 'object',
  required: ['name', 'threshold', 'keys'],
  additionalProperties: false,
  properties: {
    name: topRole,
    threshold: int,
    /** Factory: the production root's targets threshold. */
    prodThreshold: int,
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyid', 'keytype', 'held', 'online', 'added', 'removed'],
        additionalProperties: false,
        properties: {
          keyid: str,
          keytype: str,
          owner: str,
          /** A key the uploaded archive (or token) or a generated key provides. */
          held: bool,
          /** An online key (Factory: the Factory holds it; standard repository: snapshot/timestamp keys and targets keys kept online). */
          online: bool,
          added: bool,
          removed: bool,
        },
      },
    },
  },
} as const;

/** One document of the proposal: a root, a re-signed metadata file, Factory production/wave targets. */
export const documentViewSchema = {
  type: 'object',
  required: ['name', 'kind', 'before', 'after'],
  additionalProperties: false,
  properties: {
    /** 'root.json', 'root.json (production)', 'targets.json', 'snapshot.json', 'timestamp.json', 'targets of tag main', 'targets of wave wave-1'. */
    name: str,
    kind: { type: 'string', enum: ['root', 'prod-root', 'metadata', 'factory-targets'] },
    /** Pretty JSON (2 spaces) as served now; null when the document is new. */
    before: { type: ['string', 'null'] },
    /** Pretty JSON (2 spaces) after the change (with its signatures once signed). */
    after: str,
    /** What the Sign step adds when `after` does not show it yet. */
    note: str,
  },
} as const;

/** Several key changes in one new version: what the plan step shows beside (or instead of) the rotation summary. */
export const changesPlanSchema = {
  type: 'object',
  required: ['summary', 'newKeys', 'removedKeyIds', 'signatures', 'missing', 'notes', 'roles', 'documents'],
  additionalProperties: false,
  properties: {
    summary: strings,
    newKeys: { type: 'array', items: { type: 'object', required: ['role', 'keyid'], additionalProperties: false, properties: { role: str, keyid: str, owner: str } } },
    removedKeyIds: strings,
    signatures: { type: 'array', items: signatureRuleSchema },
    /** Signatures the keys held cannot make: sign is refused until the holders sign. */
    missing: { type: 'array', items: signatureRuleSchema },
    notes: strings,
    roles: {
      type: 'object',
      required: ['before', 'after'],
      additionalProperties: false,
      properties: { before: { type: 'array', items: roleViewSchema }, after: { type: 'array', items: roleViewSchema } },
    },
    documents: { type: 'array', items: documentViewSchema },
  },
} as const;

export const planResultSchema = {
  type: 'object',
  required: ['plan', 'diff'],
  additionalProperties: false,
  properties: { plan: planSummarySchema, diff: rootDiffSchema, changes: changesPlanSchema },
} as const;

export const changesPreviewSchema = {
  type: 'object',
  required: ['dialect', 'currentVersion', 'newVersion', 'summary', 'newKeys', 'removedKeyIds', 'signatures', 'missing', 'notes', 'command', 'diff'],
  additionalProperties: false,
  properties: {
    dialect,
    currentVersion: int,
    newVersion: int,
    summary: strings,
    newKeys: { type: 'array', items: { type: 'object', required: ['role', 'keyid'], additionalProperties: false, properties: { role: str, keyid: str } } },
    removedKeyIds: strings,
    signatures: { type: 'array', items: signatureRuleSchema },
    missing: { type: 'array', items: signatureRuleSchema },
    notes: strings,
    command: str,
    diff: rootDiffSchema,
  },
} as const;

export const signResultSchema = {
  type: 'object',
  required: ['version', 'sha256', 'verify'],
  additionalProperties: false,
  properties: {
    version: int,
    /** SHA-256 of the canonical signed bytes of the new root. */
    sha256: str,
    verify: verifyReportSchema,
    /** Several key changes: every signed document of the proposal (roots, re-signed metadata, Factory targets). */
    documents: { type: 'array', items: documentViewSchema },
  },
} as const;

export const saveResultSchema = {
  type: 'object',
  required: ['path', 'sha256', 'bytes'],
  additionalProperties: false,
  properties: {
    path: str,
    sha256: str,
    bytes: int,
    /** After an overwrite: where the file that was at `path` is kept. */
    backupPath: str,
  },
} as const;

export const publishResultSchema = {
  type: 'object',
  required: ['location', 'version', 'verify'],
  additionalProperties: false,
  properties: {
    location: str,
    version: int,
    verify: verifyReportSchema,
    /** Several key changes: what was published, by document name ('root.json', 'root.json (production)', 'targets.json', 'targets of tag main', …). */
    published: strings,
  },
} as const;
