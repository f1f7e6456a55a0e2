/**
 * Worker-thread entry of the VRRP engine. The engine gets its own V8 isolate
 * and event loop: a busy checker, a slow reconcile or a garbage collection in
 * the main thread cannot delay an advert or a master-down timer.
 *
 * Messages in:  { type: 'stop' } | { type: 'status'; id } | { type: 'reload'; id; config }
 * Messages out: { type: 'event'; event } | { type: 'started' } | { type: 'start-failed'; error }
 *               | { type: 'stopped' } | { type: 'status'; id; instances }
 *               | { type: 'reloaded'; id; result?: { kept; stopped; started }; error? }
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { HaloConfig } from '../config/model.js';
import { schedulingOf } from './realtime.js';
import { VrrpEngine } from './vrrp-engine.js';

export type VrrpWorkerRequest =
  | { type: 'stop' }
  | { type: 'status'; id: number }
  | { type: 'reload'; id: number; config: HaloConfig };

const port = parentPort;
if (!port) throw new Error('vrrp-worker must run in a worker thread');

const data = workerData as { config: HaloConfig; keepVipsOnStop: boolean };
const engine = new VrrpEngine(data.config, (event) => port.postMessage({ type: 'event', event }), {
  keepVipsOnStop: data.keepVipsOnStop,
  // vrrp_rt_priority & co.: this thread and the advert timer threads (realtime.ts).
  scheduling: schedulingOf(data.config.global, 'vrrp'),
});

port.on('message', (m: VrrpWorkerRequest) => {
  if (m.type === 'status') port.postMessage({ type: 'status', id: m.id, instances: engine.status() });
  else if (m.type === 'reload') {
    engine.reload(m.config).then(
      (result) => port.postMessage({ type: 'reloaded', id: m.id, result }),
      (err: unknown) =>
        port.postMessage({
          type: 'reloaded',
          id: m.id,
          error: err instanceof Error ? err.message : String(err),
        }),
    );
  } else if (m.type === 'stop') {
    void engine.stop().then(() => {
      port.postMessage({ type: 'stopped' });
      port.close();
    });
  }
});

engine.start().then(
  () => port.postMessage({ type: 'started' }),
  (err: unknown) =>
    port.postMessage({ type: 'start-failed', error: err instanceof Error ? err.message : String(err) }),
);
