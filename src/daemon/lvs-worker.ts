/**
 * Worker-thread entry of the checker + IPVS part (the Lvs class of lvs.ts). It runs apart from the
 * supervisor and the VRRP thread so that a bug in a checker (an uncaught exception, a runaway heap) ends
 * this worker only: the main thread's LvsHost logs it and starts a new one, which resumes from the state
 * it was sent, while VRRP keeps its state. Speaks lvs-protocol.ts.
 *
 * Logging: the worker's own HaloLogger (same level, its own rate limiter) writes JSON lines into a sink
 * that posts them to the main thread, which writes them to the daemon's output, so one writer owns stdout.
 * Metrics, alerts and events are posted as they happen; the part's state (live health and quorum, BGP's
 * health, what a restart resumes from) once per event-loop turn in which it changed, and always before the
 * reply to a request, so the main thread's mirror is never older than an answer it got.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckPlan } from '../check/types.js';
import type { RealServerHealth } from '../ipvs/desired.js';
import type { PlanProblem } from '../plan/check.js';
import type { RealServerKey } from '../plan/ids.js';
import type { IpvsPlan } from '../plan/ipvs.js';
import type { PartScheduling } from '../plan/scheduling.js';
import { createLogger } from './log.js';
import { Lvs, type LvsPlans } from './lvs.js';
import {
  type LvsMetricCall,
  type LvsMetrics,
  type LvsPlansMessage,
  type LvsWorkerData,
  type LvsWorkerMessage,
  type LvsWorkerRequest,
  reviveBuffers,
  toLvsError,
} from './lvs-protocol.js';
import { applyPartScheduling } from './realtime.js';

const port = parentPort;
if (!port) throw new Error('lvs-worker must run in a worker thread');
const send = (m: LvsWorkerMessage) => port.postMessage(m);

const data = workerData as LvsWorkerData;
const o = data.options;
const logger = createLogger({
  format: 'json',
  level: o.logLevel,
  destination: { write: (line: string) => send({ type: 'log', line }) },
});

const metric = (call: LvsMetricCall) => send({ type: 'metric', call });
const metrics: LvsMetrics | undefined = o.metrics
  ? {
      checkResult: (...args) => metric({ method: 'checkResult', args }),
      ipvsOperation: (...args) => metric({ method: 'ipvsOperation', args }),
      ipvsDriftRepaired: (...args) => metric({ method: 'ipvsDriftRepaired', args }),
      setRealServerUp: (...args) => metric({ method: 'setRealServerUp', args }),
      realServerOverrides: (...args) => metric({ method: 'realServerOverrides', args }),
    }
  : undefined;

function plansOf(m: LvsPlansMessage): LvsPlans {
  return {
    check: reviveBuffers(m.check) as { plan: CheckPlan; problems: PlanProblem[] },
    ipvs: reviveBuffers(m.ipvs) as IpvsPlan,
  };
}

let lvs: Lvs | undefined;
let started = false;
/**
 * The latest VRRP state of each instance: the part reads it at start (an lvs_sync_daemon may follow an
 * instance that is MASTER already); changes that arrive while it starts are replayed once it has.
 */
const vrrpStates = new Map<string, string>();
/** Requests with an id are handled one at a time, in order (a reload never overtakes the start). */
let chain: Promise<void> = Promise.resolve();

/* ---------------------------------------------------------------- state pushed to the main thread */

let bgpHealth: ReadonlyMap<RealServerKey, RealServerHealth> | undefined;
let statePending = false;

function flushState(): void {
  if (!statePending) return;
  statePending = false;
  // Not while the part starts: a half-started part's state is not one to resume from (start sends it).
  if (!lvs || !started) return;
  const live = lvs.live();
  send({
    type: 'state',
    carried: lvs.carriedState(),
    live: { health: live.health, quorum: live.quorum, overrides: live.overrides ?? new Map() },
    ...(bgpHealth ? { health: bgpHealth } : {}),
  });
}

function stateChanged(): void {
  if (statePending) return;
  statePending = true;
  setImmediate(flushState);
}

function reply(id: number, run: () => Promise<unknown>): void {
  chain = chain.then(run).then(
    (result) => {
      flushState();
      send({ type: 'done', id, ...(result === undefined ? {} : { result }) });
    },
    (err: unknown) => {
      flushState();
      send({ type: 'done', id, error: toLvsError(err) });
    },
  );
}

/* ---------------------------------------------------------------- checker_* scheduling of this thread */

let stopRtWatch: (() => void) | undefined;

/** checker_rt_priority, checker_priority, checker_cpu_affinity & co. on this thread (keepalived: its checker process). */
function applyScheduling(s: PartScheduling | undefined): void {
  if (!s) return;
  stopRtWatch?.();
  stopRtWatch = applyPartScheduling(s, (level, m) => logger.pino[level]({ event: 'checker.scheduling' }, m));
}

/* ---------------------------------------------------------------- requests */

port.on('message', (m: LvsWorkerRequest) => {
  switch (m.type) {
    case 'start':
      for (const [instance, state] of m.vrrpStates)
        if (!vrrpStates.has(instance)) vrrpStates.set(instance, state);
      reply(m.id, async () => {
        applyScheduling(m.plans.scheduling);
        lvs = new Lvs(
          {
            logger,
            metrics,
            ipvs: o.ipvs,
            reconcileIntervalMs: o.reconcileIntervalMs,
            keepIpvsOnStop: o.keepIpvsOnStop,
            vrrp: o.vrrp,
            overridesFile: o.overridesFile,
            resume: data.resume,
            vrrpStates,
            ...(o.events ? { events: (event) => send({ type: 'event', event }) } : {}),
            ...(o.health
              ? {
                  onHealth: (h) => {
                    bgpHealth = h;
                  },
                }
              : {}),
            onStateChange: stateChanged,
          },
          (event) => send({ type: 'alert', event }),
        );
        await lvs.start(plansOf(m.plans));
        started = true;
        stateChanged();
        for (const [instance, state] of vrrpStates) lvs.vrrpStateChanged(instance, state);
      });
      break;
    case 'reload':
      reply(m.id, async () => {
        applyScheduling(m.plans.scheduling);
        await lvs?.reload(plansOf(m.plans));
      });
      break;
    case 'stop':
      reply(m.id, async () => {
        await lvs?.stop();
        stopRtWatch?.();
        logger.close();
      });
      break;
    case 'rs':
      reply(m.id, async () => {
        if (!lvs || !started)
          throw Object.assign(new Error('the checker part is starting'), { expected: true });
        return lvs.rsCommand(m.req, m.origin);
      });
      break;
    case 'status':
      // Not queued behind a slow reload: status reads what is there now (null: not started yet).
      (lvs && started ? lvs.status() : Promise.resolve(null)).then(
        (result) => send({ type: 'done', id: m.id, result }),
        (err: unknown) => send({ type: 'done', id: m.id, error: toLvsError(err) }),
      );
      break;
    case 'stats':
      try {
        send({ type: 'done', id: m.id, result: lvs && started ? lvs.stats() : null });
      } catch (err) {
        send({ type: 'done', id: m.id, error: toLvsError(err) });
      }
      break;
    case 'vrrp-state':
      vrrpStates.set(m.instance, m.state);
      if (started) lvs?.vrrpStateChanged(m.instance, m.state);
      break;
  }
});
