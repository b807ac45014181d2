/** What every route file receives, and the one way routes are registered from the route table. */
import type { FastifyInstance, FastifySchema, RouteHandlerMethod } from 'fastify';
import { errorReply } from '../../shared/api/common.js';
import type { Route } from '../../shared/api.js';
import type { Jobs } from '../jobs.js';
import type { Session } from '../session.js';

export interface RouteContext {
  session: Session;
  jobs: Jobs;
  version: string;
  /** The target kind the page preselects (`serve --offline`). */
  startKind?: 'offline';
}

/** JSON bodies are small (product.md invariant 6); the archive upload sets its own limit. */
export const JSON_BODY_LIMIT = 1024 * 1024;

/**
 * Registers `r` with its schemas: Ajv validates body and params; the reply schema (for `status`)
 * drops every undeclared field; errors are declared too, so they are serialized the same way.
 */
export function addRoute(
  app: FastifyInstance,
  r: Route,
  handler: RouteHandlerMethod,
  opts: { status?: number; bodyLimit?: number } = {},
): void {
  const response: Record<string, unknown> = { '4xx': errorReply, '5xx': errorReply };
  if ((r.replyType ?? 'json') === 'json') response[String(opts.status ?? 200)] = r.reply;
  const schema: FastifySchema = { response };
  if (r.body !== undefined) schema.body = r.body;
  if (r.params !== undefined) schema.params = r.params;
  app.route({
    method: r.method,
    url: r.path,
    schema,
    config: { bodyType: r.bodyType ?? 'json' },
    bodyLimit: opts.bodyLimit ?? JSON_BODY_LIMIT,
    handler,
  });
}
