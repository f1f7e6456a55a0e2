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
  private firstReply: number | undefined;

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
        const reply = /^\[(\d+\.\d+)\] .*bytes from .*icmp_seq=(\d+)/.exec(line);
        if (reply) {
          this.firstReply ??= Number(reply[1]) * 1000;
          const seq = Number(reply[2]);
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

  /** Epoch ms of the first answer, if any. */
  firstReplyAt(): number | undefined {
    return this.firstReply;
  }

  /** A mark: the sequence number of the next request. */
  mark(): number {
    return this.highestSent + 1;
  }

  /**
   * Requests sent from mark `from` up to (not including) mark `to`, and how many of them were lost. Take
   * `to` a second or so before asking (`settle()`), so every answer has had time to come back.
   */
  window(from: number, to: number): PingWindow {
    let lost = 0;
    let run = 0;
    let longest = 0;
    for (let s = from; s < to; s++) {
      if (this.replies.has(s)) {
        run = 0;
        continue;
      }
      lost++;
      run++;
      longest = Math.max(longest, run);
    }
    return { sent: Math.max(0, to - from), lost, longestGapMs: longest * 10 };
  }

  /** The window from mark `from` to now, once the answers to requests sent until now have had time to come. */
  async settle(from: number, settleMs = 1200): Promise<PingWindow> {
    const to = this.mark();
    await new Promise((r) => setTimeout(r, settleMs));
    return this.window(from, to);
  }

  async stop(): Promise<void> {
    await this.lab.lab.kill(this.child);
  }
}
