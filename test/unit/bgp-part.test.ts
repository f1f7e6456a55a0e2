/**
 * The BGP part's shell logic against an in-memory speaker (the real BIRD is in test/netns/bgp.test.ts):
 * the VIPs are added before anything is announced, a speaker that comes up late or restarts is told again,
 * a wrong router id / local AS is reported, drain/resume and stop call the speaker in the right order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BgpPart, type VipManager } from '../../src/bgp/part.js';
import type { RouteSpec } from '../../src/bgp/plan.js';
import { type BgpPlan, buildBgpPlan } from '../../src/bgp/plan.js';
import type { BgpSpeaker, SpeakerSnapshot } from '../../src/bgp/speaker.js';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { createLogger } from '../../src/daemon/log.js';

class MemorySpeaker implements BgpSpeaker {
  readonly kind = 'memory';
  up = true;
  bootId = 'boot-1';
  routerId = '10.0.0.11';
  localAs = 65001;
  table: string[] = [];
  applied: string[][] = [];
  async apply(routes: RouteSpec[]): Promise<void> {
    if (!this.up) throw new Error('connect ENOENT');
    this.table = routes.map((r) => r.prefix);
    this.applied.push(this.table);
  }
  async read(): Promise<SpeakerSnapshot> {
    if (!this.up)
      return {
        reachable: false,
        error: 'connect ENOENT',
        routerId: null,
        bootId: null,
        sessions: [],
        originated: [],
      };
    return {
      reachable: true,
      error: null,
      routerId: this.routerId,
      bootId: this.bootId,
      sessions: [
        {
          name: 'tor',
          neighborAddress: '10.0.0.1',
          neighborAs: 65000,
          localAs: this.localAs,
          state: 'Established',
          established: true,
          info: 'Established',
          exportedRoutes: this.table.length,
          bfd: null,
        },
      ],
      originated: [...this.table],
    };
  }
  async close(): Promise<void> {}
}

const CONF = (announces: string[]) =>
  `bgp {
    local_as 65001
    router_id 10.0.0.11
    poll_interval 0.1
    withdraw_delay 0
${announces.map((a) => `    announce ${a}`).join('\n')}
}
${announces.map((a) => `virtual_server ${a} 80 {\n    lb_algo mh\n    protocol TCP\n    real_server 10.0.0.21 80 {\n    }\n}\n`).join('')}`;

/** The BGP plan of a config that has a bgp block. */
function planOf(config: Parameters<typeof buildBgpPlan>[0]): BgpPlan {
  const plan = buildBgpPlan(config);
  assert.ok(plan, 'the config has a bgp block');
  return plan;
}

function setup(opts: { speakerUp?: boolean } = {}) {
  const r = parseKeepalivedText(
    `bgp {
    local_as 65001
    router_id 10.0.0.11
    poll_interval 0.1
    withdraw_delay 0
    announce 10.0.100.1
}
virtual_server 10.0.100.1 80 {
    lb_algo mh
    protocol TCP
    real_server 10.0.0.21 80 {
    }
}
`,
    'p.conf',
  );
  assert.ok(r.config);
  const lines: { event?: string; msg: string; state?: string; op?: string }[] = [];
  const logger = createLogger({
    destination: { write: (s: string) => lines.push(JSON.parse(s)) },
    autoFlush: false,
  });
  const speaker = new MemorySpeaker();
  speaker.up = opts.speakerUp ?? true;
  const calls: string[] = [];
  const vips: VipManager = {
    add: async (ifname, address) => {
      calls.push(`add ${address} on ${ifname} (speaker has ${speaker.table.length} routes)`);
    },
    remove: async (ifname, address) => {
      calls.push(`remove ${address} from ${ifname} (speaker has ${speaker.table.length} routes)`);
    },
  };
  const part = new BgpPart({ logger, speaker: () => speaker, vips });
  return { part, speaker, calls, lines, config: r.config };
}

