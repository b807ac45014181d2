import type { FastifyInstance } from 'fastify';
import { getExpiryCalendar } from '../../shared/api.js';
import { expiryReport } from '../expiry/expiry.js';
import { gatherExpiry } from '../expiry/gather.js';
import { expiryCalendar } from '../expiry/ics.js';
import { addRoute, type RouteContext } from './context.js';

/** The target's root expiries as an iCalendar download (public facts only). */
export function expiryRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, getExpiryCalendar, async (_req, reply) => {
    const { backend, now } = ctx.session.expiryTarget();
    const { inputs } = await gatherExpiry(backend);
    const text = expiryCalendar(expiryReport(backend.description, inputs, now), now);
    return reply
      .type('text/calendar; charset=utf-8')
      .header('content-disposition', 'attachment; filename="tuf-root-expiry.ics"')
      .serializer((p: unknown) => p as string)
      .send(text);
  });
}
