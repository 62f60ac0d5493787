/**
 * The k6 load scripts (k6 cannot run here): each is evaluated as the ES module k6 runs, with k6's modules
 * replaced by recorders. What they ask for must be what the issues' budgets say, every request they make must
 * be an operation of the gateway's route table, and the PDFs they upload must be valid PDFs of the size asked.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { routeTable } from '@kantoor/gateway';
import { readPdfStructure } from '../../services/document-intake/src/domain/pdf-structure';

const HERE = __dirname;

interface Sent {
  method: string;
  url: string;
  body?: string;
  headers: Record<string, string>;
  tags?: Record<string, string>;
}

class K6Failure extends Error {}

/** Evaluates `file` with k6's modules recorded; resolves with its exports and what it sent. */
async function loadScript(file: string, env: Record<string, string>) {
  const sent: Sent[] = [];
  const context = vm.createContext({ __ENV: env });
  const respond = (request: Sent) => {
    sent.push(request);
    const status = request.url.endsWith('/v1/auth/login') ? 200 : request.method === 'POST' ? 201 : 200;
    return {
      status,
      body: '{}',
      json: (field?: string) => (field === 'accessToken' ? 'token-from-login' : {}),
    };
  };
  const http = {
    get: (url: string, params: { headers?: Record<string, string>; tags?: Record<string, string> } = {}) =>
      respond({ method: 'GET', url, headers: params.headers ?? {}, tags: params.tags }),
    post: (
      url: string,
      body: string,
      params: { headers?: Record<string, string>; tags?: Record<string, string> } = {},
    ) => respond({ method: 'POST', url, body, headers: params.headers ?? {}, tags: params.tags }),
  };
  const k6 = {
    check: (value: unknown, checks: Record<string, (v: unknown) => boolean>) =>
      Object.values(checks).every((predicate) => predicate(value)),
    fail: (message: string) => {
      throw new K6Failure(message);
    },
  };
  let iteration = 0;
  const execution = {
    scenario: {
      get iterationInTest() {
        return iteration++;
      },
    },
  };
  const synthetic = (name: string, members: Record<string, unknown>, defaultExport?: unknown) =>
    new vm.SyntheticModule(
      [...Object.keys(members), 'default'],
      function (this: vm.SyntheticModule) {
        for (const [key, value] of Object.entries(members)) this.setExport(key, value);
        this.setExport('default', defaultExport ?? members);
      },
      { context, identifier: name },
    );
  const modules = new Map<string, vm.Module>();
  const link = async (specifier: string, referencing: vm.Module): Promise<vm.Module> => {
    if (specifier === 'k6/http') return synthetic(specifier, http);
    if (specifier === 'k6') return synthetic(specifier, k6);
    if (specifier === 'k6/execution') return synthetic(specifier, {}, execution);
    const target = path.resolve(path.dirname(referencing.identifier), specifier);
    if (!modules.has(target)) modules.set(target, sourceModule(target));
    return modules.get(target)!;
  };
  const sourceModule = (target: string) =>
    new vm.SourceTextModule(readFileSync(target, 'utf8'), { context, identifier: target });
  const main = sourceModule(path.join(HERE, file));
  await main.link(link);
  await main.evaluate();
  return { exports: main.namespace as Record<string, any>, sent };
}

