/**
 * VRRP virtual MAC interfaces (use_vmac / vmac_xmit_base), as keepalived 2.2.7 builds them (vrrp_vmac.c
 * netlink_link_add_vmac / netlink_link_del_vmac, vrrp_if_config.c):
 *
 * - a macvlan in private mode on the base interface, named vrrp.VRID unless named in the config, with the
 *   RFC 5798 MAC 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6);
 * - an existing interface of that name is reused if it is our kind (a macvlan on the same base; its MAC and
 *   mode are corrected if wrong), replaced if it is a macvlan on another base, and refused otherwise;
 * - IPv4: on the VMAC arp_ignore 1, accept_local 1, rp_filter 0, promote_secondaries 1; on the base
 *   interface arp_ignore 1 and arp_filter 1 (the originals are restored when its last VMAC goes). rp_filter 0
 *   only works with net.ipv4.conf.all.rp_filter 0, so if `all` is set, `default` and every interface are
 *   first raised to its value and then `all` is set to 0 (restored by restoreHostSettings());
 * - IPv6 is disabled on the VMAC of an IPv4 instance unless it carries other-family addresses; no
 *   link-local address is generated from the VMAC's MAC (IFLA_INET6_ADDR_GEN_MODE none, RFC 5798 7.4);
 *   an IPv6 instance not using vmac_xmit_base gets a link-local address on the VMAC: the configured source,
 *   else the base interface's link-local, else one built from the base interface's MAC;
 * - the VMAC is brought up.
 *
 * Per-interface IPv4 settings go through rtnetlink (IFLA_AF_SPEC / IFLA_INET_CONF), which works where
 * /proc/sys is read-only (containers); `all`, `default` and IPv6's disable_ipv6 have no netlink form and are
 * written under /proc/sys/net. Everything acts on the network namespace of the calling process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { FlagsNew, type rt } from 'netlink';
import { formatMac } from './frames.js';
import { addAddress, getLinkByName, listAddresses, netlinkError, rtnetlink } from './link.js';

const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;
const MACVLAN_MODE_PRIVATE = 1;
const IFLA_INET_CONF = 1;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
const AF_INET = 2;
const AF_INET6 = 10;

/** IPV4_DEVCONF_* ids (linux/ip.h). */
export const DEVCONF = {
  rp_filter: 8,
  arp_filter: 13,
  arp_ignore: 19,
  promote_secondaries: 20,
  accept_local: 23,
} as const;
type DevconfName = keyof typeof DEVCONF;

export interface VmacOptions {
  /** The interface the macvlan sits on (the instance's interface). */
  base: string;
  vrid: number;
  family: 4 | 6;
  /** use_vmac NAME; default vrrp.VRID. */
  name?: string;
  /** vmac_xmit_base: adverts go out of the base interface, so the VMAC needs no link-local address. */
  xmitBase?: boolean;
  /** The instance has addresses of the other family on the VMAC (keeps IPv6 enabled on an IPv4 VMAC). */
  otherFamilyAddresses?: boolean;
  /** IPv6: the link-local address to put on the VMAC (the instance's configured source). */
  linkLocal?: string;
}

export interface Vmac {
  ifname: string;
  ifindex: number;
  /** "00:00:5e:00:01:33" */
  mac: string;
  base: string;
  family: 4 | 6;
  /** false when an existing, correct VMAC was reused. */
  created: boolean;
  /** IPv6: the link-local address added, if any. */
  linkLocal?: string;
}

/** The RFC 5798 virtual router MAC: 00-00-5E-00-01-{VRID} (IPv4) or 00-00-5E-00-02-{VRID} (IPv6). */
export function vrrpMac(vrid: number, family: 4 | 6): Buffer {
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255)
    throw new TypeError(`VRID must be 1..255, got ${vrid}`);
  return Buffer.from([0x00, 0x00, 0x5e, 0x00, family === 4 ? 0x01 : 0x02, vrid]);
}

