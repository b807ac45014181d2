/**
 * The routes of the page's signing-request panel: open a request (checked on the server, which
 * re-derives every byte and hash) and import a signature into it. Stateless: the page holds the
 * request and the signatures collected so far and sends them with each call; the server verifies
 * every signature again each time. Nothing secret passes here (requests and signatures are public).
 */
import type { FromSchema } from 'json-schema-to-ts';
import type { Route } from './api.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strings = { type: 'array', items: str } as const;

export const requestSignatureSchema = {
  type: 'object',
  required: ['payload', 'keyid', 'sig'],
  additionalProperties: false,
  properties: {
    payload: { type: 'string', maxLength: 64 },
    keyid: { type: 'string', maxLength: 128 },
    sig: { type: 'string', maxLength: 4096 },
    method: { type: 'string', maxLength: 64 },
  },
} as const;

const signatures = { type: 'array', maxItems: 256, items: requestSignatureSchema } as const;

const holderSchema = {
  type: 'object',
  required: ['keyid', 'short', 'owner', 'algorithm', 'signed'],
  additionalProperties: false,
  properties: { keyid: str, short: str, owner: str, algorithm: str, signed: bool },
} as const;

export const requestViewSchema = {
  type: 'object',
  required: ['id', 'sas', 'createdAt', 'expiresAt', 'expired', 'target', 'summary', 'note', 'complete', 'payloads', 'missing'],
  additionalProperties: false,
  properties: {
    id: str,
    sas: { type: 'object', required: ['words', 'hex'], additionalProperties: false, properties: { words: strings, hex: str } },
    createdAt: str,
    expiresAt: str,
    expired: bool,
    target: str,
    summary: strings,
    /** Empty when the coordinator wrote none. */
    note: str,
    complete: bool,
    payloads: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'version', 'sha256', 'bin', 'met', 'thresholds'],
        additionalProperties: false,
        properties: {
          name: str,
          version: int,
          sha256: str,
          bin: str,
          met: bool,
          thresholds: {
            type: 'array',
            items: {
              type: 'object',
              required: ['source', 'version', 'threshold', 'signed', 'met', 'holders'],
              additionalProperties: false,
              properties: {
                source: { type: 'string', enum: ['trusted', 'new'] },
                version: int,
                threshold: int,
                signed: int,
                met: bool,
                holders: { type: 'array', items: holderSchema },
              },
            },
          },
        },
      },
    },
    missing: {
      type: 'array',
      items: {
        type: 'object',
        required: ['keyid', 'short', 'owner', 'algorithm', 'commands'],
        additionalProperties: false,
        properties: { keyid: str, short: str, owner: str, algorithm: str, commands: strings },
      },
    },
  },
} as const;

const openBody = {
  type: 'object',
  required: ['request', 'signatures'],
  additionalProperties: false,
  properties: { request: { type: 'object' }, signatures },
} as const;

const importBody = {
  type: 'object',
  required: ['request', 'signatures', 'file', 'name'],
  additionalProperties: false,
  properties: {
    request: { type: 'object' },
    signatures,
    /** The dropped file's bytes, base64: a tuf-rotate/signatures file, or a raw signature. */
    file: { type: 'string', maxLength: 262144 },
    name: { type: 'string', maxLength: 255 },
    keyid: { type: 'string', pattern: '^[0-9a-f]{8,64}$' },
    payload: { type: 'string', maxLength: 64 },
  },
} as const;

const importReply = {
  type: 'object',
  required: ['added', 'signatures', 'view'],
  additionalProperties: false,
  properties: { added: signatures, signatures, view: requestViewSchema },
} as const;

/** Checks a signing request and tallies the signatures sent with it. */
export const openRequest = { method: 'POST', path: '/api/request/open', body: openBody, reply: requestViewSchema } as const satisfies Route;

/** Verifies a dropped signatures file or raw signature against the request; refusals carry their code. */
export const importRequestSignature = { method: 'POST', path: '/api/request/import', body: importBody, reply: importReply } as const satisfies Route;

export const recordViewSchema = {
  type: 'object',
  required: ['ok', 'request', 'sas', 'summary', 'target', 'published', 'head', 'signedBy', 'rootThreshold', 'events'],
  additionalProperties: false,
  properties: {
    ok: bool,
    request: str,
    sas: str,
    summary: strings,
    target: str,
    published: { type: 'object', required: ['version', 'sha256', 'location'], additionalProperties: false, properties: { version: int, sha256: str, location: str } },
    head: str,
    signedBy: strings,
    rootThreshold: int,
    events: {
      type: 'array',
      items: {
        type: 'object',
        required: ['seq', 'at', 'who', 'what', 'data', 'hash', 'prev'],
        additionalProperties: false,
        properties: { seq: int, at: str, who: str, what: str, data: str, hash: str, prev: str },
      },
    },
  },
} as const;

/** Verifies a signed ceremony record (chain, head, embedded root, signatures) and returns every event for printing. */
export const verifyCeremonyRecord = {
  method: 'POST',
  path: '/api/request/record',
  body: { type: 'object', required: ['record'], additionalProperties: false, properties: { record: { type: 'object' } } },
  reply: recordViewSchema,
} as const satisfies Route;

export type RecordView = FromSchema<typeof recordViewSchema>;
export type RequestView = FromSchema<typeof requestViewSchema>;
export type RequestSignatureJson = FromSchema<typeof requestSignatureSchema>;
export type ImportReply = FromSchema<typeof importReply>;
export type OpenRequestBody = FromSchema<typeof openBody>;
export type ImportRequestBody = FromSchema<typeof importBody>;
