import type { Root, RootDocument } from '../tuf/model.js';

/** Where a root lives, and how a new one is published there. */
export type TargetKind = 'factory' | 'practice' | 'repo' | 'offline';

/** What a backend says the next root must start from (a Factory transaction stages it server side). */
export interface RotationBase {
  /** The root the rotation modifies: the current root, or the root staged by a transaction. */
  base: Root;
  /** Whether the plan bumps the version (false when the target already staged version + 1). */
  bumpVersion: boolean;
  /** Foundries: the caller's user id, recorded as the new key's owner. */
  polisId?: string;
  /** Foundries: the staged production root's targets threshold, kept if higher than 2. */
  prodTargetsThreshold?: number;
  /** Foundries first-time rotation: key files the server handed over, saved verbatim. */
  firstTimeFiles?: { name: string; data: Uint8Array }[];
}

export interface PublishResult {
  /** Where the new root now is (a file path or a URL). */
  location: string;
  /** The root read back from the target after publishing. */
  readBack: Root;
}

export interface Backend {
  readonly kind: TargetKind;
  /** A short human description: "local repository /path", "FoundriesFactory acme". */
  readonly description: string;
  /** Foundries first-time rotation: the owner holds no key yet; begin() hands over the first root key. */
  readonly firstTime?: boolean;
  /** The newest trusted root. */
  currentRoot(): Promise<Root>;
  /** Every root version the target has, oldest first (may be just the current one). */
  history(): Promise<Root[]>;
  /** Starts a rotation: returns the root to modify (a Factory opens a transaction here). */
  begin(changelog: string): Promise<RotationBase>;
  /** Sends the signed new root (and production root) to the target and reads it back. */
  publish(root: RootDocument, prod?: RootDocument): Promise<PublishResult>;
  /** Abandons a begun rotation (a Factory cancels its transaction); never throws. */
  abort(): Promise<void>;
}
