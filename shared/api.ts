/**
 * The JSON API's route table: one entry per route, with `as const` JSON Schemas. The server
 * registers each route with these schemas (Ajv checks bodies; the reply schema drops every field it
 * does not declare, so nothing undeclared, such as key material, can leave by accident). The web
 * client derives its types from the same objects. No node:*, no DOM, no runtime dependencies.
 *
 * Every route is under /api and needs `Authorization: Bearer <token>`. POST bodies are JSON
 * (`Content-Type: application/json`; send `{}` for steps without arguments), except the key archive
 * upload, which is the raw `.tgz` (`application/gzip`).
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { ERROR_CODES } from './errors.js';

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Request body schema (POST routes). */
  readonly body?: JSONSchema;
  /** Path parameter schema. */
  readonly params?: JSONSchema;
  /** The 200 reply (JSON routes); for `gzip` and `event-stream` routes, what an error looks like instead. */
  readonly reply: JSONSchema;
  /** Request body media type: JSON unless `gzip` (the key archive upload). */
  readonly bodyType?: 'json' | 'gzip';
  /** Reply media type: JSON unless stated (`calendar`: text/calendar, RFC 5545). */
  readonly replyType?: 'json' | 'gzip' | 'event-stream' | 'calendar';
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strings = { type: 'array', items: str } as const;
const algorithm = { type: 'string', enum: ['ed25519', 'rsa', 'ecdsa'] } as const;
const dialect = { type: 'string', enum: ['foundries', 'spec'] } as const;
const targetKind = { type: 'string', enum: ['factory', 'practice', 'repo', 'offline'] } as const;

export const apiErrorSchema = {
  type: 'object',
  required: ['code', 'message', 'hint'],
  additionalProperties: false,
  properties: { code: { type: 'string', enum: ERROR_CODES }, message: str, hint: str },
} as const;

/** The body of every error reply. */
export const errorReply = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: { error: apiErrorSchema },
} as const;

export const keySummarySchema = {
  type: 'object',
  required: ['keyid', 'short', 'keytype'],
  additionalProperties: false,
  properties: { keyid: str, short: str, keytype: str, algorithm, bits: int },
} as const;

/** Whose rule a verifier line is (server/tuf/model.ts RuleSource). */
const ruleSource = { type: 'string', enum: ['device', 'foundries-api', 'spec-clients', 'strict-clients', 'fioctl', 'tuf-rotate'] } as const;

/** What each verifier would do with the root: the matrix that ends a report. */
export const verifierMatrixSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['verifier', 'label', 'verdict', 'reasons'],
    additionalProperties: false,
    properties: {
      verifier: { type: 'string', enum: ['libaktualizr', 'foundries-api', 'tuf-js/python-tuf', 'tough'] },
      label: str,
      verdict: { type: 'string', enum: ['accepts', 'refuses', 'not-applicable'] },
      reasons: { type: 'array', items: str },
    },
  },
} as const;

export const verifyReportSchema = {
  type: 'object',
  required: ['ok', 'dialect', 'results', 'matrix'],
  additionalProperties: false,
  properties: {
    ok: bool,
    dialect,
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule', 'status', 'message', 'version', 'sources'],
        additionalProperties: false,
        properties: {
          rule: str,
          status: { type: 'string', enum: ['pass', 'fail', 'warn', 'info'] },
          message: str,
          version: int,
          sources: { type: 'array', items: ruleSource },
          short: str,
        },
      },
    },
    matrix: verifierMatrixSchema,
  },
} as const;

const warningSchema = {
  type: 'object',
  required: ['code', 'severity', 'message'],
  additionalProperties: false,
  properties: { code: str, severity: { type: 'string', enum: ['danger', 'warning', 'info'] }, message: str },
} as const;

const changelogSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { polisId: str, message: str, timestamp: str },
} as const;

const ownerSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { polisId: str, createdAt: str },
} as const;

const fromTo = { type: 'object', required: ['from', 'to'], additionalProperties: false } as const;

