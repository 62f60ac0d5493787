import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Script } from 'node:vm';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import {
  buildOpenApiDocument,
  checkRouteTable,
  defineRoute,
  DOCUMENTATION_PATHS,
  OPERATIONAL_PATHS,
  routeTable,
  withConfiguredLimits,
  type Route,
} from '../src';
import { noDatabase, testApp, testConfig, whoAmI } from './helpers';
import { WEBHOOK_EVENT_TYPES } from '../src/routes/webhooks';

type Operation = {
  operationId: string;
  security: unknown[];
  'x-permission'?: string;
  parameters: unknown[];
  responses: Record<string, unknown>;
};

function refsIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => refsIn(item, found));
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') found.push(item);
      else refsIn(item, found);
    }
  }
  return found;
}

function resolve(document: unknown, ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, segment) => (node as Record<string, unknown> | undefined)?.[segment], document);
}

describe('the OpenAPI document', () => {
  const routes: Route[] = [...routeTable, whoAmI];
  const document = buildOpenApiDocument(routes) as {
    openapi: string;
    paths: Record<string, Record<string, Operation>>;
    webhooks: Record<string, { post: Operation & Record<string, unknown> }>;
    components: { schemas: Record<string, object>; securitySchemes: Record<string, unknown> };
  };

  it('is OpenAPI 3.1 with every route of the table, once, under its operationId', () => {
    expect(document.openapi).toBe('3.1.0');
    const operations = Object.entries(document.paths).flatMap(([route, item]) =>
      Object.entries(item).map(([method, operation]) => `${method.toUpperCase()} ${route} ${operation.operationId}`),
    );
    expect(operations.sort()).toEqual(
      routes.map((route) => `${route.method.toUpperCase()} ${route.path} ${route.operationId}`).sort(),
    );
  });

  it('resolves every $ref, and every component schema compiles as JSON Schema 2020-12', () => {
    const refs = refsIn(document);
    expect(refs).toContain('#/components/schemas/Problem');
    for (const ref of refs) expect({ ref, target: resolve(document, ref) }).toEqual({ ref, target: expect.anything() });
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema({ $id: 'doc', components: document.components });
    for (const name of Object.keys(document.components.schemas))
      expect(typeof ajv.getSchema(`doc#/components/schemas/${name}`)).toBe('function');
  });

  it('lists what partners receive under webhooks: each event type and the ping, a signed POST of a JSON body', () => {
    expect(Object.keys(document.webhooks).sort()).toEqual([...Object.keys(WEBHOOK_EVENT_TYPES), 'webhook.ping'].sort());
    const sent = document.webhooks['documents.sent'].post;
    expect(sent).toMatchObject({
      operationId: 'documentsSentWebhook',
      'x-subscribed-by': 'createWebhook',
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/DocumentsSentEvent' } } },
      },
    });
    expect(Object.keys(sent.responses).sort()).toEqual(['2XX', '410', 'default']);
    expect(sent.parameters).toEqual(
      ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) =>
        expect.objectContaining({ name, in: 'header', required: true }),
      ),
    );
    expect(resolve(document, '#/components/schemas/DocumentsSentEvent')).toMatchObject({
      properties: {
        type: { const: 'documents.sent' },
        data: { required: ['documentIds', 'sentBy', 'automatic', 'sentAt'] },
      },
    });
    // no operationId twice, requests sent or served
    const ids = [
      ...Object.values(document.paths).flatMap((item) => Object.values(item).map((operation) => operation.operationId)),
      ...Object.values(document.webhooks).map((item) => item.post.operationId),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes how each operation authenticates: bearer JWT or API key, with the permission it needs', () => {
    expect(document.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }),
    });
    const whoami = document.paths['/v1/test/whoami'].get;
    expect(whoami.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    expect(whoami['x-permission']).toBe('firm:read');
    expect(whoami.responses).toHaveProperty('401');
    expect(document.paths['/v1/auth/login'].post.security).toEqual([]);
    expect(document.paths['/v1/api-keys/{apiKeyId}'].delete.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'apiKeyId', in: 'path', required: true }),
        { $ref: '#/components/parameters/IdempotencyKey' },
      ]),
    );
  });

  it('is served at /openapi.json, and rendered by a self-contained page at /docs', async () => {
    const { app } = testApp({ db: noDatabase }, routes);
    const served = await request(app).get('/openapi.json').expect(200);
    // as served, the limits that come from settings are the configured numbers
    const configured = buildOpenApiDocument(withConfiguredLimits(routes, testConfig()));
    expect(served.body).toEqual(JSON.parse(JSON.stringify(configured)));
    const upload = (served.body.paths['/v1/dossiers/{dossierId}/documents'] as Record<string, Operation>).post;
    expect(JSON.stringify(upload)).toContain('at most 52428800 bytes (the gateway setting UPLOAD_MAX_FILE_BYTES)');

    for (const documentationPath of DOCUMENTATION_PATHS) await request(app).get(documentationPath).expect(200);
    const page = await request(app).get('/docs').expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.text).not.toMatch(/https?:\/\//); // no CDN, no external anything
    const script = await request(app).get('/docs/docs.js').expect(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    expect(() => new Script(script.text)).not.toThrow();
    expect(script.text).not.toContain('innerHTML');
    await request(app).get('/docs/docs.css').expect(200);
  });
});

