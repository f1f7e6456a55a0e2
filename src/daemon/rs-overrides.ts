/**
 * Operators' real server overrides (`halo rs drain|disable|weight`): what each one is, who asked and when,
 * kept in memory by typed real server key and persisted to one JSON file under the run directory, so they
 * survive a reload and a restart of halo (not a reboot: /run is tmpfs, and a rebooted director starts from
 * its configuration).
 *
 *  - The file holds each override's typed RealServerId (never a key or a display name); keys are rebuilt
 *    from the ids with realServerKey() when it is read.
 *  - Every change is written whole to a temporary file and renamed over the old one (one writer at a time),
 *    so a crash leaves either the old or the new file, never half of one. A change that cannot be written
 *    is not made (the caller gets the error) so memory and file always agree.
 *  - A file that cannot be used (not JSON, wrong shape, too big) is moved aside to `FILE.bad` (so the next
 *    write does not destroy what the operator may want to read) and halo starts with no overrides; a bad
 *    entry in a good file is skipped alone. The load report says what happened; the caller logs it. Nothing
 *    here throws at the daemon for a bad file.
 *
 * What the overrides do to the IPVS table is computeDesired()'s business (src/ipvs/desired.ts).
 */
import { readFile, rename, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { z } from 'zod';
import { canonicalAddress } from '../ipvs/addr.js';
import type { RealServerOverride } from '../ipvs/desired.js';
import { type RealServerId, type RealServerKey, realServerKey } from '../plan/ids.js';
import { writeFileAtomic } from './paths.js';

export const RS_OVERRIDE_KINDS = ['drain', 'disable', 'weight'] as const;
export type RsOverrideKind = (typeof RS_OVERRIDE_KINDS)[number];

/** The largest weight IPVS takes (and the config's real_server weight range). */
export const WEIGHT_MAX = 2_147_483_647;

const ProtocolSchema = z.enum(['tcp', 'udp', 'sctp']);
const FamilySchema = z.union([z.literal(4), z.literal(6)]);
const PortSchema = z.number().int().min(0).max(65535);
/** An IP address, canonicalised (two spellings of one IPv6 address must give one key). */
const AddressSchema = z
  .string()
  .max(64)
  .refine((a) => isIP(a) !== 0, 'not an IP address')
  .transform((a) => canonicalAddress(a));

export const VirtualServerIdSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('address'),
    family: FamilySchema,
    protocol: ProtocolSchema,
    address: AddressSchema,
    port: PortSchema,
  }),
  z.object({
    kind: z.literal('fwmark'),
    family: FamilySchema,
    fwmark: z.number().int().min(1).max(0xffffffff),
  }),
  z.object({
    kind: z.literal('group'),
    family: FamilySchema,
    protocol: ProtocolSchema,
    group: z.string().min(1).max(256),
  }),
]);

export const RealServerIdSchema = z.object({
  vs: VirtualServerIdSchema,
  address: AddressSchema,
  port: PortSchema,
});

/**
 * Who asked, and when. Over the control socket `uid`/`pid` are the kernel's word for the peer (SO_PEERCRED)
 * and `command` is that process's name; `loginUid` is the audit login uid (the person behind sudo, where
 * pam_loginuid sets it); `user` is what the client says about itself (SUDO_USER or its login name):
 * recorded for people, not trusted. `via` says which way it came: `control-socket`, or halo itself
 * (`reload`, `start`) for the overrides it drops.
 */
export const RsOriginSchema = z.object({
  via: z.string().min(1).max(32),
  uid: z.number().int().nonnegative().optional(),
  pid: z.number().int().positive().optional(),
  command: z.string().max(64).optional(),
  loginUid: z.number().int().nonnegative().optional(),
  user: z.string().max(64).optional(),
  /** ISO time of the request. */
  at: z.string().max(40),
});
export type RsOrigin = z.infer<typeof RsOriginSchema>;