export const rootDiffSchema = {
  type: 'object',
  required: ['dialect', 'version', 'expires', 'keysAdded', 'keysRemoved', 'roles', 'owners', 'otherFields', 'lines', 'warnings'],
  additionalProperties: false,
  properties: {
    dialect,
    version: { ...fromTo, properties: { from: int, to: int } },
    expires: { ...fromTo, properties: { from: str, to: str } },
    keysAdded: { type: 'array', items: keySummarySchema },
    keysRemoved: { type: 'array', items: keySummarySchema },
    roles: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'threshold', 'keyidsAdded', 'keyidsRemoved', 'keyidsKept'],
        additionalProperties: false,
        properties: {
          name: str,
          threshold: { type: 'object', additionalProperties: false, properties: { from: int, to: int } },
          keyidsAdded: strings,
          keyidsRemoved: strings,
          keyidsKept: strings,
        },
      },
    },
    changelog: { type: 'object', additionalProperties: false, properties: { from: changelogSchema, to: changelogSchema } },
    owners: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyid'],
        additionalProperties: false,
        properties: { keyid: str, from: ownerSchema, to: ownerSchema },
      },
    },
    otherFields: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path'],
        additionalProperties: false,
        // Public metadata values (any JSON).
        properties: { path: str, from: {}, to: {} },
      },
    },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['op', 'text'],
        additionalProperties: false,
        properties: { op: { type: 'string', enum: [' ', '+', '-'] }, text: str, oldNo: int, newNo: int },
      },
    },
    warnings: { type: 'array', items: warningSchema },
  },
} as const;

export const targetInfoSchema = {
  type: 'object',
  required: ['kind', 'description'],
  additionalProperties: false,
  properties: { kind: targetKind, description: str },
} as const;

export const rootSummarySchema = {
  type: 'object',
  required: ['dialect', 'type', 'version', 'expires', 'expired', 'expiresInDays', 'roles', 'keyOwners'],
  additionalProperties: false,
  properties: {
    dialect,
    type: str,
    version: int,
    expires: str,
    expired: bool,
    /** Whole days until expiry (negative once expired). */
    expiresInDays: int,
    /** A sentence when the root expires within 30 days or has expired. */
    expiryWarning: str,
    specVersion: str,
    consistentSnapshot: bool,
    roles: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'threshold', 'keys'],
        additionalProperties: false,
        properties: {
          name: str,
          threshold: int,
          keys: {
            type: 'array',
            items: {
              type: 'object',
              required: ['keyid', 'short', 'keytype', 'held'],
              additionalProperties: false,
              properties: { keyid: str, short: str, keytype: str, algorithm, bits: int, held: bool },
            },
          },
        },
      },
    },
    changelog: changelogSchema,
    keyOwners: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyid', 'short'],
        additionalProperties: false,
        properties: { keyid: str, short: str, polisId: str, createdAt: str },
      },
    },
  },
} as const;

export const archiveSummarySchema = {
  type: 'object',
  required: ['sha256', 'size', 'entries', 'keys'],
  additionalProperties: false,
  properties: {
    name: str,
    sha256: str,
    size: int,
    entries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'type', 'size', 'mode'],
        additionalProperties: false,
        properties: { name: str, type: { type: 'string', enum: ['file', 'dir'] }, size: int, mode: int },
      },
    },
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['base', 'status'],
        additionalProperties: false,
        properties: {
          base: str,
          pubName: str,
          secName: str,
          keytype: str,
          algorithm,
          bits: int,
          status: { type: 'string', enum: ['ok', 'token', 'missing-sec', 'missing-pub', 'mismatch', 'unknown-type', 'unparseable'] },
          problem: str,
          tokenUri: str,
        },
      },
    },
  },
} as const;

/** Which keys of the current root role the uploaded archive holds (matched by public key). */
export const rootKeysHeldSchema = {
  type: 'object',
  required: ['held', 'missing', 'threshold'],
  additionalProperties: false,
  properties: {
    threshold: int,
    held: {
      type: 'array',
      items: { type: 'object', required: ['keyid', 'short', 'label'], additionalProperties: false, properties: { keyid: str, short: str, label: str } },
    },
    missing: {
      type: 'array',
      items: { type: 'object', required: ['keyid', 'short'], additionalProperties: false, properties: { keyid: str, short: str } },
    },
  },
} as const;

export const archiveReplySchema = {
  type: 'object',
  required: ['archive'],
  additionalProperties: false,
  properties: { archive: archiveSummarySchema, rootKeys: rootKeysHeldSchema },
} as const;