/** Waits for the part's next polls to get there (no timing is asserted; the bound only stops a hang). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('BgpPart', () => {
  it('reload: a new VIP is added and announced, a removed one withdrawn then removed, no block = stop', async () => {
    const { part, speaker, calls, config } = setup();
    await part.start(planOf(config));
    const two = parseKeepalivedText(CONF(['10.0.100.1', '10.0.100.2']), 'p.conf').config;
    assert.ok(two);
    await part.reload(buildBgpPlan(two));
    assert.deepEqual(speaker.table, ['10.0.100.1/32', '10.0.100.2/32']);
    assert.equal(calls.at(-1), 'add 10.0.100.2 on lo (speaker has 1 routes)');
    const one = parseKeepalivedText(CONF(['10.0.100.2']), 'p.conf').config;
    assert.ok(one);
    await part.reload(buildBgpPlan(one));
    assert.deepEqual(speaker.table, ['10.0.100.2/32']);
    await until('10.0.100.1 removed after withdraw_delay', () =>
      calls.some((c) => c.startsWith('remove 10.0.100.1')),
    );
    assert.equal(calls.at(-1), 'remove 10.0.100.1 from lo (speaker has 1 routes)');
    const none = parseKeepalivedText(
      'virtual_server 10.0.100.2 80 {\n lb_algo mh\n protocol TCP\n real_server 10.0.0.21 80 {\n }\n}\n',
      'p.conf',
    ).config;
    assert.ok(none);
    await part.reload(buildBgpPlan(none));
    assert.deepEqual(speaker.table, []);
    assert.equal(calls.at(-1), 'remove 10.0.100.2 from lo (speaker has 0 routes)');
    assert.deepEqual(part.status().routes, []);
  });

  it('adds the VIP before announcing, and at stop removes it only after the speaker dropped the route', async () => {
    const { part, speaker, calls, config } = setup();
    await part.start(planOf(config));
    assert.deepEqual(calls, ['add 10.0.100.1 on lo (speaker has 0 routes)']);
    assert.deepEqual(speaker.table, ['10.0.100.1/32']);
    await part.stop();
    assert.deepEqual(calls.at(-1), 'remove 10.0.100.1 from lo (speaker has 0 routes)');
  });

  it('never announces a VIP it could not add; tries the add again', async () => {
    const { speaker, lines, config } = setup();
    let failures = 2;
    const vips: VipManager = {
      add: async () => {
        if (failures-- > 0) throw new Error('interface lo: no such device');
      },
      remove: async () => {},
    };
    const p2 = new BgpPart({
      logger: createLogger({
        destination: { write: (s: string) => lines.push(JSON.parse(s)) },
        autoFlush: false,
      }),
      speaker: () => speaker,
      vips,
    });
    await p2.start(planOf(config));
    assert.deepEqual(speaker.table, []);
    assert.ok(lines.some((l) => l.event === 'bgp.error' && /add VIP 10\.0\.100\.1/.test(l.msg)));
    await until('announced once the VIP is added', () => speaker.table.length === 1);
    await p2.stop();
  });

  it('drain withdraws and confirms; resume announces again', async () => {
    const { part, speaker, config } = setup();
    await part.start(planOf(config));
    assert.deepEqual(await part.drain(), { withdrawn: ['10.0.100.1/32'], confirmed: true });
    assert.deepEqual(speaker.table, []);
    assert.equal(part.status().maintenance, true);
    assert.equal(part.status().routes[0].reason, 'maintenance');
    assert.deepEqual(await part.resume(), { announced: ['10.0.100.1/32'] });
    assert.deepEqual(speaker.table, ['10.0.100.1/32']);
    await part.stop();
  });

  it('a speaker that comes up late, or restarts with an empty table, is told again', async () => {
    const { part, speaker, lines, config } = setup({ speakerUp: false });
    await part.start(planOf(config));
    assert.equal(part.status().speaker.reachable, false);
    assert.ok(lines.some((l) => l.event === 'bgp.session' && l.state === 'unreachable'));
    speaker.up = true;
    await until('announced once the speaker is up', () => speaker.table.length === 1);
    assert.deepEqual(speaker.table, ['10.0.100.1/32']);
    assert.ok(lines.some((l) => l.event === 'bgp.session' && l.state === 'reachable'));
    // A restart: new boot id, routes lost.
    speaker.table = [];
    speaker.bootId = 'boot-2';
    await until('announced again after the restart', () => speaker.table.length === 1);
    assert.deepEqual(speaker.table, ['10.0.100.1/32']);
    assert.ok(lines.some((l) => l.event === 'bgp.session' && l.state === 'restarted'));
    assert.equal(part.status().routes[0].inSpeaker, true);
    await part.stop();
  });

  it('reports a speaker whose router id or local AS differ from the bgp block', async () => {
    const { part, speaker, lines, config } = setup();
    speaker.routerId = '10.0.0.99';
    speaker.localAs = 65009;
    await part.start(planOf(config));
    const errors = lines.filter((l) => l.event === 'bgp.error').map((l) => l.msg);
    assert.deepEqual(errors, [
      "BGP speaker identity check failed: the speaker's router id is 10.0.0.99, the bgp block says 10.0.0.11",
      "BGP speaker identity check failed: the speaker's session tor uses local AS 65009, the bgp block says 65001",
    ]);
    await part.stop();
  });
});
