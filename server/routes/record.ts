import type { FastifyInstance } from 'fastify';
import { getRecord } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

export function recordRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, getRecord, async (): Promise<ReplyOf<typeof getRecord>> => ctx.session.record());
}
