import type { FastifyInstance } from 'fastify';
import { addPemKey } from '../../shared/api.js';
import type { BodyOf, ReplyOf } from '../../shared/api.js';
import { addRoute, type RouteContext } from './context.js';

/** `POST /api/keys/pem`: a PEM private key file joins the session's keys (read in memory, never written). */
export function pemKeyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, addPemKey, async (req): Promise<ReplyOf<typeof addPemKey>> => ctx.session.addPemKey(req.body as BodyOf<typeof addPemKey>));
}
