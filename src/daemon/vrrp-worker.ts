/**
 * Worker-thread entry of the VRRP engine. The engine gets its own V8 isolate
 * and event loop: a busy checker, a slow reconcile or a garbage collection in
 * the main thread cannot delay an advert or a master-down timer.
 *
 * It speaks the protocol in vrrp-protocol.ts, and loads only what the engine
 * needs (no config parser, no YAML, no zod): it receives a plan, not a config.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VrrpEngine } from './vrrp-engine.js';
import type { VrrpWorkerData, VrrpWorkerMessage, VrrpWorkerRequest } from './vrrp-protocol.js';

const port = parentPort;
if (!port) throw new Error('vrrp-worker must run in a worker thread');
const send = (m: VrrpWorkerMessage) => port.postMessage(m);

const data = workerData as VrrpWorkerData;
// vrrp_rt_priority & co. (the plan's scheduling) apply to this thread and the advert timer threads.
const engine = new VrrpEngine(data.plan, (event) => send({ type: 'event', event }), {
  ...data.options,
  applyScheduling: true,
});

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

port.on('message', (m: VrrpWorkerRequest) => {
  switch (m.type) {
    case 'status':
      send({ type: 'status', id: m.id, instances: engine.status() });
      break;
    case 'reload':
      engine.reload(m.plan).then(
        (report) => send({ type: 'reloaded', id: m.id, report }),
        (err: unknown) => send({ type: 'reloaded', id: m.id, error: errorText(err) }),
      );
      break;
    case 'hold': {
      const { result, holds } = engine.hold(m.request);
      send({ type: 'held', id: m.id, result, holds });
      break;
    }
    case 'stop':
      void engine.stop().then(() => {
        send({ type: 'stopped' });
        port.close();
      });
      break;
  }
});

engine.start().then(
  () => send({ type: 'started' }),
  (err: unknown) => send({ type: 'start-failed', error: errorText(err) }),
);
