/** Another key archive as a key source in the page (its keys sign; the new archive copies the first). */
import type { Route } from '../api.js';
import { archiveReplySchema } from './archive.js';

/**
 * `POST /api/keys/archive`: a further key archive (.tgz body, same limits as the first), for
 * example a Factory's targets keys kept in their own file. Its keys join the keys that sign; the
 * new archive saved at the end is still a copy of the first archive plus the new keys.
 */
export const lendArchive = {
  method: 'POST',
  path: '/api/keys/archive',
  bodyType: 'gzip',
  reply: archiveReplySchema,
} as const satisfies Route;