/** keepalived's default VMAC name. */
export function vmacName(vrid: number, name?: string): string {
  return name ?? `vrrp.${vrid}`;
}

/** The EUI-64 link-local address built from a MAC (keepalived's make_link_local_address). */
export function linkLocalFromMac(mac: Buffer): string {
  const b = [mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]];
  const groups = [0, 2, 4, 6].map((i) => ((b[i] << 8) | b[i + 1]).toString(16));
  return `fe80::${groups.join(':')}`;
}

function nlattr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function macvlanLinkinfo(): Buffer {
  return Buffer.concat([
    nlattr(IFLA_INFO_KIND, Buffer.from('macvlan')),
    nlattr(IFLA_INFO_DATA, nlattr(IFLA_MACVLAN_MODE, u32(MACVLAN_MODE_PRIVATE))),
  ]);
}

/** Nested attributes of a buffer as type -> payload. */
function attrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

interface LinkFacts {
  ifindex: number;
  kind?: string;
  macvlanMode?: number;
  /** IFLA_LINK: the lower device of a macvlan. */
  lower?: number;
  mac?: Buffer;
}

function facts(m: rt.LinkMessage): LinkFacts {
  const f: LinkFacts = { ifindex: m.data.index ?? 0 };
  if (m.attrs.address) f.mac = m.attrs.address;
  if (m.attrs.link) f.lower = m.attrs.link.readUInt32LE(0);
  if (m.attrs.linkinfo) {
    const info = attrs(m.attrs.linkinfo);
    const kind = info.get(IFLA_INFO_KIND);
    if (kind) f.kind = kind.toString().replace(/\0+$/, '');
    const data = info.get(IFLA_INFO_DATA);
    const mode = data ? attrs(data).get(IFLA_MACVLAN_MODE) : undefined;
    if (mode && mode.length >= 4) f.macvlanMode = mode.readUInt32LE(0);
  }
  return f;
}

async function linkFacts(ifname: string): Promise<LinkFacts | undefined> {
  try {
    return facts(await getLinkByName(ifname));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENODEV') return undefined;
    throw err;
  }
}

/** IPv4 devconf values of an interface (from IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF). */
export async function readDevconf(ifname: string): Promise<Record<DevconfName, number>> {
  const link = await getLinkByName(ifname);
  const inet = link.attrs.afSpec?.get(AF_INET);
  const conf = inet ? attrs(inet).get(IFLA_INET_CONF) : undefined;
  if (!conf) throw Object.assign(new Error(`${ifname}: no IPv4 configuration`), { code: 'ENOENT' });
  const out = {} as Record<DevconfName, number>;
  for (const [name, id] of Object.entries(DEVCONF))
    out[name as DevconfName] = conf.readUInt32LE((id - 1) * 4);
  return out;
}

/** Sets IPv4 devconf values of an interface through rtnetlink (keepalived's netlink_set_interface_flags). */
export async function writeDevconf(
  ifindex: number,
  values: Partial<Record<DevconfName, number>>,
): Promise<void> {
  const conf = Buffer.concat(
    Object.entries(values).map(([name, v]) => nlattr(DEVCONF[name as DevconfName], u32(v as number))),
  );
  const afSpec = new Map<number, Buffer>([[AF_INET, nlattr(IFLA_INET_CONF, conf)]]);
  try {
    await rtnetlink().setLink({ family: 0, index: ifindex }, { afSpec });
  } catch (err) {
    throw netlinkError(err, `set IPv4 parameters of interface ${ifindex}`);
  }
}

/** A /proc/sys/net value (for `all`, `default` and disable_ipv6, which have no netlink form). */
export interface Sysctl {
  read(path: string): number | undefined;
  write(path: string, value: number): void;
}

export const procSysctl: Sysctl = {
  read(path) {
    try {
      const n = Number.parseInt(readFileSync(`/proc/sys/net/${path}`, 'utf8'), 10);
      return Number.isNaN(n) ? undefined : n;
    } catch {
      return undefined;
    }
  },
  write(path, value) {
    writeFileSync(`/proc/sys/net/${path}`, `${value}\n`);
  },
};

