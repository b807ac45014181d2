/**
 * The build fingerprint for the ES module scripts (build.mjs, build-if-changed.mjs); the code is in
 * fingerprint.cjs, which `npm start` loads without the ES module loader.
 */
import cjs from './fingerprint.cjs';

export const { ROOT, STAMP, OUTPUTS, fingerprintSync, upToDateSync } = cjs;

/** A hash of the path, size and modification time of every source file. */
export async function fingerprint() {
  return fingerprintSync();
}
