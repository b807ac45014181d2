/**
 * The practice factory's read routes: the CI and production roots (E1–E3), the online targets
 * public key (E7), the caller (E8) and the Factory's users.
 */
import type { FastifyRequest } from 'fastify';
import type { JsonObject } from '../tuf/json.js';
import type { PracticeContext } from './api-common.js';
import { fac, repo } from './api-common.js';
import { practiceUsersList } from './users.js';

export function readRoutes(practice: PracticeContext): void {
  const { app, state, caller, fail } = practice;

  // E1, E2, E3
  app.get(`${repo}/:file`, async (req, reply) => {
    const { file } = req.params as { file: string };
    const m = /^(?:([1-9][0-9]{0,8})\.)?root\.json$/.exec(file);
    if (m === null) return fail(reply, 404, 'Not found');
    const q = req.query as { production?: string };
    const kind = q.production === '1' || q.production === 'true' ? 'prod' : 'ci';
    const text = state.rootText(kind, m[1] === undefined ? undefined : Number(m[1]));
    if (text === undefined) return fail(reply, 404, `Root version ${m[1] ?? ''} not found`);
    return reply.type('application/json; charset=utf-8').send(text);
  });

  // E7
  app.get(`${fac}/ci-targets.pub`, async (_req, reply) => {
    const pub = await state.serverKey('targets-online.pub');
    if (pub === undefined) return fail(reply, 404, 'Not found');
    return reply.type('application/json; charset=utf-8').send(Buffer.from(pub));
  });

  // E8 (fioctl before v0.40 called it without the trailing slash)
  const self = async (req: FastifyRequest): Promise<JsonObject> => ({
    'polis-id': caller(req).polisId,
    name: caller(req).name === 'owner' ? state.config.userName : caller(req).name,
    role: caller(req).role,
    'teams-ext': [],
    'effective-scopes': ['targets:read-update', 'devices:read'],
  });
  app.get(`${fac}/users/self/`, self);
  app.get(`${fac}/users/self`, self);
  app.get(`${fac}/users/`, async () => practiceUsersList(state.config)); // fioctl `users`
}
