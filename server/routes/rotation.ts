/** The ceremony's steps, each started as a job: plan (key generation), sign, save, publish. */
import type { FastifyInstance } from 'fastify';
import { startPlan, startPublish, startRecoveryPublish, startSave, startSign } from '../../shared/api.js';
import type { BodyOf, ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

type Started = ReplyOf<typeof startPlan>;

export function rotationRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const accepted = { status: 202 };
  addRoute(
    app,
    startPlan,
    async (req, reply): Promise<Started> => {
      const job = ctx.session.startPlan(req.body as BodyOf<typeof startPlan>);
      reply.code(202);
      return { jobId: job.id };
    },
    accepted,
  );
  addRoute(
    app,
    startSign,
    async (_req, reply): Promise<Started> => {
      const job = ctx.session.startSign();
      reply.code(202);
      return { jobId: job.id };
    },
    accepted,
  );
  addRoute(
    app,
    startSave,
    async (req, reply): Promise<Started> => {
      const job = ctx.session.startSave(req.body as BodyOf<typeof startSave>);
      reply.code(202);
      return { jobId: job.id };
    },
    accepted,
  );
  addRoute(
    app,
    startPublish,
    async (_req, reply): Promise<Started> => {
      const job = ctx.session.startPublish();
      reply.code(202);
      return { jobId: job.id };
    },
    accepted,
  );
  addRoute(
    app,
    startRecoveryPublish,
    async (_req, reply): Promise<Started> => {
      const job = ctx.session.startRecoveryPublish();
      reply.code(202);
      return { jobId: job.id };
    },
    accepted,
  );
}
