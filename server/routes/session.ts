import type { FastifyInstance } from 'fastify';
import { getSession } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

export function sessionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, getSession, async (): Promise<ReplyOf<typeof getSession>> => ({
    ...(await ctx.session.state()),
    ...(ctx.startKind ? { startKind: ctx.startKind } : {}),
  }));
}
