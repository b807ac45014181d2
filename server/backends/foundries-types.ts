/**
 * The shapes the Foundries TUF API client returns (foundries-api.md §2). Types only.
 */
import type { JsonObject } from '../tuf/json.js';
import type { Root } from '../tuf/model.js';

export interface FoundriesClientOptions {
  /** API base URL, e.g. `https://api.foundries.io` (trailing `/` ignored). */
  apiUrl: string;
  factory: string;
  token: string;
  /** Header that carries the token (fioctl's `TOKEN_HEADER`; default `OSF-TOKEN`). */
  tokenHeader?: string;
  timeoutMs?: number;
  userAgent?: string;
}

export type UpdatesStatus = 'NONE' | 'STARTED' | 'APPLYING';

export interface OnlineKeyIds {
  targets?: string;
  snapshot?: string;
  timestamp?: string;
}

export interface UpdatesIssue {
  kind: string;
  message: string;
  args: Record<string, string>;
}

export interface UpdatesRoots {
  ciRoot: Root;
  /** Absent when the server sent an empty string (fioctl then derives it from the CI root). */
  prodRoot: Root | undefined;
  onlineKeys: OnlineKeyIds;
  /** SHA-256 of each root's JSON text exactly as E9 sent it. */
  ciSha256: string;
  prodSha256: string | undefined;
}

/** E9 `GET …/root/updates`, with `ci-root` / `prod-root` parsed from the JSON strings they arrive as. */
export interface TufRootUpdates {
  status: UpdatesStatus;
  firstTime: boolean;
  current: UpdatesRoots;
  /** Present whenever status is not NONE. */
  updated: UpdatesRoots | undefined;
  changeMeta: { createdBy?: string; createdAt?: string; updatedBy?: string; updatedAt?: string } | undefined;
  amendments: UpdatesIssue[];
  issues: { errors: UpdatesIssue[]; warnings: UpdatesIssue[] };
}

export interface InitResult {
  txid: string;
  /** First-time only: `first_root.sec` exactly as the server sent it (save verbatim). */
  firstRootSec?: Uint8Array;
  firstRootPub?: Uint8Array;
}

export interface ApplyOutcome {
  applied: true;
  /** HTTP status of the successful answer. */
  status: number;
}

/** One root a Factory serves (or stages). */
export interface ServedRoot {
  version: number;
  /** SHA-256 of the bytes as the API sent them. */
  sha256: string;
  /**
   * SHA-256 of the canonical (device form) bytes of `signed`: the same for every serialisation of
   * one root, so a caller can tell whether the Factory serves (or stages) the root it signed.
   */
  signedSha256: string;
  rootKeyIds: string[];
  /** Signatures the root carries (staged roots: 0 until someone signed). */
  signatures: number;
}

/** The Factory's TUF state, read fresh from the API (E1, E2, E9); `factoryState` in foundries.ts. */
export interface FactoryState {
  factory: string;
  status: UpdatesStatus;
  /** The txid the caller keeps (E9 never reveals it). */
  txid?: string;
  ci: ServedRoot;
  prod: ServedRoot;
  /** CI published past production, or status APPLYING: apply must be re-run until both match. */
  partial: boolean;
  staged?: {
    ci: ServedRoot;
    prod: ServedRoot | undefined;
    createdBy?: string;
    createdAt?: string;
    /** What blocks apply (E9 issues.errors). */
    errors: string[];
    warnings: string[];
  };
}

/** E15/E16 entry: a production tag's or active wave's targets metadata. */
export interface TargetsEntry {
  signatures: JsonObject[];
  signed: JsonObject;
  /**
   * `signed` exactly as the server sent it (JSON text), so a signer can check that the §3.2.4 bytes
   * it builds equal the compacted raw bytes before signing (foundries-operations.md §3.2.4).
   */
  signedText: string;
}

/** Details of a refused request; kept as the `cause` of the AppError (for logs), never the token. */
export interface FoundriesHttpFailure {
  method: string;
  path: string;
  status: number;
  message: string | undefined;
  errors: string[];
}
