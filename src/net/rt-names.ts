/**
 * iproute2's name tables (rt_tables, rt_protos, rt_realms, rt_dsfield, group): the names a route or rule may
 * use for a table, protocol, realm, DS field or interface group, as `ip route` and keepalived read them.
 *
 * Files are read from /etc/iproute2 (then /usr/share/iproute2, where newer iproute2 ships the defaults), plus
 * rt_tables.d/*.conf and rt_protos.d/*.conf. Lines are "NUMBER NAME" (decimal or 0x hex), '#' comments.
 * Built-in names are known even without the files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type RtTableKind = 'tables' | 'protocols' | 'realms' | 'dsfield' | 'groups';

const FILES: Record<RtTableKind, string> = {
  tables: 'rt_tables',
  protocols: 'rt_protos',
  realms: 'rt_realms',
  dsfield: 'rt_dsfield',
  groups: 'group',
};

const BUILTIN: Record<RtTableKind, Record<string, number>> = {
  tables: { unspec: 0, default: 253, main: 254, local: 255 },
  protocols: {
    unspec: 0,
    redirect: 1,
    kernel: 2,
    boot: 3,
    static: 4,
    gated: 8,
    ra: 9,
    mrt: 10,
    zebra: 11,
    bird: 12,
    dnrouted: 13,
    xorp: 14,
    ntk: 15,
    dhcp: 16,
    keepalived: 18,
    babel: 42,
    bgp: 186,
    isis: 187,
    ospf: 188,
    rip: 189,
    eigrp: 192,
  },
  realms: { unknown: 0 },
  dsfield: {},
  groups: { default: 0 },
};

const MAX: Record<RtTableKind, number> = {
  tables: 4_294_967_295,
  protocols: 255,
  realms: 65535,
  dsfield: 255,
  groups: 4_294_967_295,
};

/** Parses one iproute2 table file's text into name -> number (later lines win, as iproute2 does). */
export function parseRtTable(text: string, max = 4_294_967_295): Map<string, number> {
  const out = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [num, name] = line.split(/\s+/);
    if (!name || !/^(0x[0-9a-f]+|\d+)$/i.test(num)) continue;
    const n = Number(num);
    if (n <= max) out.set(name, n);
  }
  return out;
}

export class RtNames {
  private readonly tables = new Map<RtTableKind, Map<string, number>>();

  /** `dirs`: where to look, in order (a name found in an earlier directory wins). */
  constructor(private readonly dirs: string[] = ['/usr/share/iproute2', '/etc/iproute2']) {}

  private table(kind: RtTableKind): Map<string, number> {
    let t = this.tables.get(kind);
    if (t) return t;
    t = new Map(Object.entries(BUILTIN[kind]));
    // Later directories override earlier ones: /etc overrides the distribution defaults in /usr/share.
    for (const dir of this.dirs) {
      for (const file of [FILES[kind], ...confFiles(dir, `${FILES[kind]}.d`)]) {
        let text: string;
        try {
          text = readFileSync(join(dir, file), 'utf8');
        } catch {
          continue;
        }
        for (const [name, n] of parseRtTable(text, MAX[kind])) t.set(name, n);
      }
    }
    this.tables.set(kind, t);
    return t;
  }

  /**
   * A number stays a number (range-checked); a name is looked up. Throws a RangeError naming the table when
   * the name is unknown, so a bad route fails with a clear message instead of going to the wrong table.
   */
  resolve(kind: RtTableKind, value: number | string): number {
    if (typeof value === 'number' || /^(0x[0-9a-f]+|\d+)$/i.test(value)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || n > MAX[kind])
        throw new RangeError(`${kind}: ${value} is out of range`);
      return n;
    }
    const n = this.table(kind).get(value);
    if (n === undefined) {
      throw new RangeError(`unknown ${kind.replace(/s$/, '')} name '${value}' (not in ${FILES[kind]})`);
    }
    return n;
  }

  /** realms FROM/TO or TO: FROM in the high 16 bits (as `ip route realms`). */
  realms(value: number | string): number {
    if (typeof value === 'number') return value;
    const [a, b] = value.split('/');
    if (b === undefined) return this.resolve('realms', a);
    return ((this.resolve('realms', a) << 16) | this.resolve('realms', b)) >>> 0;
  }
}

function confFiles(dir: string, sub: string): string[] {
  try {
    return readdirSync(join(dir, sub))
      .filter((f) => f.endsWith('.conf'))
      .sort()
      .map((f) => join(sub, f));
  } catch {
    return [];
  }
}

/** The process-wide instance (files read once, on first use). */
export const rtNames = new RtNames();
