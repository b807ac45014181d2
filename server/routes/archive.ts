import type { FastifyInstance } from 'fastify';
import { downloadNewArchive, lendArchive, uploadArchive } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { ARCHIVE_FILE_LIMIT } from '../keyring.js';
import { ARCHIVE_TYPES } from '../security.js';
import { addRoute, type RouteContext } from './context.js';

export function archiveRoutes(app: FastifyInstance, ctx: RouteContext): void {
  // The raw .tgz body, kept in memory (never written to disk); its own limit, 10 MiB (invariant 6).
  app.addContentTypeParser([...ARCHIVE_TYPES], { parseAs: 'buffer', bodyLimit: ARCHIVE_FILE_LIMIT }, (_req, body, done) => done(null, body));

  const bytesOf = (body: unknown): Uint8Array => {
    if (!Buffer.isBuffer(body)) {
      throw new AppError('ARCHIVE_INVALID', 'The request carried no key archive.', 'Send the .tgz file as the request body (Content-Type: application/gzip).');
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  };
  addRoute(app, uploadArchive, async (req): Promise<ReplyOf<typeof uploadArchive>> => ctx.session.uploadArchive(bytesOf(req.body)), { bodyLimit: ARCHIVE_FILE_LIMIT });
  // A further archive lends its keys (a Factory's targets keys in their own file); the new archive copies the first.
  addRoute(app, lendArchive, async (req): Promise<ReplyOf<typeof lendArchive>> => ctx.session.lendArchive(bytesOf(req.body)), { bodyLimit: ARCHIVE_FILE_LIMIT });

  // The saved new archive, as written and checked at the save step (allowed only after it).
  addRoute(app, downloadNewArchive, async (_req, reply) => {
    const { bytes, name } = await ctx.session.newArchive();
    const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
    return reply.type('application/gzip').header('content-disposition', `attachment; filename="${safe}"`).send(Buffer.from(bytes));
  });
}
