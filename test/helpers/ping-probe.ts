/**
 * A client pinging a VIP every 10 ms, as an operator's users would feel an outage: how many echo
 * requests went unanswered in a window, and which director answered (by the MAC address the client's
 * neighbour table holds). Used by the reload, planned-operation and self-healing netns tests.
 */
import type { ChildProcess } from 'node:child_process';
import { waitFor } from './netns.js';
import type { VrrpLab } from './vrrp-lab.js';

export interface PingWindow {
  /** Echo requests sent in the window (by sequence number). */
  sent: number;
  /** Of those, never answered. */
  lost: number;
  /** Longest run of consecutive unanswered requests, in ms (10 ms per request). */
  longestGapMs: number;
}

export class PingProbe {
  private readonly child: ChildProcess;
  private readonly replies = new Set<number>();
  private lastSeq = -1;
  private highestSent = -1;

  constructor(
    private readonly lab: VrrpLab,
    readonly target: string,
  ) {
    // -O reports requests that got no answer before the next is sent, so the highest sequence sent is known.
    this.child = lab.lab.spawn(lab.client.ns, 'ping', ['-D', '-n', '-O', '-i', '0.01', '-W', '1', target]);
    let buf = '';
    this.child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const reply = /bytes from .*icmp_seq=(\d+)/.exec(line);
        if (reply) {
          const seq = Number(reply[1]);
          this.replies.add(seq);
          this.lastSeq = Math.max(this.lastSeq, seq);
          this.highestSent = Math.max(this.highestSent, seq);
        }
        const none = /no answer yet for icmp_seq=(\d+)/.exec(line);
        if (none) this.highestSent = Math.max(this.highestSent, Number(none[1]));
        nl = buf.indexOf('\n');
      }
    });
  }

  /** Waits until replies flow (the client has resolved the VIP). */
  async ready(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.replies.size >= 5, timeoutMs);
  }

  /** A mark: the sequence number of the next request. */
  mark(): number {
    return this.highestSent + 1;
  }

  /**
   * Requests sent from `from` (a mark) until now, minus the last `settleMs` worth (their answers may
   * still be on the way), and how many of them were lost.
   */
  window(from: number, settleMs = 1200): PingWindow {
    const to = this.highestSent - Math.ceil(settleMs / 10);
    let lost = 0;
    let run = 0;
    let longest = 0;
    for (let s = from; s <= to; s++) {
      if (this.replies.has(s)) {
        run = 0;
        continue;
      }
      lost++;
      run++;
      longest = Math.max(longest, run);
    }
    return { sent: Math.max(0, to - from + 1), lost, longestGapMs: longest * 10 };
  }

  async stop(): Promise<void> {
    await this.lab.lab.kill(this.child);
  }
}
