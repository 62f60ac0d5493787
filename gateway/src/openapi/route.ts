/**
 * The route table: every public operation is declared once, here, and the router, the OpenAPI document,
 * request and response validation, authentication, authorisation, idempotency and rate limiting are all
 * derived from that declaration. A route that is not in the table is not served.
 */
import type { Readable } from 'node:stream';
import type { Request } from 'express';
import type { Logger } from '@kantoor/logging';
import type { Caller } from '../auth/caller';
import type { GatewayDeps, ServiceClients } from '../app';
import { DESCRIBED_SETTINGS, type BodyLimitSetting, type DescribedSetting, type GatewayConfig } from '../config';

/** A JSON Schema (2020-12 dialect, as OpenAPI 3.1 uses it). */
export type JsonSchema = { [keyword: string]: unknown };

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** `resource:action`, e.g. `firm:read`, `dossier:write`; the directory's access policy decides on it. */
export type Permission = `${string}:${string}`;

export interface ResponseSpec {
  description: string;
  /** absent for responses without a body (204) or for streamed downloads */
  schema?: JsonSchema;
  /** default `application/json` */
  contentType?: string;
}

/** What a handler's context is typed with; validation guarantees the values match the schemas. */
export interface RouteTypes {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
}

type Field<T extends RouteTypes, K extends keyof RouteTypes, D> = T[K] extends undefined ? D : NonNullable<T[K]>;

export interface RouteContext<T extends RouteTypes = RouteTypes, C extends Caller | null = Caller | null> {
  params: Field<T, 'params', Record<string, string>>;
  query: Field<T, 'query', Record<string, unknown>>;
  body: Field<T, 'body', undefined>;
  /** the authenticated caller; never null on `authenticated` routes */
  caller: C;
  requestId: string;
  /** the client's Idempotency-Key, to pass on to a service that deduplicates too */
  idempotencyKey?: string;
  /** aborted when the client goes away before the response is complete: cancel downstream calls with it */
  signal: AbortSignal;
  logger: Logger;
  /** the services' gRPC clients */
  services: ServiceClients;
  deps: GatewayDeps;
  /** upload routes only: the request body as it arrives, size-limited, never buffered */
  upload: Readable;
  /** escape hatch for headers the declaration does not cover */
  request: Request;
}

interface RouteSpecBase {
  method: HttpMethod;
  /** OpenAPI template, e.g. `/v1/dossiers/{dossierId}` */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  request?: {
    params?: JsonSchema;
    query?: JsonSchema;
    /** JSON body; for upload routes use `contentTypes` instead */
    body?: JsonSchema;
    /** upload routes: accepted media types of the streamed body; default application/octet-stream */
    contentTypes?: readonly string[];
    /** upload routes: the streamed body as the document describes it (e.g. a multipart body's parts); default raw bytes */
    uploadSchema?: JsonSchema;
  };
  /** by status code; the common error responses (problem+json) are added to the document automatically */
  responses: Record<number, ResponseSpec>;
  /** default: every method but GET. Mutating routes accept an Idempotency-Key. */
  mutates?: boolean;
  /**
   * How a repeat under the same Idempotency-Key is answered; by default with the first answer, stored.
   * - `{ answerNotKept }`: the answer holds a secret shown once (a new API key, an access token), so it is never
   *   stored: a repeat with the same body gets 409 idempotent-answer-not-kept, whose detail `answerNotKept` writes
   *   from the first answer (say, which key was made). Refusals are stored and replayed as usual.
   * - false: an Idempotency-Key is refused rather than silently ignored (the body itself is a credential, and even
   *   a hash of it must not be kept).
   */
  idempotency?: false | { answerNotKept: (answer: never) => string };
  /** `upload`: the body is streamed to the handler; `download`: the handler answers with a `streamReply` */
  streaming?: 'upload' | 'download';
  /**
   * largest accepted body in bytes, or the gateway setting that holds it; default JSON_BODY_LIMIT_BYTES for JSON,
   * required for uploads
   */
  bodyLimit?: number | BodyLimitSetting;
  /** an extra, stricter per-address limit on top of the usual one (login attempts) */
  throttle?: 'login';
  /**
   * Requests the platform sends to partners once this operation subscribed them, by name (an event type): listed
   * under the document's top-level `webhooks` (OpenAPI 3.1), each a POST of a JSON body.
   */
  outgoingWebhooks?: Readonly<Record<string, OutgoingWebhook>>;
}

/** One kind of request the platform sends to a subscriber. */
export interface OutgoingWebhook {
  summary: string;
  description?: string;
  /** the JSON body */
  body: JsonSchema;
  /** request headers, by name */
  headers: Readonly<Record<string, { description: string; schema: JsonSchema }>>;
  /** how the platform reads the subscriber's answer, by status (e.g. `2XX`, `410`, `default`) */
  answers: Readonly<Record<string, string>>;
}

export type PublicRouteSpec<T extends RouteTypes> = RouteSpecBase & {
  auth: 'public';
  permission?: undefined;
  handler: (context: RouteContext<T, Caller | null>) => unknown;
};

export type AuthenticatedRouteSpec<T extends RouteTypes> = RouteSpecBase & {
  auth: 'authenticated';
  permission: Permission;
  handler: (context: RouteContext<T, Caller>) => unknown;
};

export type RouteSpec<T extends RouteTypes = RouteTypes> = PublicRouteSpec<T> | AuthenticatedRouteSpec<T>;

