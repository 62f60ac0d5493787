/**
 * Renders the chart with `helm template` and checks what a cluster would receive: every object valid for
 * its Kubernetes kind (kubernetes-models), hardened pods, secrets only by reference, and NOTES.txt refusing
 * invalid combinations. Needs a helm binary (HELM_BIN, or helm on PATH); without one the suite is skipped
 * and says so.
 */
import type { Values } from './chart';
import {
  deploymentEnv,
  describeEachEnvironment,
  describeWithHelm,
  envOf,
  find,
  podSpecOf,
  refusal,
  render,
  validateKind,
  type Manifest,
} from './helm';

describeWithHelm('helm template of charts/platform', () => {
  describeEachEnvironment((rendered) => {
    it('renders only objects that are valid for their Kubernetes kind', () => {
      const { manifests } = rendered;
      expect(manifests.length).toBeGreaterThan(20);
      for (const manifest of manifests) expect(() => validateKind(manifest)).not.toThrow();
    });

    it('runs every pod non-root, read-only, without privilege escalation or capabilities', () => {
      const pods = rendered.manifests.map(podSpecOf).filter(Boolean) as Values[];
      expect(pods.length).toBeGreaterThan(15);
      for (const pod of pods) {
        expect(pod.securityContext).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 10001,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(pod.automountServiceAccountToken).toBe(false);
        for (const container of pod.containers) {
          expect(container.securityContext).toMatchObject({
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
        }
      }
    });

    it('gives secrets to processes only as references to existing Secrets', () => {
      const { manifests } = rendered;
      const containers = manifests.flatMap((manifest) => podSpecOf(manifest)?.containers ?? []);
      const secretLooking = /PASSWORD|SECRET|ACCESS_KEY|TOKEN|^DATABASE_URL$/;
      // named after secrets, but no secret: how long a rotated-out webhook secret keeps signing
      const notSecret = /^NOTIFICATION_WEBHOOK_SECRET_OVERLAP_HOURS$/;
      for (const container of containers) {
        for (const entry of container.env ?? []) {
          if (secretLooking.test(entry.name) && !notSecret.test(entry.name))
            expect(entry).toEqual({ name: entry.name, valueFrom: { secretKeyRef: expect.any(Object) } });
        }
      }
      expect(manifests.filter((manifest) => manifest.kind === 'Secret')).toEqual([]);
    });
  });

  describe('with production values', () => {
    let manifests: Manifest[] = [];
    let deployments: Manifest[] = [];
    beforeAll(() => {
      manifests = render(['production.yaml']);
      deployments = manifests.filter((manifest) => manifest.kind === 'Deployment');
    });

    it('deploys each component and each connector as its own Deployment', () => {
      expect(deployments.map((deployment) => deployment.metadata.name).sort()).toEqual([
        'kantoor-archive',
        'kantoor-backup',
        'kantoor-connector-exact-online',
        'kantoor-directory',
        'kantoor-document-intake',
        'kantoor-gateway',
        'kantoor-invoicing',
        'kantoor-notification',
      ]);
    });

    it('probes services with native gRPC health checks and the gateway over HTTP', () => {
      for (const deployment of deployments) {
        const [container] = deployment.spec.template.spec.containers;
        if (deployment.metadata.name === 'kantoor-gateway') {
          expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
          expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
        } else {
          expect(container.readinessProbe.grpc).toEqual({ port: 50051 });
          expect(container.livenessProbe.grpc).toEqual({ port: 50051 });
          expect(container.ports).toEqual(expect.arrayContaining([{ name: 'metrics', containerPort: 9464 }]));
        }
      }
    });

    it('tells the gateway where every service is and which identity provider to trust', () => {
      const env = envOf(find(manifests, 'Deployment', 'kantoor-gateway')!.spec.template.spec.containers[0]);
      expect(env.DIRECTORY_GRPC_ADDRESS.value).toBe('kantoor-directory:50051');
      expect(env.DOCUMENT_INTAKE_GRPC_ADDRESS.value).toBe('kantoor-document-intake:50051');
      expect(env.ACCOUNTING_CONNECTOR_EXACT_ONLINE_GRPC_ADDRESS.value).toBe('kantoor-connector-exact-online:50051');
      expect(env.OIDC_ISSUER.value).toBe('https://login.firm.example/realms/kantoor');
      expect(env.PORT.value).toBe('8080');
      expect(env.KANTOOR_MODE.value).toBe('cluster');
    });

    it('tells the gateway which proxies may name the client: by default those in the private (pod) ranges', () => {
      expect(deploymentEnv(manifests, 'kantoor-gateway').TRUST_PROXY).toEqual({
        name: 'TRUST_PROXY',
        value: 'loopback, uniquelocal',
      });
      const others = deployments.filter((deployment) => deployment.metadata.name !== 'kantoor-gateway');
      for (const deployment of others)
        expect(deploymentEnv(manifests, deployment.metadata.name).TRUST_PROXY).toBe(undefined);
      const narrowed = render(['production.yaml'], {
        components: { gateway: { trustProxy: 'loopback, 10.42.0.0/16' } },
      });
      expect(deploymentEnv(narrowed, 'kantoor-gateway').TRUST_PROXY.value).toBe('loopback, 10.42.0.0/16');
      expect(
        deploymentEnv(render(['production.yaml'], { components: { gateway: { trustProxy: 1 } } }), 'kantoor-gateway')
          .TRUST_PROXY.value,
      ).toBe('1');
    });

    it('gives intake and notification the Ingress address for their links, their keys and the SMTP server', () => {
      const secret = (name: string, key: string) => ({ valueFrom: { secretKeyRef: { name, key } } });
      const intake = deploymentEnv(manifests, 'kantoor-document-intake');
      expect(intake).toMatchObject({
        INTAKE_PUBLIC_URL: { value: 'https://kantoor.firm.example' },
        INTAKE_LINK_SECRET: secret('kantoor-service-keys', 'intake-link-secret'),
      });
      expect(deploymentEnv(manifests, 'kantoor-notification')).toMatchObject({
        NOTIFICATION_PUBLIC_URL: { value: 'https://kantoor.firm.example' },
        NOTIFICATION_SECRET_KEY: secret('kantoor-service-keys', 'notification-secret-key'),
        NOTIFICATION_SMTP_HOST: { value: 'smtp.firm.example' },
        NOTIFICATION_SMTP_PORT: { value: '587' },
        NOTIFICATION_SMTP_TLS: { value: 'starttls' },
        NOTIFICATION_SMTP_USER: { value: 'kantoor' },
        NOTIFICATION_SMTP_PASSWORD: secret('kantoor-smtp', 'password'),
        NOTIFICATION_SENDER: { value: 'kantoor@firm.example' },
      });
      // each key only where it is used
      const holders = (setting: string) =>
        deployments
          .filter((deployment) => deploymentEnv(manifests, deployment.metadata.name)[setting])
          .map((deployment) => deployment.metadata.name);
      expect(holders('INTAKE_LINK_SECRET')).toEqual(['kantoor-document-intake']);
      expect(holders('NOTIFICATION_SECRET_KEY')).toEqual(['kantoor-notification']);
      expect(holders('NOTIFICATION_SMTP_PASSWORD')).toEqual(['kantoor-notification']);
    });

    it('lays out the topics each service creates as the values say: 12 partitions, on all three brokers', () => {
      const layout = (rendered: Manifest[]) =>
        rendered
          .filter((manifest) => manifest.kind === 'Deployment')
          .map((deployment) => {
            const env = deploymentEnv(rendered, deployment.metadata.name);
            return [
              deployment.metadata.name,
              env.KAFKA_TOPIC_PARTITIONS?.value,
              env.KAFKA_TOPIC_REPLICATION_FACTOR?.value,
            ];
          });
      expect(layout(manifests)).toEqual(deployments.map((deployment) => [deployment.metadata.name, '12', '3']));
      // the chart's default: the brokers' default.replication.factor (local.yaml's single broker)
      expect(new Set(layout(render(['local.yaml'])).map(([, , replicas]) => replicas))).toEqual(new Set(['-1']));
      const wider = render(['production.yaml'], { kafka: { topics: { partitions: 48, replicationFactor: 2 } } });
      const intake = deploymentEnv(wider, 'kantoor-document-intake');
      expect([intake.KAFKA_TOPIC_PARTITIONS.value, intake.KAFKA_TOPIC_REPLICATION_FACTOR.value]).toEqual(['48', '2']);
    });

    it('gives only the archive its Object Lock bucket, and the intake its SMTP port and Service', () => {
      const bucketHolders = deployments.filter(
        (deployment) => envOf(deployment.spec.template.spec.containers[0]).ARCHIVE_BUCKET,
      );
      expect(bucketHolders.map((deployment) => deployment.metadata.name)).toEqual(['kantoor-archive']);
      const intake = envOf(find(manifests, 'Deployment', 'kantoor-document-intake')!.spec.template.spec.containers[0]);
      expect(intake.INTAKE_SMTP_PORT.value).toBe('2525');
      expect(intake.SMTP_INTAKE_PORT).toBeUndefined();
      expect(find(manifests, 'Service', 'kantoor-document-intake-smtp')!.spec).toMatchObject({
        type: 'LoadBalancer',
        ports: [{ name: 'smtp', port: 25, targetPort: 'smtp' }],
      });
    });

    it('runs each database migration before install and upgrade, before any workload', () => {
      const migrations = manifests.filter((manifest) => manifest.kind === 'Job');
      expect(migrations.map((job) => job.spec.template.spec.containers[0].command)).toEqual(
        expect.arrayContaining([
          ['node', 'gateway/dist/main.js', 'migrate'],
          ['node', 'services/directory/dist/main.js', 'migrate'],
          ['node', 'services/accounting-connector/dist/main.js', 'migrate'],
        ]),
      );
      expect(migrations).toHaveLength(8);
      for (const job of migrations) expect(job.metadata.annotations!['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    });

    it('schedules the archive purge and the archive verification, and no daily backup the service lacks', () => {
      const commands = manifests
        .filter((manifest) => manifest.kind === 'CronJob')
        .map((cronJob) => cronJob.spec.jobTemplate.spec.template.spec.containers[0].command.join(' '));
      expect(commands.sort()).toEqual([
        'node services/archive/dist/main.js purge',
        'node services/archive/dist/main.js verify',
      ]);
    });

    it('has helm test pods for gateway readiness and gRPC health, both let through the network policies', () => {
      const tests = manifests.filter((manifest) => manifest.metadata.annotations?.['helm.sh/hook'] === 'test');
      expect(tests.map((pod) => pod.metadata.name).sort()).toEqual([
        'kantoor-test-gateway-ready',
        'kantoor-test-grpc-health',
      ]);
      const gatewayPolicy = find(manifests, 'NetworkPolicy', 'kantoor-gateway')!;
      expect(gatewayPolicy.spec.ingress[0].from).toContainEqual({
        podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'kantoor' } },
      });
      expect(tests.every((pod) => pod.metadata.labels?.['app.kubernetes.io/instance'] === 'kantoor')).toBe(true);
    });
  });

  it('scales each connector on its own, from the same image', () => {
    const manifests = render(['production.yaml'], {
      connectors: [
        { name: 'exact-online', replicas: 2 },
        {
          name: 'yuki',
          autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 4, targetCPUUtilizationPercentage: 60 },
        },
      ],
    });
    const exact = find(manifests, 'Deployment', 'kantoor-connector-exact-online')!;
    const yuki = find(manifests, 'Deployment', 'kantoor-connector-yuki')!;
    expect(exact.spec.replicas).toBe(2);
    expect(yuki.spec.replicas).toBeUndefined();
    expect(find(manifests, 'HorizontalPodAutoscaler', 'kantoor-connector-yuki')!.spec.maxReplicas).toBe(4);
    expect(find(manifests, 'HorizontalPodAutoscaler', 'kantoor-connector-exact-online')).toBeUndefined();
    expect(envOf(yuki.spec.template.spec.containers[0]).CONNECTOR.value).toBe('yuki');
    expect(yuki.spec.template.spec.containers[0].image).toBe(exact.spec.template.spec.containers[0].image);
    const migrations = manifests.filter(
      (manifest) => manifest.metadata.name === 'kantoor-migrate-accounting-connector',
    );
    expect(migrations).toHaveLength(1);
  });

  it('takes publicUrl over the Ingress host, and gives no SMTP settings without an SMTP host', () => {
    const local = render(['local.yaml']);
    expect(deploymentEnv(local, 'kantoor-document-intake').INTAKE_PUBLIC_URL.value).toBe('http://localhost:8080');
    const notification = deploymentEnv(local, 'kantoor-notification');
    expect(notification.NOTIFICATION_PUBLIC_URL.value).toBe('http://localhost:8080');
    expect(Object.keys(notification).filter((name) => /^NOTIFICATION_(SMTP_|SENDER)/.test(name))).toEqual([]);
    const portal = render(['production.yaml'], { publicUrl: 'https://portal.firm.example/kantoor' });
    expect(deploymentEnv(portal, 'kantoor-notification').NOTIFICATION_PUBLIC_URL.value).toBe(
      'https://portal.firm.example/kantoor',
    );
    const anonymous = render(['production.yaml'], {
      components: { notification: { smtp: { host: 'relay.firm.example', port: 25, tls: 'none', username: '' } } },
    });
    expect(deploymentEnv(anonymous, 'kantoor-notification')).toMatchObject({
      NOTIFICATION_SMTP_HOST: { value: 'relay.firm.example' },
      NOTIFICATION_SMTP_PORT: { value: '25' },
      NOTIFICATION_SMTP_TLS: { value: 'none' },
    });
    expect(deploymentEnv(anonymous, 'kantoor-notification').NOTIFICATION_SMTP_PASSWORD).toBeUndefined();
  });

  describe('NOTES.txt refuses invalid combinations', () => {
    it('names every component left without a database secret, and the missing Kafka and object store', () => {
      const message = refusal([], {});
      expect(message).toContain('Kantoor cannot be installed with these values');
      expect(message).toContain(
        'postgresql.existingSecret is empty, so these have no database: components.archive (key archive-url)',
      );
      expect(message).toContain('connectors[exact-online] (key accounting-connector-url)');
      expect(message).toContain('kafka.brokers is empty');
      expect(message).toContain('objectStore.existingSecret is empty');
      expect(message).toContain('oidc.issuer and oidc.audience are required while the gateway is enabled');
    });

    it('refuses SASL without a password secret, an archive job without archive, and inverted autoscaling bounds', () => {
      const message = refusal(['local.yaml'], {
        kafka: { sasl: { mechanism: 'scram-sha-512', username: 'kantoor' } },
        components: {
          archive: { enabled: false },
          invoicing: {
            autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2, targetCPUUtilizationPercentage: 70 },
          },
        },
      });
      expect(message).toContain(
        'kafka.sasl.mechanism "scram-sha-512" needs kafka.sasl.username and kafka.sasl.existingSecret',
      );
      expect(message).toContain(
        'cronJobs.archivePurge runs the archive image: enable components.archive or disable the job',
      );
      expect(message).toContain('components.invoicing: autoscaling.minReplicas (5) is above maxReplicas (2)');
    });

    it('refuses a disruption budget that would block every drain, and a connector listed twice', () => {
      const message = refusal(['local.yaml'], {
        components: { directory: { replicas: 1, podDisruptionBudget: { enabled: true, minAvailable: 1 } } },
        connectors: [{ name: 'exact-online' }, { name: 'exact-online' }],
      });
      expect(message).toContain('components.directory: podDisruptionBudget.minAvailable (1) is not below replicas (1)');
      expect(message).toContain('connectors: "exact-online" appears twice');
    });

    it('refuses intake and notification without their keys, and mails without a public URL to link to', () => {
      const message = refusal(['local.yaml'], {
        publicUrl: '',
        components: {
          'document-intake': { linkSecret: { existingSecret: '' } },
          notification: { secretKey: { existingSecret: '' }, smtp: { username: 'kantoor' } },
        },
      });
      expect(message).toContain(
        'components.document-intake.linkSecret.existingSecret is empty: name the Secret holding INTAKE_LINK_SECRET',
      );
      expect(message).toContain(
        'components.notification.secretKey.existingSecret is empty: name the Secret holding NOTIFICATION_SECRET_KEY',
      );
      expect(message).toContain("publicUrl is empty and the gateway's Ingress has no host to take it from");
      expect(message).toContain(
        'components.notification.smtp.username needs components.notification.smtp.existingSecret',
      );
      expect(message).toContain('components.notification.smtp.host is empty while other smtp settings are given');
    });

    it('refuses an IMAP mailbox without its login, and a login without a mailbox', () => {
      expect(
        refusal(['local.yaml'], { components: { 'document-intake': { imapIntake: { host: 'imap.firm.example' } } } }),
      ).toContain('components.document-intake.imapIntake.host needs imapIntake.username and imapIntake.existingSecret');
      expect(
        refusal(['local.yaml'], { components: { 'document-intake': { imapIntake: { username: 'intake' } } } }),
      ).toContain('components.document-intake.imapIntake.host is empty while a username or Secret is given');
      expect(
        refusal(['local.yaml'], {
          components: {
            'document-intake': {
              imapIntake: { host: 'outlook.office365.com', username: 'in', existingSecret: 's', auth: 'oauth2' },
            },
          },
        }),
      ).toContain('components.document-intake.imapIntake.auth oauth2 needs imapIntake.oauth.tokenUrl (https)');
    });

    it('asks for neither key nor public URL while intake and notification are off', () => {
      expect(
        refusal(['local.yaml'], {
          publicUrl: '',
          components: {
            'document-intake': { enabled: false, linkSecret: { existingSecret: '' } },
            notification: { enabled: false, secretKey: { existingSecret: '' } },
          },
        }),
      ).toBe('');
    });

    it('refuses the daily backup, which the backup service cannot run yet', () => {
      expect(refusal(['local.yaml'], { cronJobs: { dailyBackup: { enabled: true } } })).toContain(
        'cronJobs.dailyBackup.enabled: the backup service has no daily-backup command yet, so the job could only fail',
      );
    });

    it('refuses a component whose directory is disabled, naming the address it would miss', () => {
      const message = refusal(['local.yaml'], { components: { directory: { enabled: false } } });
      for (const component of ['gateway', 'document-intake', 'archive', 'notification'])
        expect(message).toContain(
          `components.${component} calls directory (DIRECTORY_GRPC_ADDRESS), which is disabled: enable components.directory`,
        );
      expect(message).not.toContain('components.invoicing calls');
    });

    it('lets Helm itself refuse values the schema does not allow', () => {
      expect(refusal(['local.yaml'], { postgresql: { password: 'hunter2' } })).toContain(
        "additional properties 'password' not allowed",
      );
    });
  });
});