export const RsOverrideSchema = z
  .object({
    realServer: RealServerIdSchema,
    kind: z.enum(RS_OVERRIDE_KINDS),
    /** Only for `weight`. */
    weight: z.number().int().min(0).max(WEIGHT_MAX).optional(),
    origin: RsOriginSchema,
  })
  .refine((o) => (o.kind === 'weight') === (o.weight !== undefined), {
    message: 'a weight override has a weight, and only a weight override has one',
  });
export type RsOverride = z.infer<typeof RsOverrideSchema>;

const FILE_VERSION = 1;
const FileSchema = z.object({ version: z.literal(FILE_VERSION), overrides: z.array(z.unknown()) });

/** A file bigger than this is not an overrides file (each entry is a few hundred bytes). */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** The effect computeDesired() applies. */
export function effectOf(o: Pick<RsOverride, 'kind' | 'weight'>): RealServerOverride {
  return o.kind === 'weight' ? { kind: 'weight', weight: o.weight ?? 0 } : { kind: o.kind };
}

/** "drain", "disable", "weight 5". */
export function describeOverride(o: Pick<RsOverride, 'kind' | 'weight'> | undefined | null): string {
  if (!o) return 'none';
  return o.kind === 'weight' ? `weight ${o.weight}` : o.kind;
}

/** "uid 0 pid 4242 (halo) user alice" — who asked, in one line for logs and `halo status`. */
export function describeOrigin(o: RsOrigin): string {
  const parts: string[] = [];
  if (o.uid !== undefined) parts.push(`uid ${o.uid}`);
  if (o.loginUid !== undefined && o.loginUid !== o.uid) parts.push(`login uid ${o.loginUid}`);
  if (o.pid !== undefined) parts.push(`pid ${o.pid}${o.command ? ` (${o.command})` : ''}`);
  if (o.user) parts.push(`user ${o.user}`);
  if (parts.length === 0) parts.push(`via ${o.via}`);
  else if (o.via !== 'control-socket') parts.push(`via ${o.via}`);
  return parts.join(' ');
}

export interface LoadReport {
  /** Overrides read. */
  loaded: number;
  /** Entries skipped, with why ("entry 3: realServer.address: not an IP address"). */
  skipped: string[];
  /** The whole file was unusable: why, and where it was moved. */
  unusable?: { reason: string; movedTo?: string };
}

export class RsOverrideStore {
  private readonly byKey = new Map<RealServerKey, RsOverride>();
  /** Changes (each with its write), one after the other. */
  private queue: Promise<void> = Promise.resolve();

  /** `file` undefined: kept in memory only. */
  constructor(readonly file: string | undefined) {}

  get size(): number {
    return this.byKey.size;
  }

  get(key: RealServerKey): RsOverride | undefined {
    return this.byKey.get(key);
  }

  entries(): [RealServerKey, RsOverride][] {
    return [...this.byKey.entries()];
  }

  /** What computeDesired() applies, by real server key. */
  effects(): Map<RealServerKey, RealServerOverride> {
    return new Map([...this.byKey].map(([k, o]) => [k, effectOf(o)]));
  }

