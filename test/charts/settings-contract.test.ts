/**
 * The chart and the code agree on setting names: every variable the rendered chart gives a process is one
 * that process reads (its settings are taken from the code, see component-settings.ts), and every service
 * address a component reads is given to it. A setting the chart names differently from the code (the
 * directory's address, the SMTP intake's port) would otherwise be ignored without a word, and the process
 * would run on its default.
 */
import { SERVICE_ADDRESS_SETTINGS } from '@kantoor/gateway';
import type { Values } from './chart';
import { settingsReadByComponent } from './component-settings';
import { describeEachEnvironment, describeWithHelm, envOf, find, podSpecOf, render, type Manifest } from './helm';

/**
 * What the chart gives already for code that does not read it yet: the gateway has no route to a connector
 * and the connector does not yet tell its packages apart. Each must stay unread by that component (checked
 * below), so that this list shrinks as soon as the code catches up.
 */
const AHEAD_OF_CODE: Record<string, RegExp[]> = {
  gateway: [/^ACCOUNTING_CONNECTORS$/, /^ACCOUNTING_CONNECTOR_[A-Z0-9_]+_GRPC_ADDRESS$/],
  'accounting-connector': [/^CONNECTOR$/],
};

const read = settingsReadByComponent();

interface Process {
  where: string;
  component: string;
  env: Values[];
  reads: (name: string) => boolean;
}

/** Every container the render starts, with what its process reads. */
function processes(manifests: Manifest[]): Process[] {
  return manifests.flatMap((manifest) => {
    const pod = podSpecOf(manifest);
    if (!pod) return [];
    return (pod.containers as Values[]).map((container): Process => {
      const where = `${manifest.kind} ${manifest.metadata.name}`;
      if (manifest.metadata.annotations?.['helm.sh/hook'] === 'test') {
        // a helm test pod runs `node -e <script>`: it reads what the script reads
        const script = String(container.command[2]);
        const names = new Set([...script.matchAll(/process\.env\.([A-Z0-9_]+)/g)].map((match) => match[1]));
        return { where, component: 'helm test', env: container.env ?? [], reads: (name) => names.has(name) };
      }
      const component = manifest.metadata.labels?.['app.kubernetes.io/component'] ?? '';
      const settings = read.get(component);
      if (!settings) throw new Error(`${where}: component "${component}" has no code under gateway/ or services/`);
      const ahead = AHEAD_OF_CODE[component] ?? [];
      return {
        where,
        component,
        env: container.env ?? [],
        reads: (name) => settings.has(name) || ahead.some((pattern) => pattern.test(name)),
      };
    });
  });
}

/** "<where>: NAME" for every variable a process is given but does not read. */
function unreadSettings(manifests: Manifest[]): string[] {
  return processes(manifests).flatMap((process) => {
    const values = process.env.map((entry) => String(entry.value ?? '')).join('\n');
    return process.env
      .map((entry) => entry.name as string)
      .filter((name) => {
        // downward-API variables exist to be expanded into another value ($(K8S_POD_NAME)), not to be read
        if (/^K8S_/.test(name)) return !values.includes(`$(${name})`);
        return !process.reads(name);
      })
      .map((name) => `${process.where} (${process.component}): ${name}`);
  });
}

