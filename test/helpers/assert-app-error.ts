import assert from 'node:assert/strict';
import { AppError } from '../../server/errors.js';
import type { ErrorCode } from '../../shared/errors.js';

/** Asserts that fn throws (or rejects with) an AppError with this code; returns it for more checks. */
export async function assertAppError(fn: () => unknown, code: ErrorCode): Promise<AppError> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof AppError, `expected AppError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  assert.ok(caught.hint.length > 0, 'every AppError carries a hint');
  return caught;
}

/**
 * The test fixtures in the repository (test/fixtures/, copied from the handbook's shared/fixtures with
 * their provenance in test/fixtures/README.md). Never `../shared`: a fresh clone has nothing beside it.
 */
export const FIXTURES = new URL('../fixtures/', import.meta.url);
/** The same folder under its earlier name (it used to point at ../shared/fixtures). */
export const SHARED_FIXTURES = FIXTURES;
