import { BlockList, isIPv6 } from 'node:net';

/** The client address without the IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` → `10.0.0.1`). */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** An endpoint's `host:port` as its parts (an IPv6 host loses its brackets). */
export function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

/** A set of CIDRs (IPv4 and IPv6; a bare address is a /32 or /128) answering `contains(ip)`. */
export class CidrSet {
  readonly #list = new BlockList();

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [network = '', prefixText] = cidr.split('/');
      const family = isIPv6(network) ? 'ipv6' : 'ipv4';
      const prefix = prefixText === undefined ? (family === 'ipv6' ? 128 : 32) : Number(prefixText);
      this.#list.addSubnet(network, prefix, family);
    }
  }

  contains(address: string): boolean {
    if (address === '') return false;
    return this.#list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }
}
