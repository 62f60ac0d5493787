/** The OpenAPI 3.1 document, built from the route table: nothing in it is written by hand. */
import type { JsonSchema, Route } from './route';
import { describeSettings, namedSchema, schemaName } from './route';

export const ProblemSchema = namedSchema('Problem', {
  type: 'object',
  description: 'RFC 9457 problem details. `type` is stable per error; `errors` lists each invalid field.',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
});

export interface DocumentInfo {
  title?: string;
  version?: string;
  description?: string;
}

const DESCRIPTION = `The Kantoor API. Errors are \`application/problem+json\` (RFC 9457).
Every response carries \`X-Request-Id\` (send your own to correlate) and the W3C \`traceparent\` is honoured.
Mutating operations accept an \`Idempotency-Key\` (24 h): a repeat with the same body replays the first
answer with \`Idempotent-Replayed: true\`, a repeat with another body is refused with 422. Where the first
answer held a secret shown once (a new API key, an access token) it is not kept: a repeat gets 409
\`idempotent-answer-not-kept\` saying what was done.
Rate limits per user, per API key and, without credentials, per address; see the \`RateLimit-*\` headers.`;

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});

/** Replaces every named schema with a $ref and collects it (with what it refers to) under components. */
function collectSchemas(document: unknown, components: Record<string, JsonSchema>): unknown {
  const seen = new Map<string, object>();
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value === null || typeof value !== 'object') return value;
    const name = schemaName(value);
    if (name) {
      const known = seen.get(name);
      if (known && known !== value) throw new Error(`two different schemas are named ${name}`);
      if (!known) {
        seen.set(name, value);
        components[name] = walkEntries(value) as JsonSchema;
      }
      return { $ref: `#/components/schemas/${name}` };
    }
    return walkEntries(value);
  };
  const walkEntries = (value: object) =>
    Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item)]));
  return walk(document);
}

function parameters(route: Route): unknown[] {
  const list: unknown[] = [];
  for (const location of ['path', 'query'] as const) {
    const schema = location === 'path' ? route.request?.params : route.request?.query;
    const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema?.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries(properties)) {
      list.push({
        name,
        in: location,
        required: location === 'path' || required.has(name),
        ...(typeof property.description === 'string' && { description: property.description }),
        ...(property.deprecated === true && { deprecated: true }),
        schema: property,
      });
    }
  }
  if (route.acceptsIdempotencyKey) list.push({ $ref: '#/components/parameters/IdempotencyKey' });
  return list;
}

function requestBody(route: Route): unknown {
  if (route.streaming === 'upload') {
    const types = route.request?.contentTypes ?? ['application/octet-stream'];
    return {
      required: true,
      description: route.bodyLimitSetting
        ? `Streamed; at most ${route.bodyLimit ?? route.bodyLimitSetting} bytes (the gateway setting ${route.bodyLimitSetting}).`
        : `Streamed; at most ${route.bodyLimit} bytes.`,
      content: Object.fromEntries(
        types.map((type) => [
          type,
          { schema: route.request?.uploadSchema ?? { type: 'string', contentMediaType: type } },
        ]),
      ),
    };
  }
  if (!route.request?.body) return undefined;
  return { required: true, content: { 'application/json': { schema: route.request.body } } };
}

