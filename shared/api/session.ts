/** The session, the ceremony recovery, root history and the ceremony record. */
import { bool, dialect, int, str, strings, targetKind } from './common.js';
import { verifyReportSchema } from './verify.js';
import { targetInfoSchema } from './root.js';
import { archiveReplySchema } from './archive.js';
import { planResultSchema, publishResultSchema, saveResultSchema, signResultSchema } from './rotation.js';

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
    actions: { type: 'array', items: { type: 'string', enum: ['publish-saved', 'finish-metadata', 'new-ceremony', 're-apply', 'cancel'] } },
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
    /** The target kind the Target step preselects (`serve --offline`: "offline"). */
    startKind: targetKind,
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

export const recordRootSchema = {
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

export const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;
