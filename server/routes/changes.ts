/** POST /api/changes/preview: several key changes, previewed; nothing is written or sent. */
import type { FastifyInstance } from 'fastify';
import { previewChanges } from '../../shared/api.js';
import type { BodyOf, ReplyOf } from '../../shared/api.js';
import type { AskedChange } from '../change-keys.js';
import { previewChanges as preview } from '../changes-preview.js';
import { addRoute, type RouteContext } from './context.js';

export function changesRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, previewChanges, async (req): Promise<ReplyOf<typeof previewChanges>> => {
    const body = req.body as BodyOf<typeof previewChanges>;
    const { current, ring } = await ctx.session.changesBase();
    const result = await preview(current, ring, body.changes as AskedChange[], body.keyType ?? 'ed25519', new Date());
    return result as unknown as ReplyOf<typeof previewChanges>;
  });
}
