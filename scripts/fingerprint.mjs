/**
 * The build stamp for the ES module scripts (build.mjs, build-if-changed.mjs); the code is in
 * fingerprint.cjs, which `npm start` loads without the ES module loader.
 */
import cjs from './fingerprint.cjs';

export const { ROOT, STAMP, OUTPUTS, snapshotSync, writeStampSync, upToDateSync } = cjs;
