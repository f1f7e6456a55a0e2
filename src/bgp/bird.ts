/**
 * BIRD 2 as halo's BGP speaker.
 *
 * halo owns one file that BIRD's own config includes (`routes_file`, e.g. `include "/run/halo/bird/*.conf";`):
 * two static protocols, `<name>4` and `<name>6`, with one blackhole route per announced VIP and its path
 * attributes. To announce or withdraw, halo rewrites that file atomically and sends `configure` over the
 * control socket: BIRD re-reads its config and applies only the difference, so the static protocol gains
 * or loses a route and the BGP sessions are not reset (no restart, no session flap; measured in the netns
 * tests). Because the routes live in a file, a restarted BIRD announces them again by itself; halo also
 * notices the restart ("Last reboot" changes) and applies again. The file is under /run by default, so
 * after a reboot BIRD starts with no halo routes until halo has checked the pool.
 *
 * BIRD removes MED on export to eBGP peers unless the export filter sets it, so the operator's filter keeps
 * it with `if defined(bgp_med) then bgp_med = bgp_med;` (docs/bgp.md has the whole snippet).
 *
 * The control socket protocol: every reply line starts with a 4-digit code, '-' when more lines follow and
 * ' ' on the last one; a line starting with a space continues the previous code. 0xxx ends a successful
 * reply, 8xxx/9xxx an error.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { BirdSpeakerPlan, RouteSpec } from './plan.js';
import type { BgpSessionInfo, BgpSpeaker, SpeakerSnapshot } from './speaker.js';

/* ---------------------------------------------------------------- rendering (pure) */

function routeLine(route: RouteSpec, localAs: number | null): string {
  const a = route.attributes;
  const statements: string[] = [];
  for (const c of a.communities) statements.push(`bgp_community.add((${c.replace(':', ',')}));`);
  for (const c of a.largeCommunities)
    statements.push(`bgp_large_community.add((${c.split(':').join(',')}));`);
  if (a.med !== null) statements.push(`bgp_med = ${a.med};`);
  if (a.asPathPrepend > 0) {
    // The plan builder refuses prepend without local_as (config semantic check); this is the last guard.
    if (localAs === null) throw new Error(`${route.prefix}: as_path_prepend needs local_as`);
    for (let i = 0; i < a.asPathPrepend; i++) statements.push(`bgp_path.prepend(${localAs});`);
  }
  const body = statements.length ? ` { ${statements.join(' ')} }` : '';
  return `  route ${route.prefix} blackhole${body};`;
}