describeWithHelm('settings the chart gives each process', () => {
  describeEachEnvironment((rendered) => {
    it('are all read by that process', () => {
      const { manifests } = rendered;
      expect(processes(manifests).length).toBeGreaterThan(15);
      expect(unreadSettings(manifests)).toEqual([]);
    });

    it('give every process that talks to Kafka each Kafka setting it reads (the SASL ones when SASL is on)', () => {
      const sasl = /^KAFKA_SASL_/;
      let checked = 0;
      for (const process of processes(rendered.manifests)) {
        const given = new Set(process.env.map((entry) => entry.name as string));
        const settings = read.get(process.component);
        if (!settings || !given.has('KAFKA_BROKERS')) continue;
        const missing = [...settings].filter(
          (name) =>
            name.startsWith('KAFKA_') && !given.has(name) && (!sasl.test(name) || given.has('KAFKA_SASL_MECHANISM')),
        );
        expect({ where: process.where, missing }).toEqual({ where: process.where, missing: [] });
        checked++;
      }
      // every Deployment at least (connectors included), and the Jobs that run their code
      expect(checked).toBeGreaterThan(7);
    });

    it("include the address of every service a component reads one for, pointing at that service's Service", () => {
      const deployments = rendered.manifests.filter((manifest) => manifest.kind === 'Deployment');
      const deployed = new Set(deployments.map((deployment) => deployment.metadata.name.replace(/^kantoor-/, '')));
      let checked = 0;
      for (const deployment of deployments) {
        const component = deployment.metadata.labels!['app.kubernetes.io/component'];
        const env = envOf(deployment.spec.template.spec.containers[0]);
        for (const [service, setting] of Object.entries(SERVICE_ADDRESS_SETTINGS)) {
          if (!deployed.has(service) || !read.get(component)!.has(setting)) continue;
          expect({ component, setting, value: env[setting]?.value }).toEqual({
            component,
            setting,
            value: `kantoor-${service}:50051`,
          });
          checked++;
        }
      }
      // the gateway reads every service's address, and services read at least the directory's
      expect(checked).toBeGreaterThan(Object.keys(SERVICE_ADDRESS_SETTINGS).length);
    });
  });

  it('lists as ahead of the code only settings that code does not read yet', () => {
    for (const [component, patterns] of Object.entries(AHEAD_OF_CODE)) {
      const readNow = [...read.get(component)!].filter((name) => patterns.some((pattern) => pattern.test(name)));
      expect({ component, readNow }).toEqual({ component, readNow: [] });
    }
  });

  it("give document-intake the IMAP mailbox's settings under the names it reads, the password from its Secret", () => {
    const manifests = render(['production.yaml'], {
      components: {
        'document-intake': {
          imapIntake: { host: 'imap.firm.example', username: 'intake@firm.example', existingSecret: 'kantoor-imap' },
        },
      },
    });
    const intake = find(manifests, 'Deployment', 'kantoor-document-intake')!;
    expect(unreadSettings([intake])).toEqual([]);
    expect(envOf(intake.spec.template.spec.containers[0])).toMatchObject({
      INTAKE_IMAP_HOST: { value: 'imap.firm.example' },
      INTAKE_IMAP_PORT: { value: '993' },
      INTAKE_IMAP_SECURITY: { value: 'tls' },
      INTAKE_IMAP_USER: { value: 'intake@firm.example' },
      INTAKE_IMAP_PASSWORD: { valueFrom: { secretKeyRef: { name: 'kantoor-imap', key: 'imap-password' } } },
      INTAKE_IMAP_MAILBOX: { value: 'INBOX' },
      INTAKE_IMAP_PROCESSED_MAILBOX: { value: 'Kantoor processed' },
      INTAKE_IMAP_REFUSED_MAILBOX: { value: 'Kantoor refused' },
      INTAKE_IMAP_POLL_SECONDS: { value: '60' },
    });
  });

  it("give document-intake an Exchange Online mailbox's OAuth 2.0 client, its secret from the Secret, and no password", () => {
    const manifests = render(['production.yaml'], {
      components: {
        'document-intake': {
          imapIntake: {
            host: 'outlook.office365.com',
            username: 'intake@firm.example',
            auth: 'oauth2',
            existingSecret: 'kantoor-imap',
            oauth: { tokenUrl: 'https://login.microsoftonline.com/tenant-id/oauth2/v2.0/token', clientId: 'app-id' },
          },
        },
      },
    });
    const intake = find(manifests, 'Deployment', 'kantoor-document-intake')!;
    expect(unreadSettings([intake])).toEqual([]);
    const env = envOf(intake.spec.template.spec.containers[0]);
    expect(env).toMatchObject({
      INTAKE_IMAP_AUTH: { value: 'oauth2' },
      INTAKE_IMAP_OAUTH_TOKEN_URL: { value: 'https://login.microsoftonline.com/tenant-id/oauth2/v2.0/token' },
      INTAKE_IMAP_OAUTH_CLIENT_ID: { value: 'app-id' },
      INTAKE_IMAP_OAUTH_SCOPE: { value: 'https://outlook.office365.com/.default' },
      INTAKE_IMAP_OAUTH_CLIENT_SECRET: {
        valueFrom: { secretKeyRef: { name: 'kantoor-imap', key: 'imap-oauth-client-secret' } },
      },
    });
    expect(env.INTAKE_IMAP_PASSWORD).toBeUndefined();
  });

  it("give document-intake a Google Workspace mailbox's service account key from the Secret, and no password", () => {
    const manifests = render(['production.yaml'], {
      components: {
        'document-intake': {
          imapIntake: {
            host: 'imap.gmail.com',
            username: 'intake@firm.example',
            auth: 'google-service-account',
            existingSecret: 'kantoor-imap',
          },
        },
      },
    });
    const intake = find(manifests, 'Deployment', 'kantoor-document-intake')!;
    expect(unreadSettings([intake])).toEqual([]);
    const env = envOf(intake.spec.template.spec.containers[0]);
    expect(env).toMatchObject({
      INTAKE_IMAP_HOST: { value: 'imap.gmail.com' },
      INTAKE_IMAP_USER: { value: 'intake@firm.example' },
      INTAKE_IMAP_AUTH: { value: 'google-service-account' },
      INTAKE_IMAP_GOOGLE_SERVICE_ACCOUNT_KEY: {
        valueFrom: { secretKeyRef: { name: 'kantoor-imap', key: 'imap-google-service-account.json' } },
      },
    });
    expect(env.INTAKE_IMAP_PASSWORD).toBeUndefined();
    expect(env.INTAKE_IMAP_OAUTH_CLIENT_SECRET).toBeUndefined();
  });

  it('would notice a setting given under a name the process does not read', () => {
    const manifests = render(['production.yaml'], {
      components: { directory: { env: [{ name: 'DIRECTORY_ADDRESS', value: 'kantoor-directory:50051' }] } },
    });
    expect(unreadSettings([find(manifests, 'Deployment', 'kantoor-directory')!])).toEqual([
      'Deployment kantoor-directory (directory): DIRECTORY_ADDRESS',
    ]);
  });
});
