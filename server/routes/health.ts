import type { FastifyInstance } from 'fastify';
import { health } from '../../shared/api.js';
import type { ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, health, async (): Promise<ReplyOf<typeof health>> => ({ ok: true, version: ctx.version }));
}