export const planSummarySchema = {
  type: 'object',
  required: ['dialect', 'currentVersion', 'newVersion', 'newKeyId', 'newKeyShort', 'algorithm', 'bits', 'replacedKeyId', 'removedKeyIds', 'signers', 'expires', 'warnings'],
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
  },
} as const;

export const planResultSchema = {
  type: 'object',
  required: ['plan', 'diff'],
  additionalProperties: false,
  properties: { plan: planSummarySchema, diff: rootDiffSchema },
} as const;

const topRole = { type: 'string', enum: ['root', 'targets', 'snapshot', 'timestamp'] } as const;
const onlineRole = { type: 'string', enum: ['targets', 'snapshot', 'timestamp'] } as const;
const count = { type: 'integer', minimum: 1, maximum: 1000 } as const;

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

const signatureRuleSchema = {
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
  },
} as const;

export const saveResultSchema = {
  type: 'object',
  required: ['path', 'sha256', 'bytes'],
  additionalProperties: false,
  properties: { path: str, sha256: str, bytes: int },
} as const;

export const publishResultSchema = {
  type: 'object',
  required: ['location', 'version', 'verify'],
  additionalProperties: false,
  properties: { location: str, version: int, verify: verifyReportSchema },
} as const;

export const jobSchema = {
  type: 'object',
  required: ['id', 'kind', 'status', 'progress', 'startedAt'],
  additionalProperties: false,
  properties: {
    id: str,
    kind: { type: 'string', enum: ['plan', 'sign', 'save', 'publish'] },
    status: { type: 'string', enum: ['running', 'done', 'failed'] },
    progress: {
      type: 'array',
      items: { type: 'object', required: ['step', 'at'], additionalProperties: false, properties: { step: str, detail: str, at: str } },
    },
    /** Present when done: the member named like the job's kind. */
    result: {
      type: 'object',
      additionalProperties: false,
      properties: { plan: planResultSchema, sign: signResultSchema, save: saveResultSchema, publish: publishResultSchema },
    },
    error: apiErrorSchema,
    startedAt: str,
    finishedAt: str,
  },
} as const;

export const jobStartedSchema = {
  type: 'object',
  required: ['jobId'],
  additionalProperties: false,
  properties: { jobId: str },
} as const;

/** The work folder's ceremony, reconciled with its target on this read (docs/ceremonies.md). */
export const recoverySchema = {
  type: 'object',
  required: ['state', 'message'],
  additionalProperties: false,
  properties: {
    /** `none`: no ceremony in the work folder yet. */
    state: { type: 'string', enum: ['none', 'draft', 'staged', 'signed', 'keys-saved', 'published', 'cancelled', 'partly-applied', 'superseded'] },
    message: str,
    /** The ceremony's id (its folder under WORK/ceremonies/). */
    ceremony: str,
    target: targetInfoSchema,
    /** The key archive that signs for what the target serves now (a path, or how the keys were given); absent when it is not one of this ceremony's. */
    validArchive: str,
    validArchiveSha256: str,
    /** This ceremony's new key archive, once saved and proven. */
    newArchive: str,
    newArchiveSha256: str,
    /** The root version the target serves now, and the one this ceremony publishes. */
    version: int,
    newVersion: int,
    txid: str,
    /** False when the target could not be read (the state is then the last one recorded). */
    reachable: bool,
    /** What the state allows now (the page shows these as buttons). */
    actions: { type: 'array', items: { type: 'string', enum: ['publish-saved', 'new-ceremony', 're-apply', 'cancel'] } },
  },
} as const;

export const sessionSchema = {
  type: 'object',
  required: ['step', 'published', 'work'],
  additionalProperties: false,
  properties: {
    /** The work folder: where the ceremonies and, by default, new key archives are. */
    work: str,
    /** The next thing to do. */
    step: { type: 'string', enum: ['target', 'keys', 'plan', 'sign', 'save', 'publish', 'done'] },
    /** The id of the job now running, if one is. */
    busyJobId: str,
    target: targetInfoSchema,
    archive: archiveReplySchema,
    plan: planResultSchema,
    sign: signResultSchema,
    save: saveResultSchema,
    publish: publishResultSchema,
    published: bool,
    /** The work folder's current ceremony, reconciled with its target on this read. */
    recovery: recoverySchema,
  },
} as const;

