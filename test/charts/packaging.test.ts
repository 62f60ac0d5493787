import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartValues, repoRoot, skaffoldConfig } from './chart';

/** Every image the chart runs: the components, and the one image all accounting connectors share. */
const values = chartValues();
const images = [
  ...Object.keys(values.components).map((name) => ({ name, valuesKey: `components.${name}` })),
  { name: 'accounting-connector', valuesKey: 'accountingConnector' },
];
const packageDir = (name: string) => (name === 'gateway' ? 'gateway' : `services/${name}`);
const dockerfileOf = (name: string) => `${packageDir(name)}/Dockerfile`;

interface Dockerfile {
  from: string[];
  instructions: Array<[string, string]>;
}
function readDockerfile(path: string): Dockerfile {
  const lines = readFileSync(join(repoRoot, path), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const instructions = lines.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return [keyword.toUpperCase(), rest.join(' ')] as [string, string];
  });
  return { from: instructions.filter(([k]) => k === 'FROM').map(([, v]) => v), instructions };
}
const last = (file: Dockerfile, keyword: string) =>
  file.instructions
    .filter(([k]) => k === keyword)
    .map(([, v]) => v)
    .pop();

// The config that builds the images and installs the chart (skaffold.yaml's other config is deploy/local).
const skaffold = skaffoldConfig('kantoor');
const artifacts: Array<{
  image: string;
  docker?: { dockerfile: string };
  requires?: Array<{ image: string; alias: string }>;
}> = skaffold.build.artifacts;
const release = skaffold.deploy.helm.releases[0];
/** skaffold's template names: the artifact's image with '/', '-', '.' and ':' turned into '_'. */
const templateName = (image: string) => image.replace(/[/\-.:]/g, '_');

describe('component images', () => {
  it.each(images.map(({ name }) => [name]))(
    '%s has a Dockerfile that ships its own package and runs as uid 10001',
    (name) => {
      expect(existsSync(join(repoRoot, dockerfileOf(name)))).toBe(true);
      const file = readDockerfile(dockerfileOf(name));
      expect(
        file.instructions.some(
          ([k, v]) => k === 'RUN' && v.includes(`pnpm deploy --filter @kantoor/${name} --prod /out`),
        ),
      ).toBe(true);
      expect(last(file, 'COPY')).toBe(`--from=package /out ${packageDir(name)}`);
      expect(last(file, 'USER')).toBe('10001:10001');
      expect(last(file, 'WORKDIR')).toBe('/app');
    },
  );

  it.each(images.map(({ name }) => [name]))(
    '%s starts the entry point the chart runs and exposes its ports',
    (name) => {
      const file = readDockerfile(dockerfileOf(name));
      // The chart starts `node <packageDir>/dist/main.js` (kantoor.collectWorkloads); the image must agree.
      expect(JSON.parse(last(file, 'CMD')!)).toEqual(['node', `${packageDir(name)}/dist/main.js`]);
      const exposed = last(file, 'EXPOSE')!.split(' ').map(Number);
      const serving = name === 'gateway' ? values.ports.http : values.ports.grpc;
      expect(exposed).toEqual(expect.arrayContaining([serving, values.ports.metrics]));
      if (name === 'document-intake') expect(exposed).toContain(values.components['document-intake'].smtpIntake.port);
    },
  );

  it('every image runs node with a small young generation but the directory, and the embedded platform alike', () => {
    const nodeOptions = Object.fromEntries(
      images.map(({ name }) => {
        const env = readDockerfile(dockerfileOf(name)).instructions.find(
          ([k, v]) => k === 'ENV' && v.includes('NODE_OPTIONS='),
        );
        return [name, /NODE_OPTIONS="([^"]*)"/.exec(env?.[1] ?? '')?.[1]];
      }),
    );
    for (const { name } of images)
      expect([name, nodeOptions[name]]).toEqual([
        name,
        `--enable-source-maps --max-semi-space-size=${name === 'directory' ? 16 : 2}`,
      ]);
    // pnpm start and pnpm run embedded (and so the benchmarks, test/bench/launch-flags.js) start the platform alike
    const scripts = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts;
    // the gateway's thread keeps V8's full young generation (every request and downloaded byte passes through it)
    // and V8 does not pretenure (a request's objects born in the old generation kept their young parts alive)
    expect(scripts.embedded).toBe(
      'node --max-semi-space-size=16 --no-allocation-site-pretenuring deploy/embedded/dist/main.js',
    );
    expect(scripts.start).toBe(`pnpm run build && ${scripts.embedded}`);
    // the service threads: the directory's young generation is V8's full 3 × 16 MB, the others' 3 × 2 MB
    const embedded = readFileSync(join(repoRoot, 'deploy/embedded/src/start-embedded.ts'), 'utf8');
    expect(embedded).toContain('const YOUNG_GENERATION_MB: Readonly<Record<string, number>> = { directory: 48 };');
    expect(embedded).toContain('const DEFAULT_YOUNG_GENERATION_MB = 6;');
  });

  it('every component image and the workspace image start from the same Node image', () => {
    const nodeImages = new Set(
      [...images.map(({ name }) => dockerfileOf(name)), 'deploy/docker/Dockerfile'].map(
        (path) => readDockerfile(path).instructions.find(([k, v]) => k === 'ARG' && v.startsWith('NODE_IMAGE='))?.[1],
      ),
    );
    expect([...nodeImages]).toEqual(['NODE_IMAGE=node:20-bookworm-slim']);
  });

  it('the workspace image installs from the lockfile with the pnpm the workspace is kept with', () => {
    const file = readDockerfile('deploy/docker/Dockerfile');
    const pinned = file.instructions.find(([k, v]) => k === 'ARG' && v.startsWith('PNPM_VERSION='))![1].split('=')[1];
    const declared: string | undefined = JSON.parse(
      readFileSync(join(repoRoot, 'package.json'), 'utf8'),
    ).packageManager;
    // With a packageManager field, pnpm switches itself to that exact version: the image must not disagree.
    expect(declared ? declared.startsWith(`pnpm@${pinned}.`) || declared === `pnpm@${pinned}` : pinned === '12').toBe(
      true,
    );
    const runs = file.instructions
      .filter(([k]) => k === 'RUN')
      .map(([, v]) => v)
      .join(' && ');
    expect(runs).toContain('pnpm install --frozen-lockfile');
    expect(runs).toContain('pnpm run build');
  });

  it('a component whose package exists is deployed under the name its package.json declares', () => {
    const present = images.filter(({ name }) => existsSync(join(repoRoot, packageDir(name), 'package.json')));
    expect(present.length).toBeGreaterThan(0);
    for (const { name } of present) {
      const manifest = JSON.parse(readFileSync(join(repoRoot, packageDir(name), 'package.json'), 'utf8'));
      expect(manifest.name).toBe(`@kantoor/${name}`);
    }
  });
});

