import type { FastifyInstance } from 'fastify';
import { setTarget } from '../../shared/api.js';
import type { BodyOf, ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

export function targetRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, setTarget, async (req): Promise<ReplyOf<typeof setTarget>> => ctx.session.setTarget(req.body as BodyOf<typeof setTarget>));
}
