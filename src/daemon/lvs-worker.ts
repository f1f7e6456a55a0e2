/**
 * Worker-thread entry of the checker + IPVS part (the Lvs class of lvs.ts). It runs apart from the
 * supervisor and the VRRP thread so that a bug in a checker (an uncaught exception, a runaway heap) ends
 * this worker only: the main thread's LvsHost logs it and starts a new one, which resumes from the health
 * it was sent, while VRRP keeps its state. Speaks lvs-protocol.ts.
 *
 * Logging: the worker's own HaloLogger (same level, its own rate limiter) writes JSON lines into a sink
 * that posts them to the main thread, which writes them to the daemon's output, so one writer owns stdout.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckPlan } from '../check/types.js';
import type { PlanProblem } from '../plan/check.js';
import type { IpvsPlan } from '../plan/ipvs.js';
import { createLogger } from './log.js';
import { Lvs, type LvsPlans } from './lvs.js';
import {
  type LvsMetricCall,
  type LvsMetrics,
  type LvsPlansMessage,
  type LvsStatus,
  type LvsWorkerData,
  type LvsWorkerMessage,
  type LvsWorkerRequest,
  reviveBuffers,
} from './lvs-protocol.js';

const port = parentPort;
if (!port) throw new Error('lvs-worker must run in a worker thread');
const send = (m: LvsWorkerMessage) => port.postMessage(m);

const data = workerData as LvsWorkerData;
const logger = createLogger({
  format: 'json',
  level: data.options.logLevel,
  destination: { write: (line: string) => send({ type: 'log', line }) },
});

const metric = (call: LvsMetricCall) => send({ type: 'metric', call });
const metrics: LvsMetrics | undefined = data.options.metrics
  ? {
      checkResult: (...args) => metric({ method: 'checkResult', args }),
      ipvsOperation: (...args) => metric({ method: 'ipvsOperation', args }),
      ipvsDriftRepaired: (...args) => metric({ method: 'ipvsDriftRepaired', args }),
      setRealServerUp: (...args) => metric({ method: 'setRealServerUp', args }),
    }
  : undefined;

function plansOf(m: LvsPlansMessage): LvsPlans {
  return {
    check: reviveBuffers(m.check) as { plan: CheckPlan; problems: PlanProblem[] },
    ipvs: reviveBuffers(m.ipvs) as IpvsPlan,
  };
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

let lvs: Lvs | undefined;
let started = false;
/**
 * The latest VRRP state of each instance: the part reads it at start (an lvs_sync_daemon may follow an
 * instance that is MASTER already); changes that arrive while it starts are replayed once it has.
 */
const vrrpStates = new Map<string, string>();
/** Requests are handled one at a time, in order (a reload never overtakes the start). */
let chain: Promise<void> = Promise.resolve();

function done(id: number, run: () => Promise<void>): void {
  chain = chain.then(run).then(
    () => send({ type: 'done', id }),
    (err: unknown) => send({ type: 'done', id, error: errorText(err) }),
  );
}

port.on('message', (m: LvsWorkerRequest) => {
  switch (m.type) {
    case 'start':
      for (const [instance, state] of m.vrrpStates)
        if (!vrrpStates.has(instance)) vrrpStates.set(instance, state);
      done(m.id, async () => {
        lvs = new Lvs(
          {
            logger,
            metrics,
            ipvs: data.options.ipvs,
            reconcileIntervalMs: data.options.reconcileIntervalMs,
            keepIpvsOnStop: data.options.keepIpvsOnStop,
            vrrp: data.options.vrrp,
            resume: data.resume,
            vrrpStates,
            // After every health change: the main thread feeds BGP and keeps it for a restart.
            onHealth: () => {
              if (lvs) send({ type: 'state', state: lvs.carriedState() });
            },
          },
          (event) => send({ type: 'alert', event }),
        );
        await lvs.start(plansOf(m.plans));
        started = true;
        for (const [instance, state] of vrrpStates) lvs.vrrpStateChanged(instance, state);
      });
      break;
    case 'reload':
      done(m.id, async () => {
        await lvs?.reload(plansOf(m.plans));
      });
      break;
    case 'stop':
      done(m.id, async () => {
        await lvs?.stop();
        logger.close();
      });
      break;
    case 'status': {
      // Not queued behind a slow reload: status reads what is there now (null: not started yet).
      let status: LvsStatus | null = null;
      try {
        status = lvs && started ? lvs.status() : null;
      } catch {
        status = null;
      }
      send({ type: 'status', id: m.id, status });
      break;
    }
    case 'vrrp-state':
      vrrpStates.set(m.instance, m.state);
      if (started) lvs?.vrrpStateChanged(m.instance, m.state);
      break;
  }
});
