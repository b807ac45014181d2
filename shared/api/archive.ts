/** Key archives: their summary, the root keys they hold, the upload reply. */
import { algorithm, int, str } from './common.js';

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
  properties: {
    archive: archiveSummarySchema,
    rootKeys: rootKeysHeldSchema,
    /** Further archives whose keys sign too (the new archive copies the first one only). */
    lent: { type: 'array', items: archiveSummarySchema },
  },
} as const;
