/**
 * ha_suspend (keepalived 2.2.x check/check_api.c update_checker_activity,
 * register_checkers_thread; check_data.c): a virtual server's checkers run
 * only while its address is configured on this host, i.e. on the director
 * that holds the VIP. Pure: address events in, suspend/resume decisions out.
 *
 * keepalived's rules, kept here:
 *  - a count per virtual server of its addresses present on the host; the
 *    same address on two interfaces counts twice, so the checkers are
 *    suspended only when the last one goes;
 *  - at start the checkers of a virtual server with no address present are
 *    deactivated before their first run;
 *  - ha_suspend is cleared (with a config error) on a fwmark service or one
 *    whose group has fwmark entries (check_data.c validate_check_config);
 *  - the address must be of the virtual server's family.
 * While suspended a checker keeps its state and does not run (keepalived's
 * thread re-arms itself every delay_loop without checking); FILE_CHECK is
 * not suspended (it has no thread).
 * One deliberate difference: keepalived 2.2.7's addr_matches() returns false
 * for any virtual_server_group, so the checkers of a group service with
 * ha_suspend never run at all; halo matches the group's address entries and
 * ranges.
 */
import { ipToBytes } from '../ipvs/addr.js';

/** Addresses whose presence enables a virtual server's checkers (one address, or a group's ranges). */
export interface AddressRange {
  family: 4 | 6;
  /** First and last address, inclusive (equal for one address). */
  first: string;
  last: string;
}

export interface HaSuspendSpec {
  /** The virtual server's key in the check plan. */
  vs: string;
  ranges: AddressRange[];
}

export interface SuspendChange {
  vs: string;
  suspended: boolean;
}

interface Entry {
  spec: HaSuspendSpec;
  bounds: Array<{ family: 4 | 6; first: Buffer; last: Buffer }>;
  count: number;
}

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

export class HaSuspendTracker {
  private readonly entries: Entry[];

  constructor(specs: HaSuspendSpec[]) {
    this.entries = specs.map((spec) => ({
      spec,
      bounds: spec.ranges.map((r) => ({
        family: r.family,
        first: ipToBytes(r.first),
        last: ipToBytes(r.last),
      })),
      count: 0,
    }));
  }

  /** The virtual servers whose checkers are suspended now. */
  suspended(): string[] {
    return this.entries.filter((e) => e.count === 0).map((e) => e.spec.vs);
  }

  /**
   * The host's addresses at start (one entry per address per interface).
   * Returns every tracked virtual server with its state.
   */
  initial(addresses: string[]): SuspendChange[] {
    for (const e of this.entries) e.count = 0;
    for (const a of addresses) for (const e of this.matching(a)) e.count++;
    return this.entries.map((e) => ({ vs: e.spec.vs, suspended: e.count === 0 }));
  }

  /** An address appeared on an interface; returns the virtual servers that resume. */
  added(address: string): SuspendChange[] {
    const changes: SuspendChange[] = [];
    for (const e of this.matching(address)) {
      e.count++;
      if (e.count === 1) changes.push({ vs: e.spec.vs, suspended: false });
    }
    return changes;
  }

  /** An address left an interface; returns the virtual servers that are suspended. */
  removed(address: string): SuspendChange[] {
    const changes: SuspendChange[] = [];
    for (const e of this.matching(address)) {
      if (e.count === 0) continue; // a removal we never saw added: nothing to undo
      e.count--;
      if (e.count === 0) changes.push({ vs: e.spec.vs, suspended: true });
    }
    return changes;
  }

  private matching(address: string): Entry[] {
    const family = familyOf(address);
    let bytes: Buffer;
    try {
      bytes = ipToBytes(address.split('/')[0]);
    } catch {
      return [];
    }
    return this.entries.filter((e) =>
      e.bounds.some(
        (b) =>
          b.family === family && Buffer.compare(bytes, b.first) >= 0 && Buffer.compare(bytes, b.last) <= 0,
      ),
    );
  }
}
