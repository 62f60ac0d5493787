/**
 * `helm template` of charts/platform for the tests that look at what a cluster would receive. Needs a helm
 * binary (HELM_BIN, or helm on PATH; .ci/run provides one); without one those suites skip and say so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { saySkipped } from '@kantoor/testing';
import { chartDir, environmentValuesDir, type Values } from './chart';

export const helm = process.env.HELM_BIN || 'helm';
export const helmVersion = spawnSync(helm, ['version', '--short'], { encoding: 'utf8' });
export const haveHelm = helmVersion.status === 0;

/** `describe` when helm is there; otherwise `describe.skip`, saying so once for the suite `name`. */
export function describeWithHelm(name: string, body: () => void): void {
  if (haveHelm) {
    describe(name, () => {
      beforeAll(() => console.log(`${name}: using ${helm} ${helmVersion.stdout.trim()}`));
      body();
    });
  } else {
    saySkipped(`${name}: SKIPPED (no helm binary; set HELM_BIN or put helm on PATH)`);
    describe.skip(name, body);
  }
}

export type Manifest = Values & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

/**
 * The output of `helm template kantoor charts/platform --namespace kantoor` with the named files of
 * deploy/values and then `overrides`, in that order (as `-f a -f b -f overrides`).
 */
export function helmTemplate(files: string[], overrides: Values = {}): string {
  const scratch = mkdtempSync(join(tmpdir(), 'kantoor-chart-'));
  try {
    const overridesFile = join(scratch, 'overrides.json');
    writeFileSync(overridesFile, JSON.stringify(overrides));
    const args = ['template', 'kantoor', chartDir, '--namespace', 'kantoor'];
    for (const file of [...files.map((name) => join(environmentValuesDir, name)), overridesFile]) args.push('-f', file);
    return execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function render(files: string[], overrides: Values = {}): Manifest[] {
  return parseAllDocuments(helmTemplate(files, overrides))
    .map((document) => document.toJS() as Manifest)
    .filter(Boolean);
}

/** The deploy/values sets an install uses, each as `-f` files in order. */
export const environments: Array<[string, string[]]> = [
  ['local', ['local.yaml']],
  ['local + dev', ['local.yaml', 'dev.yaml']],
  ['production', ['production.yaml']],
];

/** One `describe` per values set of `environments`, the chart rendered once for each (in `rendered.manifests`). */
export function describeEachEnvironment(body: (rendered: { manifests: Manifest[] }) => void): void {
  describe.each(environments)('with %s values', (_, files) => {
    const rendered = { manifests: [] as Manifest[] };
    beforeAll(() => {
      rendered.manifests = render(files);
    });
    body(rendered);
  });
}

/** The message `helm template` fails with, or '' when it renders. */
export function refusal(files: string[], overrides: Values): string {
  try {
    helmTemplate(files, overrides);
    return '';
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
}

/** Throws when `manifest` is not a valid object of its Kubernetes kind (kubernetes-models' schema). */
export function validateKind(manifest: Manifest): void {
  const modulePath = `kubernetes-models/${manifest.apiVersion}/${manifest.kind}`;

  const Model = require(modulePath)[manifest.kind];
  new Model(manifest).validate();
}

export function podSpecOf(manifest: Manifest): Values | undefined {
  switch (manifest.kind) {
    case 'Deployment':
    case 'Job':
      return manifest.spec.template.spec;
    case 'CronJob':
      return manifest.spec.jobTemplate.spec.template.spec;
    case 'Pod':
      return manifest.spec;
    default:
      return undefined;
  }
}

export const find = (manifests: Manifest[], kind: string, name: string) =>
  manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);

export const envOf = (container: Values): Record<string, Values> =>
  Object.fromEntries(((container.env ?? []) as Values[]).map((entry) => [entry.name, entry]));

/** The env of the first container of the Deployment `name`. */
export const deploymentEnv = (manifests: Manifest[], name: string): Record<string, Values> =>
  envOf(find(manifests, 'Deployment', name)!.spec.template.spec.containers[0]);