export interface VmacLog {
  level: 'info' | 'warn';
  message: string;
}

/**
 * Creates and deletes VMACs and owns the host settings they need: the base interfaces' arp_ignore /
 * arp_filter (reference counted per base, restored when its last VMAC goes) and the rp_filter juggling
 * (restored by restoreHostSettings(), which the daemon calls at stop).
 */
export class VmacManager {
  private readonly baseRefs = new Map<string, { count: number; arp_ignore: number; arp_filter: number }>();
  /** VMACs made or adopted by this manager; baseRef: it holds a reference on the base's ARP settings. */
  private readonly owned = new Map<string, { vmac: Vmac; baseRef: boolean }>();
  /** Saved rp_filter values when all.rp_filter was cleared: 'all', 'default' and per interface. */
  private rpSaved: { all: number; default?: number; interfaces: Map<string, number> } | undefined;

  constructor(
    private readonly log: (e: VmacLog) => void = () => {},
    private readonly sysctl: Sysctl = procSysctl,
  ) {}

  /** Creates (or reuses / corrects) the VMAC, sets its parameters and brings it up. */
  async create(opts: VmacOptions): Promise<Vmac> {
    const ifname = vmacName(opts.vrid, opts.name);
    if (ifname.length > 15 || ifname.length === 0 || /[\s/]/.test(ifname))
      throw new TypeError(`invalid VMAC interface name ${JSON.stringify(ifname)}`);
    const mac = vrrpMac(opts.vrid, opts.family);
    const base = await getLinkByName(opts.base);
    const baseIndex = base.data.index!;
    const existing = await linkFacts(ifname);
    let update = false;
    if (existing) {
      if (existing.kind !== 'macvlan') {
        throw Object.assign(
          new Error(`VMAC ${ifname} conflicts with an existing interface that is not a macvlan`),
          {
            code: 'EEXIST',
          },
        );
      }
      if (existing.lower !== baseIndex) {
        this.log({
          level: 'info',
          message: `Removing old VMAC interface ${ifname} due to conflicting interface`,
        });
        await this.delLink(existing.ifindex, ifname);
      } else if (!existing.mac?.equals(mac) || existing.macvlanMode !== MACVLAN_MODE_PRIVATE) {
        this.log({ level: 'info', message: `Update old VMAC interface ${ifname} due to wrong MAC/mode` });
        update = true;
      }
    }
    const reuse = !!existing && existing.lower === baseIndex && !update;
    if (!reuse) {
      const linkAttrs: Parameters<ReturnType<typeof rtnetlink>['newLink']>[1] = {
        address: mac,
        linkinfo: macvlanLinkinfo(),
      };
      if (!update) {
        linkAttrs.link = u32(baseIndex);
        linkAttrs.ifname = ifname;
      }
      try {
        await rtnetlink().newLink(
          { family: 0, ...(update && existing ? { index: existing.ifindex } : {}) },
          linkAttrs,
          update ? {} : { flags: FlagsNew.CREATE | FlagsNew.EXCL },
        );
      } catch (err) {
        throw netlinkError(err, `${update ? 'update' : 'create'} VMAC ${ifname} on ${opts.base}`);
      }
    }
    const link = await getLinkByName(ifname);
    const ifindex = link.data.index!;
    const created = !reuse;

    const held = this.owned.get(ifname);
    let baseRef = held?.baseRef ?? false;
    if (opts.family === 4 && created && !baseRef) {
      await this.setIpv4Parameters(ifindex, opts.base, baseIndex);
      baseRef = true;
    }
    // IPv6 only where needed: an IPv4 instance without other-family addresses does not run IPv6 on the VMAC.
    this.trySysctl(
      `ipv6/conf/${ifname}/disable_ipv6`,
      opts.family === 4 && !opts.otherFamilyAddresses ? 1 : 0,
    );
    // No MAC-derived link-local (RFC 5798 7.4); set before the link goes up, as the kernel adds it at up.
    try {
      await rtnetlink().setLink(
        { family: 0, index: ifindex },
        {
          afSpec: new Map([
            [AF_INET6, nlattr(IFLA_INET6_ADDR_GEN_MODE, Buffer.from([IN6_ADDR_GEN_MODE_NONE]))],
          ]),
        },
      );
    } catch (err) {
      this.log({
        level: 'warn',
        message: `Error setting ADDR_GEN_MODE to NONE on ${ifname}: ${(err as Error).message}`,
      });
    }
    try {
      await rtnetlink().setLink({ family: 0, index: ifindex, flags: { up: true }, change: { up: true } }, {});
    } catch (err) {
      throw netlinkError(err, `bring VMAC ${ifname} up`);
    }
    const vmac: Vmac = {
      ifname,
      ifindex,
      mac: formatMac(mac),
      base: opts.base,
      family: opts.family,
      created,
    };
    if (opts.family === 6 && !opts.xmitBase) {
      const ll =
        opts.linkLocal ?? (await this.baseLinkLocal(opts.base)) ?? linkLocalFromMac(base.attrs.address!);
      try {
        await addAddress(ifname, { address: ll, prefixLength: 64, nodad: true });
        vmac.linkLocal = ll;
      } catch (err) {
        this.log({
          level: 'warn',
          message: `adding link-local address to ${ifname} failed: ${(err as Error).message}`,
        });
      }
    }
    this.owned.set(ifname, { vmac, baseRef });
    return vmac;
  }