const routes = routeTable.map((route) => ({
  method: route.method.toUpperCase(),
  pattern: new RegExp(`^${route.path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  path: route.path,
}));
/** the route table's operation for a request, e.g. "POST /v1/dossiers/{dossierId}/documents" */
const operationOf = ({ method, url }: Sent) => {
  const pathname = new URL(url).pathname;
  const route = routes.find((candidate) => candidate.method === method && candidate.pattern.test(pathname));
  return route ? `${method} ${route.path}` : `no route for ${method} ${pathname}`;
};

const LOGIN = { KANTOOR_URL: 'http://gateway.test:8080/', KANTOOR_EMAIL: 'admin@firm.test', KANTOOR_PASSWORD: 'pw' };
const DOSSIER = '0b9f3e51-4d0a-4f55-9a4e-3f1f3a6e2c11';

describe('k6 load scripts (test/load)', () => {
  test("gateway-request.js: issue 2's budget, an authenticated GET /v1/firm over 50 connections", async () => {
    const { exports, sent } = await loadScript('gateway-request.js', LOGIN);
    expect(exports.options.scenarios.firm).toMatchObject({ executor: 'constant-vus', vus: 50 });
    expect(exports.options.thresholds).toMatchObject({
      'http_req_duration{name:GET /v1/firm}': ['p(99)<=50'],
      'http_reqs{name:GET /v1/firm}': ['rate>=1500'],
    });
    const data = exports.setup();
    exports.default(data);
    expect(sent.map(operationOf)).toEqual(['POST /v1/auth/login', 'GET /v1/firm']);
    expect(JSON.parse(sent[0].body!)).toEqual({ email: 'admin@firm.test', password: 'pw' });
    expect(sent[1].url).toBe('http://gateway.test:8080/v1/firm');
    expect(sent[1].headers.authorization).toBe('Bearer token-from-login');
  });

  test('a given token is used as it is, and without token or login the run stops saying what to set', async () => {
    const withToken = await loadScript('gateway-request.js', { KANTOOR_TOKEN: 'oidc-token' });
    withToken.exports.default(withToken.exports.setup());
    expect(withToken.sent.map(operationOf)).toEqual(['GET /v1/firm']);
    expect(withToken.sent[0].url).toBe('http://localhost:8080/v1/firm');
    expect(withToken.sent[0].headers.authorization).toBe('Bearer oidc-token');

    const without = await loadScript('gateway-request.js', {});
    expect(() => without.exports.setup()).toThrow(/KANTOOR_TOKEN, or KANTOOR_EMAIL and KANTOOR_PASSWORD/);
    const noDossier = await loadScript('document-upload.js', { KANTOOR_TOKEN: 't' });
    expect(() => noDossier.exports.setup()).toThrow(/KANTOOR_DOSSIER_ID/);
  });

  test("document-upload.js: issue 5's budget, 1 MB PDFs over 20 connections, each a valid one-page PDF", async () => {
    const { exports, sent } = await loadScript('document-upload.js', { ...LOGIN, KANTOOR_DOSSIER_ID: DOSSIER });
    expect(exports.options.scenarios.uploads).toMatchObject({ vus: 20, iterations: 100 });
    // 50 uploads of 1 MB a second is 50 MB/s
    expect(exports.options.thresholds['http_reqs{name:POST documents}']).toEqual(['rate>=50']);
    const data = exports.setup();
    exports.default(data);
    exports.default(data);
    expect(sent.map(operationOf)).toEqual([
      'POST /v1/auth/login',
      'POST /v1/dossiers/{dossierId}/documents',
      'POST /v1/dossiers/{dossierId}/documents',
    ]);
    const [first, second] = sent.slice(1);
    expect(new URL(first.url).searchParams.get('mailbox')).toBe('purchase');
    expect(first.headers).toMatchObject({
      'content-type': 'application/pdf',
      authorization: 'Bearer token-from-login',
    });
    expect(first.body).not.toBe(second.body);
    for (const { body } of [first, second]) {
      const bytes = Buffer.from(body!, 'utf8');
      expect(bytes.length).toBe(body!.length); // ASCII: the string is its bytes
      expect(Math.abs(bytes.length - 1024 * 1024)).toBeLessThan(1024);
      // the cross-reference table points at each object, and startxref at the table
      const xref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(body!)![1]);
      expect(body!.slice(xref, xref + 4)).toBe('xref');
      const offsets = [...body!.slice(xref).matchAll(/^(\d{10}) 00000 n $/gm)].map((match) => Number(match[1]));
      expect(offsets).toHaveLength(4);
      offsets.forEach((offset, i) => expect(body!.slice(offset, offset + 8)).toBe(`${i + 1} 0 obj\n`));
      const structure = await readPdfStructure(
        async (start, length) => bytes.subarray(start, start + length),
        bytes.length,
        async function* () {
          yield bytes;
        },
      );
      expect(structure.pages).toBe(1);
    }
  });

  test("dossier-zip.js: issue 5's budget, the dossier's ZIP at 100 MB/s, the body not kept by k6", async () => {
    const { exports, sent } = await loadScript('dossier-zip.js', { KANTOOR_TOKEN: 't', KANTOOR_DOSSIER_ID: DOSSIER });
    expect(exports.options.discardResponseBodies).toBe(true);
    expect(exports.options.thresholds.data_received).toEqual([`rate>=${100 * 1024 * 1024}`]);
    exports.default(exports.setup());
    expect(sent.map(operationOf)).toEqual(['GET /v1/dossiers/{dossierId}/documents-zip']);
    expect(sent[0].url).toBe(`http://localhost:8080/v1/dossiers/${DOSSIER}/documents-zip`);
  });
});
