/**
 * The real server override store (src/daemon/rs-overrides.ts): what it writes is what a new store reads
 * back (same typed ids, same keys), every write is whole (temp file + rename, nothing left beside it), a
 * write that fails leaves memory as it was, and a bad file is reported, moved aside and never fatal.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  describeOrigin,
  effectOf,
  type RsOrigin,
  type RsOverride,
  RsOverrideStore,
} from '../../src/daemon/rs-overrides.js';
import { type RealServerId, realServerKey, type VirtualServerId } from '../../src/plan/ids.js';

const VS: VirtualServerId = { kind: 'address', family: 4, protocol: 'tcp', address: '10.0.0.1', port: 80 };
const VS6: VirtualServerId = {
  kind: 'address',
  family: 6,
  protocol: 'udp',
  address: '2001:db8::1',
  port: 53,
};
const FWM: VirtualServerId = { kind: 'fwmark', family: 4, fwmark: 7 };
const GROUP: VirtualServerId = { kind: 'group', family: 4, protocol: 'tcp', group: 'web' };
const rsId = (vs: VirtualServerId, address: string, port = 80): RealServerId => ({ vs, address, port });
const origin: RsOrigin = {
  via: 'control-socket',
  uid: 0,
  pid: 4242,
  command: 'halo',
  user: 'alice',
  at: '2024-05-01T10:00:00.000Z',
};

function override(id: RealServerId, kind: RsOverride['kind'], weight?: number): RsOverride {
  return { realServer: id, kind, ...(weight !== undefined ? { weight } : {}), origin };
}

describe('real server override store', () => {
  let dir: string;
  let n = 0;
  /** A fresh overrides file path in a directory of its own (the directory exists, the file does not). */
  const file = () => {
    const d = join(dir, `o${++n}`);
    mkdirSync(d);
    return join(d, 'rs-overrides.json');
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-rs-overrides-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists every kind and id shape; a new store reads the same overrides under the same keys', async () => {
    const f = file();
    const a = new RsOverrideStore(f);
    assert.deepEqual(await a.load(), { loaded: 0, skipped: [] }, 'no file yet: nothing, no complaint');
    const all = [
      override(rsId(VS, '10.0.0.21'), 'drain'),
      override(rsId(VS6, '2001:db8::21', 53), 'disable'),
      override(rsId(FWM, '10.0.0.22', 0), 'weight', 5),
      override(rsId(GROUP, '10.0.0.23', 443), 'weight', 0),
    ];
    for (const o of all) assert.equal(await a.set(o), undefined);
    const b = new RsOverrideStore(f);
    assert.deepEqual(await b.load(), { loaded: 4, skipped: [] });
    for (const o of all) assert.deepEqual(b.get(realServerKey(o.realServer)), o);
    assert.deepEqual(
      b.effects(),
      new Map(all.map((o) => [realServerKey(o.realServer), effectOf(o)])),
      'the effects computeDesired applies',
    );
    assert.deepEqual(effectOf(all[2]), { kind: 'weight', weight: 5 });
    // Written whole, then renamed: nothing else is left in the directory.
    assert.deepEqual(await readdir(join(f, '..')), ['rs-overrides.json']);
    const doc = JSON.parse(await readFile(f, 'utf8'));
    assert.equal(doc.version, 1);
    assert.deepEqual(
      doc.overrides.map((o: RsOverride) => o.realServer.vs),
      [VS, VS6, FWM, GROUP],
      'the typed ids are in the file, sorted by key',
    );
  });

  it('replacing and removing: set returns what it replaced, remove what it removed, the file follows', async () => {
    const f = file();
    const s = new RsOverrideStore(f);
    const id = rsId(VS, '10.0.0.21');
    await s.set(override(id, 'drain'));
    assert.deepEqual(await s.set(override(id, 'weight', 3)), override(id, 'drain'));
    const reread = new RsOverrideStore(f);
    await reread.load();
    assert.equal(reread.get(realServerKey(id))?.weight, 3);
    assert.deepEqual(await s.remove(realServerKey(id)), override(id, 'weight', 3));
    assert.equal(await s.remove(realServerKey(id)), undefined, 'removing nothing is fine');
    const empty = new RsOverrideStore(f);
    assert.deepEqual(await empty.load(), { loaded: 0, skipped: [] });
  });

  it('concurrent changes end with the file equal to memory', async () => {
    const f = file();
    const s = new RsOverrideStore(f);
    const ids = Array.from({ length: 20 }, (_, i) => rsId(VS, `10.0.1.${i + 1}`));
    await Promise.all([
      ...ids.map((id, i) => s.set(override(id, i % 2 ? 'drain' : 'disable'))),
      s.remove(realServerKey(ids[3])),
    ]);
    const r = new RsOverrideStore(f);
    await r.load();
    const sorted = (st: RsOverrideStore) => st.entries().sort(([a], [b]) => (a < b ? -1 : 1));
    assert.equal(r.size, 19);
    assert.deepEqual(sorted(r), sorted(s));
    assert.equal(await readFile(f, 'utf8'), s.serialise());
  });

  it('a write that fails leaves memory as it was and says why', async () => {
    const blocker = join(dir, 'not-a-dir');
    await writeFile(blocker, 'x');
    const s = new RsOverrideStore(join(blocker, 'rs-overrides.json'));
    const id = rsId(VS, '10.0.0.21');
    await assert.rejects(s.set(override(id, 'drain')), /EEXIST|ENOTDIR/);
    assert.equal(s.get(realServerKey(id)), undefined);
    assert.equal(s.size, 0);
  });

  it('memory only without a file', async () => {
    const s = new RsOverrideStore(undefined);
    await s.set(override(rsId(VS, '10.0.0.21'), 'drain'));
    assert.equal(s.size, 1);
    assert.deepEqual(await s.load(), { loaded: 0, skipped: [] });
    assert.equal(s.size, 0, 'load replaces memory');
  });

  it('a corrupt file is reported, moved aside and not used; the next change writes a good one', async () => {
    const f = file();
    const s0 = new RsOverrideStore(f);
    await s0.set(override(rsId(VS, '10.0.0.21'), 'drain'));
    await writeFile(f, '{"version":1,"overrides":[{"realSer');
    const s = new RsOverrideStore(f);
    const r = await s.load();
    assert.equal(r.loaded, 0);
    assert.match(r.unusable?.reason ?? '', /^not JSON/);
    assert.equal(r.unusable?.movedTo, `${f}.bad`);
    assert.equal(
      await readFile(`${f}.bad`, 'utf8'),
      '{"version":1,"overrides":[{"realSer',
      'kept for the operator',
    );
    await s.set(override(rsId(VS, '10.0.0.22'), 'disable'));
    const again = new RsOverrideStore(f);
    assert.deepEqual(await again.load(), { loaded: 1, skipped: [] });
  });

  it('a file of another shape or version is not used', async () => {
    for (const text of ['[]', '{"version":2,"overrides":[]}', '{"overrides":{}}', 'null']) {
      const f = file();
      await writeFile(f, text);
      const r = await new RsOverrideStore(f).load();
      assert.equal(r.loaded, 0, text);
      assert.match(r.unusable?.reason ?? '', /not a version 1 overrides file/, text);
    }
  });

  it('a bad entry is skipped alone; addresses are canonicalised so keys match the plan', async () => {
    const f = file();
    const good = override(rsId(VS, '10.0.0.21'), 'drain');
    const spelt = {
      ...override(rsId({ ...VS6, address: '2001:DB8:0:0::1' }, '2001:db8:0::21', 53), 'weight', 2),
    };
    await writeFile(
      f,
      JSON.stringify({
        version: 1,
        overrides: [
          good,
          { ...good, realServer: rsId(VS, 'not-an-ip') },
          { ...good, kind: 'weight' },
          { ...good, kind: 'drain', weight: 3 },
          { ...good, kind: 'explode' },
          spelt,
        ],
      }),
    );
    const s = new RsOverrideStore(f);
    const r = await s.load();
    assert.equal(r.loaded, 2);
    assert.equal(r.unusable, undefined);
    assert.equal(r.skipped.length, 4, r.skipped.join('\n'));
    assert.match(r.skipped[0], /^entry 1: realServer\.address: not an IP address/);
    assert.match(r.skipped[1], /^entry 2: .*weight/);
    assert.match(r.skipped[3], /^entry 4: kind/);
    assert.ok(s.get(realServerKey(good.realServer)));
    const canonicalKey = realServerKey(rsId(VS6, '2001:db8::21', 53));
    assert.equal(s.get(canonicalKey)?.weight, 2, 'found under the canonical key');
  });

  it('retain drops the overrides of real servers that are gone and writes the file', async () => {
    const f = file();
    const s = new RsOverrideStore(f);
    const keep = override(rsId(VS, '10.0.0.21'), 'drain');
    const gone = override(rsId(VS, '10.0.0.29'), 'disable');
    await s.set(keep);
    await s.set(gone);
    const known = new Set([realServerKey(keep.realServer)]);
    assert.deepEqual(await s.retain((k) => known.has(k)), [gone]);
    assert.deepEqual(await s.retain((k) => known.has(k)), [], 'nothing more to drop');
    const r = new RsOverrideStore(f);
    await r.load();
    assert.deepEqual(
      r.entries().map(([, o]) => o),
      [keep],
    );
  });

  it('describes who asked in one line', () => {
    assert.equal(describeOrigin(origin), 'uid 0 pid 4242 (halo) user alice');
    assert.equal(
      describeOrigin({ ...origin, loginUid: 1000 }),
      'uid 0 login uid 1000 pid 4242 (halo) user alice',
    );
    assert.equal(describeOrigin({ via: 'reload', at: origin.at }), 'via reload');
  });
});
