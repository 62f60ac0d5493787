/**
 * Request and response validation with the schemas of the route table, compiled once when the app is built.
 * Path and query values arrive as strings and are coerced to the declared types; bodies are not coerced.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { DomainError, invalidArgument, type FieldViolation } from '@kantoor/errors';
import type { JsonSchema, Route } from './route';

export interface RouteValidators {
  params?: ValidateFunction;
  query?: ValidateFunction;
  /** stops at the first error: what every request pays */
  body?: ValidateFunction;
  /** every error, for the answer to a refused body of at most MAX_NODES_FOR_EVERY_ERROR values (compiled once asked) */
  bodyEveryError?: () => ValidateFunction;
  responses: Map<number, ValidateFunction>;
}

/**
 * A refused body lists every mistake (a form shows them all at once) when it is this small; a larger one gets
 * its first. Listing every error of a 1 MB body of 340,000 bad items took ajv 1.2 s and overflowed the stack.
 */
const MAX_NODES_FOR_EVERY_ERROR = 10_000;
/** the most violations one answer lists */
const MAX_VIOLATIONS = 100;

function newAjv(options: ConstructorParameters<typeof Ajv2020>[0]): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, ...options });
  addFormats(ajv);
  ajv.addKeyword('example'); // OpenAPI's own annotation, kept for documentation
  return ajv;
}

/**
 * One instance per kind of check for the whole process: ajv caches what it compiled by schema, so apps built
 * from the same table (tests build many) compile each schema once.
 */
let instances: { inputs: Ajv2020; bodies: Ajv2020; bodyErrors: Ajv2020; outputs: Ajv2020 } | undefined;
const ajvInstances = () =>
  (instances ??= {
    inputs: newAjv({ coerceTypes: 'array', useDefaults: true }),
    bodies: newAjv({ useDefaults: true, allErrors: false }),
    bodyErrors: newAjv({ useDefaults: true }),
    outputs: newAjv({}),
  });

const NO_QUERY: JsonSchema = { type: 'object', additionalProperties: false };

/** Compiles every route's request schemas, and its response schemas when responses are to be checked. */
export function compileValidators(
  routes: readonly Route[],
  options: { responses: boolean },
): Map<Route, RouteValidators> {
  const { inputs, bodies, bodyErrors, outputs } = ajvInstances();
  const compile = (ajv: Ajv2020, schema: JsonSchema | undefined, where: string) => {
    if (!schema) return undefined;
    try {
      return ajv.compile(schema);
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`);
    }
  };
  return new Map(
    routes.map((route) => {
      const where = `route ${route.operationId}`;
      const responses = new Map<number, ValidateFunction>();
      for (const [status, response] of options.responses ? Object.entries(route.responses) : []) {
        const validate = compile(outputs, response.schema, `${where} response ${status}`);
        if (validate) responses.set(Number(status), validate);
      }
      return [
        route,
        {
          params: compile(inputs, route.request?.params, `${where} params`),
          query: compile(inputs, route.request?.query ?? NO_QUERY, `${where} query`),
          body: compile(bodies, route.request?.body, `${where} body`),
          bodyEveryError: route.request?.body
            ? () => compile(bodyErrors, route.request!.body, `${where} body`)!
            : undefined,
          responses,
        },
      ];
    }),
  );
}

/** `/lines/0/amount` in `body` → `body.lines[0].amount` */
function fieldName(location: string, instancePath: string, property?: string): string {
  const segments = instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (property !== undefined) segments.push(property);
  return segments.reduce(
    (name, segment) => (/^\d+$/.test(segment) ? `${name}[${segment}]` : `${name}.${segment}`),
    location,
  );
}

export function violationsOf(errors: ErrorObject[], location: string): FieldViolation[] {
  return errors.map((error) => {
    if (error.keyword === 'required') {
      return {
        field: fieldName(location, error.instancePath, String(error.params.missingProperty)),
        message: 'is required',
      };
    }
    if (error.keyword === 'additionalProperties') {
      return {
        field: fieldName(location, error.instancePath, String(error.params.additionalProperty)),
        message: 'is not allowed',
      };
    }
    return { field: fieldName(location, error.instancePath), message: error.message ?? 'is not valid' };
  });
}

/** Validates (and coerces, for path and query) the parts of a request; one error lists every bad field. */
export function checkRequest(
  validators: RouteValidators,
  parts: { params: unknown; query: unknown; body?: unknown; hasBody: boolean },
): void {
  const violations: FieldViolation[] = [];
  let total = 0;
  const add = (errors: ErrorObject[], location: string) => {
    total += errors.length;
    for (const violation of violationsOf(errors.slice(0, MAX_VIOLATIONS - violations.length), location))
      violations.push(violation);
  };
  const check = (validate: ValidateFunction | undefined, data: unknown, location: string) => {
    if (validate && !validate(data)) add(validate.errors ?? [], location);
  };
  check(validators.params, parts.params, 'params');
  check(validators.query, parts.query, 'query');
  if (validators.body) {
    if (!parts.hasBody) {
      total++;
      violations.push({ field: 'body', message: 'is required (application/json)' });
    } else if (!validators.body(parts.body)) {
      const every =
        validators.bodyEveryError && hasAtMost(parts.body, MAX_NODES_FOR_EVERY_ERROR)
          ? validators.bodyEveryError()
          : undefined;
      if (every && !every(parts.body)) add(every.errors ?? [], 'body');
      else add(validators.body.errors ?? [], 'body');
    }
  }
  if (violations.length > 0) {
    throw invalidArgument(
      total === 1
        ? `${violations[0].field} ${violations[0].message}.`
        : `${total} fields are not valid${total > violations.length ? ` (the first ${violations.length} are listed)` : ''}.`,
      { reason: 'validation_failed', violations },
    );
  }
}

/** Whether `value` holds at most `max` values (itself, and everything in its arrays and objects). */
function hasAtMost(value: unknown, max: number): boolean {
  let left = max;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    if (--left < 0) return false;
    const next = stack.pop();
    if (next !== null && typeof next === 'object') {
      const items = Array.isArray(next) ? next : Object.values(next);
      if (stack.length + items.length > left) return false;
      for (const item of items) stack.push(item);
    }
  }
  return true;
}

/** Response validation (VALIDATE_RESPONSES): a response that breaks its own contract is a bug of ours. */
export function checkResponse(route: Route, validators: RouteValidators, status: number, body: unknown): void {
  const declared = route.responses[status];
  if (!declared)
    throw new DomainError('internal', `${route.operationId} answered ${status}, which it does not declare`);
  const validate = validators.responses.get(status);
  if (validate && !validate(body)) {
    const problems = violationsOf(validate.errors ?? [], 'response').map(
      (violation) => `${violation.field} ${violation.message}`,
    );
    throw new DomainError(
      'internal',
      `${route.operationId} answered ${status} against its schema: ${problems.join('; ')}`,
    );
  }
}
