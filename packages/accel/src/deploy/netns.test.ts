import { describe, expect, it } from 'vitest';
import { containerPrerequisites, runTool } from './container-exec';
import { createNetwork, intToIp, ipToInt, networkExists, networkNames, parseCidr, pickSubnet, removeNetwork } from './netns';

describe('container network addressing', () => {
  it('derives the netns and a veth name of at most 15 characters from the service name', () => {
    const a = networkNames('a-service-name-that-is-rather-long-for-an-interface-name-ok');
    expect(a.netns).toBe('accel-a-service-name-that-is-rather-long-for-an-interface-name-ok');
    expect(a.hostVeth).toMatch(/^accel[0-9a-f]{10}$/);
    expect(networkNames('other').hostVeth).not.toBe(a.hostVeth);
    expect(networkNames('other')).toEqual(networkNames('other'));
  });

  it('picks the same /30 in 10.213.0.0/16 for the same name, host .1 and container .2', () => {
    const s = pickSubnet('resnet-edge', []);
    expect(pickSubnet('resnet-edge', [])).toEqual(s);
    const base = ipToInt(s.hostIp) - 1;
    expect(base % 4).toBe(0);
    expect(intToIp(base).startsWith('10.213.')).toBe(true);
    expect(ipToInt(s.nsIp)).toBe(base + 2);
    expect(s.prefix).toBe(30);
  });

  it('moves past blocks that overlap addresses or routes in use', () => {
    const first = pickSubnet('svc', []);
    const taken = [parseCidr(`${first.hostIp}/30`, 'dev x'), parseCidr(`${intToIp(ipToInt(first.hostIp) + 4)}/32`, 'route')];
    const next = pickSubnet('svc', taken);
    expect(ipToInt(next.hostIp)).toBe(ipToInt(first.hostIp) + 8);
    // Networks outside the pool do not matter; one covering the whole pool leaves nothing.
    expect(pickSubnet('svc', [parseCidr('192.168.0.0/16')])).toEqual(first);
    expect(() => pickSubnet('svc', [parseCidr('10.0.0.0/8', '10.0.0.1/8 on eth9')])).toThrow(/no free \/30 left in 10\.213\.0\.0\/16 \(in use: 10\.0\.0\.1\/8 on eth9\)/);
  });

  it('parses CIDRs to their network address', () => {
    expect(intToIp(parseCidr('10.213.7.6/30').start)).toBe('10.213.7.4');
    expect(parseCidr('10.213.7.6').prefix).toBe(32);
    expect(() => ipToInt('10.213.300.1')).toThrow(/not an IPv4 address/);
  });
});

const skip = containerPrerequisites(['ip']);
if (skip) console.warn(`netns tests skipped: ${skip}`);

describe.skipIf(Boolean(skip))('container network (ip netns, as root)', () => {
  it('creates a namespace with lo, eth0 and a default route via the host veth, and removes it', async () => {
    const service = `nettest-${process.pid}`;
    const net = await createNetwork(service);
    try {
      expect(await networkExists(net)).toEqual({ netns: true, hostVeth: true });
      const inside = JSON.parse(await runTool('ip', ['-n', net.netns, '-j', '-4', 'addr', 'show'])) as { ifname: string; operstate: string; addr_info: { local: string }[] }[];
      expect(inside.map((l) => [l.ifname, l.addr_info.map((a) => a.local)])).toEqual([
        ['lo', ['127.0.0.1']],
        ['eth0', [net.nsIp]],
      ]);
      expect(await runTool('ip', ['-n', net.netns, 'route', 'show', 'default'])).toContain(`default via ${net.hostIp} dev eth0`);
      expect(await runTool('ip', ['-4', 'addr', 'show', 'dev', net.hostVeth])).toContain(`${net.hostIp}/30`);
      // The host reaches the namespace end of the pair.
      await runTool('ping', ['-c', '1', '-W', '5', net.nsIp]).catch((err: Error) => {
        if (!/ENOENT/.test(err.message)) throw err;
      });
      // Creating it again (a restart) replaces the leftover instead of failing.
      expect(await createNetwork(service)).toEqual(net);
    } finally {
      await removeNetwork(net);
    }
    expect(await networkExists(net)).toEqual({ netns: false, hostVeth: false });
    await removeNetwork(net);
  });
});
