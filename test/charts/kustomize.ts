/**
 * `kubectl kustomize deploy/local` for the tests of a developer cluster's infrastructure. Needs a kubectl
 * binary (KUBECTL_BIN, or kubectl on PATH; it renders without a cluster); without one those suites skip and
 * say so, as the helm suites do (helm.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { saySkipped } from '@kantoor/testing';
import { repoRoot } from './chart';
import type { Manifest } from './helm';

export const kubectl = process.env.KUBECTL_BIN || 'kubectl';
const kubectlVersion = spawnSync(kubectl, ['version', '--client'], { encoding: 'utf8' });
export const haveKubectl = kubectlVersion.status === 0;

export const localInfrastructureDir = join(repoRoot, 'deploy', 'local');

/** `describe` when kubectl is there; otherwise `describe.skip`, saying so once for the suite `name`. */
export function describeWithKubectl(name: string, body: () => void): void {
  if (haveKubectl) {
    describe(name, () => {
      beforeAll(() => console.log(`${name}: using ${kubectl} (${kubectlVersion.stdout.split('\n')[0].trim()})`));
      body();
    });
  } else {
    saySkipped(`${name}: SKIPPED (no kubectl binary; set KUBECTL_BIN or put kubectl on PATH)`);
    describe.skip(name, body);
  }
}

/** The objects `kubectl kustomize deploy/local` gives, as `kubectl apply -k` and skaffold would apply them. */
export function kustomizeLocalInfrastructure(): Manifest[] {
  const output = execFileSync(kubectl, ['kustomize', localInfrastructureDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseAllDocuments(output)
    .map((document) => document.toJS() as Manifest)
    .filter(Boolean);
}