  /** Reads the file (replacing what is in memory). Never throws: a bad file is reported and moved aside. */
  async load(): Promise<LoadReport> {
    this.byKey.clear();
    const file = this.file;
    if (!file) return { loaded: 0, skipped: [] };
    let text: string;
    try {
      const st = await stat(file);
      if (st.size > MAX_FILE_BYTES)
        return {
          loaded: 0,
          skipped: [],
          unusable: await this.moveAside(`larger than ${MAX_FILE_BYTES} bytes`),
        };
      text = await readFile(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return { loaded: 0, skipped: [] };
      return { loaded: 0, skipped: [], unusable: { reason: `cannot read it: ${e.message}` } };
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return {
        loaded: 0,
        skipped: [],
        unusable: await this.moveAside(`not JSON (${(err as Error).message})`),
      };
    }
    const top = FileSchema.safeParse(doc);
    if (!top.success)
      return {
        loaded: 0,
        skipped: [],
        unusable: await this.moveAside(
          `not a version ${FILE_VERSION} overrides file (${issueText(top.error)})`,
        ),
      };
    const skipped: string[] = [];
    top.data.overrides.forEach((raw, i) => {
      const o = RsOverrideSchema.safeParse(raw);
      if (!o.success) {
        skipped.push(`entry ${i}: ${issueText(o.error)}`);
        return;
      }
      const key = realServerKey(o.data.realServer as RealServerId);
      if (this.byKey.has(key))
        skipped.push(`entry ${i}: a second override of the same real server (kept the later)`);
      this.byKey.set(key, o.data);
    });
    return { loaded: this.byKey.size, skipped };
  }

  /**
   * Sets (or replaces) the override of its real server and writes the file. If the write fails the
   * previous state is restored and the error thrown. Returns the override it replaced.
   */
  set(o: RsOverride): Promise<RsOverride | undefined> {
    return this.exclusive(async () => {
      const key = realServerKey(o.realServer);
      const previous = this.byKey.get(key);
      this.byKey.set(key, o);
      try {
        await this.persist();
      } catch (err) {
        if (previous) this.byKey.set(key, previous);
        else this.byKey.delete(key);
        throw err;
      }
      return previous;
    });
  }

  /** Removes the override of a real server (if any) and writes the file; returns what was removed. */
  remove(key: RealServerKey): Promise<RsOverride | undefined> {
    return this.exclusive(async () => {
      const previous = this.byKey.get(key);
      if (!previous) return undefined;
      this.byKey.delete(key);
      try {
        await this.persist();
      } catch (err) {
        this.byKey.set(key, previous);
        throw err;
      }
      return previous;
    });
  }

  /**
   * Drops the overrides whose real server `keep` rejects (a reload removed it) and writes the file if any
   * went. Returns the dropped ones. A failed write is reported through `onWriteError`, and the dropped
   * overrides stay dropped: they name real servers that no longer exist, and the next write (or the next
   * load) drops them again.
   */
  retain(
    keep: (key: RealServerKey) => boolean,
    onWriteError?: (err: unknown) => void,
  ): Promise<RsOverride[]> {
    return this.exclusive(async () => {
      const dropped: RsOverride[] = [];
      for (const [key, o] of this.byKey) {
        if (keep(key)) continue;
        this.byKey.delete(key);
        dropped.push(o);
      }
      if (dropped.length) await this.persist().catch((err) => onWriteError?.(err));
      return dropped;
    });
  }

  /** The file's text for the current set (sorted, so the file does not churn). */
  serialise(): string {
    const overrides = [...this.byKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
    return `${JSON.stringify({ version: FILE_VERSION, overrides }, null, 2)}\n`;
  }

  /** Changes run one at a time, each with its write: the file always ends as the last change left memory. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private async persist(): Promise<void> {
    if (this.file) await writeFileAtomic(this.file, this.serialise(), 0o644);
  }

  private async moveAside(reason: string): Promise<{ reason: string; movedTo?: string }> {
    const file = this.file as string;
    const to = `${file}.bad`;
    try {
      await rename(file, to);
      return { reason, movedTo: to };
    } catch {
      return { reason };
    }
  }
}

function issueText(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid';
  const where = i.path.join('.');
  return `${where ? `${where}: ` : ''}${i.message}`;
}

/** An override as `halo status` and the `rs` answers show it. */
export const RsOverrideStatusSchema = z.object({
  kind: z.enum(RS_OVERRIDE_KINDS),
  weight: z.number().int().optional(),
  origin: RsOriginSchema,
  /** ISO time it was set (the origin's time). */
  since: z.string(),
  /** IPVS connection counts of the real server now (kernel mode, while it is in the table). */
  connections: z.object({ active: z.number().int(), inactive: z.number().int() }).optional(),
  /** Why there are no counts: dry-run, not in the table, the kernel did not answer. */
  connectionsNote: z.string().optional(),
});
export type RsOverrideStatus = z.infer<typeof RsOverrideStatusSchema>;

export function overrideStatus(o: RsOverride): RsOverrideStatus {
  return {
    kind: o.kind,
    ...(o.weight !== undefined ? { weight: o.weight } : {}),
    origin: o.origin,
    since: o.origin.at,
  };
}
