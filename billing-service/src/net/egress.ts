/**
 * Where outbound webhooks may connect (docs/threat-model.md Q7: SSRF through a webhook URL). A
 * tenant admin chooses the URL, so without a check the billing pod would POST, from inside the
 * cluster, to the database, the cloud metadata service or any in-cluster API, and the delivery log
 * would tell the tenant what answered.
 *
 * The destination is checked when the request is made, not when the endpoint is saved: the host
 * name is resolved once, EVERY address it resolves to must be public (or allow-listed), and the
 * connection goes to exactly the address that was checked (the resolver result is pinned through
 * the request's `lookup`), so a DNS answer that changes between the check and the connect (DNS
 * rebinding) cannot redirect it. In-cluster receivers are allowed explicitly by CIDR or host name
 * (`MAAS_BILLING_WEBHOOK_ALLOW`).
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { SERVICE_ENV } from "../contract/env";

/** Address ranges no webhook reaches unless allow-listed, with the reason shown in the delivery log. */
const DENIED: readonly [string, number, "ipv4" | "ipv6", string][] = [
  ["0.0.0.0", 8, "ipv4", "a 'this network' address"],
  ["10.0.0.0", 8, "ipv4", "a private address"],
  ["100.64.0.0", 10, "ipv4", "a shared (carrier-grade NAT) address"],
  ["127.0.0.0", 8, "ipv4", "a loopback address"],
  ["169.254.0.0", 16, "ipv4", "a link-local address (cloud metadata services live at 169.254.169.254)"],
  ["172.16.0.0", 12, "ipv4", "a private address"],
  ["192.0.0.0", 24, "ipv4", "an IETF protocol address"],
  ["192.0.2.0", 24, "ipv4", "a documentation address"],
  ["192.168.0.0", 16, "ipv4", "a private address"],
  ["198.18.0.0", 15, "ipv4", "a benchmarking address"],
  ["198.51.100.0", 24, "ipv4", "a documentation address"],
  ["203.0.113.0", 24, "ipv4", "a documentation address"],
  ["224.0.0.0", 4, "ipv4", "a multicast address"],
  ["240.0.0.0", 4, "ipv4", "a reserved or broadcast address"],
  ["::", 128, "ipv6", "the unspecified address"],
  ["::1", 128, "ipv6", "a loopback address"],
  ["64:ff9b::", 96, "ipv6", "a NAT64 address (it maps an IPv4 address)"],
  ["64:ff9b:1::", 48, "ipv6", "a local NAT64 address"],
  ["2001:db8::", 32, "ipv6", "a documentation address"],
  ["2002::", 16, "ipv6", "a 6to4 address (it maps an IPv4 address)"],
  ["fc00::", 7, "ipv6", "a unique local address (fd00:ec2::254 is a cloud metadata service)"],
  ["fe80::", 10, "ipv6", "a link-local address"],
  ["ff00::", 8, "ipv6", "a multicast address"],
];

const denied = DENIED.map(([net, prefix, type, reason]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, type, reason };
});

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, `::ffff:a00:1`) as plain IPv4; others unchanged. */
export const unmapIPv4 = (address: string): string => {
  const m = /^::ffff:(?:0:)?(.+)$/i.exec(address);
  if (!m) return address;
  const rest = m[1]!;
  if (isIP(rest) === 4) return rest;
  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(rest);
  if (!hex) return address;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
};

/** Why `address` is not a public unicast address, or undefined when it is. */
export const nonPublicReason = (address: string): string | undefined => {
  const a = unmapIPv4(address);
  const type = isIP(a) === 6 ? "ipv6" : "ipv4";
  return denied.find((d) => d.type === type && d.list.check(a, type))?.reason;
};

/** The operator's allow-list of in-cluster receivers: CIDRs / addresses, and host names (`.suffix` for a domain). */
export interface EgressPolicy {
  readonly cidrs: BlockList;
  readonly hosts: readonly string[];
  /** The entries as written, for messages. */
  readonly entries: readonly string[];
}

