/**
 * The control socket's `rs` command (`halo rs drain|disable|enable|weight`): its request and answer
 * documents (zod, checked by the daemon on the way in and by the CLI on the way back), and the request's
 * origin as the daemon records it.
 *
 *   request: {"cmd":"rs", "args": {"action":"drain"|"disable"|"enable"|"weight",
 *             "virtualServer": {"kind":"address","address":"10.0.0.1","port"?:80,"protocol"?:"tcp"}
 *                            | {"kind":"fwmark","fwmark":1,"family"?:4|6} | {"kind":"group","group":"NAME","protocol"?:...},
 *             "realServer": {"address":"10.0.0.21","port"?:80},
 *             "weight"?: N (only with "weight"), "user"?: "alice" (who the client says it is)}, "id"?: any}
 *
 * Unknown fields are refused: nothing is accepted and then ignored.
 */
import type { Socket } from 'node:net';
import { z } from 'zod';
import { peerCredentials, processInfo } from '../net/peer-cred.js';
import { RealServerSelectorSchema, VirtualServerSelectorSchema } from '../plan/rs-select.js';
import { type RsOrigin, RsOverrideStatusSchema, WEIGHT_MAX } from './rs-overrides.js';
import { REAL_SERVER_STATES } from './status.js';

export const RS_ACTIONS = ['drain', 'disable', 'enable', 'weight'] as const;
export type RsAction = (typeof RS_ACTIONS)[number];

export const RsArgsSchema = z
  .object({
    action: z.enum(RS_ACTIONS),
    virtualServer: VirtualServerSelectorSchema,
    realServer: RealServerSelectorSchema,
    weight: z.number().int().min(0).max(WEIGHT_MAX).optional(),
    /** Who the client says it is (SUDO_USER or its login name): recorded beside the kernel's word. */
    user: z.string().max(64).optional(),
  })
  .strict()
  .refine((r) => (r.action === 'weight') === (r.weight !== undefined), {
    message: '"weight" goes with the action "weight", and only with it',
    path: ['weight'],
  });
export type RsArgs = z.infer<typeof RsArgsSchema>;
/** The name the checks + IPVS part uses for them. */
export type RsParams = RsArgs;

export const RsResultSchema = z.object({
  action: z.enum(RS_ACTIONS),
  /** keepalived's names: "[10.0.0.1]:tcp:80" and "[10.0.0.21]:tcp:80". */
  virtualServer: z.string(),
  realServer: z.string(),
  /** The override in force now (null: none, the real server follows its checks). */
  override: RsOverrideStatusSchema.nullable(),
  previous: RsOverrideStatusSchema.nullable(),
  /** False when it already was so: nothing written, nothing sent to IPVS, no event. */
  changed: z.boolean(),
  /** The real server's weight in the IPVS table now; null when it is not in the table. */
  ipvsWeight: z.number().int().nullable(),
  state: z.enum(REAL_SERVER_STATES),
  ipvsMode: z.enum(['kernel', 'dry-run']),
  /**
   * `disable` of a real server that was in the kernel: the connections it had. Deleting a destination
   * breaks them (drain first, and disable once they are gone).
   */
  connectionsCut: z.object({ active: z.number().int(), inactive: z.number().int() }).optional(),
  message: z.string(),
});
export type RsResult = z.infer<typeof RsResultSchema>;

/** Control characters out of what a client says about itself (it ends up in logs and on screens). */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 64);
}

/** The origin of a request that came over the control socket: the kernel's word first, the client's last. */
export async function controlOrigin(
  socket: Socket,
  claimedUser?: string,
  now = new Date(),
): Promise<RsOrigin> {
  const peer = peerCredentials(socket);
  const proc = peer ? await processInfo(peer.pid) : {};
  return {
    via: 'control-socket',
    ...(peer ? { uid: peer.uid, pid: peer.pid } : {}),
    ...proc,
    ...(claimedUser ? { user: printable(claimedUser) } : {}),
    at: now.toISOString(),
  };
}
