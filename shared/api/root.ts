/** The target and the current root. */
import { algorithm, bool, dialect, int, str, targetKind } from './common.js';
import { changelogSchema } from './verify.js';

export const targetInfoSchema = {
  type: 'object',
  required: ['kind', 'description'],
  additionalProperties: false,
  /** firstTime: a Foundries first-time rotation (no keys to upload; the Factory hands over its first root key). */
  properties: { kind: targetKind, description: str, firstTime: bool },
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
        // name: the owner's cleaned name when the Factory knows the user; label: "Name (polis-id 1a2b3c4d)"
        // or the polis-id with why no name is shown (server/tuf/owner-names.ts).
        properties: { keyid: str, short: str, polisId: str, createdAt: str, name: str, label: str },
      },
    },
  },
} as const;
