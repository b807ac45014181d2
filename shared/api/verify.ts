/** The verifier report (rules, sources, matrix) and the root diff. */
import { bool, dialect, int, keySummarySchema, str, strings } from './common.js';

/** Whose rule a verifier line is (server/tuf/model.ts RuleSource). */
export const ruleSource = { type: 'string', enum: ['device', 'foundries-api', 'spec-clients', 'strict-clients', 'fioctl', 'tuf-rotate'] } as const;

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

export const warningSchema = {
  type: 'object',
  required: ['code', 'severity', 'message'],
  additionalProperties: false,
  properties: { code: str, severity: { type: 'string', enum: ['danger', 'warning', 'info'] }, message: str },
} as const;

export const changelogSchema = {
  type: 'object',
  additionalProperties: false,
  /** label: the author as "Name (polis-id 1a2b3c4d)" (in a diff, server/tuf/owner-names.ts). */
  properties: { polisId: str, message: str, timestamp: str, label: str },
} as const;

export const ownerSchema = {
  type: 'object',
  additionalProperties: false,
  /** label: how the owner is shown, "Name (polis-id 1a2b3c4d)" when the Factory knows the user. */
  properties: { polisId: str, createdAt: str, label: str },
} as const;

export const fromTo = { type: 'object', required: ['from', 'to'], additionalProperties: false } as const;

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