export const historySchema = {
  type: 'object',
  required: ['versions'],
  additionalProperties: false,
  properties: {
    versions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['version', 'expires', 'expired', 'rootKeyIds', 'rootThreshold'],
        additionalProperties: false,
        properties: { version: int, expires: str, expired: bool, rootKeyIds: strings, rootThreshold: int },
      },
    },
  },
} as const;

const recordRootSchema = {
  type: 'object',
  required: ['version', 'expires', 'sha256', 'rootKeyIds', 'rootThreshold'],
  additionalProperties: false,
  properties: { version: int, expires: str, sha256: str, rootKeyIds: strings, rootThreshold: int },
} as const;

export const recordSchema = {
  type: 'object',
  required: ['tool', 'createdAt', 'target', 'dialect', 'old', 'new', 'newKeyId', 'keyIdsAdded', 'keyIdsRemoved', 'inputArchiveSha256', 'verification', 'times'],
  additionalProperties: false,
  properties: {
    tool: str,
    createdAt: str,
    target: targetInfoSchema,
    dialect,
    old: recordRootSchema,
    new: recordRootSchema,
    newKeyId: str,
    keyIdsAdded: strings,
    keyIdsRemoved: strings,
    inputArchiveSha256: str,
    archive: saveResultSchema,
    published: { type: 'object', required: ['location'], additionalProperties: false, properties: { location: str } },
    /** Present when the rotation started from an expired root: the override's reason. */
    allowExpired: { type: 'object', required: ['reason', 'expired'], additionalProperties: false, properties: { reason: str, expired: str } },
    verification: {
      type: 'object',
      required: ['signed'],
      additionalProperties: false,
      properties: { signed: verifyReportSchema, published: verifyReportSchema },
    },
    times: {
      type: 'object',
      additionalProperties: false,
      properties: { planned: str, signed: str, saved: str, published: str },
    },
  },
} as const;

const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;

// ---------------------------------------------------------------------------------------------
// The routes

export const health = {
  method: 'GET',
  path: '/api/health',
  reply: { type: 'object', required: ['ok', 'version'], additionalProperties: false, properties: { ok: bool, version: str } },
} as const satisfies Route;

export const getSession = { method: 'GET', path: '/api/session', reply: sessionSchema } as const satisfies Route;

export const setTarget = {
  method: 'POST',
  path: '/api/target',
  body: {
    oneOf: [
      { type: 'object', required: ['kind', 'dir'], additionalProperties: false, properties: { kind: { const: 'repo' }, dir: { type: 'string', minLength: 1, maxLength: 4096 } } },
      { type: 'object', required: ['kind', 'root'], additionalProperties: false, properties: { kind: { const: 'offline' }, root: { type: 'object' } } },
      { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { const: 'practice' } } },
      /** The server's embedded practice factory (the default target of `tuf-rotate serve`). */
      { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { const: 'practice-factory' } } },
      /**
       * A FoundriesFactory. The API token comes from `token` (never echoed, stored or logged), else
       * `tokenFile`, else the server's FIOCTL_TOKEN, else fioctl's config file.
       */
      {
        type: 'object',
        required: ['kind', 'factory'],
        additionalProperties: false,
        properties: {
          kind: { const: 'factory' },
          factory: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
          apiUrl: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^https?://' },
          tokenFile: { type: 'string', minLength: 1, maxLength: 4096 },
          token: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^[^\\s]+$' },
        },
      },
    ],
  },
  reply: {
    type: 'object',
    required: ['target', 'root'],
    additionalProperties: false,
    properties: { target: targetInfoSchema, root: rootSummarySchema },
  },
} as const satisfies Route;

export const getRoot = { method: 'GET', path: '/api/root', reply: rootSummarySchema } as const satisfies Route;

export const getRootHistory = { method: 'GET', path: '/api/root/history', reply: historySchema } as const satisfies Route;

