/**
 * Link-layer announcements for VIPs taken over: gratuitous ARP (IPv4) and
 * unsolicited neighbour advertisement (IPv6).
 *
 * Both go out as complete Ethernet frames over AF_PACKET, as keepalived 2.2.7
 * does. For the NA this is deliberate rather than a raw ICMPv6 socket: the
 * source must be the VIP itself, and the kernel refuses a source address that
 * is still tentative or not (yet / any more) assigned, while an announcement
 * is exactly what is sent around the moment the address changes hands.
 */
import { readFile } from 'node:fs/promises';
import { buildGratuitousArp, buildUnsolicitedNa } from './frames.js';
import { macAddress } from './link.js';
import { sendEthernetFrame } from './raw-socket.js';

export async function sendGratuitousArp(ifname: string, ipv4: string): Promise<void> {
  const mac = await macAddress(ifname);
  sendEthernetFrame(ifname, buildGratuitousArp(mac, ipv4));
}

/** Whether the interface forwards IPv6 (keepalived then sets the NA Router flag). */
async function ipv6Forwarding(ifname: string): Promise<boolean> {
  if (ifname.includes('/') || ifname === '.' || ifname === '..') return false;
  try {
    return (await readFile(`/proc/sys/net/ipv6/conf/${ifname}/forwarding`, 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}

export async function sendUnsolicitedNa(ifname: string, ipv6: string): Promise<void> {
  const [mac, router] = await Promise.all([macAddress(ifname), ipv6Forwarding(ifname)]);
  sendEthernetFrame(ifname, buildUnsolicitedNa(mac, ipv6, { router }));
}