function responses(route: Route): Record<string, unknown> {
  const declared = Object.fromEntries(
    Object.entries(route.responses).map(([status, response]) => {
      const contentType = response.contentType ?? 'application/json';
      const schema =
        response.schema ??
        (route.streaming === 'download' && Number(status) < 300
          ? { type: 'string', contentMediaType: contentType }
          : undefined);
      return [status, { description: response.description, ...(schema && { content: { [contentType]: { schema } } }) }];
    }),
  );
  const common: Record<string, unknown> = {};
  if (route.request?.params || route.request?.query || route.request?.body || route.mutates)
    common['400'] = problemResponse('The request is not valid; `errors` names each field.');
  if (route.auth === 'authenticated') {
    common['401'] = problemResponse('No valid bearer token or API key.');
    common['403'] = problemResponse(`The caller lacks the permission ${route.permission}.`);
  }
  if (route.acceptsIdempotencyKey) {
    common['409'] = problemResponse(
      route.idempotency
        ? 'A request with the same Idempotency-Key is still in progress, or was carried out and its answer, ' +
            'holding a secret, was not kept.'
        : 'A request with the same Idempotency-Key is still in progress.',
    );
    common['422'] = problemResponse(
      'The Idempotency-Key was used for a different request, or the request cannot be carried out now.',
    );
  }
  if (route.request?.body || route.streaming === 'upload') {
    common['413'] = problemResponse('The body is too large.');
    common['415'] = problemResponse('The body has an unsupported media type.');
  }
  common['429'] = problemResponse('Rate limit reached; see Retry-After.');
  common.default = problemResponse('Unexpected error.');
  return { ...common, ...declared };
}

/** The requests the routes' subscriptions make the platform send, as OpenAPI 3.1 `webhooks` (each a POST). */
function outgoingWebhooks(routes: readonly Route[]): Record<string, unknown> {
  const webhooks: Record<string, unknown> = {};
  for (const route of routes) {
    for (const [name, webhook] of Object.entries(route.outgoingWebhooks ?? {})) {
      if (webhooks[name]) throw new Error(`webhook ${name} is declared by two routes`);
      webhooks[name] = {
        post: {
          operationId: `${name.replace(/[^A-Za-z0-9]+(.)/g, (_match, next: string) => next.toUpperCase())}Webhook`,
          summary: webhook.summary,
          ...(webhook.description && { description: webhook.description }),
          tags: route.tags,
          'x-subscribed-by': route.operationId,
          parameters: Object.entries(webhook.headers).map(([header, { description, schema }]) => ({
            name: header,
            in: 'header',
            required: true,
            description,
            schema,
          })),
          requestBody: { required: true, content: { 'application/json': { schema: webhook.body } } },
          responses: Object.fromEntries(
            Object.entries(webhook.answers).map(([status, description]) => [status, { description }]),
          ),
        },
      };
    }
  }
  return webhooks;
}

export function buildOpenApiDocument(routes: readonly Route[], info: DocumentInfo = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  for (const route of routes) {
    route.tags.forEach((tag) => tags.add(tag));
    (paths[route.path] ??= {})[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description && { description: describeSettings(route.description) }),
      tags: route.tags,
      security: route.auth === 'authenticated' ? [{ bearer: [] }, { apiKey: [] }] : [],
      parameters: parameters(route),
      ...(requestBody(route) ? { requestBody: requestBody(route) } : {}),
      responses: responses(route),
      ...(route.permission && { 'x-permission': route.permission }),
      'x-mutates': route.mutates,
      'x-idempotency-key': route.acceptsIdempotencyKey,
      ...(route.streaming && { 'x-streaming': route.streaming }),
    };
  }
  const components: Record<string, JsonSchema> = {};
  const withRefs = collectSchemas({ paths, webhooks: outgoingWebhooks(routes) }, components) as {
    paths: unknown;
    webhooks: Record<string, unknown>;
  };
  return {
    openapi: '3.1.0',
    info: {
      title: info.title ?? 'Kantoor API',
      version: info.version ?? '1.0.0',
      description: info.description ?? DESCRIPTION,
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [...tags].sort().map((name) => ({ name })),
    paths: withRefs.paths,
    ...(Object.keys(withRefs.webhooks).length > 0 && { webhooks: withRefs.webhooks }),
    components: {
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Makes a retried request safe: the same key with the same body replays the first answer for 24 h.',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
      },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: "Access token of the firm's identity provider, or of POST /v1/auth/login in embedded mode.",
        },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'API key of a partner application.' },
      },
    },
  };
}
