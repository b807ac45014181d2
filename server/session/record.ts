/** The ceremony record the page downloads (GET /api/record): facts and verification results, no secrets. */
import type { CeremonyRecord, TargetInfo } from '../../shared/api.js';
import type { Root, VerifyReport } from '../tuf/model.js';
import { signedSha256 } from '../views.js';

export interface RecordInput {
  target: TargetInfo;
  current: Root;
  signed: Root;
  report: VerifyReport;
  /** The new root key (rotation), or the first new key of the changes ('' when none was generated). */
  newKeyId: string;
  inputArchiveSha256: string;
  times: CeremonyRecord['times'];
  now: Date;
  saved?: { path: string; sha256: string; bytes: number } | undefined;
  published?: { location: string; report: VerifyReport } | undefined;
  allowExpired?: { reason: string; expired: string } | undefined;
}

export function buildRecord(i: RecordInput): CeremonyRecord {
  const view = (r: Root): CeremonyRecord['old'] => ({
    version: r.version,
    expires: r.expires,
    sha256: signedSha256(r),
    rootKeyIds: r.roles['root']?.keyids ?? [],
    rootThreshold: r.roles['root']?.threshold ?? 0,
  });
  const oldIds = Object.keys(i.current.keys);
  const newIds = Object.keys(i.signed.keys);
  const out: CeremonyRecord = {
    tool: 'tuf-rotate',
    // When the ceremony's last step happened: the same on every fetch of the record.
    createdAt: i.times.published ?? i.times.saved ?? i.times.signed ?? i.times.planned ?? i.now.toISOString(),
    target: i.target,
    dialect: i.signed.dialect,
    old: view(i.current),
    new: view(i.signed),
    newKeyId: i.newKeyId,
    keyIdsAdded: newIds.filter((id) => !oldIds.includes(id)),
    keyIdsRemoved: oldIds.filter((id) => !newIds.includes(id)),
    inputArchiveSha256: i.inputArchiveSha256,
    verification: { signed: i.report, ...(i.published ? { published: i.published.report } : {}) },
    times: i.times,
  };
  if (i.saved) out.archive = { path: i.saved.path, sha256: i.saved.sha256, bytes: i.saved.bytes };
  if (i.published) out.published = { location: i.published.location };
  if (i.allowExpired) out.allowExpired = i.allowExpired; // #13 expired-root override
  return out;
}