describe('skaffold.yaml', () => {
  it('builds the workspace image first and every component image from it', () => {
    expect(artifacts[0]).toEqual({ image: 'kantoor/workspace', docker: { dockerfile: 'deploy/docker/Dockerfile' } });
    for (const { name } of images) {
      const artifact = artifacts.find((candidate) => candidate.image === `kantoor/${name}`);
      expect(artifact).toBeDefined();
      expect(artifact!.docker!.dockerfile).toBe(dockerfileOf(name));
      expect(artifact!.requires).toEqual([{ image: 'kantoor/workspace', alias: 'WORKSPACE_IMAGE' }]);
      expect(readDockerfile(dockerfileOf(name)).instructions).toContainEqual([
        'ARG',
        'WORKSPACE_IMAGE=kantoor/workspace',
      ]);
    }
    expect(artifacts).toHaveLength(images.length + 1);
  });

  it('hands every built image to the chart, under the same name the chart uses by default', () => {
    for (const { name, valuesKey } of images) {
      const image = `kantoor/${name}`;
      const template = templateName(image);
      expect(release.setValueTemplates[`${valuesKey}.image.repository`]).toBe(`{{.IMAGE_REPO_${template}}}`);
      expect(release.setValueTemplates[`${valuesKey}.image.tag`]).toBe(
        `{{.IMAGE_TAG_${template}}}@{{.IMAGE_DIGEST_${template}}}`,
      );
      const defaults = valuesKey === 'accountingConnector' ? values.accountingConnector : values.components[name];
      expect(defaults.image.repository).toBe(image);
    }
    expect(Object.keys(release.setValueTemplates)).toHaveLength(images.length * 2);
  });

  it('installs the chart with values files that exist, and the dev profile adds dev.yaml', () => {
    expect(release.chartPath).toBe('charts/platform');
    for (const file of release.valuesFiles) expect(existsSync(join(repoRoot, file))).toBe(true);
    const dev = skaffold.profiles.find((profile: { name: string }) => profile.name === 'dev');
    expect(dev.patches).toContainEqual({
      op: 'add',
      path: '/deploy/helm/releases/0/valuesFiles/-',
      value: 'deploy/values/dev.yaml',
    });
    expect(existsSync(join(repoRoot, 'deploy/values/dev.yaml'))).toBe(true);
  });
});
