/**
 * The session's recovery actions on the work folder's ceremony: finishing a change run's re-signed
 * metadata, re-running apply after a partial apply, and cancelling the ceremony's Factory
 * transaction. The Session class checks the ceremony's state, runs these as jobs, and keeps what
 * they published.
 */
import path from 'node:path';
import type { Backend } from '../backends/backend.js';
import type { Progress } from '../ceremony.js';
import type { Ceremony } from '../ceremony/ceremony.js';
import { AppError } from '../errors.js';
import type { JsonObject } from '../tuf/json.js';
import { parseRoot } from '../tuf/metadata.js';
import type { VerifyReport } from '../tuf/model.js';
import { verifyRootUpdate } from '../tuf/verify.js';
import { backendOfCeremony } from './recovery.js';

/** What a recovery action needs of the session. */
export interface RecoveryDeps {
  /** The session's chosen target (reused when it is the ceremony's). */
  target: Backend | undefined;
  env: NodeJS.ProcessEnv | undefined;
  now: () => Date;
  progress: Progress;
  /** Reads the work folder's ceremony again (Session.open). */
  reopen: () => Promise<unknown>;
}

function state(message: string, hint: string): AppError {
  return new AppError('SESSION_STATE', message, hint);
}

/** A change run interrupted between its published root and the re-signed metadata: writes the metadata the ceremony kept. */
export async function finishMetadata(
  c: Ceremony,
  d: RecoveryDeps,
): Promise<{ publish: { location: string; version: number; verify: VerifyReport; published: string[] } }> {
  const progress = d.progress;
  const backend = await backendOfCeremony(d.target, c, d.env);
  progress('publish', `Writing the re-signed metadata to ${backend.description}`);
  const { finishChangeMetadata } = await import('../ceremony/change-steps.js');
  const written = await finishChangeMetadata(c, backend);
  if (written.length === 0) throw state('There is no re-signed metadata left to write.', 'Reload the page to see the ceremony\'s state.');
  // The served root checked again against the ceremony's trusted root, as after any publish.
  const root = await backend.currentRoot();
  const trusted = c.data.trusted?.ci;
  if (!trusted) throw state('The ceremony recorded no trusted root.', 'Start a new ceremony.');
  const report = verifyRootUpdate(parseRoot(trusted.document as unknown as JsonObject, 'the ceremony\'s trusted root'), root, { now: d.now() });
  await d.reopen();
  return { publish: { location: backend.description, version: root.version, verify: report, published: written.map((w) => path.basename(w)) } };
}

/** Re-runs apply after a partial apply, until both chains are published; what was published. */
export async function reapply(c: Ceremony, d: RecoveryDeps): Promise<{ location: string; version: number; verify: VerifyReport }> {
  const progress = d.progress;
  const backend = await backendOfCeremony(d.target, c, d.env);
  const { FoundriesBackend, applyFactory } = await import('../backends/foundries.js');
  if (!(backend instanceof FoundriesBackend)) throw state('The ceremony\'s target is not a Factory.', 'See the ceremony in GET /api/session.');
  progress('publish', `Re-running apply on ${backend.description}`);
  const r = await applyFactory(backend.client, { now: d.now(), ...(c.data.txid !== undefined ? { txid: c.data.txid } : {}), onStep: (s) => progress(s) });
  if (r.outcome !== 'published') throw new AppError('TARGET_CONFLICT', `Nothing was applied on ${backend.description}.`, 'Read the state again: GET /api/session.');
  await d.reopen();
  return { location: backend.description, version: r.version, verify: r.verify.ci };
}

/** Cancels the ceremony's open Factory transaction (nothing applied); the Factory's message. */
export async function cancelFactoryTransaction(target: Backend | undefined, c: Ceremony, env: NodeJS.ProcessEnv | undefined): Promise<string> {
  const backend = await backendOfCeremony(target, c, env);
  const { FoundriesBackend, cancelFactory } = await import('../backends/foundries.js');
  if (!(backend instanceof FoundriesBackend)) throw state('The ceremony\'s target is not a Factory.', 'See the ceremony in GET /api/session.');
  return (await cancelFactory(backend.client)).message;
}
