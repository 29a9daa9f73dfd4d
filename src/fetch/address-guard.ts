import dns from 'node:dns';
import net from 'node:net';
import { AppError } from '../errors';

/**
 * Which hosts audio may come from, and which network addresses are never contacted unless an
 * operator named the host explicitly: loopback, private, link-local (including the cloud
 * metadata service at 169.254.169.254), carrier-grade NAT, multicast and reserved ranges, in
 * IPv4, IPv6 and IPv4-mapped IPv6 form. The check runs on the address actually connected to
 * (inside the socket's DNS lookup), so a name that resolves differently the second time
 * (DNS rebinding) gains nothing.
 */

const blocked = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 32],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** True when connecting to `address` could reach this machine, its network or a metadata service. */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const embedded = embeddedIpv4(address);
    if (embedded) return blocked.check(embedded, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/**
 * The IPv4 address an IPv6 address carries, in every form a stack may route to it: IPv4-mapped
 * (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16), written
 * in dotted or hex notation. Null when it carries none.
 */
export function embeddedIpv4(address: string): string | null {
  const groups = ipv6Groups(address);
  if (!groups) return null;
  const zero = (from: number, to: number): boolean => groups.slice(from, to).every((group) => group === 0);
  const dotted = (high: number, low: number): string => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  if (zero(0, 5) && (groups[5] === 0xffff || groups[5] === 0)) return dotted(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zero(2, 6)) return dotted(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return dotted(groups[1]!, groups[2]!);
  return null;
}

/** The eight 16-bit groups of an IPv6 address (with "::" and a trailing dotted IPv4 expanded). */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const front = parse(head);
  const back = rest === undefined ? [] : parse(rest);
  const missing = 8 - front.length - back.length;
  if (rest === undefined ? missing !== 0 : missing < 0) return null;
  const groups = [...front, ...Array<number>(missing).fill(0), ...back];
  return groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff) ? groups : null;
}

export interface HostPolicy {
  /** Hosts (names or IPs, lower case) a source may fetch from; "*.example.com" matches subdomains. */
  readonly allowed: readonly string[];
  /** Hosts the operator listed (CALLVAULT_FETCH_ALLOW_HOSTS): reachable even on loopback or private addresses. */
  readonly explicit: readonly string[];
}

export function normaliseHost(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
}

function matches(host: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

export function isHostAllowed(policy: HostPolicy, hostname: string): boolean {
  const host = normaliseHost(hostname);
  return policy.allowed.some((pattern) => matches(host, pattern)) || policy.explicit.some((pattern) => matches(host, pattern));
}

export function isHostExplicit(policy: HostPolicy, hostname: string): boolean {
  const host = normaliseHost(hostname);
  return policy.explicit.some((pattern) => matches(host, pattern));
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses blocked addresses (unless the host is explicit).
 * Node calls it with `all: true` when it races IPv4 and IPv6 (autoSelectFamily), otherwise for
 * one address; both forms are handled.
 */
export function guardedLookup(explicit: boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, []);
        return;
      }
      const usable = explicit ? addresses : addresses.filter((entry) => !isBlockedAddress(entry.address));
      if (usable.length === 0) {
        callback(new AppError('E_FETCH_ADDRESS_BLOCKED', `${hostname} resolves only to addresses that are not allowed (loopback, private, link-local or metadata)`) as unknown as NodeJS.ErrnoException, []);
        return;
      }
      if (options.all) callback(null, usable);
      else callback(null, usable[0]!.address, usable[0]!.family);
    });
  };
}