  /** Removes a VMAC halo created (and restores the base interface's ARP settings after its last one). */
  async delete(v: Pick<Vmac, 'ifname' | 'base' | 'family'>): Promise<void> {
    const mine = this.owned.get(v.ifname);
    if (mine?.baseRef) await this.releaseBase(mine.vmac.base);
    this.owned.delete(v.ifname);
    const f = await linkFacts(v.ifname);
    if (!f) return;
    if (f.kind !== 'macvlan') {
      throw Object.assign(new Error(`refusing to remove ${v.ifname}: it is not a macvlan`), {
        code: 'EPERM',
      });
    }
    await this.delLink(f.ifindex, v.ifname);
  }

  /** VMACs this manager holds. */
  vmacs(): Vmac[] {
    return [...this.owned.values()].map((o) => o.vmac);
  }

  /** Puts back all/default/interface rp_filter values changed for VMACs (keepalived's restore_rp_filter). */
  restoreHostSettings(): void {
    const saved = this.rpSaved;
    this.rpSaved = undefined;
    if (!saved || saved.all === 0) return;
    if (this.sysctl.read('ipv4/conf/all/rp_filter') === 0) {
      this.log({
        level: 'info',
        message: `NOTICE: resetting sysctl net.ipv4.conf.all.rp_filter to ${saved.all}`,
      });
      this.trySysctl('ipv4/conf/all/rp_filter', saved.all);
    }
    if (saved.default !== undefined && this.sysctl.read('ipv4/conf/default/rp_filter') === saved.all) {
      this.trySysctl('ipv4/conf/default/rp_filter', saved.default);
    }
    // Only interfaces still at the value we raised them to are put back.
    for (const [ifname, value] of saved.interfaces) {
      if (this.sysctl.read(`ipv4/conf/${ifname}/rp_filter`) === saved.all)
        this.trySysctl(`ipv4/conf/${ifname}/rp_filter`, value);
    }
  }

  private async delLink(ifindex: number, ifname: string): Promise<void> {
    try {
      await rtnetlink().delLink({ family: 0, index: ifindex });
    } catch (err) {
      const e = netlinkError(err, `remove VMAC ${ifname}`) as Error & { code?: string };
      if (e.code !== 'ENODEV') throw e;
    }
  }