/** Just enough DOM for docs.js: elements with attributes, children and listeners. */
class FakeElement {
  children: Array<FakeElement | { text: string }> = [];
  attributes: Record<string, string> = {};
  dataset: Record<string, string> = {};
  listeners: Record<string, (event: unknown) => void> = {};
  hidden = false;
  constructor(readonly tag: string) {}
  setAttribute(name: string, value: string) {
    this.attributes[name] = value;
    if (name.startsWith('data-')) this.dataset[name.slice(5)] = value;
  }
  append(...nodes: Array<FakeElement | { text: string }>) {
    this.children.push(...nodes);
  }
  replaceChildren(...nodes: Array<FakeElement | { text: string }>) {
    this.children = nodes;
  }
  addEventListener(type: string, listener: (event: unknown) => void) {
    this.listeners[type] = listener;
  }
  set textContent(text: string) {
    this.children = [{ text }];
  }
  get textContent(): string {
    return this.children.map((child) => ('text' in child ? child.text : child.textContent)).join('');
  }
  descendants(): FakeElement[] {
    return this.children.flatMap((child) => (child instanceof FakeElement ? [child, ...child.descendants()] : []));
  }
}

describe('the documentation page', () => {
  it('renders every operation with its permission, parameters and schemas, and filters them', async () => {
    const document_ = buildOpenApiDocument(routeTable);
    const byId = new Map(
      ['title', 'version', 'description', 'filter', 'nav', 'operations'].map((id) => [id, new FakeElement('div')]),
    );
    const page = new FakeElement('document');
    const fakeDocument = {
      title: '',
      createElement: (tag: string) => new FakeElement(tag),
      createTextNode: (text: string) => ({ text }),
      getElementById: (id: string) => byId.get(id),
      querySelectorAll: () =>
        byId
          .get('operations')!
          .descendants()
          .filter((node) => node.tag === 'section'),
      addEventListener: (type: string, listener: (event: unknown) => void) => page.addEventListener(type, listener),
    };
    const source = readFileSync(path.resolve(__dirname, '..', 'docs-page', 'docs.js'), 'utf8');
    new Script(source).runInNewContext({
      document: fakeDocument,
      fetch: async () => ({ ok: true, json: async () => document_ }),
    });
    page.listeners.DOMContentLoaded({});
    await new Promise((resolve) => setImmediate(resolve));

    const sections = byId
      .get('operations')!
      .descendants()
      .filter((node) => node.tag === 'section');
    expect(sections.map((section) => section.attributes.id)).toEqual(
      expect.arrayContaining([...routeTable.map((route) => route.operationId), 'schema-ApiKey', 'schema-Problem']),
    );
    const revoke = sections.find((section) => section.attributes.id === 'revokeApiKey')!;
    expect(revoke.textContent).toContain('needs api_key:write');
    expect(revoke.textContent).toContain('apiKeyId');
    expect(revoke.textContent).toContain('Idempotency-Key');
    expect(byId.get('nav')!.textContent).toContain('POST /v1/auth/login');
    expect(sections.map((section) => section.attributes.id)).toEqual(
      expect.arrayContaining(['documentsSentWebhook', 'webhookPingWebhook', 'schema-DocumentsSentEvent']),
    );
    expect(byId.get('nav')!.textContent).toContain('POST documents.sent');

    byId.get('filter')!.listeners.input({ target: { value: 'api_key:read' } });
    expect(sections.filter((section) => !section.hidden).map((section) => section.attributes.id)).toEqual([
      'listApiKeys',
    ]);
  });
});

describe('the route table', () => {
  const base = {
    method: 'get',
    path: '/v1/things',
    operationId: 'listThings',
    summary: 's',
    tags: ['t'],
    responses: { 200: { description: 'ok' } },
    handler: () => ({}),
  } as const;

  it('leaves no route outside authentication and permissions: each is public or names its permission', () => {
    for (const route of routeTable) {
      if (route.auth === 'authenticated') expect(route.permission).toMatch(/^[a-z_]+:[a-z_]+$/);
      else expect(route.permission).toBeUndefined();
    }
    expect(routeTable.filter((route) => route.auth === 'public').map((route) => route.operationId)).toEqual(
      expect.arrayContaining(['getJwks', 'login']),
    );
    expect(OPERATIONAL_PATHS).toEqual(['/healthz', '/readyz', '/metrics']);
  });

  it('refuses malformed declarations when they are made', () => {
    expect(() => defineRoute({ ...base, auth: 'authenticated', permission: 'everything' as 'a:b' })).toThrow(
      /needs a permission/,
    );
    expect(() => defineRoute({ ...base, path: '/v1/things/{thingId}', auth: 'public' })).toThrow(
      /must declare exactly the path parameters thingId/,
    );
    expect(() => defineRoute({ ...base, path: '/v1/things/:thingId', auth: 'public' })).toThrow(/OpenAPI template/);
    expect(() => defineRoute({ ...base, method: 'post', streaming: 'upload', auth: 'public' })).toThrow(
      /needs a bodyLimit/,
    );
  });

  it('refuses two routes on the same method and path, or with the same operationId', () => {
    const one = defineRoute({ ...base, auth: 'public' });
    expect(() => checkRouteTable([one, defineRoute({ ...base, operationId: 'other', auth: 'public' })])).toThrow(
      /GET \/v1\/things twice/,
    );
    expect(() => checkRouteTable([one, defineRoute({ ...base, path: '/v1/others', auth: 'public' })])).toThrow(
      /operation listThings twice/,
    );
  });

  it('keeps the documentation page assets in the package, where the built gateway finds them', () => {
    const dir = path.resolve(__dirname, '..', 'docs-page');
    expect(readFileSync(path.join(dir, 'index.html'), 'utf8')).toContain('/docs/docs.js');
  });
});
