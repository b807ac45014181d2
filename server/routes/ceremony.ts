/** The work folder's ceremony: cancel a Factory transaction, re-run a partial apply. */
import type { FastifyInstance } from 'fastify';
import { cancelCeremony, startReapply } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

export function ceremonyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, cancelCeremony, async (): Promise<ReplyOf<typeof cancelCeremony>> => ctx.session.cancelCeremony());
  addRoute(
    app,
    startReapply,
    async (_req, reply): Promise<ReplyOf<typeof startReapply>> => {
      const job = ctx.session.startReapply();
      reply.code(202);
      return { jobId: job.id };
    },
    { status: 202 },
  );
}
