/** Building blocks shared by the schemas: scalar types, enums, the error reply, a key summary. */
import { ERROR_CODES } from '../errors.js';

export const str = { type: 'string' } as const;
export const int = { type: 'integer' } as const;
export const bool = { type: 'boolean' } as const;
export const strings = { type: 'array', items: str } as const;
export const algorithm = { type: 'string', enum: ['ed25519', 'rsa', 'ecdsa'] } as const;
export const dialect = { type: 'string', enum: ['foundries', 'spec'] } as const;
export const targetKind = { type: 'string', enum: ['factory', 'practice', 'repo', 'offline'] } as const;

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
