import { basename } from 'node:path';
import {
  chartValues,
  environmentValuesFiles,
  readYaml,
  schemaProblems,
  valuesSchema,
  valuesWith,
  type Values,
} from './chart';

/** Values that install: the chart's own plus the Secrets and addresses an operator must always give. */
const installable: Values = {
  postgresql: { existingSecret: 'kantoor-database' },
  kafka: { brokers: ['kafka:9092'] },
  objectStore: { endpoint: 'minio.data', existingSecret: 'kantoor-object-store' },
  oidc: { issuer: 'https://login.firm.example/realms/kantoor', audience: 'kantoor-api' },
};
const problemsWith = (...overrides: Values[]) => schemaProblems(valuesWith(installable, ...overrides));

describe('values.schema.json', () => {
  it('declares draft 2020-12, which Helm 3.18+ and 4 validate', () => {
    expect(valuesSchema().$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('accepts the chart defaults', () => {
    expect(schemaProblems(chartValues())).toEqual([]);
  });

  const files = environmentValuesFiles();
  it('has environment values files to check', () => {
    expect(files.map((file) => basename(file))).toEqual(expect.arrayContaining(['dev.yaml', 'production.yaml']));
  });

  it.each(files.map((file) => [basename(file), file]))('accepts deploy/values/%s over the defaults', (_, file) => {
    expect(schemaProblems(valuesWith(readYaml(file)))).toEqual([]);
  });

  it('accepts dev.yaml over local.yaml, as skaffold dev installs them', () => {
    const dir = files.find((file) => file.endsWith('local.yaml'))!;
    expect(schemaProblems(valuesWith(readYaml(dir), readYaml(dir.replace('local.yaml', 'dev.yaml'))))).toEqual([]);
  });
});

describe('the schema refuses typical mistakes', () => {
  it('refuses a misspelt top-level key instead of ignoring it', () => {
    expect(problemsWith({ postgres: { existingSecret: 'db' } })).toContain(
      "/ must NOT have additional properties 'postgres'",
    );
  });

  it('refuses a component it does not know', () => {
    expect(problemsWith({ components: { directroy: { enabled: true } } })).toContain(
      "/components must NOT have additional properties 'directroy'",
    );
  });

  it('refuses an unknown key inside a component, a connector and the defaults', () => {
    expect(problemsWith({ components: { archive: { replica: 3 } } })).toContain(
      "/components/archive must NOT have unevaluated properties 'replica'",
    );
    expect(problemsWith({ connectors: [{ name: 'yuki', replica: 3 }] })).toContain(
      "/connectors/0 must NOT have unevaluated properties 'replica'",
    );
    expect(problemsWith({ componentDefaults: { cpu: '1' } })).toContain(
      "/componentDefaults must NOT have unevaluated properties 'cpu'",
    );
  });

  it('refuses negative replicas and an autoscaler without bounds', () => {
    expect(problemsWith({ components: { invoicing: { replicas: -1 } } })).toContain(
      '/components/invoicing/replicas must be >= 0',
    );
    expect(problemsWith({ connectors: [{ name: 'yuki', autoscaling: { enabled: true } }] })).toEqual(
      expect.arrayContaining(["/connectors/0/autoscaling must have required property 'maxReplicas'"]),
    );
  });

  it('refuses a disruption budget with both minAvailable and maxUnavailable', () => {
    const problems = problemsWith({
      components: { directory: { podDisruptionBudget: { enabled: true, minAvailable: 1, maxUnavailable: 1 } } },
    });
    expect(problems).toContain('/components/directory/podDisruptionBudget must NOT be valid');
  });

  it('refuses secret values written inline, wherever they are put', () => {
    expect(problemsWith({ postgresql: { password: 'hunter2' } })).toContain(
      "/postgresql must NOT have additional properties 'password'",
    );
    expect(problemsWith({ kafka: { sasl: { password: 'hunter2' } } })).toContain(
      "/kafka/sasl must NOT have additional properties 'password'",
    );
    expect(problemsWith({ postgresql: { existingSecret: 'postgres://kantoor:hunter2@db/kantoor' } })).not.toEqual([]);
    expect(
      problemsWith({ components: { notification: { env: [{ name: 'SMTP_PASSWORD', value: 'hunter2' }] } } }),
    ).toContain('/components/notification/env/0/name must NOT be valid');
    expect(
      problemsWith({
        components: { backup: { env: [{ name: 'UPSTREAM', value: 'postgres://kantoor:hunter2@db/x' }] } },
      }),
    ).toContain('/components/backup/env/0/value must NOT be valid');
  });

  it('still accepts plain settings and references to existing Secrets', () => {
    expect(
      problemsWith({
        components: {
          notification: {
            env: [{ name: 'SMTP_POOL_SIZE', value: 5 }],
            secretEnv: [{ name: 'SMTP_PASSWORD', secretName: 'kantoor-smtp', key: 'password' }],
          },
        },
      }),
    ).toEqual([]);
  });

  it('refuses running as root and connector names that cannot be object names', () => {
    expect(problemsWith({ podSecurity: { runAsUser: 0 } })).toContain('/podSecurity/runAsUser must be >= 1');
    expect(problemsWith({ connectors: [{ name: 'Exact Online' }] })).toEqual(
      expect.arrayContaining(['/connectors/0/name must match pattern "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"']),
    );
    expect(problemsWith({ connectors: [{ replicas: 1 }] })).toContain(
      "/connectors/0 must have required property 'name'",
    );
  });

  it('refuses a gateway trustProxy that express could not read, and accepts names, subnets and hop counts', () => {
    expect(problemsWith({ components: { gateway: { trustProxy: 'the ingress' } } })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/components\/gateway\/trustProxy must match pattern/)]),
    );
    expect(problemsWith({ components: { gateway: { trustProxy: -1 } } })).not.toEqual([]);
    for (const trustProxy of ['loopback, uniquelocal', 'loopback,10.42.0.0/16, fd00::/8', '2', 2, 'false'])
      expect(problemsWith({ components: { gateway: { trustProxy } } })).toEqual([]);
  });

  it('refuses topic layouts Kafka would refuse: no partitions, zero replicas, unknown keys', () => {
    expect(problemsWith({ kafka: { topics: { partitions: 0 } } })).not.toEqual([]);
    expect(problemsWith({ kafka: { topics: { replicationFactor: 0 } } })).not.toEqual([]);
    expect(problemsWith({ kafka: { topics: { replicationFactor: -2 } } })).not.toEqual([]);
    expect(problemsWith({ kafka: { topics: { partition: 6 } } })).not.toEqual([]);
    for (const topics of [{ partitions: 1 }, { partitions: 48, replicationFactor: 3 }, { replicationFactor: -1 }])
      expect(problemsWith({ kafka: { topics } })).toEqual([]);
  });

  it('refuses an SMTP password or key written inline, a public URL that is not one, and an unknown TLS mode', () => {
    expect(problemsWith({ components: { notification: { smtp: { password: 'hunter2' } } } })).toContain(
      "/components/notification/smtp must NOT have additional properties 'password'",
    );
    expect(problemsWith({ components: { 'document-intake': { linkSecret: { value: 'x'.repeat(40) } } } })).toEqual(
      expect.arrayContaining(["/components/document-intake/linkSecret must NOT have additional properties 'value'"]),
    );
    expect(problemsWith({ publicUrl: 'kantoor.firm.example' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/publicUrl must match pattern/)]),
    );
    expect(problemsWith({ components: { notification: { smtp: { tls: 'ssl' } } } })).toEqual(
      expect.arrayContaining(['/components/notification/smtp/tls must be equal to one of the allowed values']),
    );
    expect(
      problemsWith({
        publicUrl: 'https://kantoor.firm.example/',
        components: {
          notification: {
            secretKey: { existingSecret: 'kantoor-keys', key: 'notification' },
            smtp: { host: 'smtp.firm.example', port: 465, tls: 'tls', username: 'k', existingSecret: 'kantoor-smtp' },
          },
        },
      }),
    ).toEqual([]);
  });

  it('refuses an unknown log level and a malformed schedule', () => {
    expect(problemsWith({ logLevel: 'verbose' })).toEqual(
      expect.arrayContaining(['/logLevel must be equal to one of the allowed values']),
    );
    expect(problemsWith({ cronJobs: { dailyBackup: { schedule: 'every night' } } })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/cronJobs\/dailyBackup\/schedule must match pattern/)]),
    );
  });
});
