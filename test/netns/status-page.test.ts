/**
 * The status page in a real browser: Debian's chromium, headless, driven by playwright-core, looking at
 * the backup director of a real pair in namespaces (`halo run --ipvs dry-run --http 127.0.0.1:9650`; the
 * browser runs inside the director's namespace, so it reaches that loopback address and nothing else).
 *
 * Live changes without a reload: a web server killed turns its real server DOWN; an operator's drain shows
 * who drained it and since when; the master killed makes
 * this node MASTER and its peer SILENT; halo stopped turns the page's connection red. A screenshot of each
 * state goes to test-output/status-page/ (HALO_TEST_OUTPUT overrides the folder), on a desktop and on a
 * phone-sized viewport. The page must load nothing from anywhere but its own server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { HaloPair, HTTP_PORT, VIP, WEB } from '../helpers/halo-pair.js';
import { canUseNetns, sh } from '../helpers/netns.js';
import { HALO_MAIN, REPO_ROOT } from '../helpers/vrrp-lab.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = join(process.env.HALO_TEST_OUTPUT ?? join(REPO_ROOT, 'test-output'), 'status-page');

async function whyNot(): Promise<string | undefined> {
  if (!(await canUseNetns())) return 'needs root';
  if (!existsSync(CHROMIUM)) return `no ${CHROMIUM} (apt-get install chromium)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm ci)';
  }
  return undefined;
}

const skip = await whyNot();
if (skip && process.env.CI) throw new Error(`CI must run the browser test: ${skip}`);

/** The flags the brief of this test asks for: nothing that reaches out, a profile of its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

describe('status page in a browser', { skip: skip ?? false }, () => {
  it('shows the pair and changes live: a real server down, a failover, halo gone', {
    timeout: 180_000,
  }, async () => {
    const { chromium } = await import('playwright-core');
    mkdirSync(OUT, { recursive: true });
    const pair = new HaloPair();
    const profile = mkdtempSync(join(tmpdir(), 'halo-chromium-'));
    let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
    try {
      await pair.setup();
      const [d1, d2] = pair.directors;
      pair.start(d1);
      pair.start(d2);
      await pair.waitSettled();

      // chromium runs inside d2's namespace: 127.0.0.1:9650 there is d2's halo.
      const wrapper = join(profile, 'chromium-in-netns');
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${d2.host.ns} ${CHROMIUM} "$@"\n`, {
        mode: 0o755,
      });
      context = await chromium.launchPersistentContext(join(profile, 'user-data'), {
        executablePath: wrapper,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 1000 },
        timeout: 60_000,
      });
      const page = context.pages()[0] ?? (await context.newPage());
      const origin = `http://127.0.0.1:${HTTP_PORT}`;
      const foreign: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(`${origin}/`) && !r.url().startsWith('data:')) foreign.push(r.url());
      });
      const consoleErrors: string[] = [];
      page.on('pageerror', (e) => consoleErrors.push(String(e)));
      const shot = (name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

      await page.goto(`${origin}/`);
      // 1. Settled: this node BACKUP, its peer d1 MASTER at priority 150, both real servers up, live.
      await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
      const pairRow = page.locator('#pair .pair-row[data-instance="VI_1"]');
      await pairRow.locator('[data-side="self"] .badge[data-state="BACKUP"]').waitFor();
      await pairRow.locator('[data-side="peer"][data-peer-state="MASTER"]').waitFor();
      assert.match(
        await pairRow.locator('[data-side="peer"]').innerText(),
        /10\.61\.0\.11[\s\S]*priority 150/,
      );
      for (const a of WEB) await page.locator(`.rs[data-rs="${a}:80"][data-state="up"]`).waitFor();
      assert.match(await page.locator('#dry-run').innerText(), /IPVS: dry-run, nothing programmed/);
      assert.match(await page.locator('#ipvs').innerText(), /dry-run, nothing programmed/);
      await shot('1-backup-peer-master');

      // 2. Kill web2: its real server turns DOWN on the open page, and the timeline says so.
      await pair.killServer(WEB[1]);
      await page.locator(`.rs[data-rs="${WEB[1]}:80"][data-state="down"]`).waitFor({ timeout: 15_000 });
      await page.locator(`.rs[data-rs="${WEB[0]}:80"][data-state="up"]`).waitFor();
      assert.match(
        await page.locator('#events li[data-type="rs.state"]').first().innerText(),
        /10\.61\.0\.22.*DOWN/,
      );
      assert.match(await page.locator(`.rs[data-rs="${WEB[1]}:80"]`).innerText(), /TCP_CHECK FAIL/);
      await shot('2-real-server-down');

      // 2b. An operator drains web1 (halo rs): the row says drained, by whom, since when.
      const drain = await sh(process.execPath, [
        HALO_MAIN,
        'rs',
        'drain',
        `${VIP}:80`,
        WEB[0],
        '--socket',
        d2.socket,
      ]);
      assert.match(drain.stdout, /drained/);
      await page.locator(`.rs[data-rs="${WEB[0]}:80"][data-state="drained"]`).waitFor({ timeout: 15_000 });
      assert.match(
        await page.locator(`.rs[data-rs="${WEB[0]}:80"] .override`).innerText(),
        /^drained by \S+, \d+\.\ds ago$/,
      );
      await shot('2b-real-server-drained');

      // 3. Crash the master: this node takes over; the peer's adverts stop (SILENT).
      await pair.stop(d1, 'SIGKILL');
      await page
        .locator('#vrrp .card[data-instance="VI_1"][data-state="MASTER"]')
        .waitFor({ timeout: 15_000 });
      await pairRow.locator('[data-side="peer"][data-peer-state="SILENT"]').waitFor({ timeout: 15_000 });
      const transitions = await page
        .locator('#vrrp .card[data-instance="VI_1"] ol.events li')
        .allInnerTexts();
      assert.match(transitions[0] ?? '', /BACKUP → MASTER/);
      await shot('3-failover-master');

      // 4. The same page on a phone: nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = (await page.evaluate(
        'document.documentElement.scrollWidth - window.innerWidth',
      )) as number;
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
      await shot('4-phone');

      // 5. halo stops: the page says it is not answering (and keeps the last known state on screen).
      await page.setViewportSize({ width: 1280, height: 1000 });
      await pair.stop(d2, 'SIGTERM');
      await page.locator('#conn[data-state="down"]').waitFor({ timeout: 15_000 });
      await shot('5-halo-stopped');

      assert.deepEqual(foreign, [], 'the page loads nothing from anywhere else');
      assert.deepEqual(consoleErrors, []);
    } finally {
      await context?.close().catch(() => undefined);
      await pair.cleanup();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