  private trySysctl(path: string, value: number): void {
    try {
      this.sysctl.write(path, value);
    } catch (err) {
      this.log({
        level: 'warn',
        message: `cannot set net.${path.replaceAll('/', '.')} to ${value}: ${(err as Error).message}`,
      });
    }
  }

  private async baseLinkLocal(base: string): Promise<string | undefined> {
    const addrs = await listAddresses(base);
    return addrs.find((a) => a.family === 6 && a.address.toLowerCase().startsWith('fe80'))?.address;
  }

  private async setIpv4Parameters(ifindex: number, base: string, baseIndex: number): Promise<void> {
    if (!this.rpSaved) await this.clearRpFilter();
    await writeDevconf(ifindex, { arp_ignore: 1, accept_local: 1, rp_filter: 0, promote_secondaries: 1 });
    const ref = this.baseRefs.get(base);
    if (ref) {
      ref.count++;
      return;
    }
    const cur = await readDevconf(base);
    this.baseRefs.set(base, { count: 1, arp_ignore: cur.arp_ignore, arp_filter: cur.arp_filter });
    if (cur.arp_ignore !== 1 || cur.arp_filter !== 1) {
      await writeDevconf(baseIndex, { arp_ignore: 1, arp_filter: 1 });
    }
  }

  private async releaseBase(base: string): Promise<void> {
    const ref = this.baseRefs.get(base);
    if (!ref) return;
    if (--ref.count > 0) return;
    this.baseRefs.delete(base);
    try {
      const link = await getLinkByName(base);
      await writeDevconf(link.data.index!, { arp_ignore: ref.arp_ignore, arp_filter: ref.arp_filter });
    } catch (err) {
      this.log({
        level: 'warn',
        message: `reset interface flags on ${base} failed: ${(err as Error).message}`,
      });
    }
  }

  /**
   * all.rp_filter > 0 would override the VMAC's rp_filter 0 (the kernel uses the larger). Raise default and
   * every interface to all's value, then clear all: no interface changes behaviour, and the VMAC can be 0.
   */
  private async clearRpFilter(): Promise<void> {
    const all = this.sysctl.read('ipv4/conf/all/rp_filter');
    if (all === undefined || all === 0) {
      this.rpSaved = { all: 0, interfaces: new Map() };
      return;
    }
    const saved = { all, default: undefined as number | undefined, interfaces: new Map<string, number>() };
    const dflt = this.sysctl.read('ipv4/conf/default/rp_filter');
    if (dflt !== undefined && dflt < all) {
      this.log({
        level: 'info',
        message: `NOTICE: setting sysctl net.ipv4.conf.default.rp_filter from ${dflt} to ${all}`,
      });
      this.trySysctl('ipv4/conf/default/rp_filter', all);
      saved.default = dflt;
    }
    let links: rt.LinkMessage[] = [];
    try {
      links = await rtnetlink().getLinks();
    } catch {
      // Without the list, no interface is raised; all is still cleared below.
    }
    for (const l of links) {
      const name = l.attrs.ifname;
      if (!name) continue;
      const v = this.sysctl.read(`ipv4/conf/${name}/rp_filter`);
      if (v !== undefined && v < all) {
        this.trySysctl(`ipv4/conf/${name}/rp_filter`, all);
        saved.interfaces.set(name, v);
      }
    }
    this.log({
      level: 'info',
      message: `NOTICE: setting sysctl net.ipv4.conf.all.rp_filter from ${all} to 0`,
    });
    this.trySysctl('ipv4/conf/all/rp_filter', 0);
    this.rpSaved = saved;
  }
}

/** The process-wide manager behind createVmac / deleteVmac. */
export const vmacManager = new VmacManager();

export function createVmac(opts: VmacOptions): Promise<Vmac> {
  return vmacManager.create(opts);
}

export function deleteVmac(v: Pick<Vmac, 'ifname' | 'base' | 'family'>): Promise<void> {
  return vmacManager.delete(v);
}