/** The signed new root (public), as a JSON file download; after the sign step. */
export const getNewRoot = {
  method: 'GET',
  path: '/api/root/new',
  reply: { type: 'object', required: ['signed', 'signatures'], additionalProperties: true, properties: { signed: { type: 'object', additionalProperties: true }, signatures: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
} as const satisfies Route;

/**
 * Reminders for the target's root expiries (a Factory: CI and production roots) as an iCalendar
 * file (text/calendar): one all-day event on each expiry date, alarms 60, 30 and 7 days before.
 */
export const getExpiryCalendar = {
  method: 'GET',
  path: '/api/root/expiry.ics',
  replyType: 'calendar',
  reply: errorReply,
} as const satisfies Route;

export const uploadArchive = {
  method: 'POST',
  path: '/api/archive',
  bodyType: 'gzip',
  reply: archiveReplySchema,
} as const satisfies Route;

/** A key in a hardware token (PKCS#11) as an old root key: module, token label, key label and the user PIN. */
export const addTokenKey = {
  method: 'POST',
  path: '/api/keys/token',
  body: {
    type: 'object',
    required: ['token', 'key', 'pin'],
    additionalProperties: false,
    properties: {
      /** Absolute path of the PKCS#11 module; default: SoftHSM2's or OpenSC's usual path. */
      module: { type: 'string', minLength: 2, maxLength: 4096, pattern: '^/' },
      token: { type: 'string', minLength: 1, maxLength: 64 },
      key: { type: 'string', minLength: 1, maxLength: 256 },
      /** Used for C_Login only: never logged, stored or sent back. */
      pin: { type: 'string', minLength: 1, maxLength: 256 },
    },
  },
  reply: {
    type: 'object',
    required: ['archive', 'tokenKey'],
    additionalProperties: false,
    properties: {
      archive: archiveSummarySchema,
      rootKeys: rootKeysHeldSchema,
      tokenKey: {
        type: 'object',
        required: ['uri', 'label', 'serial', 'manufacturer', 'model', 'algorithm', 'bits'],
        additionalProperties: false,
        properties: { uri: str, label: str, serial: str, manufacturer: str, model: str, algorithm, bits: int },
      },
    },
  },
} as const satisfies Route;

export const startPlan = {
  method: 'POST',
  path: '/api/plan',
  body: {
    type: 'object',
    required: ['keyType'],
    additionalProperties: false,
    properties: {
      keyType: algorithm,
      changelog: { type: 'string', maxLength: 1000 },
      expiresDays: { type: 'integer', minimum: 1, maximum: 3650 },
      /** The id of an open ceremony with saved keys that this new one abandons (asked for, never implied). */
      abandon: { type: 'string', maxLength: 64 },
      /** Plan from an expired current root anyway; the reason (not blank) goes to the journal and record. */
      allowExpired: {
        type: 'object',
        required: ['reason'],
        additionalProperties: false,
        properties: { reason: { type: 'string', minLength: 1, maxLength: 1000, pattern: '\\S' } },
      },
    },
  },
  reply: jobStartedSchema,
} as const satisfies Route;

export const startSign = { method: 'POST', path: '/api/sign', body: emptyBody, reply: jobStartedSchema } as const satisfies Route;

export const startSave = {
  method: 'POST',
  path: '/api/save',
  body: {
    type: 'object',
    additionalProperties: false,
    properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, overwrite: bool },
  },
  reply: jobStartedSchema,
} as const satisfies Route;

export const downloadNewArchive = {
  method: 'GET',
  path: '/api/archive/new',
  replyType: 'gzip',
  reply: errorReply,
} as const satisfies Route;

export const startPublish = { method: 'POST', path: '/api/publish', body: emptyBody, reply: jobStartedSchema } as const satisfies Route;
/**
 * Recovery (invariant 7): publishes the signed root a previous run saved the keys for but never
 * published (the journal's `keys-saved-not-published` state) to the current target. A job, like publish.
 */
export const startRecoveryPublish = { method: 'POST', path: '/api/recovery/publish', body: emptyBody, reply: jobStartedSchema } as const satisfies Route;

/** A Factory ceremony: cancels its open transaction (any admin may; not while APPLYING); replies with the reconciled ceremony. */
export const cancelCeremony = { method: 'POST', path: '/api/ceremony/cancel', body: emptyBody, reply: recoverySchema } as const satisfies Route;

/** A partly applied Factory ceremony: re-runs apply until both chains are published (a job, like publish). */
export const startReapply = { method: 'POST', path: '/api/ceremony/reapply', body: emptyBody, reply: jobStartedSchema } as const satisfies Route;

export const getRecord = { method: 'GET', path: '/api/record', reply: recordSchema } as const satisfies Route;

const jobParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{32}$' } },
} as const;

