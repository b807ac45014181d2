/** The session's targets: the backend a page's target choice names (a FoundriesFactory from its fields), and the new-key-in-a-token option. */
import path from 'node:path';
import type { TargetBody } from '../../shared/api.js';
import type { Backend } from '../backends/backend.js';
import { FoundriesBackend } from '../backends/foundries.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import { OfflineBackend } from '../backends/offline.js';
import { DEFAULT_API_URL, FoundriesClient } from '../backends/foundries-client.js';
import { loadToken } from '../backends/foundries-token.js';
import type { RotateOptions } from '../ceremony.js';
import { pinFromValue } from '../signers/pin.js';
import { formatPkcs11Uri } from '../signers/pkcs11-uri.js';
import { AppError } from '../errors.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';

/** The page's "new key in a hardware token" fields as the ceremony's option (the PIN goes to C_Login only). */
export function newTokenKeyOption(
  t: { module?: string; token: string; key: string; pin: string; existing?: boolean; ackNoBackup?: string },
  env: Record<string, string | undefined>,
): NonNullable<RotateOptions['newTokenKey']> {
  return {
    uri: formatPkcs11Uri({ token: t.token, object: t.key }),
    pkcs11: { modulePath: t.module, env, pin: pinFromValue(t.pin) },
    noBackupAck: t.ackNoBackup?.trim(),
    existing: t.existing === true,
  };
}

/** A FoundriesFactory target; the token (from the body, a file, FIOCTL_TOKEN or fioctl's config) stays in the client only. */
export function factoryBackend(body: Extract<TargetBody, { kind: 'factory' }>, workDir: string, env: NodeJS.ProcessEnv): Backend {
  const token =
    body.token ??
    loadToken({
      ...(body.tokenFile !== undefined ? { tokenFile: path.resolve(workDir, body.tokenFile) } : {}),
      env,
      ...(env['HOME'] !== undefined ? { home: env['HOME'] } : {}),
    });
  const apiUrl = body.apiUrl ?? DEFAULT_API_URL;
  const client = new FoundriesClient({ apiUrl, factory: body.factory, token });
  const loopback = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(apiUrl);
  return new FoundriesBackend(client, { practice: loopback, firstTime: body.firstTime === true });
}

/** The backend of a target the page chose (POST /api/target); a practice target only when the server has one. */
export async function targetBackend(
  body: TargetBody,
  o: { workDir: string; practiceTarget?: () => Promise<Backend>; practiceFactoryTarget?: () => Promise<Backend>; env?: NodeJS.ProcessEnv },
): Promise<Backend> {
  let backend: Backend;
  switch (body.kind) {
    case 'repo':
      backend = new LocalRepoBackend(path.resolve(o.workDir, body.dir));
      break;
    case 'offline': {
      const root = parseRoot(body.root as JsonObject, 'the uploaded root.json');
      backend = new OfflineBackend({ root }, path.join(o.workDir, `${root.version + 1}.root.json`));
      break;
    }
    case 'practice':
      if (!o.practiceTarget) {
        throw new AppError('TARGET_NOT_CONFIGURED', 'This server has no practice target.', 'Choose a local repository or upload a root.json.');
      }
      backend = await o.practiceTarget();
      break;
    case 'practice-factory':
      if (!o.practiceFactoryTarget) {
        throw new AppError('TARGET_NOT_CONFIGURED', 'This server has no practice factory.', 'Choose a FoundriesFactory, a local repository or upload a root.json.');
      }
      backend = await o.practiceFactoryTarget();
      break;
    case 'factory':
      backend = factoryBackend(body, o.workDir, o.env ?? {});
      break;
  }
  return backend;
}
