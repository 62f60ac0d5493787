/**
 * Who may reach which port, as the rendered NetworkPolicies decide it for the rendered pods. Services trust
 * the caller identity in gRPC metadata (x-kantoor-caller-bin), so a pod that reaches a service's gRPC port
 * can act as any caller: only the platform's pods that call that service may.
 */
import type { Values } from './chart';
import { describeWithHelm, podSpecOf, render, type Manifest } from './helm';

interface Pod {
  name: string;
  labels: Record<string, string>;
  /** port name → number */
  ports: Record<string, number>;
}

/** Every pod template of the render (workloads, jobs, helm test pods), by the object it comes from. */
function podsOf(manifests: Manifest[]): Pod[] {
  return manifests.flatMap((manifest): Pod[] => {
    const spec = podSpecOf(manifest);
    if (!spec) return [];
    const labels =
      manifest.kind === 'Pod'
        ? manifest.metadata.labels!
        : manifest.kind === 'CronJob'
          ? manifest.spec.jobTemplate.spec.template.metadata.labels
          : manifest.spec.template.metadata.labels;
    const ports = Object.fromEntries(
      (spec.containers as Values[]).flatMap((container) =>
        (container.ports ?? []).map((port: Values) => [port.name, port.containerPort]),
      ),
    );
    return [{ name: `${manifest.kind} ${manifest.metadata.name}`, labels, ports }];
  });
}

function selects(selector: Values, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = ((selector.matchExpressions ?? []) as Values[]).every((expression) => {
    if (expression.operator !== 'In') throw new Error(`operator ${expression.operator} is not evaluated here`);
    return (expression.values as string[]).includes(labels[expression.key]);
  });
  return byLabels && byExpressions;
}

/**
 * Whether `from` (a pod of the release, or a stranger's labels) may open `port` (a name) of `to`, by the
 * NetworkPolicy semantics: a pod no policy selects takes anything; a selected pod only what one of the
 * policies' rules allows (a rule without `from` allows every source).
 */
function allowed(policies: Manifest[], from: Record<string, string>, to: Pod, port: string): boolean {
  const applying = policies.filter((policy) => selects(policy.spec.podSelector, to.labels));
  if (applying.length === 0) return true;
  return applying.some((policy) =>
    (policy.spec.ingress as Values[]).some((rule) => {
      const portMatches = (rule.ports as Values[]).some((p) => p.port === port || p.port === to.ports[port]);
      if (!portMatches) return false;
      if (!rule.from) return true;
      return (rule.from as Values[]).some(
        (peer) => peer.podSelector && !peer.namespaceSelector && selects(peer.podSelector, from),
      );
    }),
  );
}

describeWithHelm('network policies', () => {
  let manifests: Manifest[] = [];
  let policies: Manifest[] = [];
  let pods: Pod[] = [];
  const pod = (name: string) => pods.find((candidate) => candidate.name === name)!;
  const reaches = (from: string, to: string, port = 'grpc') =>
    allowed(policies, pod(from).labels, pod(`Deployment kantoor-${to}`), port);

  beforeAll(() => {
    // local.yaml does not mention networkPolicy: what an install gets by default
    manifests = render(['local.yaml']);
    policies = manifests.filter((manifest) => manifest.kind === 'NetworkPolicy');
    pods = podsOf(manifests);
  });

  it('are on by default, one for every workload', () => {
    const workloads = manifests.filter((manifest) => manifest.kind === 'Deployment').map((d) => d.metadata.name);
    expect(policies.map((policy) => policy.metadata.name).sort()).toEqual(workloads.sort());
  });

  it("let the gateway and the helm test reach every service's gRPC port", () => {
    const services = manifests
      .filter((manifest) => manifest.kind === 'Deployment' && manifest.metadata.name !== 'kantoor-gateway')
      .map((deployment) => deployment.metadata.name.replace(/^kantoor-/, ''));
    expect(services).toHaveLength(7);
    for (const service of services) {
      expect({ service, gateway: reaches('Deployment kantoor-gateway', service) }).toEqual({ service, gateway: true });
      expect({ service, test: reaches('Pod kantoor-test-grpc-health', service) }).toEqual({ service, test: true });
    }
  });

  it('let a service reach only the services it calls', () => {
    for (const caller of ['document-intake', 'archive', 'notification'])
      expect(reaches(`Deployment kantoor-${caller}`, 'directory')).toBe(true);
    expect(reaches('Deployment kantoor-document-intake', 'invoicing')).toBe(false);
    expect(reaches('Deployment kantoor-notification', 'document-intake')).toBe(false);
    expect(reaches('Deployment kantoor-connector-exact-online', 'directory')).toBe(false);
    expect(reaches('Deployment kantoor-invoicing', 'archive')).toBe(false);
  });

  it("keep jobs and any other pod of the namespace away from the services' gRPC ports", () => {
    for (const job of [
      'CronJob kantoor-archive-purge',
      'Job kantoor-migrate-directory',
      'Pod kantoor-test-gateway-ready',
    ])
      expect({ job, reaches: reaches(job, 'directory') }).toEqual({ job, reaches: false });
    const stranger = { app: 'something-else' };
    for (const to of ['directory', 'archive', 'connector-exact-online'])
      expect(allowed(policies, stranger, pod(`Deployment kantoor-${to}`), 'grpc')).toBe(false);
  });

  it('leave the gateway, the SMTP intake and the metrics ports open by default, for the Ingress, the MX and Prometheus', () => {
    const stranger = { app: 'ingress-nginx' };
    expect(allowed(policies, stranger, pod('Deployment kantoor-gateway'), 'http')).toBe(true);
    expect(allowed(policies, stranger, pod('Deployment kantoor-document-intake'), 'smtp')).toBe(true);
    for (const to of ['gateway', 'directory', 'connector-exact-online'])
      expect(allowed(policies, stranger, pod(`Deployment kantoor-${to}`), 'metrics')).toBe(true);
  });

  it('narrow the gateway, SMTP and metrics ports to the peers named in values', () => {
    const narrowed = render(['production.yaml']);
    const gateway = narrowed.find((m) => m.kind === 'NetworkPolicy' && m.metadata.name === 'kantoor-gateway')!;
    expect(gateway.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
      { podSelector: { matchLabels: { 'app.kubernetes.io/instance': 'kantoor' } } },
    ]);
    const directory = narrowed.find((m) => m.kind === 'NetworkPolicy' && m.metadata.name === 'kantoor-directory')!;
    expect(directory.spec.ingress[1]).toEqual({
      ports: [{ port: 'metrics' }],
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    });
  });

  it('can still be turned off', () => {
    const off = render(['local.yaml'], { networkPolicy: { enabled: false } });
    expect(off.filter((manifest) => manifest.kind === 'NetworkPolicy')).toEqual([]);
  });
});