/** The routes file halo writes for BIRD. */
export function renderBirdRoutes(speaker: BirdSpeakerPlan, routes: RouteSpec[]): string {
  const lines = [
    '# Written by halo (bgp routes_file). Do not edit: halo rewrites it on every change.',
    `# BIRD's config includes this file; its BGP export filter accepts proto "${speaker.protocolName}4" / "${speaker.protocolName}6".`,
  ];
  for (const family of [4, 6] as const) {
    lines.push(`protocol static ${speaker.protocolName}${family} {`);
    lines.push(`  ipv${family};`);
    for (const r of routes.filter((x) => x.family === family)) lines.push(routeLine(r, speaker.localAs));
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

/* ---------------------------------------------------------------- parsing (pure) */

export interface BirdReply {
  /** The code of the final line. */
  code: number;
  ok: boolean;
  /** Every line's text without its code, continuation lines included. */
  lines: { code: number; text: string }[];
}

/**
 * Splits a stream of control-socket text into complete replies; returns them and the unconsumed rest.
 * The greeting ("0001 BIRD 2.0.12 ready.") is a reply of its own.
 */
export function splitBirdReplies(buffer: string): { replies: BirdReply[]; rest: string } {
  const replies: BirdReply[] = [];
  let lines: BirdReply['lines'] = [];
  let lastCode = 0;
  let consumed = 0;
  let pos = 0;
  for (;;) {
    const nl = buffer.indexOf('\n', pos);
    if (nl < 0) break;
    const line = buffer.slice(pos, nl);
    pos = nl + 1;
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (m) {
      lastCode = Number(m[1]);
      lines.push({ code: lastCode, text: m[3] });
      if (m[2] === ' ') {
        replies.push({ code: lastCode, ok: lastCode < 8000, lines });
        lines = [];
        consumed = pos;
      }
    } else {
      // " text": continues the previous code.
      lines.push({ code: lastCode, text: line.startsWith(' ') ? line.slice(1) : line });
    }
  }
  return { replies, rest: buffer.slice(consumed) };
}

export function parseBirdStatus(reply: BirdReply): { routerId: string | null; bootId: string | null } {
  let routerId: string | null = null;
  let bootId: string | null = null;
  for (const { text } of reply.lines) {
    const id = /^Router ID is (\S+)/.exec(text);
    if (id) routerId = id[1];
    const boot = /^Last reboot on (.+)$/.exec(text);
    if (boot) bootId = boot[1].trim();
  }
  return { routerId, bootId };
}

/** BGP sessions from `show protocols all`. */
export function parseBirdProtocols(reply: BirdReply): BgpSessionInfo[] {
  const out: BgpSessionInfo[] = [];
  let cur: BgpSessionInfo | undefined;
  for (const { code, text } of reply.lines) {
    if (code === 1002) {
      // name proto table state since info
      const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+(?:\s\d\d:\d\d:\d\d\S*)?)\s*(.*)$/.exec(text);
      cur = undefined;
      if (m && m[2] === 'BGP') {
        const info = m[6].trim();
        cur = {
          name: m[1],
          neighborAddress: null,
          neighborAs: null,
          localAs: null,
          state: info.split(/\s+/)[0] || m[4],
          established: info.startsWith('Established'),
          info,
          exportedRoutes: null,
          bfd: null,
        };
        out.push(cur);
      }
      continue;
    }
    if (!cur) continue;
    const t = text.trim();
    const field = (re: RegExp) => re.exec(t)?.[1];
    cur.state = field(/^BGP state:\s+(\S+)/) ?? cur.state;
    cur.neighborAddress = field(/^Neighbor address:\s+(\S+)/) ?? cur.neighborAddress;
    const nas = field(/^Neighbor AS:\s+(\d+)/);
    if (nas) cur.neighborAs = Number(nas);
    const las = field(/^Local AS:\s+(\d+)/);
    if (las) cur.localAs = Number(las);
    const exported = field(/^Routes:\s+\d+ imported, (\d+) exported/);
    if (exported) cur.exportedRoutes = (cur.exportedRoutes ?? 0) + Number(exported);
  }
  for (const s of out) s.established = s.state === 'Established';
  return out;
}

/** BFD sessions from `show bfd sessions`: neighbour address -> state. */
export function parseBirdBfd(reply: BirdReply): Map<string, string> {
  const out = new Map<string, string>();
  for (const { text } of reply.lines) {
    const m = /^\s*([0-9a-fA-F.:]+)\s+\S+\s+(Up|Down|Init|AdminDown)\b/.exec(text);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** Prefixes listed by `show route ...` (first word of each route line). */
export function parseBirdRoutes(reply: BirdReply): string[] {
  const out: string[] = [];
  for (const { text } of reply.lines) {
    const m = /^\s*([0-9a-fA-F.:]+\/\d+)\s/.exec(`${text} `);
    if (m) out.push(m[1]);
  }
  return out;
}

/* ---------------------------------------------------------------- the control socket client */

/** One connection to BIRD's control socket; commands are queued and answered in order. */
export class BirdClient {
  private socket: Socket | undefined;
  private buffer = '';
  private readonly waiting: { resolve: (r: BirdReply) => void; reject: (e: Error) => void }[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly timeoutMs = 5000,
  ) {}

  get connected(): boolean {
    return this.socket !== undefined;
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = connect(this.path);
      const fail = (err: Error) => {
        this.drop(err);
        reject(err);
      };
      s.setEncoding('utf8');
      s.once('error', fail);
      s.on('data', (d: string) => this.onData(d));
      s.once('close', () => this.drop(new Error('BIRD closed the control socket')));
      this.socket = s;
      // The greeting is the first reply.
      this.waiting.push({
        resolve: () => {
          s.off('error', fail);
          s.on('error', (err) => this.drop(err));
          resolve();
        },
        reject,
      });
    });
  }

  private onData(d: string): void {
    this.buffer += d;
    const { replies, rest } = splitBirdReplies(this.buffer);
    this.buffer = rest;
    for (const r of replies) this.waiting.shift()?.resolve(r);
  }

  private drop(err: Error): void {
    const s = this.socket;
    this.socket = undefined;
    this.buffer = '';
    s?.destroy();
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  /** Sends one command and resolves with its reply (an error reply resolves too: check `ok`). */
  command(cmd: string): Promise<BirdReply> {
    const run = async (): Promise<BirdReply> => {
      if (!this.socket) await this.open();
      const s = this.socket;
      if (!s) throw new Error('BIRD control socket is not connected');
      return await new Promise<BirdReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          const err = new Error(`BIRD did not answer '${cmd}' within ${this.timeoutMs} ms`);
          this.drop(err);
          reject(err);
        }, this.timeoutMs);
        this.waiting.push({
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        s.write(`${cmd}\n`);
      });
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.drop(new Error('closed'));
  }
}

function replyText(r: BirdReply): string {
  return r.lines
    .map((l) => l.text)
    .join(' ')
    .trim();
}

export class BirdSpeaker implements BgpSpeaker {
  readonly kind = 'bird';
  private readonly client: BirdClient;

  constructor(private readonly plan: BirdSpeakerPlan) {
    this.client = new BirdClient(plan.controlSocket);
  }

  /** Writes the routes file (atomically) without telling BIRD; used before BIRD runs and by apply(). */
  async writeRoutes(routes: RouteSpec[]): Promise<void> {
    const file = this.plan.routesFile;
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, renderBirdRoutes(this.plan, routes), { mode: 0o644 });
    await rename(tmp, file);
  }

  async apply(routes: RouteSpec[]): Promise<void> {
    await this.writeRoutes(routes);
    const r = await this.client.command('configure');
    // 0003 Reconfigured, 0004 Reconfiguration in progress (applied when BIRD is done), 0018/0019 queued.
    if (!r.ok) throw new Error(`BIRD refused the configuration: ${replyText(r)}`);
  }

  async read(): Promise<SpeakerSnapshot> {
    try {
      const status = await this.client.command('show status');
      if (!status.ok) throw new Error(replyText(status));
      const { routerId, bootId } = parseBirdStatus(status);
      const protocols = await this.client.command('show protocols all');
      const sessions = protocols.ok ? parseBirdProtocols(protocols) : [];
      // Without a bfd protocol BIRD answers with an error: that just means no BFD.
      const bfd = await this.client.command('show bfd sessions');
      const bfdStates = bfd.ok ? parseBirdBfd(bfd) : new Map<string, string>();
      for (const s of sessions) s.bfd = (s.neighborAddress && bfdStates.get(s.neighborAddress)) || null;
      const name = this.plan.protocolName;
      const routes = await this.client.command(`show route where proto = "${name}4" || proto = "${name}6"`);
      return {
        reachable: true,
        error: null,
        routerId,
        bootId,
        sessions,
        originated: routes.ok ? parseBirdRoutes(routes) : [],
      };
    } catch (err) {
      return {
        reachable: false,
        error: err instanceof Error ? err.message : String(err),
        routerId: null,
        bootId: null,
        sessions: [],
        originated: [],
      };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
