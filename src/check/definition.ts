/**
 * When is a checker "the same checker" across a reload? One answer for the whole project: the engine's
 * in-place reload (engine.ts -> scheduler.ts) keeps exactly the checkers this module calls kept, and
 * `halo reload --plan` (src/plan/reload.ts) prints the same lists, so what the plan says is what happens.
 *
 * A checker is kept when its key (its real server's identity and its position among that real server's
 * checkers) is in both plans and its definition is unchanged. The definition is everything that decides
 * what an attempt does and when: type, target (address, port, urls, script, ...), timing and
 * fast_recovery. Deliberately left out:
 *  - the key and id: equal by construction when the keys are;
 *  - log_all_failures: it only decides what the daemon logs about a result; the daemon reads it from the
 *    new plan on every attempt, so it takes effect without restarting the checker (and flipping the
 *    global checker_log_all_failures does not restart every checker of the director).
 * Real-server and virtual-server settings (weight, omega, ha_suspend) are not part of a checker's
 * definition either: the scheduler applies them to the kept checkers' real servers in place.
 */
import type { CheckPlan, PlanChecker } from './types.js';

/** The definition of a checker as text: equal text, same checker. */
export function checkerDefinition(c: PlanChecker): string {
  return JSON.stringify({ timing: c.timing, target: c.target, fastRecovery: c.fastRecovery ?? false });
}

export interface CheckPlanDiff {
  /** In both plans with the same definition: keeps its state, counters and schedule. */
  readonly kept: readonly PlanChecker[];
  /** Only in the new plan. */
  readonly added: readonly PlanChecker[];
  /** Only in the old plan. */
  readonly removed: readonly PlanChecker[];
  /** In both plans with a different definition (the new one): the old one stops, the new one starts fresh. */
  readonly changed: readonly PlanChecker[];
}

function byKey(plan: CheckPlan): Map<string, PlanChecker> {
  const out = new Map<string, PlanChecker>();
  for (const vs of plan.virtualServers)
    for (const rs of vs.realServers) for (const c of rs.checkers) out.set(c.key, c);
  return out;
}

/** The checker-level difference between two plans, by key (pure). */
export function diffCheckPlans(before: CheckPlan, after: CheckPlan): CheckPlanDiff {
  const old = byKey(before);
  const kept: PlanChecker[] = [];
  const added: PlanChecker[] = [];
  const changed: PlanChecker[] = [];
  for (const c of byKey(after).values()) {
    const was = old.get(c.key);
    if (!was) added.push(c);
    else if (checkerDefinition(was) !== checkerDefinition(c)) changed.push(c);
    else kept.push(c);
    old.delete(c.key);
  }
  return { kept, added, removed: [...old.values()], changed };
}
