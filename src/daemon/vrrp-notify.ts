/**
 * notify_master / backup / fault / stop / deleted (the command as written) and `notify` (with
 * keepalived's arguments TYPE NAME STATE PRIORITY), for instances and sync groups. Per instance or group
 * they run one after the other, so a MASTER script never races the BACKUP script that follows it.
 *
 * Every notification is also handed to `alert` (the notify FIFO lines and smtp_alert mails, which the
 * main thread's Notifier writes and sends: src/notify).
 */
import { runScript } from '../check/script-runner.js';
import type { VrrpGroupEvent, VrrpInstanceEvent, VrrpMasterRxLowerPriEvent } from '../notify/events.js';
import type { NotifyPlan, ScriptUserPlan } from '../plan/vrrp.js';
import type { ScriptGate } from './script-gate.js';

/** Notify scripts get a generous default timeout; keepalived has none, a hung script must not pile up. */
const NOTIFY_TIMEOUT_MS = 30_000;

export type NotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'DELETED';

export type VrrpAlert = VrrpInstanceEvent | VrrpGroupEvent | VrrpMasterRxLowerPriEvent;

export interface NotifierSettings {
  readonly scriptUser: ScriptUserPlan | undefined;
  readonly gate: ScriptGate;
}

export interface NotifierHost {
  /** The event for the notify FIFO and mail (the main thread's Notifier). */
  alert(event: VrrpAlert): void;
  onScriptExit(
    command: string,
    r: { exitCode: number | null; signal: string | null; timedOut: boolean; durationMs: number },
  ): void;
  track(p: Promise<unknown>): void;
}

/** A name as one FIFO word: quoted, with quotes, backslashes and line breaks escaped (no forged lines). */
export function fifoWord(name: string): string {
  return `"${name
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')}"`;
}

export class Notifier {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private settings: NotifierSettings,
    private readonly host: NotifierHost,
  ) {}

  /** A reload swapped the FIFO, script user or script security. */
  update(settings: NotifierSettings): void {
    this.settings = settings;
  }

  notify(
    type: 'INSTANCE' | 'GROUP',
    name: string,
    notify: NotifyPlan,
    state: NotifyState,
    priority: number,
  ): void {
    const specific = {
      MASTER: notify.master,
      BACKUP: notify.backup,
      FAULT: notify.fault,
      STOP: notify.stop,
      DELETED: notify.deleted,
    }[state];
    const runs: { cmd: string; args: string[] }[] = [];
    if (specific) runs.push({ cmd: specific, args: [] });
    if (notify.any) runs.push({ cmd: notify.any, args: [type, name, state, String(priority)] });
    if (type === 'INSTANCE') this.host.alert({ type: 'vrrp-instance', instance: name, state, priority });
    else if (state !== 'DELETED') this.host.alert({ type: 'vrrp-group', group: name, state });
    this.enqueue(`${type}:${name}`, runs);
  }

  /**
   * A MASTER heard a lower-priority advert: notify_master_rx_lower_pri runs as written and the FIFO gets
   * `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150` (keepalived send_event_notify(); written by the Notifier).
   */
  masterRxLowerPri(name: string, command: string | undefined, priority: number): void {
    this.host.alert({ type: 'vrrp-master-rx-lower-pri', instance: name, priority });
    this.enqueue(`INSTANCE:${name}`, command ? [{ cmd: command, args: [] }] : []);
  }

  private enqueue(key: string, runs: { cmd: string; args: string[] }[]): void {
    const { scriptUser, gate } = this.settings;
    if (!runs.length) return;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      for (const r of runs) {
        if (!(await gate.allowed(r.cmd, scriptUser?.user, scriptUser?.group))) continue;
        const res = await runScript(r.cmd, {
          timeoutMs: NOTIFY_TIMEOUT_MS,
          args: r.args,
          user: scriptUser?.user,
          group: scriptUser?.group,
        });
        this.host.onScriptExit(r.cmd, res);
      }
    });
    this.chains.set(
      key,
      next.catch(() => undefined),
    );
    this.host.track(next);
  }
}
