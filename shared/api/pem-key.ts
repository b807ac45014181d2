/** A PEM private key file as a key source in the page (beside the key archive, or alone). */
import type { Route } from '../api.js';
import { archiveSummarySchema, rootKeysHeldSchema } from './archive.js';
import { algorithm, int, str } from './common.js';

/**
 * `POST /api/keys/pem`: the text of one PEM private key file (PKCS#8, PKCS#1 or SEC1, not
 * encrypted), read in memory like the archive and never written, logged or sent back; `name` is
 * the file's name, shown as the key's label.
 */
export const addPemKey = {
  method: 'POST',
  path: '/api/keys/pem',
  body: {
    type: 'object',
    required: ['pem'],
    additionalProperties: false,
    properties: {
      pem: { type: 'string', minLength: 1, maxLength: 65536 },
      name: { type: 'string', minLength: 1, maxLength: 255 },
    },
  },
  reply: {
    type: 'object',
    required: ['archive', 'pemKey'],
    additionalProperties: false,
    properties: {
      archive: archiveSummarySchema,
      rootKeys: rootKeysHeldSchema,
      lent: { type: 'array', items: archiveSummarySchema },
      /** Public facts of the key read: its label, algorithm and size. */
      pemKey: { type: 'object', required: ['label', 'algorithm', 'bits'], additionalProperties: false, properties: { label: str, algorithm, bits: int } },
    },
  },
} as const satisfies Route;
