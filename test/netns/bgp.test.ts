/**
 * Active-active directors announcing a VIP over BGP through real BIRD 2 speakers (no mocks), in
 * namespaces: a router (BIRD, ECMP into its kernel, BFD), three directors (halo + their own BIRD), three
 * web servers and a client loop (test/helpers/bgp-lab.ts). One topology, scenarios in order:
 *
 *  - the router holds three ECMP next hops and the client is served by every director;
 *  - a director whose real servers all fail withdraws: the router drops to two next hops;
 *  - maintenance (the BGP part's drain(), what `halo maintenance on` calls) drains a director with
 *    0 failed requests, resume() brings it back;
 *  - a restarted speaker gets its routes back;
 *  - SIGTERM: the route leaves the router before the VIP leaves the director, 0 failed requests;
 *  - a director that dies silently is withdrawn by the router within the BFD time.
 *
 * Times are printed; the bounds asserted are generous (the machine is shared): check interval + poll for
 * health, BFD detection (3 x 100 ms) plus scheduling for a crash.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BgpStatus } from '../../src/bgp/status.js';
import { BgpLab, birdInstalled, VIP } from '../helpers/bgp-lab.js';
import { canUseNetns, sh, waitFor } from '../helpers/netns.js';
import { HALO_MAIN } from '../helpers/vrrp-lab.js';

const root = await canUseNetns();
const bird = await birdInstalled();
if (process.env.CI && (!root || !bird))
  throw new Error('CI must run the BGP netns tests as root with bird2 installed');
const skip = !root ? 'needs root' : !bird ? 'needs BIRD 2 (apt-get install bird2)' : false;

describe('BGP active-active directors with real BIRD speakers', { skip }, () => {
  const lab = new BgpLab({ bfd: true, drainable: [2], withdrawDelayS: 1 });
  const [d1, d2, d3] = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];

  before(async () => {
    await lab.start();
  });
  after(async () => {
    await lab.cleanup();
  });

  it('three directors announce the VIP; the router holds three ECMP next hops; each serves', async () => {
    assert.deepEqual(await lab.nextHops(), [d1, d2, d3]);
    const client = lab.startClient(5);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await client.stop();
    console.log(`# requests by director: ${JSON.stringify(r.byDirector)}, ${r.failed} failed`);
    assert.equal(r.failed, 0, r.errors.join(', '));
    for (const d of ['d1', 'd2', 'd3']) assert.ok((r.byDirector[d] ?? 0) > 0, `${d} served nothing`);
    // halo logged the announcement and the established session with its stable events.
    const logs = lab.directors[0].logs;
    assert.ok(logs.some((l) => l.event === 'bgp.announce' && l.prefix === `${VIP}/32`));
    assert.ok(
      logs.some((l) => l.event === 'bgp.session' && l.session === 'tor' && l.state === 'Established'),
    );
  });

  it('halo status shows the speaker, the session and the announced VIP', async () => {
    const sock = join(lab.directors[0].dir, 'run', 'halo.sock');
    const out = await sh(process.execPath, [HALO_MAIN, 'status', '--json', '--socket', sock]);
    const doc = JSON.parse(out.stdout) as { bgp: BgpStatus };
    assert.equal(doc.bgp.speaker.reachable, true);
    assert.equal(doc.bgp.speaker.routerId, d1);
    assert.deepEqual(
      doc.bgp.sessions.map((s) => [s.name, s.neighborAddress, s.state, s.bfd, s.exportedRoutes]),
      [['tor', '10.77.0.1', 'Established', 'Up', 1]],
    );
    assert.deepEqual(
      doc.bgp.routes.map((r) => [r.prefix, r.announced, r.inSpeaker, r.reason]),
      [[`${VIP}/32`, true, true, 'quorum up']],
    );
    const text = (await sh(process.execPath, [HALO_MAIN, 'status', '--socket', sock])).stdout;
    assert.match(text, /BGP: speaker bird at .*bird\.ctl, router id 10\.77\.0\.11/);
    assert.match(text, /session tor 10\.77\.0\.1 AS65000: Established {2}BFD Up {2}1 route\(s\) exported/);
    assert.match(text, /10\.77\.100\.100\/32 ANNOUNCED for .*, in speaker: quorum up/);
  });

  it('a director whose real servers all fail withdraws; the router drops to two next hops', async () => {
    const d = lab.directors[0];
    const mark = d.logs.length;
    const failedAt = performance.now();
    const failedWall = Date.now();
    await lab.failRealServers(d, true);
    const ms = await lab.waitNextHops((h) => h.length === 2 && !h.includes(d1), 10_000, failedAt);
    const withdraw = d.logs.slice(mark).find((l) => l.event === 'bgp.withdraw');
    assert.ok(withdraw, 'bgp.withdraw logged');
    assert.match(String(withdraw.reason), /quorum lost/);
    // halo's log time of the withdrawal is when it saw quorum lost (same clock: one host).
    const fromQuorum = failedWall + ms - Date.parse(String(withdraw.time));
    console.log(
      `# real servers failed -> route gone from the router: ${ms.toFixed(0)} ms (quorum lost -> gone: ${fromQuorum.toFixed(0)} ms)`,
    );
    // delay_loop 0.5 s + connect + the withdrawal itself; well under BGP's hold time.
    assert.ok(ms < 3000, `${ms} ms`);
    assert.ok(await lab.vipOnLo(d), 'the VIP stays local (connections here finish)');

    await lab.failRealServers(d, false);
    await lab.waitNextHops((h) => h.length === 3, 10_000);
  });

  it('maintenance drains a director with 0 failed requests, resume brings it back', async () => {
    const d = lab.directors[1];
    const client = lab.startClient(5);
    await new Promise((r) => setTimeout(r, 500));
    const drained = await lab.command<{ withdrawn: string[]; confirmed: boolean }>(d, 'drain');
    assert.deepEqual(drained, { withdrawn: [`${VIP}/32`], confirmed: true });
    await lab.waitNextHops((h) => h.length === 2 && !h.includes(d2), 5000);
    assert.ok(await lab.vipOnLo(d), 'a drained director keeps its VIP');
    await new Promise((r) => setTimeout(r, 500));
    const during = await client.stop();
    console.log(
      `# drain: ${during.ok} requests, ${during.failed} failed, by director ${JSON.stringify(during.byDirector)}`,
    );
    assert.equal(during.failed, 0, during.errors.join(', '));

    const after = lab.startClient(5);
    await new Promise((r) => setTimeout(r, 500));
    const r = await after.stop();
    assert.equal(r.byDirector.d2 ?? 0, 0, 'nothing reaches a drained director');

    const resumed = await lab.command<{ announced: string[] }>(d, 'resume');
    assert.deepEqual(resumed, { announced: [`${VIP}/32`] });
    await lab.waitNextHops((h) => h.length === 3, 5000);
  });

  it('a restarted speaker gets its routes back', async () => {
    const d = lab.directors[0];
    const mark = d.logs.length;
    await lab.killSpeaker(d);
    await lab.waitNextHops((h) => !h.includes(d1), 10_000);
    const restartedAt = performance.now();
    await lab.startSpeaker(d);
    const ms = await lab.waitNextHops((h) => h.includes(d1), 15_000, restartedAt);
    console.log(`# speaker restarted -> route back on the router: ${ms.toFixed(0)} ms`);
    // Depending on whether a poll fell between the kill and the start, halo saw the socket go away and
    // come back, or only the new "Last reboot" time.
    const states = d.logs
      .slice(mark)
      .filter((l) => l.event === 'bgp.session' && l.session === undefined)
      .map((l) => l.state);
    // (A loaded machine has been seen to log "restarted" more than once for one restart: BIRD's boot time
    // line can change while it starts up. Each one only makes halo apply its routes again.)
    assert.ok(
      states.length > 0 &&
        states.every((s) => s === 'restarted' || s === 'unreachable' || s === 'reachable') &&
        (states.includes('restarted') || states.join() === 'unreachable,reachable'),
      JSON.stringify(states),
    );
    // halo saw the speaker come back and told it again what to announce.
    await waitFor(
      () =>
        d.logs
          .slice(mark)
          .some((l) => l.event === 'bgp.session' && l.session === 'tor' && l.state === 'Established'),
      5000,
    );
  });

  it('SIGTERM withdraws first: the route leaves the router before the VIP leaves the director', async () => {
    const d = lab.directors[0];
    const client = lab.startClient(5);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const stopping = lab.stopHalo(d);
    let routeGone: number | undefined;
    let vipGone: number | undefined;
    while (vipGone === undefined && performance.now() - t0 < 15_000) {
      if (routeGone === undefined && !(await lab.nextHops()).includes(d1)) routeGone = performance.now() - t0;
      if (!(await lab.vipOnLo(d))) vipGone = performance.now() - t0;
    }
    await stopping;
    const r = await client.stop();
    console.log(
      `# SIGTERM: route gone from the router after ${routeGone?.toFixed(0)} ms, VIP removed after ${vipGone?.toFixed(0)} ms; ${r.ok} requests, ${r.failed} failed`,
    );
    assert.ok(routeGone !== undefined && vipGone !== undefined);
    assert.ok(routeGone < vipGone, 'the route went first');
    assert.ok(vipGone - routeGone >= 900, 'the VIP served withdraw_delay (1 s) longer');
    assert.equal(r.failed, 0, r.errors.join(', '));
    assert.deepEqual(await lab.nextHops(), [d2, d3]);
  });

  it('a director that dies silently is withdrawn by the router within the BFD time', async () => {
    const d = lab.directors[2];
    const t0 = performance.now();
    await lab.crash(d);
    const ms = await lab.waitNextHops((h) => !h.includes(d3), 5000, t0);
    console.log(
      `# director crashed (silent) -> route gone from the router: ${ms.toFixed(0)} ms (BFD 3 x 100 ms)`,
    );
    assert.ok(ms < 1500, `${ms} ms: BFD should detect in about 300 ms, far below the 3 s hold time`);
    assert.deepEqual(await lab.nextHops(), [d2]);
  });
});
