/**
 * Removing addresses at the very start of `halo run`, before the rest of halo loads: one raw rtnetlink
 * socket on the addon, RTM_DELADDR requests built by hand, their acknowledgements awaited. The general
 * path (src/net/link.ts, on the `netlink` package) costs some 50 ms to load, which is the whole budget
 * for dropping a crashed predecessor's VIPs (see src/daemon/held-vips.ts).
 */
import { readFileSync } from 'node:fs';
import { parseIpv4, parseIpv6 } from '../vrrp/addr.js';
import { NETLINK_ROUTE, NetlinkListener, splitMessages } from './nl-listener.js';

const RTM_DELADDR = 21;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

function attr(type: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + payload.length);
  b.writeUInt16LE(4 + payload.length, 0);
  b.writeUInt16LE(type, 2);
  b.set(payload, 4);
  return b;
}

/** The RTM_DELADDR request for one address (undefined when the text is not an address). */
export function delAddrMessage(
  ifindex: number,
  address: string,
  prefixLength: number,
  seq: number,
): Buffer | undefined {
  const v4 = parseIpv4(address);
  const bytes = v4 ?? parseIpv6(address);
  if (!bytes) return undefined;
  const ifa = Buffer.alloc(8);
  ifa.writeUInt8(v4 ? 2 : 10, 0); // AF_INET / AF_INET6
  ifa.writeUInt8(prefixLength, 1);
  ifa.writeUInt32LE(ifindex, 4);
  const attrs = v4 ? [attr(IFA_LOCAL, bytes), attr(IFA_ADDRESS, bytes)] : [attr(IFA_ADDRESS, bytes)];
  const body = Buffer.concat([ifa, ...attrs]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(RTM_DELADDR, 4);
  hdr.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  hdr.writeUInt32LE(seq, 8);
  return Buffer.concat([hdr, body]);
}

function ifindexOf(ifname: string): number | undefined {
  if (ifname.includes('/') || ifname === '.' || ifname === '..') return undefined;
  try {
    return Number.parseInt(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8'), 10);
  } catch {
    return undefined;
  }
}

/**
 * Deletes these addresses; resolves with the ones the kernel confirmed removed (others were not there,
 * or their interface is gone). Gives up waiting after `timeoutMs`. Never throws.
 */
export async function deleteAddressesNow(
  list: { ifname: string; address: string; prefixLength: number }[],
  timeoutMs = 500,
): Promise<typeof list> {
  const sent = new Map<number, (typeof list)[number]>();
  let sock: NetlinkListener;
  try {
    sock = NetlinkListener.open(NETLINK_ROUTE, []);
  } catch {
    return [];
  }
  const removed: typeof list = [];
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      sock.start(
        (datagram) => {
          for (const m of splitMessages(datagram)) {
            const item = sent.get(m.seq);
            if (m.type !== NLMSG_ERROR || !item) continue;
            if (m.data.readInt32LE(0) === 0) removed.push(item);
            sent.delete(m.seq);
          }
          if (sent.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
        () => undefined,
      );
      let seq = 1;
      for (const item of list) {
        const ifindex = ifindexOf(item.ifname);
        const msg =
          ifindex === undefined ? undefined : delAddrMessage(ifindex, item.address, item.prefixLength, seq);
        if (!msg) continue;
        sent.set(seq++, item);
        sock.send(msg);
      }
      if (sent.size === 0) {
        clearTimeout(timer);
        resolve();
      }
    });
  } finally {
    sock.close();
  }
  return removed;
}
