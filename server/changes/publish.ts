/**
 * Several key changes, step 4: publish everything the changes signed, read it back and verify it.
 * A Factory stages the production/wave targets signatures with the roots in its transaction
 * (FoundriesBackend's upload keeps them, §6.3 rule 12) and applies; a standard repository gets the
 * root, then the re-signed targets → snapshot → timestamp, each written atomically.
 */
import type { Backend } from '../backends/backend.js';
import type { FoundriesBackend } from '../backends/foundries.js';
import { LocalRepoBackend } from '../backends/local-repo.js';
import type { Progress } from '../ceremony.js';
import { AppError } from '../errors.js';
import type { Root, RootDocument, VerifyReport } from '../tuf/model.js';
import type { MetadataFile } from '../tuf/repo-metadata.js';
import { verifyRootUpdate } from '../tuf/verify.js';
import type { FactoryTargetsSignatures } from './sign.js';

export interface ChangeDocuments {
  root: RootDocument;
  prod?: RootDocument;
  metadata: MetadataFile[];
  factoryTargets?: FactoryTargetsSignatures;
}

export interface PublishedChanges {
  location: string;
  readBack: Root;
  report: VerifyReport;
  /** Files written (standard repositories' re-signed metadata). */
  metadata: string[];
  /** What was published, by document name ('root.json', 'root.json (production)', 'targets.json', 'targets of tag main', …). */
  published: string[];
}

export async function publishChanges(backend: Backend, trusted: Root, docs: ChangeDocuments, now: Date, progress: Progress = () => {}): Promise<PublishedChanges> {
  const published: string[] = [];
  const ft = docs.factoryTargets;
  const factory = backend.kind === 'factory' || backend.kind === 'practice';
  if (factory && ft !== undefined && (ft.targetsSignatures !== undefined || ft.wavesSignatures !== undefined)) {
    progress('upload', 'Staging the production and wave targets signatures with the roots');
    const fb = backend as FoundriesBackend;
    await fb.client.put({
      txid: fb.txid ?? '',
      ciRoot: docs.root,
      prodRoot: docs.prod ?? docs.root,
      ...(ft.targetsSignatures !== undefined ? { targetsSignatures: ft.targetsSignatures } : {}),
      ...(ft.wavesSignatures !== undefined ? { wavesSignatures: ft.wavesSignatures } : {}),
    });
  }
  progress('publish', `Publishing the new root to ${backend.description}`);
  const result = await backend.publish(docs.root, docs.prod);
  progress('confirm', 'Reading the root back from the target and verifying it again');
  const report = verifyRootUpdate(trusted, result.readBack, { now });
  if (!report.ok) {
    throw new AppError('PUBLISH_FAILED', `${backend.description} now serves root version ${result.readBack.version}, which does not verify against version ${trusted.version}.`, 'Do not discard any key archive; compare the published root with the one tuf-rotate signed.');
  }
  published.push('root.json');
  if (docs.prod !== undefined) published.push('root.json (production)');
  for (const tag of ft?.tags ?? []) published.push(`targets of tag ${tag}`);
  for (const wave of ft?.waves ?? []) published.push(`targets of wave ${wave}`);
  let metadata: string[] = [];
  if (docs.metadata.length > 0 && backend instanceof LocalRepoBackend) {
    progress('metadata', 'Writing the re-signed metadata');
    metadata = await backend.publishMetadata(docs.metadata);
    for (const m of docs.metadata) if (!/^\d+\./.test(m.name)) published.push(m.name);
  }
  return { location: result.location, readBack: result.readBack, report, metadata, published };
}
