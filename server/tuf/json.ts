/** Plain JSON values, as JSON.parse returns them. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy through JSON (our values are plain JSON, so nothing is lost). */
export function cloneJson<T extends Json>(v: T): T {
  return structuredClone(v);
}
