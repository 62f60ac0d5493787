/** API keys of partner applications: firm admins create, list and revoke them. */
import { decodeCursor, isPostgresTime } from '@kantoor/database';
import { isDomainError, notFound, permissionDenied, unavailable } from '@kantoor/errors';
import { managesApiKeys, type ApiKey, type ApiKeyManagement } from '../auth/api-keys';
import type { Caller } from '../auth/caller';
import type { GatewayDeps } from '../app';
import { defineRoute, namedSchema } from '../openapi/route';
import { nextCursor, pageOf, pageQuery, type PageQuery } from './list-pages';
import { callFor } from './notification';

export const ApiKeySchema = namedSchema('ApiKey', {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'prefix', 'scopes', 'createdAt', 'createdBy', 'revokedAt', 'revokedBy'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    prefix: { type: 'string', description: 'the start of the key, to tell keys apart; not secret' },
    scopes: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: {
      type: ['string', 'null'],
      description: 'the id of the staff member who created the key; null for keys from before this was recorded',
    },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    revokedBy: { type: ['string', 'null'], description: 'the id of the staff member who revoked the key' },
  },
});

const CreateApiKeySchema = namedSchema('CreateApiKey', {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'scopes'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    scopes: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[a-z][a-z_]*:([a-z][a-z_]*|\\*)$' },
    },
  },
});

const CreatedApiKeySchema = namedSchema('CreatedApiKey', {
  type: 'object',
  additionalProperties: false,
  required: ['apiKey', 'key'],
  properties: {
    apiKey: ApiKeySchema,
    key: { type: 'string', description: 'the whole key, shown only in this answer; send it as `X-Api-Key`' },
  },
});

/** Managing keys is a firm setting: admins only, and never with an API key itself. */
function keysOfAdmin(caller: Caller, deps: GatewayDeps): ApiKeyManagement {
  if (caller.kind !== 'staff' || caller.role !== 'admin')
    throw permissionDenied('Only admins manage API keys.', { reason: 'admin_only' });
  if (!managesApiKeys(deps.apiKeys))
    throw notFound('API keys are managed elsewhere in this installation.', {
      reason: 'api_key_management_not_available',
    });
  return deps.apiKeys;
}

const view = (key: ApiKey) => ({
  id: key.id,
  name: key.name,
  prefix: key.prefix,
  scopes: key.scopes,
  createdAt: key.createdAt.toISOString(),
  createdBy: key.createdBy,
  revokedAt: key.revokedAt?.toISOString() ?? null,
  revokedBy: key.revokedBy,
});

export const createApiKey = defineRoute<{ body: { name: string; scopes: string[] } }>({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  summary: 'Create an API key for a partner application',
  tags: ['api keys'],
  auth: 'authenticated',
  permission: 'api_key:write',
  idempotency: {
    answerNotKept: (answer: { apiKey: { id: string } }) =>
      `Its answer held the new API key ${answer.apiKey.id}, which is shown only once; if it was lost, revoke ` +
      'that key and create another.',
  },
  request: { body: CreateApiKeySchema },
  responses: { 201: { description: 'Created; the key is shown only now', schema: CreatedApiKeySchema } },
  async handler({ body, caller, deps }) {
    const created = await keysOfAdmin(caller, deps).create({
      firmId: caller.firmId,
      name: body.name,
      scopes: body.scopes,
      createdBy: caller.subjectId,
    });
    return { apiKey: view(created.apiKey), key: created.key };
  },
});

export const listApiKeys = defineRoute<{ query: PageQuery }>({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  summary: "List the firm's API keys, revoked ones included, a page at a time",
  description:
    'Oldest first, `pageSize` keys a page (default 50). When more follow, `nextCursor` is set: pass it as ' +
    '`cursor` for the next page; on the last page it is empty.',
  tags: ['api keys'],
  auth: 'authenticated',
  permission: 'api_key:read',
  request: {
    query: {
      type: 'object',
      additionalProperties: false,
      properties: pageQuery(),
    },
  },
  responses: {
    200: {
      description: 'One page of keys, oldest first',
      schema: {
        type: 'object',
        additionalProperties: false,
        required: ['items', 'nextCursor'],
        properties: {
          items: { type: 'array', items: ApiKeySchema },
          nextCursor,
        },
      },
    },
  },
  async handler({ caller, deps, query }) {
    const { pageSize, cursor } = pageOf(query);
    const position = cursor ? decodeCursor(cursor, isPostgresTime) : undefined;
    const after = position && { createdAt: position.key, id: position.id };
    const page = await keysOfAdmin(caller, deps).list(caller.firmId, { pageSize, after });
    return { items: page.keys.map(view), nextCursor: page.nextCursor };
  },
});

export const revokeApiKey = defineRoute<{ params: { apiKeyId: string } }>({
  method: 'delete',
  path: '/v1/api-keys/{apiKeyId}',
  operationId: 'revokeApiKey',
  summary: 'Revoke an API key; it stops working at once, and the webhooks it created are disabled',
  tags: ['api keys'],
  auth: 'authenticated',
  permission: 'api_key:write',
  request: {
    params: { type: 'object', required: ['apiKeyId'], properties: { apiKeyId: { type: 'string', format: 'uuid' } } },
  },
  responses: { 200: { description: 'Revoked (also when it already was)', schema: ApiKeySchema } },
  async handler(ctx) {
    const { params, caller, deps, services } = ctx;
    const revoked = await keysOfAdmin(caller, deps).revoke(caller.firmId, params.apiKeyId, caller.subjectId);
    // the partner's subscriptions end with its key; a repeated revoke finishes what a failed one left
    if (services.notification) {
      await services.notification.disableApiKeyWebhooks({ apiKeyId: revoked.id }, callFor(ctx)).catch((error) => {
        // a refusal is the service's answer to this caller; only a service out of reach is worth a repeat
        if (isDomainError(error) && error.kind !== 'unavailable' && error.kind !== 'deadline_exceeded') throw error;
        throw unavailable(
          'The API key is revoked, but the webhooks it created could not be disabled yet; repeat the request.',
          { reason: 'api_key_webhooks_not_disabled' },
        );
      });
    }
    return view(revoked);
  },
});

export const apiKeyRoutes = [createApiKey, listApiKeys, revokeApiKey];
