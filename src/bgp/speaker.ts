/**
 * The small interface between halo and a BGP speaker. halo does not speak BGP: it tells an existing
 * speaker (BIRD 2 today, see bird.ts) which routes to originate, and reads back its sessions and what it
 * originates. Another speaker (FRR, GoBGP, ExaBGP) is another implementation of this interface.
 */
import type { RouteSpec } from './plan.js';

export interface BgpSessionInfo {
  /** The speaker's name for the session (BIRD protocol name). */
  name: string;
  neighborAddress: string | null;
  neighborAs: number | null;
  localAs: number | null;
  /** BGP FSM state as the speaker says it: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  state: string;
  established: boolean;
  /** Free text the speaker adds (BIRD: "Error: Hold timer expired", "Socket: Connection refused"). */
  info: string;
  /** Routes the speaker exports to this neighbour now, when it says (null: unknown). */
  exportedRoutes: number | null;
  /** BFD session state towards the neighbour ('Up', 'Down', ...), null without BFD. */
  bfd: string | null;
}

export interface SpeakerSnapshot {
  /** False when the control socket cannot be reached or answers with an error. */
  reachable: boolean;
  error: string | null;
  routerId: string | null;
  /** Changes when the speaker restarts (BIRD: "Last reboot on ..."). */
  bootId: string | null;
  sessions: BgpSessionInfo[];
  /** Prefixes halo's routes have in the speaker's table now (what it announces to its peers). */
  originated: string[];
}

export interface BgpSpeaker {
  /** A name for logs and status ("bird"). */
  readonly kind: string;
  /**
   * Makes the speaker originate exactly `routes` (level-triggered and idempotent: applying the same list
   * twice changes nothing on the wire). Must not reset BGP sessions. Throws with the speaker's message
   * when it refuses.
   */
  apply(routes: RouteSpec[]): Promise<void>;
  /** Reads sessions and originated routes; never throws (an unreachable speaker is `reachable: false`). */
  read(): Promise<SpeakerSnapshot>;
  close(): Promise<void>;
}