export const getJob = { method: 'GET', path: '/api/jobs/:id', params: jobParams, reply: jobSchema } as const satisfies Route;

/**
 * Server-sent events: `event: progress` (data: {step, detail?, at}) for every step so far and as they
 * happen, then one `event: done` (data: the job) or `event: failed` (data: the job), then the stream
 * ends. EventSource cannot send the Bearer header: read it with fetch() and a stream reader.
 */
export const jobEvents = {
  method: 'GET',
  path: '/api/jobs/:id/events',
  params: jobParams,
  replyType: 'event-stream',
  reply: errorReply,
} as const satisfies Route;

/** Several key changes, previewed (plan, diff, who must sign) with throwaway keys; nothing is written. */
export const previewChanges = {
  method: 'POST',
  path: '/api/changes/preview',
  body: {
    type: 'object',
    required: ['changes'],
    additionalProperties: false,
    properties: { changes: { type: 'array', minItems: 1, maxItems: 20, items: askedChangeSchema }, keyType: algorithm },
  },
  reply: changesPreviewSchema,
} as const satisfies Route;

export const ROUTES = [
  health,
  getSession,
  setTarget,
  getRoot,
  getRootHistory,
  getNewRoot,
  getExpiryCalendar,
  uploadArchive,
  addTokenKey,
  startPlan,
  previewChanges,
  startSign,
  startSave,
  downloadNewArchive,
  startPublish,
  startRecoveryPublish,
  cancelCeremony,
  startReapply,
  getRecord,
  getJob,
  jobEvents,
] as const;

// ---------------------------------------------------------------------------------------------
// Types

export type BodyOf<R extends Route> = R extends { body: infer S extends JSONSchema } ? FromSchema<S> : undefined;
export type ReplyOf<R extends Route> = FromSchema<R['reply']>;
export type ParamsOf<R extends Route> = R extends { params: infer S extends JSONSchema } ? FromSchema<S> : undefined;

export type ApiErrorReply = FromSchema<typeof errorReply>;
export type KeySummary = FromSchema<typeof keySummarySchema>;
export type VerifyReportReply = FromSchema<typeof verifyReportSchema>;
export type RootDiffReply = FromSchema<typeof rootDiffSchema>;
export type RootSummary = FromSchema<typeof rootSummarySchema>;
export type TargetInfo = FromSchema<typeof targetInfoSchema>;
export type ArchiveSummaryReply = FromSchema<typeof archiveSummarySchema>;
export type RootKeysHeld = FromSchema<typeof rootKeysHeldSchema>;
export type ArchiveReply = FromSchema<typeof archiveReplySchema>;
export type TokenKeyReply = FromSchema<(typeof addTokenKey)['reply']>;
export type PlanSummary = FromSchema<typeof planSummarySchema>;
export type PlanResult = FromSchema<typeof planResultSchema>;
export type ChangesPreviewReply = FromSchema<typeof changesPreviewSchema>;
export type AskedChangeBody = FromSchema<typeof askedChangeSchema>;
export type SignResult = FromSchema<typeof signResultSchema>;
export type SaveResult = FromSchema<typeof saveResultSchema>;
export type PublishResultReply = FromSchema<typeof publishResultSchema>;
export type Job = FromSchema<typeof jobSchema>;
export type JobKind = Job['kind'];
export type JobProgress = Job['progress'][number];
export type SessionState = FromSchema<typeof sessionSchema>;
export type SessionStep = SessionState['step'];
export type RecoveryInfo = FromSchema<typeof recoverySchema>;
export type RootHistory = FromSchema<typeof historySchema>;
export type CeremonyRecord = FromSchema<typeof recordSchema>;
export type TargetBody = BodyOf<typeof setTarget>;
export type PlanBody = BodyOf<typeof startPlan>;
export type SaveBody = BodyOf<typeof startSave>;
