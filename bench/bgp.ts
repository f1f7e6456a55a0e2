/**
 * BGP benchmark: three active-active directors behind a BIRD router in namespaces (test/helpers/bgp-lab.ts,
 * real BIRD 2 speakers, real kernel routes), with BFD on and off. Per run it measures, at the router:
 *  - quorum lost -> route gone: from halo's bgp.withdraw (logged when it sees quorum lost) to the
 *    director's next hop leaving the router's kernel route; also from the real servers failing (this
 *    director's checks start failing) to route gone, which adds the check detection (delay_loop 0.5 s);
 *  - director killed -> route gone: the director goes silent (its network drops everything, then halo
 *    and BIRD are SIGKILLed, so no FIN, NOTIFICATION or BFD Down reaches the router) until its next hop
 *    leaves the router: the BFD detection time, or the BGP hold time (3 s) without BFD.
 *
 * Prints numbers; asserts nothing. Usage:
 *   node dist/bench/bgp.js [--runs 5] [--bfd on,off]
 */
import { parseArgs } from 'node:util';
import { BgpLab, birdInstalled } from '../test/helpers/bgp-lab.js';
import { canUseNetns } from '../test/helpers/netns.js';

const HELP = `usage: npm run bench:bgp -- [--runs N] [--bfd on,off]

Three directors announce one VIP over BGP through their own BIRD 2 to a BIRD router (namespaces, root,
bird2 installed). Measures quorum lost -> route gone and director killed -> route gone at the router,
with BFD (3 x 100 ms) on and off (BGP hold time 3 s). Prints median / min / max per case.`;

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const med = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return `${med.toFixed(0).padStart(5)} ${s[0].toFixed(0).padStart(5)} ${s[s.length - 1].toFixed(0).padStart(5)}`;
}

async function measure(bfd: boolean, runs: number): Promise<Record<string, number[]>> {
  const lab = new BgpLab({ bfd, withdrawDelayS: 1 });
  current = lab;
  const out: Record<string, number[]> = { quorum: [], failure: [], crash: [] };
  try {
    await lab.start();
    for (let i = 0; i < runs; i++) {
      const d = lab.directors[i % lab.directors.length];
      const mark = d.logs.length;
      const wall = Date.now();
      const t0 = performance.now();
      await lab.failRealServers(d, true);
      const ms = await lab.waitNextHops((h) => !h.includes(d.address), 15_000, t0);
      const withdraw = d.logs.slice(mark).find((l) => l.event === 'bgp.withdraw');
      out.failure.push(ms);
      if (withdraw) out.quorum.push(wall + ms - Date.parse(withdraw.time));
      await lab.failRealServers(d, false);
      await lab.waitNextHops((h) => h.length === 3, 15_000);
    }
    for (let i = 0; i < runs; i++) {
      const d = lab.directors[i % lab.directors.length];
      const t0 = performance.now();
      await lab.crash(d);
      out.crash.push(await lab.waitNextHops((h) => !h.includes(d.address), 15_000, t0));
      await lab.revive(d);
      await lab.waitNextHops((h) => h.length === 3, 30_000);
    }
  } finally {
    await lab.cleanup();
    current = undefined;
  }
  return out;
}

let current: BgpLab | undefined;
const onSignal = () => {
  void (current?.cleanup() ?? Promise.resolve()).finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    bfd: { type: 'string', default: 'on,off' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (!(await canUseNetns()) || !(await birdInstalled())) {
  console.error('bench:bgp needs root (network namespaces) and BIRD 2 (apt-get install bird2)');
  process.exit(1);
}
const runs = Number(values.runs);
console.log(`BGP withdrawal at the router, ${runs} runs per case, ms: median min max`);
for (const mode of values.bfd.split(',')) {
  const bfd = mode === 'on';
  const r = await measure(bfd, runs);
  const tag = bfd ? 'BFD on  (3 x 100 ms)' : 'BFD off (hold 3 s)  ';
  console.log(`${tag}  quorum lost -> route gone          ${stats(r.quorum)}`);
  console.log(`${tag}  real servers failed -> route gone  ${stats(r.failure)}`);
  console.log(`${tag}  director killed -> route gone      ${stats(r.crash)}`);
}
