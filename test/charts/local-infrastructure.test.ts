/**
 * deploy/local, the infrastructure of a developer cluster, as `kubectl kustomize` renders it: valid objects at
 * the addresses deploy/values/local.yaml gives the chart, every Secret key the chart reads, the databases, the
 * Object Lock bucket and an identity provider whose tokens the gateway takes; skaffold.yaml deploying it before
 * the chart; and the script that registers the demo firm. Rendering needs kubectl (KUBECTL_BIN, or kubectl on
 * PATH), comparing with the chart's Secret references also helm; without them those parts skip and say so.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import {
  GrpcServer,
  MIN_CALLER_SIGNING_KEY_LENGTH,
  implement,
  useCallerSigningKey,
  type CallContext,
  type Caller,
} from '@kantoor/grpc';
import { onlyTheseMethods as onlyMethods, saySkipped } from '@kantoor/testing';
import { SecretBox } from '../../services/notification/src/domain/secret-box';
import { environmentValuesDir, readYaml, repoRoot, skaffoldConfigs, valuesWith, type Values } from './chart';
import { find, haveHelm, podSpecOf, render, validateKind, type Manifest } from './helm';
import { describeWithKubectl, haveKubectl, kustomizeLocalInfrastructure, localInfrastructureDir } from './kustomize';

const localValues: Values = readYaml(join(environmentValuesDir, 'local.yaml'));
/** What the chart works with on a developer cluster: its defaults with local.yaml over them. */
const chart = valuesWith(localValues);

const realmFile = (): Values => JSON.parse(readFileSync(join(localInfrastructureDir, 'keycloak-realm.json'), 'utf8'));

const containersOf = (pod: Values): Values[] => [...(pod.initContainers ?? []), ...pod.containers];
const envOf = (container: Values): Record<string, Values> =>
  Object.fromEntries(((container.env ?? []) as Values[]).map((entry) => [entry.name, entry]));

/** Pods whose containers may write into their image, and why (the manifests say so too). */
const WRITABLE_ROOT: Record<string, string> = {
  'Deployment kantoor-kafka': 'the image writes server.properties from the KAFKA_* variables at start',
  'Deployment kantoor-oidc': 'start-dev builds Keycloak into /opt/keycloak and keeps its database there',
};

