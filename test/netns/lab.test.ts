/**
 * `npm run lab -- --demo` end to end: the lab builds its namespaces, runs halo on both directors, kills the
 * master, watches director2 take over and director1 preempt back, and removes everything it made.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAB_PREFIX, listNamespaces } from '../../lab/netns.js';
import { canUseNetns } from '../helpers/netns.js';
import { REPO_ROOT } from '../helpers/vrrp-lab.js';

const LAB_MAIN = join(REPO_ROOT, 'dist/lab/lab.js');

function runLab(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; output: string; pid: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LAB_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    // SIGTERM first: the lab cleans up its namespaces on SIGTERM too.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, pid: child.pid ?? -1 });
    });
  });
}

/** Namespaces the lab with this PID made (its names carry its PID), so other runs on the machine do not count. */
const leftBy = async (pid: number) =>
  (await listNamespaces()).filter((n) => n.startsWith(`${LAB_PREFIX}${pid}-`));

test('lab --demo: director2 takes over from a killed director1, director1 preempts back, nothing left', {
  timeout: 150_000,
}, async (t) => {
  if (!(await canUseNetns())) return t.skip('needs root and iproute2');
  const { code, output, pid } = await runLab(['--demo'], 120_000);
  assert.equal(code, 0, output);
  assert.match(output, /director1 is MASTER \(priority 150\)/);
  assert.match(output, /kill -9 halo on the master \(director1\)/);
  const takeover = /director2 is MASTER: takeover (\d+\.\d+) s after the kill/.exec(output);
  assert.ok(takeover, output);
  assert.match(output, /director1 is MASTER again/);
  // The hint names the real PID of the new master (it showed '?' after a failover).
  assert.match(output, /director2 is MASTER \(kill -9 \d+ crashes it\)/);
  assert.doesNotMatch(output, /kill -9 \?/);
  if (/== 3\. stop web2/.test(output)) {
    // A stopped web server does not flicker UP while a director restarts (checked by the demo itself).
    assert.match(output, /web2 stayed DOWN while director1 restarted/);
    assert.match(output, /web2 is UP again/);
  }
  assert.match(output, /demo OK/);
  assert.deepEqual(await leftBy(pid), [], 'the lab removed its namespaces');
});

test('lab --bgp --demo: ECMP over three directors, a drain with 0 failed requests, BFD drops a crash, nothing left', {
  timeout: 150_000,
}, async (t) => {
  if (!(await canUseNetns())) return t.skip('needs root and iproute2');
  if (!/BIRD version 2/.test(execFileSync('sh', ['-c', 'bird --version 2>&1 || true']).toString()))
    return t.skip('needs bird2');
  const { code, output, pid } = await runLab(['--bgp', '--demo'], 120_000);
  assert.equal(code, 0, output);
  assert.match(
    output,
    /router ECMP next hops for 10\.89\.100\.100: 3 -> d1 \(10\.89\.0\.11\), d2 \(10\.89\.0\.12\), d3/,
  );
  assert.match(output, /during the drain: \{[^}]*\}, 0 failed requests/);
  const crash = /router dropped d3 (\d+) ms after the crash/.exec(output);
  assert.ok(crash && Number(crash[1]) < 1500, output);
  assert.match(output, /demo OK/);
  assert.deepEqual(await leftBy(pid), [], 'the lab removed its namespaces');
});

/** A PID that belonged to a process which has exited (as a crashed lab's would). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

test("lab --cleanup removes a crashed lab's namespaces, not a running lab's, not other names", async (t) => {
  if (!(await canUseNetns())) return t.skip('needs root and iproute2');
  // A lab that is "still running": its PID is alive (this test process; --cleanup runs as a child).
  const crashed = `${LAB_PREFIX}${await deadPid()}-dead-web1`;
  const running = `${LAB_PREFIX}${process.pid}-live-web1`;
  const unrelated = `halolabx-keep-${process.pid}`;
  const made = [crashed, running, unrelated];
  for (const ns of made) execFileSync('ip', ['netns', 'add', ns]);
  try {
    const { code, output } = await runLab(['--cleanup'], 30_000);
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`removed .*${crashed}`));
    assert.match(output, new RegExp(`left alone .*${running}`));
    const names = await listNamespaces();
    assert.ok(!names.includes(crashed), "the crashed lab's namespace is removed");
    assert.ok(names.includes(running), "a running lab's namespace is left alone");
    assert.ok(names.includes(unrelated), 'a name without the exact prefix is left alone');
  } finally {
    const names = await listNamespaces();
    for (const ns of made) if (names.includes(ns)) execFileSync('ip', ['netns', 'del', ns]);
  }
});
