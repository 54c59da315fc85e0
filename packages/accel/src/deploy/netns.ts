import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { runTool, ToolError } from './container-exec';

/**
 * A container's network: a named network namespace holding `lo` and `eth0`, the namespace end
 * of a veth pair whose host end carries the other address of a /30 taken from 10.213.0.0/16.
 * The host reaches the container at `nsIp`; the container's default route points at `hostIp`
 * (no NAT or forwarding is set up: the container answers, it does not reach out).
 */
export interface ContainerNetwork {
  netns: string;
  hostVeth: string;
  /** The veth end inside the namespace (always `eth0`). */
  nsVeth: string;
  hostIp: string;
  nsIp: string;
  prefix: number;
}

/** 10.213.0.0/16, split in /30 blocks (host .1, container .2). */
const POOL = { base: ((10 << 24) | (213 << 16)) >>> 0, blocks: 1 << 14, blockSize: 4 };
const NS_VETH = 'eth0';
/** Where `ip netns add` mounts named namespaces (iproute2's NETNS_RUN_DIR). */
export const NETNS_DIR = '/var/run/netns';

export interface Cidr {
  /** First address, as an unsigned 32-bit integer. */
  start: number;
  prefix: number;
  /** Where it was seen (`dev eth0`, `route 10.0.0.0/8`), for error messages. */
  where: string;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `a.b.c.d/p` (or a bare address, /32) as a {@link Cidr} whose start is the network address. */
export function parseCidr(text: string, where = text): Cidr {
  const [ip, p] = text.split('/');
  const prefix = p === undefined ? 32 : Number(p);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return { start: (ipToInt(ip) & mask) >>> 0, prefix, where };
}

function overlaps(start: number, size: number, c: Cidr): boolean {
  const end = c.start + 2 ** (32 - c.prefix) - 1;
  return start <= end && c.start <= start + size - 1;
}

/** Names derived from the service name: the netns `accel-<service>` and a host veth `accel<10 hex of sha256>` (15 chars, the kernel's limit). */
export function networkNames(service: string): { netns: string; hostVeth: string } {
  const hash = createHash('sha256').update(service).digest('hex');
  return { netns: `accel-${service}`, hostVeth: `accel${hash.slice(0, 10)}` };
}

/**
 * The /30 for a service: a block of 10.213.0.0/16 chosen from a hash of its name (so a restart
 * gets the same address), moving on to the next block while it overlaps a network in `taken`.
 */
export function pickSubnet(service: string, taken: readonly Cidr[]): { hostIp: string; nsIp: string; prefix: number } {
  const relevant = taken.filter((c) => overlaps(POOL.base, POOL.blocks * POOL.blockSize, c));
  const first = createHash('sha256').update(service).digest().readUInt32BE(0) % POOL.blocks;
  for (let i = 0; i < POOL.blocks; i++) {
    const start = POOL.base + ((first + i) % POOL.blocks) * POOL.blockSize;
    if (!relevant.some((c) => overlaps(start, POOL.blockSize, c))) return { hostIp: intToIp(start + 1), nsIp: intToIp(start + 2), prefix: 30 };
  }
  throw new Error(`no free /30 left in 10.213.0.0/16 (in use: ${relevant.map((c) => c.where).join(', ')})`);
}

/** IPv4 networks in use on the host: interface addresses (also of links that are down) and main-table routes. */
export async function takenNetworks(): Promise<Cidr[]> {
  const addrs = JSON.parse(await runTool('ip', ['-j', '-4', 'addr', 'show'])) as { ifname: string; addr_info?: { local: string; prefixlen: number }[] }[];
  const routes = JSON.parse(await runTool('ip', ['-j', '-4', 'route', 'show', 'table', 'main'])) as { dst: string; dev?: string }[];
  const out: Cidr[] = [];
  for (const link of addrs) for (const a of link.addr_info ?? []) out.push(parseCidr(`${a.local}/${a.prefixlen}`, `${a.local}/${a.prefixlen} on ${link.ifname}`));
  for (const r of routes) if (r.dst !== 'default') out.push(parseCidr(r.dst, `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`));
  return out;
}

async function linkExists(name: string): Promise<boolean> {
  return runTool('ip', ['link', 'show', 'dev', name]).then(
    () => true,
    () => false,
  );
}

/**
 * Creates the service's namespace and veth pair and addresses them; undoes what it did when a
 * step fails. A namespace or veth left over from an earlier run of the same service is removed first.
 */
export async function createNetwork(service: string): Promise<ContainerNetwork> {
  const { netns, hostVeth } = networkNames(service);
  await removeNetwork({ netns, hostVeth });
  const { hostIp, nsIp, prefix } = pickSubnet(service, await takenNetworks());
  const net: ContainerNetwork = { netns, hostVeth, nsVeth: NS_VETH, hostIp, nsIp, prefix };
  const ns = (...args: string[]) => runTool('ip', ['-n', netns, ...args]);
  try {
    await runTool('ip', ['netns', 'add', netns]);
    await runTool('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', NS_VETH, 'netns', netns]);
    await runTool('ip', ['addr', 'add', `${hostIp}/${prefix}`, 'dev', hostVeth]);
    await runTool('ip', ['link', 'set', hostVeth, 'up']);
    await ns('link', 'set', 'lo', 'up');
    await ns('addr', 'add', `${nsIp}/${prefix}`, 'dev', NS_VETH);
    await ns('link', 'set', NS_VETH, 'up');
    await ns('route', 'add', 'default', 'via', hostIp);
  } catch (err) {
    await removeNetwork(net).catch(() => undefined);
    throw err;
  }
  return net;
}

/** Deletes the host veth (its peer goes with it) and the namespace; what is already gone is skipped. */
export async function removeNetwork(net: { netns?: string; hostVeth?: string }): Promise<void> {
  if (net.hostVeth && (await linkExists(net.hostVeth))) await runTool('ip', ['link', 'del', 'dev', net.hostVeth]);
  if (net.netns && existsSync(`${NETNS_DIR}/${net.netns}`)) {
    await runTool('ip', ['netns', 'del', net.netns]).catch((err: unknown) => {
      // Raced with another remover: fine as long as it is gone now.
      if (!(err instanceof ToolError) || existsSync(`${NETNS_DIR}/${net.netns}`)) throw err;
    });
  }
}

/** True when the namespace or the host veth still exists. */
export async function networkExists(net: { netns: string; hostVeth: string }): Promise<{ netns: boolean; hostVeth: boolean }> {
  return { netns: existsSync(`${NETNS_DIR}/${net.netns}`), hostVeth: await linkExists(net.hostVeth) };
}