describeWithKubectl('kubectl kustomize deploy/local', () => {
  let objects: Manifest[] = [];
  beforeAll(() => {
    objects = kustomizeLocalInfrastructure();
  });

  const workloads = () => objects.filter((object) => podSpecOf(object));
  const secretValue = (name: string, key: string): string | undefined => {
    const secret = find(objects, 'Secret', name);
    if (secret?.stringData?.[key] !== undefined) return secret.stringData[key];
    const encoded = secret?.data?.[key];
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  };
  const secretEntries = (name: string): Record<string, string> =>
    Object.fromEntries(
      Object.keys({ ...find(objects, 'Secret', name)?.data, ...find(objects, 'Secret', name)?.stringData }).map(
        (key) => [key, secretValue(name, key)!],
      ),
    );
  /** The ConfigMap a workload mounts at `path`, by the (hashed) name the volume gives. */
  const configMapMountedAt = (workload: Manifest, path: string): Values => {
    const pod = podSpecOf(workload)!;
    const mount = containersOf(pod)
      .flatMap((container) => container.volumeMounts ?? [])
      .find((candidate: Values) => candidate.mountPath === path);
    const volume = (pod.volumes as Values[]).find((candidate) => candidate.name === mount?.name);
    return find(objects, 'ConfigMap', volume?.configMap?.name)!;
  };
  /**
   * The workload behind `host:port`: a Service named `host` with that port, whose target port a container of
   * a pod it selects exposes. Undefined when nothing answers there.
   */
  const servedBy = (address: string): string | undefined => {
    const [host, port] = address.split(':');
    const service = find(objects, 'Service', host);
    const servicePort = (service?.spec.ports as Values[] | undefined)?.find((candidate) => candidate.port === +port);
    if (!service || !servicePort) return undefined;
    const target = servicePort.targetPort ?? servicePort.port;
    const selected = workloads().filter((workload) =>
      Object.entries(service.spec.selector as Record<string, string>).every(
        ([key, value]) => workload.spec.template.metadata.labels?.[key] === value,
      ),
    );
    const serving = selected.find((workload) =>
      containersOf(podSpecOf(workload)!).some((container) =>
        (container.ports ?? []).some((exposed: Values) => exposed.name === target || exposed.containerPort === target),
      ),
    );
    return serving && `${serving.kind} ${serving.metadata.name}`;
  };

  it('renders only objects that are valid for their Kubernetes kind', () => {
    expect(objects.length).toBeGreaterThan(15);
    // kustomize breaks long base64 values into lines, which the API server's decoder skips but
    // kubernetes-models' "byte" format does not
    const asDecoded = (object: Manifest): Manifest =>
      object.kind === 'Secret'
        ? {
            ...object,
            data: Object.fromEntries(
              Object.entries(object.data ?? {}).map(([key, value]) => [key, String(value).replace(/\s/g, '')]),
            ),
          }
        : object;
    for (const object of objects) expect(() => validateKind(asDecoded(object))).not.toThrow();
  });

  it('answers at every address deploy/values/local.yaml and its database URLs name', () => {
    const databaseHosts = Object.values(secretEntries(localValues.postgresql.existingSecret)).map(
      (url) => new URL(url).host,
    );
    const addresses = [
      ...new Set([
        ...(localValues.kafka.brokers as string[]),
        `${localValues.objectStore.endpoint}:${localValues.objectStore.port}`,
        new URL(localValues.oidc.issuer).host,
        ...databaseHosts,
      ]),
    ];
    expect(Object.fromEntries(addresses.map((address) => [address, servedBy(address)]))).toEqual({
      'kantoor-kafka:9092': 'Deployment kantoor-kafka',
      'kantoor-minio:9000': 'Deployment kantoor-minio',
      'kantoor-oidc:8080': 'Deployment kantoor-oidc',
      'kantoor-postgresql:5432': 'Deployment kantoor-postgresql',
    });
  });

  (haveHelm ? it : it.skip)('holds every Secret and key the chart reads with local.yaml and dev.yaml', () => {
    const references = new Set(
      render(['local.yaml', 'dev.yaml'])
        .flatMap((manifest) => {
          const pod = podSpecOf(manifest);
          return pod ? containersOf(pod) : [];
        })
        .flatMap((container) => (container.env ?? []) as Values[])
        .map((entry) => entry.valueFrom?.secretKeyRef)
        .filter(Boolean)
        .map((reference: Values) => `${reference.name}/${reference.key}`),
    );
    const missing = [...references].filter((reference) => {
      const [name, key] = reference.split('/');
      return !secretValue(name, key);
    });
    expect(missing).toEqual([]);
    // the eight database URLs, the three service keys and the object store's two
    expect(references.size).toBe(13);
  });
  if (!haveHelm && haveKubectl)
    saySkipped('deploy/local against the chart: SKIPPED (no helm binary; set HELM_BIN or put helm on PATH)');

  it('gives the services keys that pass their own checks', () => {
    const keys = secretEntries('kantoor-local-service-keys');
    expect(Buffer.byteLength(keys['caller-signing-key'])).toBeGreaterThanOrEqual(MIN_CALLER_SIGNING_KEY_LENGTH);
    // INTAKE_LINK_SECRET: at least 32 characters (services/document-intake/src/config.ts)
    expect(keys['intake-link-secret'].length).toBeGreaterThanOrEqual(32);
    expect(() => SecretBox.fromSetting(keys['notification-secret-key'])).not.toThrow();
  });

  it("creates every database a URL names, owned by the URL's role with the URL's password, one per component", () => {
    const postgres = find(objects, 'Deployment', 'kantoor-postgresql')!;
    const init = Object.values(configMapMountedAt(postgres, '/docker-entrypoint-initdb.d').data as Values).join('\n');
    const passwords = new Map(
      [...init.matchAll(/CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'/g)].map(([, role, password]) => [role, password]),
    );
    const owners = new Map(
      [...init.matchAll(/CREATE DATABASE (\w+) OWNER (\w+)/g)].map(([, database, owner]) => [database, owner]),
    );
    const urls = secretEntries(localValues.postgresql.existingSecret);
    const databases = Object.entries(urls).map(([key, value]) => {
      const url = new URL(value);
      const database = url.pathname.slice(1);
      expect({ key, owner: owners.get(database), password: passwords.get(url.username) }).toEqual({
        key,
        owner: url.username,
        password: decodeURIComponent(url.password),
      });
      return database;
    });
    expect(databases.length).toBe(8);
    expect(new Set(databases).size).toBe(databases.length);
  });

  it("makes the archive's bucket with Object Lock, once MinIO answers, and again without harm", () => {
    const job = find(objects, 'Job', 'kantoor-minio-buckets')!;
    const [mc] = podSpecOf(job)!.containers as Values[];
    const script = (mc.command as string[]).join('\n');
    const { endpoint, port, archiveBucket, existingSecret, accessKeyKey, secretKeyKey } = chart.objectStore;
    expect(script).toContain(`@${endpoint}:${port}`);
    expect(script).toMatch(/until mc ls local\b/);
    expect(script).toContain(`mc mb --ignore-existing --with-lock local/${archiveBucket}`);
    // the Job and MinIO use the credentials the chart gives the services
    const credentials = (container: Values) =>
      Object.values(envOf(container))
        .map((entry) => entry.valueFrom?.secretKeyRef)
        .filter(Boolean);
    const expected = [
      { name: existingSecret, key: accessKeyKey },
      { name: existingSecret, key: secretKeyKey },
    ];
    expect(credentials(mc)).toEqual(expected);
    const [minio] = podSpecOf(find(objects, 'Deployment', 'kantoor-minio')!)!.containers as Values[];
    expect(credentials(minio)).toEqual(expected);
  });

  it('has Keycloak issue tokens with the issuer and audience local.yaml gives the gateway, to a demo user', () => {
    const keycloak = find(objects, 'Deployment', 'kantoor-oidc')!;
    const [container] = podSpecOf(keycloak)!.containers as Values[];
    expect(container.args).toEqual(['start-dev', '--import-realm']);
    const realm = JSON.parse(
      Object.values(configMapMountedAt(keycloak, '/opt/keycloak/data/import').data as Values)[0] as string,
    );
    expect(realm).toEqual(realmFile());
    expect(`${envOf(container).KC_HOSTNAME.value}/realms/${realm.realm}`).toBe(localValues.oidc.issuer);
    const withAudience = (realm.clients as Values[]).filter((client) =>
      (client.protocolMappers ?? []).some(
        (mapper: Values) =>
          mapper.protocolMapper === 'oidc-audience-mapper' &&
          mapper.config['included.custom.audience'] === localValues.oidc.audience &&
          mapper.config['access.token.claim'] === 'true',
      ),
    );
    expect(withAudience).toEqual([
      expect.objectContaining({ enabled: true, publicClient: true, directAccessGrantsEnabled: true }),
    ]);
    // The gateway knows people by the e-mail claim (the directory matches it); Keycloak refuses a password
    // grant to an account whose profile lacks a first or last name.
    expect(realm.users).toEqual([
      expect.objectContaining({
        enabled: true,
        email: expect.stringMatching(/@/),
        emailVerified: true,
        firstName: expect.any(String),
        lastName: expect.any(String),
        credentials: [expect.objectContaining({ type: 'password', temporary: false })],
      }),
    ]);
  });

  it('runs one Kafka node that advertises the broker address the chart gives the services', () => {
    const [kafka] = podSpecOf(find(objects, 'Deployment', 'kantoor-kafka')!)!.containers as Values[];
    const env = envOf(kafka);
    expect(kafka.image).toMatch(/^apache\/kafka:3\.9\.\d+$/);
    expect(env.KAFKA_ADVERTISED_LISTENERS.value).toBe(`PLAINTEXT://${localValues.kafka.brokers[0]}`);
    expect(env.KAFKA_PROCESS_ROLES.value).toBe('broker,controller');
    expect(localValues.kafka.brokers).toHaveLength(1);
    expect(chart.kafka.ssl).toBe(false);
    // the topics the services create have no more replicas than one node can hold
    expect(env.KAFKA_DEFAULT_REPLICATION_FACTOR.value).toBe('1');
    expect([-1, 1]).toContain(chart.kafka.topics.replicationFactor);
  });

  it('pins every image to a version', () => {
    const images = workloads().flatMap((workload) => containersOf(podSpecOf(workload)!).map((c) => c.image));
    expect(images.length).toBeGreaterThanOrEqual(5);
    for (const image of images) expect(image).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
  });

  it("gives every container requests and a memory limit, and every pod the chart's hardening the image allows", () => {
    for (const workload of workloads()) {
      const where = `${workload.kind} ${workload.metadata.name}`;
      const pod = podSpecOf(workload)!;
      expect({ where, automount: pod.automountServiceAccountToken, serviceLinks: pod.enableServiceLinks }).toEqual({
        where,
        automount: false,
        serviceLinks: false,
      });
      expect({ where, ...pod.securityContext }).toMatchObject({
        where,
        runAsNonRoot: true,
        runAsUser: expect.any(Number),
        seccompProfile: { type: 'RuntimeDefault' },
      });
      for (const container of containersOf(pod)) {
        expect({ where, ...container.resources }).toMatchObject({
          where,
          requests: { cpu: expect.any(String), memory: expect.any(String) },
          limits: { memory: expect.any(String) },
        });
        expect({ where, ...container.securityContext }).toMatchObject({
          where,
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          privileged: false,
          readOnlyRootFilesystem: !(where in WRITABLE_ROOT),
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });

  it('labels every Deployment for the wait in skaffold.yaml, so the chart installs only once they are ready', () => {
    const [infrastructure] = skaffoldConfigs();
    const wait = (infrastructure.deploy.kubectl.hooks.after as Values[])
      .map((hook) => hook.host.command.join(' '))
      .find((command: string) => / wait deployment /.test(command))!;
    const [, key, value] = wait.match(/--selector ([^=\s]+)=(\S+)/)!;
    expect(wait).toContain('--for condition=Available');
    const deployments = objects.filter((object) => object.kind === 'Deployment');
    expect(deployments.length).toBe(4);
    for (const deployment of deployments)
      expect([deployment.metadata.name, deployment.metadata.labels?.[key]]).toEqual([deployment.metadata.name, value]);
    // and nothing of the release's: its NetworkPolicies select the release's pods by these labels
    for (const workload of workloads())
      expect(workload.spec.template.metadata.labels['app.kubernetes.io/instance']).toBeUndefined();
  });
});

describe('deploy/local', () => {
  it('says in every file that it is for developer clusters only', () => {
    const files = readdirSync(localInfrastructureDir).filter((name) => !name.endsWith('.json'));
    expect(files).toEqual(expect.arrayContaining(['kustomization.yaml', 'postgresql-init.sql']));
    for (const name of files) {
      const text = readFileSync(join(localInfrastructureDir, name), 'utf8');
      expect([name, /DEVELOPER CLUSTERS? ONLY/.test(text.slice(0, 600))]).toEqual([name, true]);
    }
    expect(realmFile().displayName).toMatch(/developer cluster only/);
  });
});

describe('skaffold.yaml with the local infrastructure', () => {
  const configs = skaffoldConfigs();
  const names = configs.map((config) => config.metadata.name);
  const infrastructure = configs[names.indexOf('local-infrastructure')];
  const kantoor = configs[names.indexOf('kantoor')];

  it('deploys deploy/local with kubectl before it installs the chart with helm', () => {
    // Skaffold deploys its configs in the file's order; within one config it runs helm before kubectl,
    // which is why the two are separate configs.
    expect(names).toEqual(['local-infrastructure', 'kantoor']);
    expect(configs.map((config) => config.apiVersion)).toEqual(['skaffold/v4beta11', 'skaffold/v4beta11']);
    expect(infrastructure.manifests).toEqual({ kustomize: { paths: ['deploy/local'] } });
    expect(Object.keys(infrastructure.deploy)).toEqual(['kubectl']);
    expect(Object.keys(kantoor.deploy)).toEqual(['helm']);
    expect(kantoor.manifests).toBeUndefined();
    expect(kantoor.deploy.helm.releases[0].valuesFiles[0]).toBe('deploy/values/local.yaml');
  });

  it('deploys the chart alone with `-m kantoor`, for a cluster that has its own infrastructure', () => {
    // a config that `requires` another deploys it too, whichever modules -m names
    for (const config of configs)
      expect([config.metadata.name, config.requires]).toEqual([config.metadata.name, undefined]);
    expect(infrastructure.build).toBeUndefined();
  });

  it('forwards the identity provider and the gateway to the ports the README names', () => {
    expect(infrastructure.portForward).toEqual([
      expect.objectContaining({ resourceType: 'service', resourceName: 'kantoor-oidc', port: 8080, localPort: 8081 }),
    ]);
    expect(kantoor.portForward).toEqual([
      expect.objectContaining({ resourceType: 'service', resourceName: 'kantoor-gateway', localPort: 8080 }),
    ]);
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    expect(readme).toContain('http://localhost:8081/realms/kantoor/protocol/openid-connect/token');
    expect(readme).toContain('http://localhost:8080/v1/');
  });
});

/** The directory service answers only the RPCs named; the others fail (the script must not call them). */
const onlyTheseMethods = <T extends object>(methods: T) =>
  onlyMethods(methods, (name) => new Error(`${name} is not for the demo firm script`));

describe('deploy/local/register-demo-firm.js', () => {
  const signingKey = 'a-caller-signing-key-of-the-test-0123456789';
  const registered: Array<{ adminEmail: string; caller: Caller }> = [];
  let server: GrpcServer;
  let address = '';

  beforeAll(async () => {
    // the server refuses calls not signed with this key, as the directory does with CALLER_SIGNING_KEY
    useCallerSigningKey(signingKey);
    server = new GrpcServer({
      logger: createLogger({ service: 'test', level: 'silent' }),
      services: [
        implement(
          DirectoryService,
          onlyTheseMethods({
            resolveIdentity: async (request: { email: string }) => {
              const known = registered.find((entry) => entry.adminEmail === request.email);
              return known ? { found: true, kind: 'staff', firmId: 'firm-1', email: request.email } : { found: false };
            },
            registerFirm: async (request: { name: string; adminEmail: string }, context: CallContext) => {
              registered.push({ adminEmail: request.adminEmail, caller: context.caller });
              return { firm: { id: 'firm-1', name: request.name }, adminStaffId: 'staff-1' };
            },
          }),
        ),
      ],
    });
    address = `127.0.0.1:${await server.start('127.0.0.1', 0)}`;
  });

  afterAll(async () => {
    await server.stop(1000);
    useCallerSigningKey(undefined);
  });

  /** The script as the README runs it in the directory's pod: from the working directory above services/. */
  const run = (key: string) =>
    promisify(execFile)(process.execPath, [join(localInfrastructureDir, 'register-demo-firm.js')], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, CALLER_SIGNING_KEY: key, DIRECTORY_GRPC_ADDRESS: address },
    });

  it("registers the realm's demo user as the first admin of a firm, as a signed system call, and only once", async () => {
    const first = await run(signingKey);
    expect(first.stdout).toContain('registered Demo Accountants');
    const [demoUser] = realmFile().users;
    expect(registered).toEqual([{ adminEmail: demoUser.email, caller: expect.objectContaining({ kind: 'system' }) }]);

    const again = await run(signingKey);
    expect(again.stdout).toContain('nothing to do');
    expect(registered).toHaveLength(1);
  });

  it("is refused without the platform's caller signing key, and says so", async () => {
    const refused = await run('another-key-that-the-directory-does-not-have').catch((error) => error);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the demo firm could not be registered');
  });
});
