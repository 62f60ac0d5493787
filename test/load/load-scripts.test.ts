/**
 * The k6 load scripts (k6 cannot run here): each runs in a Node process of its own as the ES module k6 runs, with
 * k6's modules replaced by recorders (k6-double/run.mjs). What they ask for must be what the issues' budgets say,
 * every request they make must be an operation of the gateway's route table, and the PDFs they upload must be
 * valid PDFs of the size asked.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { routeTable } from '@kantoor/gateway';
import { readPdfStructure } from '../../services/document-intake/src/domain/pdf-structure';

const RUN = path.join(__dirname, 'k6-double', 'run.mjs');

interface Sent {
  method: string;
  url: string;
  body?: string;
  headers: Record<string, string>;
  tags?: Record<string, string>;
}

/** Runs `file` with `env`, calling its `setup` and `default` as `steps` say; what it exported and sent. */
function runScript(file: string, env: Record<string, string>, steps: ('setup' | 'default')[] = []) {
  const { NODE_OPTIONS: _jestOptions, ...processEnv } = process.env;
  const output = execFileSync(process.execPath, [RUN, path.join(__dirname, file), JSON.stringify({ env, steps })], {
    env: processEnv,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(output) as { options: Record<string, any>; sent: Sent[]; error?: string };
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
  test("gateway-request.js: issue 2's budget, an authenticated GET /v1/firm over 50 connections", () => {
    const { options, sent } = runScript('gateway-request.js', LOGIN, ['setup', 'default']);
    expect(options.scenarios.firm).toMatchObject({ executor: 'constant-vus', vus: 50 });
    expect(options.thresholds).toMatchObject({
      'http_req_duration{name:GET /v1/firm}': ['p(99)<=50'],
      'http_reqs{name:GET /v1/firm}': ['rate>=1500'],
    });
    expect(sent.map(operationOf)).toEqual(['POST /v1/auth/login', 'GET /v1/firm']);
    expect(JSON.parse(sent[0].body!)).toEqual({ email: 'admin@firm.test', password: 'pw' });
    expect(sent[1].url).toBe('http://gateway.test:8080/v1/firm');
    expect(sent[1].headers.authorization).toBe('Bearer token-from-login');
  });

  test('a given token is used as it is, and without token or login the run stops saying what to set', () => {
    const withToken = runScript('gateway-request.js', { KANTOOR_TOKEN: 'oidc-token' }, ['setup', 'default']);
    expect(withToken.error).toBeUndefined();
    expect(withToken.sent.map(operationOf)).toEqual(['GET /v1/firm']);
    expect(withToken.sent[0].url).toBe('http://localhost:8080/v1/firm');
    expect(withToken.sent[0].headers.authorization).toBe('Bearer oidc-token');

    const without = runScript('gateway-request.js', {}, ['setup', 'default']);
    expect(without.error).toMatch(/KANTOOR_TOKEN, or KANTOOR_EMAIL and KANTOOR_PASSWORD/);
    expect(without.sent).toEqual([]);
    const noDossier = runScript('document-upload.js', { KANTOOR_TOKEN: 't' }, ['setup', 'default']);
    expect(noDossier.error).toMatch(/KANTOOR_DOSSIER_ID/);
    expect(noDossier.sent).toEqual([]);
  });

  test("document-upload.js: issue 5's budget, 1 MB PDFs over 20 connections, each a valid one-page PDF", async () => {
    const { options, sent } = runScript('document-upload.js', { ...LOGIN, KANTOOR_DOSSIER_ID: DOSSIER }, [
      'setup',
      'default',
      'default',
    ]);
    expect(options.scenarios.uploads).toMatchObject({ vus: 20, iterations: 100 });
    // 50 uploads of 1 MB a second is 50 MB/s
    expect(options.thresholds['http_reqs{name:POST documents}']).toEqual(['rate>=50']);
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

  test("dossier-zip.js: issue 5's budget, the dossier's ZIP at 100 MB/s, the body not kept by k6", () => {
    const { options, sent } = runScript('dossier-zip.js', { KANTOOR_TOKEN: 't', KANTOOR_DOSSIER_ID: DOSSIER }, [
      'setup',
      'default',
    ]);
    expect(options.discardResponseBodies).toBe(true);
    expect(options.thresholds.data_received).toEqual([`rate>=${100 * 1024 * 1024}`]);
    expect(sent.map(operationOf)).toEqual(['GET /v1/dossiers/{dossierId}/documents-zip']);
    expect(sent[0].url).toBe(`http://localhost:8080/v1/dossiers/${DOSSIER}/documents-zip`);
  });
});
