import type { FastifyInstance } from 'fastify';
import { addTokenKey } from '../../shared/api.js';
import type { BodyOf, ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

/** `POST /api/keys/token`: a key in a hardware token joins the session's keys (the PIN is used for C_Login only). */
export function tokenKeyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, addTokenKey, async (req): Promise<ReplyOf<typeof addTokenKey>> => ctx.session.addTokenKey(req.body as BodyOf<typeof addTokenKey>));
}
