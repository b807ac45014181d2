import type { FastifyInstance } from 'fastify';
import { getNewRoot, getRoot, getRootHistory } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { serializeRoot } from '../tuf/metadata.js';
import { addRoute, type RouteContext } from './context.js';

export function rootRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, getRoot, async (): Promise<ReplyOf<typeof getRoot>> => ctx.session.root());
  addRoute(app, getRootHistory, async (): Promise<ReplyOf<typeof getRootHistory>> => ctx.session.history());
  // The signed new root as a file (public metadata), byte for byte as a target would store it.
  addRoute(app, getNewRoot, async (_req, reply) => {
    const { document, version } = ctx.session.newRoot();
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="${version}.root.json"`)
      .serializer((p: unknown) => p as string)
      .send(serializeRoot(document));
  });
}
