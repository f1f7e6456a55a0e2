/**
 * The BGP section of `halo status` (control socket `status`, `halo status --json`, the data dump): the
 * speaker, its sessions, and each announced VIP with why it is (not) announced.
 */
import { z } from 'zod';

export const BgpSessionStatusSchema = z.object({
  name: z.string(),
  neighborAddress: z.string().nullable(),
  neighborAs: z.number().int().nullable(),
  localAs: z.number().int().nullable(),
  state: z.string(),
  established: z.boolean(),
  info: z.string(),
  exportedRoutes: z.number().int().nullable(),
  bfd: z.string().nullable(),
});

export const BgpRouteStatusSchema = z.object({
  prefix: z.string(),
  /** halo wants it announced. */
  announced: z.boolean(),
  healthy: z.boolean(),
  /** In the speaker's table now; null when the speaker cannot be read. */
  inSpeaker: z.boolean().nullable(),
  reason: z.string(),
  since: z.string(),
  virtualServers: z.array(z.object({ id: z.string(), quorumUp: z.boolean() })),
});

export const BgpStatusSchema = z.object({
  speaker: z.object({
    kind: z.string(),
    controlSocket: z.string(),
    reachable: z.boolean(),
    error: z.string().nullable(),
    routerId: z.string().nullable(),
    lastRestart: z.string().nullable(),
  }),
  maintenance: z.boolean(),
  sessions: z.array(BgpSessionStatusSchema),
  routes: z.array(BgpRouteStatusSchema),
});

export type BgpStatus = z.infer<typeof BgpStatusSchema>;
export type BgpRouteStatus = z.infer<typeof BgpRouteStatusSchema>;

/** The text lines `halo status` prints for BGP. */
export function renderBgpStatusLines(bgp: BgpStatus, ago: (iso: string) => string): string[] {
  const out: string[] = [];
  const s = bgp.speaker;
  const reach = s.reachable
    ? `router id ${s.routerId ?? '?'}`
    : `UNREACHABLE${s.error ? ` (${s.error})` : ''}`;
  out.push(
    `BGP: speaker ${s.kind} at ${s.controlSocket}, ${reach}${bgp.maintenance ? '  MAINTENANCE (drained)' : ''}`,
  );
  for (const x of bgp.sessions) {
    const bfd = x.bfd ? `  BFD ${x.bfd}` : '';
    const exp = x.exportedRoutes === null ? '' : `  ${x.exportedRoutes} route(s) exported`;
    out.push(
      `  session ${x.name} ${x.neighborAddress ?? '?'} AS${x.neighborAs ?? '?'}: ${x.state}${bfd}${exp}`,
    );
  }
  if (bgp.sessions.length === 0) out.push('  no BGP sessions');
  for (const r of bgp.routes) {
    const what = r.announced ? 'ANNOUNCED' : 'withdrawn';
    const sp = r.inSpeaker === null ? '' : r.inSpeaker ? ', in speaker' : ', not in speaker';
    out.push(`  ${r.prefix} ${what} for ${ago(r.since)}${sp}: ${r.reason}`);
  }
  return out;
}