export const ALLOW_ENV = SERVICE_ENV.webhookAllow;

/**
 * Parses the allow-list: comma-separated `10.96.0.0/12`, `fd00::/8`, `10.1.2.3`, `hooks.tenant-a.svc`
 * or `.svc.cluster.local` (that domain and its subdomains). Throws naming the bad entry.
 */
export const parseEgressAllowList = (text: string | undefined): EgressPolicy => {
  const cidrs = new BlockList();
  const hosts: string[] = [];
  const entries = (text ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    const ip = cidr ? cidr[1]! : entry;
    const family = isIP(ip);
    if (family !== 0) {
      const prefix = cidr ? Number(cidr[2]) : family === 4 ? 32 : 128;
      if (prefix > (family === 4 ? 32 : 128)) throw new Error(`${ALLOW_ENV}: "${entry}" has a prefix longer than the address. Example: 10.96.0.0/12`);
      cidrs.addSubnet(ip, prefix, family === 4 ? "ipv4" : "ipv6");
    } else if (!cidr && /^\.?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i.test(entry)) {
      hosts.push(entry.toLowerCase());
    } else {
      throw new Error(`${ALLOW_ENV}: "${entry}" is neither an address, a CIDR nor a host name. Example: 10.96.0.0/12,.svc.cluster.local`);
    }
  }
  return { cidrs, hosts, entries };
};

export const DENY_ALL_PRIVATE: EgressPolicy = parseEgressAllowList("");

const hostAllowed = (policy: EgressPolicy, host: string): boolean =>
  policy.hosts.some((h) => (h.startsWith(".") ? host === h.slice(1) || host.endsWith(h) : host === h));

const cidrAllowed = (policy: EgressPolicy, address: string): boolean => {
  const a = unmapIPv4(address);
  return policy.cidrs.check(a, isIP(a) === 6 ? "ipv6" : "ipv4");
};

/** A destination refused by the policy; the message is what the delivery log shows. */
export class EgressRefused extends Error {
  override readonly name = "EgressRefused";
}

export interface PinnedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to all its addresses (default: the system resolver, like any client would). */
export type Resolve = (host: string) => Promise<PinnedAddress[]>;

export const systemResolve: Resolve = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/**
 * The one address a request to `url` may connect to: every address the host resolves to must be
 * public or allow-listed (one private answer among public ones is refused: the client could pick
 * it). Throws EgressRefused with the reason.
 */
export const pinDestination = async (url: URL, policy: EgressPolicy, resolve: Resolve = systemResolve): Promise<PinnedAddress> => {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const literal = isIP(host);
  const addresses: PinnedAddress[] = literal !== 0 ? [{ address: host, family: literal === 6 ? 6 : 4 }] : await resolve(host);
  if (addresses.length === 0) throw new EgressRefused(`${host} does not resolve`);
  const trustedName = literal === 0 && hostAllowed(policy, host);
  for (const a of addresses) {
    const reason = nonPublicReason(a.address);
    if (reason !== undefined && !trustedName && !cidrAllowed(policy, a.address)) {
      const via = literal !== 0 ? host : `${host} resolves to ${a.address}, which`;
      throw new EgressRefused(
        `refused: ${via} is ${reason}; webhooks go to public addresses only, or to in-cluster receivers the operator allows (${ALLOW_ENV})`,
      );
    }
  }
  return addresses[0]!;
};

/**
 * A `lookup` for http(s).request that answers with the pinned address only (never a second
 * resolution). Node asks with `{ all: true }` when it may try several addresses.
 */
export const pinnedLookup =
  (pinned: PinnedAddress) =>
  (_host: string, options: { all?: boolean } | number | undefined, callback: (...args: unknown[]) => void): void => {
    if (typeof options === "object" && options?.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
