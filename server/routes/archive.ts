import type { FastifyInstance } from 'fastify';
import { downloadNewArchive, uploadArchive } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { ARCHIVE_FILE_LIMIT } from '../keyring.js';
import { ARCHIVE_TYPES } from '../security.js';
import { addRoute, type RouteContext } from './context.js';

export function archiveRoutes(app: FastifyInstance, ctx: RouteContext): void {
  // The raw .tgz body, kept in memory (never written to disk); its own limit, 10 MiB (invariant 6).
  app.addContentTypeParser([...ARCHIVE_TYPES], { parseAs: 'buffer', bodyLimit: ARCHIVE_FILE_LIMIT }, (_req, body, done) => done(null, body));

  addRoute(
    app,
    uploadArchive,
    async (req): Promise<ReplyOf<typeof uploadArchive>> => {
      if (!Buffer.isBuffer(req.body)) {
        throw new AppError('ARCHIVE_INVALID', 'The request carried no key archive.', 'Send the .tgz file as the request body (Content-Type: application/gzip).');
      }
      return ctx.session.uploadArchive(new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength));
    },
    { bodyLimit: ARCHIVE_FILE_LIMIT },
  );

  // The saved new archive, as written and checked at the save step (allowed only after it).
  addRoute(app, downloadNewArchive, async (_req, reply) => {
    const { bytes, name } = await ctx.session.newArchive();
    const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
    return reply.type('application/gzip').header('content-disposition', `attachment; filename="${safe}"`).send(Buffer.from(bytes));
  });
}
