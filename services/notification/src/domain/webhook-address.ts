/**
 * Where webhooks may be sent (spec 10, "refuse unsafe"): a partner's URL must not make the platform call into its
 * own network (server-side request forgery). The URL is checked when it is given, and the address its host resolves
 * to is checked again when each attempt connects (adapters/webhook-http.ts), so that a name that resolves to a
 * public address when it is given and to 127.0.0.1 later (DNS rebinding) gains nothing.
 */
import { BlockList, isIP } from 'node:net';
import { invalidArgument } from '@kantoor/errors';

export interface WebhookAddressRules {
  /** `http:` URLs (embedded mode: a partner's test receiver without TLS) */
  allowHttp: boolean;
  /** loopback, private, link-local, … destinations (embedded mode: a receiver on the same machine) */
  allowPrivateNetworks: boolean;
}

export const MAX_URL_LENGTH = 2000;

/** The ranges a webhook never reaches unless private networks are allowed; IPv4-mapped IPv6 forms match too. */
const REFUSED_RANGES: Array<{ name: string; subnets: Array<[network: string, prefix: number]> }> = [
  {
    name: 'loopback',
    subnets: [
      ['127.0.0.0', 8],
      ['::1', 128],
    ],
  },
  {
    name: 'unspecified ("this network")',
    subnets: [
      ['0.0.0.0', 8],
      ['::', 128],
    ],
  },
  {
    name: 'private (RFC 1918)',
    subnets: [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
    ],
  },
  { name: 'shared address space (CGNAT, RFC 6598)', subnets: [['100.64.0.0', 10]] },
  {
    name: 'link-local',
    subnets: [
      ['169.254.0.0', 16],
      ['fe80::', 10],
    ],
  },
  { name: 'unique-local (fc00::/7)', subnets: [['fc00::', 7]] },
  {
    name: 'multicast',
    subnets: [
      ['224.0.0.0', 4],
      ['ff00::', 8],
    ],
  },
  { name: 'reserved (240.0.0.0/4, broadcast)', subnets: [['240.0.0.0', 4]] },
];

const family = (address: string) => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

const RANGES = REFUSED_RANGES.map(({ name, subnets }) => {
  const list = new BlockList();
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, family(network));
  return { name, list };
});

/** NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d through a translator. */
const NAT64 = new BlockList();
NAT64.addSubnet('64:ff9b::', 96, 'ipv6');

/** The IPv4 address in the last 32 bits of a NAT64 address. */
function nat64Target(address: string): string {
  const groups = new URL(`http://[${address}]/`).hostname.slice(1, -1).split(':');
  const [high, low] = groups.slice(-2).map((group) => parseInt(group || '0', 16));
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** The refused range an IP address is in (its name, for the refusal), or undefined when it may be reached. */
export function refusedRangeOf(address: string, rules: WebhookAddressRules): string | undefined {
  if (rules.allowPrivateNetworks || isIP(address) === 0) return undefined;
  // a NAT64 address is judged by the IPv4 address it reaches
  if (isIP(address) === 6 && NAT64.check(address, 'ipv6')) return refusedRangeOf(nat64Target(address), rules);
  return RANGES.find(({ list }) => list.check(address, family(address)))?.name;
}

const refuse = (reason: 'webhook_url_invalid' | 'webhook_url_not_allowed', problem: string) =>
  invalidArgument(`The webhook URL ${problem}.`, { reason, violations: [{ field: 'url', message: problem }] });

/**
 * A webhook URL as it is stored (normalised by the WHATWG URL parser, so `http://2130706433/` is seen as
 * 127.0.0.1), or a refusal: `webhook_url_invalid` when it is not an absolute http(s) URL without credentials of at
 * most 2,000 characters, `webhook_url_not_allowed` when the platform does not send there (http, or an IP address in
 * a refused range). A host name is resolved only when an attempt connects.
 */
export function checkWebhookUrl(raw: string, rules: WebhookAddressRules): string {
  if (raw.length > MAX_URL_LENGTH) throw refuse('webhook_url_invalid', `must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('webhook_url_invalid', 'must be an absolute URL (https://...)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw refuse('webhook_url_invalid', 'must start with https://');
  if (url.username || url.password)
    throw refuse('webhook_url_invalid', 'must not hold a user name or password (the requests are signed)');
  if (!url.hostname) throw refuse('webhook_url_invalid', 'must name a host');
  if (url.protocol === 'http:' && !rules.allowHttp)
    throw refuse('webhook_url_not_allowed', 'must use https (this platform does not send webhooks over plain http)');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const range = refusedRangeOf(host, rules);
  if (range) throw refuse('webhook_url_not_allowed', `points to a ${range} address, which webhooks never reach`);
  if (url.href.length > MAX_URL_LENGTH)
    throw refuse('webhook_url_invalid', `must be at most ${MAX_URL_LENGTH} characters`);
  return url.href;
}
