/**
 * The JSON API's route table: one entry per route, with `as const` JSON Schemas. The server
 * registers each route with these schemas (Ajv checks bodies; the reply schema drops every field it
 * does not declare, so nothing undeclared, such as key material, can leave by accident). The web
 * client derives its types from the same objects. No node:*, no DOM, no runtime dependencies.
 *
 * Every route is under /api and needs `Authorization: Bearer <token>`. POST bodies are JSON
 * (`Content-Type: application/json`; send `{}` for steps without arguments), except the key archive
 * upload, which is the raw `.tgz` (`application/gzip`).
 *
 * The schemas live per resource under `shared/api/` (import them from there); this module holds the
 * route table and the types derived from it.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { importRequestSignature, openRequest, verifyCeremonyRecord } from './requests-api.js';
import { algorithm, bool, errorReply, int, keySummarySchema, str } from './api/common.js';
import { rootDiffSchema, verifyReportSchema } from './api/verify.js';
import { rootSummarySchema, targetInfoSchema } from './api/root.js';
import { archiveReplySchema, archiveSummarySchema, rootKeysHeldSchema } from './api/archive.js';
import { askedChangeSchema, changesPlanSchema, documentViewSchema, roleViewSchema, changesPreviewSchema, planResultSchema, planSummarySchema, publishResultSchema, saveResultSchema, signResultSchema } from './api/rotation.js';
import { jobSchema, jobStartedSchema } from './api/jobs.js';
import { addPemKey } from './api/pem-key.js';
import { lendArchive } from './api/lend-archive.js';
import { emptyBody, historySchema, recordSchema, recoverySchema, sessionSchema } from './api/session.js';


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
          /** A first-time rotation: the Factory still holds the first root key and hands it over at the plan step. */
          firstTime: { type: 'boolean' },
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

/** Where a key in a hardware token (PKCS#11) is, and the user PIN to reach it. */
const tokenKeyFields = {
  /** Absolute path of the PKCS#11 module; default: SoftHSM2's or OpenSC's usual path. */
  module: { type: 'string', minLength: 2, maxLength: 4096, pattern: '^/' },
  token: { type: 'string', minLength: 1, maxLength: 64 },
  key: { type: 'string', minLength: 1, maxLength: 256 },
  /** Used for C_Login only: never logged, stored or sent back. */
  pin: { type: 'string', minLength: 1, maxLength: 256 },
} as const;

/** A key in a hardware token (PKCS#11) as an old root key: module, token label, key label and the user PIN. */
export const addTokenKey = {
  method: 'POST',
  path: '/api/keys/token',
  body: {
    type: 'object',
    required: ['token', 'key', 'pin'],
    additionalProperties: false,
    properties: tokenKeyFields,
  },
  reply: {
    type: 'object',
    required: ['archive', 'tokenKey'],
    additionalProperties: false,
    properties: {
      archive: archiveSummarySchema,
      rootKeys: rootKeysHeldSchema,
      lent: { type: 'array', items: archiveSummarySchema },
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
      /**
       * Several key changes in one new version (absent: the root-key rotation). `keyType` is then the
       * type of the keys generated; `newTokenKey` only with exactly one root-key rotation.
       */
      changes: { type: 'array', minItems: 1, maxItems: 20, items: askedChangeSchema },
      /** Plan from an expired current root anyway; the reason (not blank) goes to the journal and record. */
      allowExpired: {
        type: 'object',
        required: ['reason'],
        additionalProperties: false,
        properties: { reason: { type: 'string', minLength: 1, maxLength: 1000, pattern: '\\S' } },
      },
      /** Generate the new root key in a hardware token (or, with `existing`, use one made there by the token's own tool). */
      newTokenKey: {
        type: 'object',
        required: ['token', 'key', 'pin'],
        additionalProperties: false,
        properties: {
          ...tokenKeyFields,
          existing: { type: 'boolean' },
          /** Why a root whose threshold needs this token (no backup possible) is acceptable; journal and record. */
          ackNoBackup: { type: 'string', minLength: 1, maxLength: 1000, pattern: '\\S' },
        },
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
  addPemKey,
  lendArchive,
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
  openRequest,
  importRequestSignature,
  verifyCeremonyRecord,
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
export { addPemKey, lendArchive };
export type PemKeyReply = FromSchema<(typeof addPemKey)['reply']>;
export type PlanSummary = FromSchema<typeof planSummarySchema>;
export type PlanResult = FromSchema<typeof planResultSchema>;
export type ChangesPreviewReply = FromSchema<typeof changesPreviewSchema>;
export type AskedChangeBody = FromSchema<typeof askedChangeSchema>;
export type ChangesPlan = FromSchema<typeof changesPlanSchema>;
export type DocumentView = FromSchema<typeof documentViewSchema>;
export type RoleView = FromSchema<typeof roleViewSchema>;
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