/** A declared route with its defaults resolved; what the table, the router and the document read. */
export type Route = (
  Omit<PublicRouteSpec<RouteTypes>, 'handler'> | Omit<AuthenticatedRouteSpec<RouteTypes>, 'handler'>
) & {
  mutates: boolean;
  acceptsIdempotencyKey: boolean;
  /** null for routes without a body, and until `withConfiguredLimits` for a limit from a setting */
  bodyLimit: number | null;
  /** the setting the limit comes from, when it is one */
  bodyLimitSetting?: BodyLimitSetting;
  handler: (context: RouteContext) => unknown;
};

const PERMISSION = /^[a-z][a-z_]*:[a-z][a-z_]*$/;
/** `{UPLOAD_MAX_FILES_PER_REQUEST}` in a route's description: a setting's value, filled in at start */
const SETTING_IN_TEXT = /\{([A-Z][A-Z0-9_]*)\}/g;
const OPERATION_ID = /^[a-z][A-Za-z0-9]*$/;

/**
 * Declares one route. Checked when the module loads, so a malformed declaration fails every test at once.
 * JSON bodies default to the gateway's JSON_BODY_LIMIT_BYTES, which the router fills in (`bodyLimit: null`
 * here means "the default" for JSON routes).
 */
export function defineRoute<T extends RouteTypes = RouteTypes>(spec: RouteSpec<T>): Route {
  const where = `route ${spec.operationId} (${spec.method.toUpperCase()} ${spec.path})`;
  if (!OPERATION_ID.test(spec.operationId)) throw new Error(`${where}: operationId must be lowerCamelCase`);
  if (!spec.path.startsWith('/') || /[:*]/.test(spec.path))
    throw new Error(`${where}: path must be an OpenAPI template like /v1/things/{thingId}`);
  if (spec.auth === 'authenticated' && !PERMISSION.test(spec.permission ?? '')) {
    throw new Error(`${where}: an authenticated route needs a permission like "dossier:read"`);
  }
  if (spec.auth === 'public' && spec.permission) throw new Error(`${where}: a public route has no permission`);
  const templateParams = [...spec.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]).sort();
  const declaredParams = Object.keys((spec.request?.params?.properties as object | undefined) ?? {}).sort();
  if (templateParams.join() !== declaredParams.join()) {
    throw new Error(
      `${where}: request.params must declare exactly the path parameters ${templateParams.join(', ') || '(none)'}`,
    );
  }
  if (spec.streaming === 'upload' && (!spec.bodyLimit || spec.request?.body)) {
    throw new Error(`${where}: an upload route needs a bodyLimit and takes no JSON body schema`);
  }
  if (Object.keys(spec.responses).length === 0) throw new Error(`${where}: declare at least one response`);
  for (const [, name] of (spec.description ?? '').matchAll(SETTING_IN_TEXT))
    if (!(DESCRIBED_SETTINGS as readonly string[]).includes(name))
      throw new Error(`${where}: its description names {${name}}, which is not a setting a description may show`);
  const mutates = spec.mutates ?? spec.method !== 'get';
  const acceptsIdempotencyKey = mutates && spec.idempotency !== false;
  const fromSetting = typeof spec.bodyLimit === 'string' ? spec.bodyLimit : undefined;
  const bodyLimit = typeof spec.bodyLimit === 'number' ? spec.bodyLimit : null;
  return {
    ...spec,
    mutates,
    acceptsIdempotencyKey,
    bodyLimit,
    ...(fromSetting && { bodyLimitSetting: fromSetting }),
    handler: spec.handler as Route['handler'],
  } as Route;
}

/**
 * A route description with each `{SETTING}` it names as the value in force, "100 (the gateway setting X)", or,
 * before the config is read, as the setting's name.
 */
export function describeSettings(text: string, config?: GatewayConfig): string {
  return text.replace(SETTING_IN_TEXT, (_match, name: DescribedSetting) =>
    config ? `${config[name]} (the gateway setting ${name})` : name,
  );
}

/**
 * The table with every limit that comes from a setting read from `config`, and the descriptions saying the limits
 * in force (the app does this once, at start).
 */
export function withConfiguredLimits(routes: readonly Route[], config: GatewayConfig): Route[] {
  return routes.map((route) =>
    route.bodyLimitSetting || route.description?.match(SETTING_IN_TEXT)
      ? {
          ...route,
          ...(route.bodyLimitSetting && { bodyLimit: config[route.bodyLimitSetting] }),
          ...(route.description && { description: describeSettings(route.description, config) }),
        }
      : route,
  );
}

/** An answer with a status or headers of the handler's choosing; a plain return value is the success body. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export const reply = (status: number, body?: unknown, headers?: Record<string, string>) =>
  new Reply(status, body, headers);

export interface StreamReplyOptions {
  body: Readable;
  contentType: string;
  status?: number;
  contentLength?: number;
  /** sets Content-Disposition with this name: `attachment` (default, a download) or `inline` (shown in the browser) */
  filename?: string;
  disposition?: 'attachment' | 'inline';
  headers?: Record<string, string>;
}

/** A streamed answer (downloads): piped to the client with backpressure, stopped when the client leaves. */
export class StreamReply {
  constructor(readonly options: StreamReplyOptions) {}
}

export const streamReply = (options: StreamReplyOptions) => new StreamReply(options);

const schemaNames = new WeakMap<object, string>();

/**
 * Gives a schema a name: the OpenAPI document lists it once under components.schemas and refers to it
 * wherever a route uses the same object, while validation uses the object itself.
 */
export function namedSchema<S extends JsonSchema>(name: string, schema: S): S {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) throw new Error(`schema name ${name} must be UpperCamelCase`);
  schemaNames.set(schema, name);
  return schema;
}

export const schemaName = (schema: object): string | undefined => schemaNames.get(schema);

/** Matches a concrete request path against an OpenAPI template. */
export function pathPattern(path: string): RegExp {
  const source = path
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`);
}
