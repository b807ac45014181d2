/**
 * The practice factory's users list, `GET /ota/factories/F/users/` as the real API answers it
 * (fioctl `users`, client/foundries_users.go `FactoryUser`): `[{polis-id, name, role}]`, the owner
 * first, then the admins of `practice-factory --users`.
 */
import type { JsonObject } from '../tuf/json.js';
import type { FactoryConfig } from './state.js';

export function practiceUsersList(config: FactoryConfig): JsonObject[] {
  return [
    { 'polis-id': config.polisId, name: config.userName, role: config.role },
    ...config.users.map((u) => ({ 'polis-id': u.polisId, name: u.name, role: u.role })),
  ];
}
