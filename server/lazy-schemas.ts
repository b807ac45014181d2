/**
 * Fastify's schema compilers, compiled on first use instead of at start. Fastify compiles every
 * route's Ajv validator and reply serializer while the server boots; with a few dozen routes that
 * is most of `serve`'s start time, although a session uses only some of the routes. The same
 * compilers (fastify's own, with the `ajv` options the app passes) run; each route's function is
 * built the first time that route validates a body or serializes a reply, then reused.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

// Loaded on the first request that needs them (Ajv alone is a large part of a cold start).
const load = createRequire(import.meta.url);
type Selector = () => unknown;

type Validate = ((data: unknown) => unknown) & { errors?: unknown };
type CompileValidator = (route: unknown) => Validate;
type Serialize = (data: unknown) => string;
type CompileSerializer = (route: unknown) => Serialize;
type BuildValidator = (externalSchemas: unknown, ajvOptions: unknown) => CompileValidator;
type BuildSerializer = (externalSchemas: unknown, serializerOptions: unknown) => CompileSerializer;

function lazyValidators(build: BuildValidator): BuildValidator {
  return (externalSchemas, ajvOptions) => {
    let compiler: CompileValidator | undefined;
    return (route) => {
      let validate: Validate | undefined;
      const lazy: Validate = (data) => {
        compiler ??= build(externalSchemas, ajvOptions);
        validate ??= compiler(route);
        const result = validate(data);
        // Fastify reads the Ajv errors from the function it called.
        lazy.errors = validate.errors;
        return result;
      };
      return lazy;
    };
  };
}

function lazySerializers(build: BuildSerializer): BuildSerializer {
  return (externalSchemas, serializerOptions) => {
    let compiler: CompileSerializer | undefined;
    return (route) => {
      let serialize: Serialize | undefined;
      return (data) => {
        compiler ??= build(externalSchemas, serializerOptions);
        serialize ??= compiler(route);
        return serialize(data);
      };
    };
  };
}

/** Fastify's own builders, each with its pool of compilers (one Ajv per set of options). */
let validators: BuildValidator | undefined;
let serializers: BuildSerializer | undefined;

/** The `schemaController` option for `Fastify({...})`. */
export function lazySchemaController(): NonNullable<FastifyServerOptions['schemaController']> {
  return {
    compilersFactory: {
      buildValidator: lazyValidators((schemas, options) => (validators ??= (load('@fastify/ajv-compiler') as Selector)() as BuildValidator)(schemas, options)),
      buildSerializer: lazySerializers((schemas, options) => (serializers ??= (load('@fastify/fast-json-stringify-compiler') as Selector)() as BuildSerializer)(schemas, options)),
    },
  } as NonNullable<FastifyServerOptions['schemaController']>;
}
