/**
 * Naming one real server of the running plan, the way keepalived users write them: `halo rs drain
 * 10.0.0.1:80 10.0.0.21` and its control-socket twin.
 *
 * Two steps, both pure:
 *  - parseRsArgs(): command-line words -> a selector (a small structured document the control socket
 *    validates with zod). Virtual server: `10.0.0.1:80`, `10.0.0.1 80`, `[2001:db8::1]:80`, `fwmark 1`
 *    (also `FWM 1`), `group NAME`, or the spelling logs and `halo status` print (`[10.0.0.1]:tcp:80`,
 *    `[NAME]`). Real server: `10.0.0.21:80`, `10.0.0.21 80`, `[2001:db8::21]:80`, `[10.0.0.21]:tcp:80`, or
 *    the bare address. The port and the protocol may be left out when that leaves one candidate.
 *  - resolveRealServer(): a selector -> the plan's typed ids (IpvsVirtualServerPlan / IpvsRealServerPlan),
 *    or an error that says which virtual / real servers exist. Matching compares typed fields (canonical
 *    addresses, numbers); no key or display name is ever parsed back.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { canonicalAddress } from '../ipvs/addr.js';
import { describeRealServer, describeVirtualServer, type Protocol } from './ids.js';
import type { IpvsRealServerPlan, IpvsVirtualServerPlan } from './ipvs.js';

export const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
const ProtocolSchema = z.enum(PROTOCOLS);
const PortSchema = z.number().int().min(0).max(65535);
/** Long enough for any IPv6 text with a zone; the resolver says whether it is an address. */
const AddressTextSchema = z.string().min(1).max(64);

export const VirtualServerSelectorSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('address'),
      address: AddressTextSchema,
      port: PortSchema.optional(),
      protocol: ProtocolSchema.optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('fwmark'),
      fwmark: z.number().int().min(1).max(0xffffffff),
      family: z.union([z.literal(4), z.literal(6)]).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('group'),
      group: z.string().min(1).max(256),
      protocol: ProtocolSchema.optional(),
    })
    .strict(),
]);

export const RealServerSelectorSchema = z
  .object({ address: AddressTextSchema, port: PortSchema.optional() })
  .strict();

export type VirtualServerSelector = z.infer<typeof VirtualServerSelectorSchema>;
export type RealServerSelector = z.infer<typeof RealServerSelectorSchema>;

/** A selector or a command line that names nothing (or too much). The message is for the operator. */
export class RsSelectError extends Error {
  override name = 'RsSelectError';
  /** Not a daemon fault: the control socket answers it without logging an error. */
  readonly expected = true;
}

// ---------------------------------------------------------------------------------------------------------
// Command-line words -> selectors

const PORT_TEXT = /^\d{1,5}$/;
const FAMILY_WORDS = new Map<string, 4 | 6>([
  ['inet', 4],
  ['ipv4', 4],
  ['inet6', 6],
  ['ipv6', 6],
]);

function port(text: string, what: string): number {
  const n = Number(text);
  if (!PORT_TEXT.test(text) || n > 65535) throw new RsSelectError(`${what}: '${text}' is not a port`);
  return n;
}

function protocolOf(text: string, what: string): Protocol {
  const p = text.toLowerCase();
  if (!(PROTOCOLS as readonly string[]).includes(p))
    throw new RsSelectError(`${what}: '${text}' is not a protocol (tcp, udp or sctp)`);
  return p as Protocol;
}

/**
 * One endpoint word: `[ADDR]:PROTO:PORT`, `[ADDR]:PORT`, `[ADDR]`, `A.B.C.D:PORT`, or a bare address
 * (IPv6 without brackets has no port: its colons are the address's).
 */
function endpointWord(word: string, what: string): { address: string; port?: number; protocol?: Protocol } {
  const bracket = /^\[([^\]]+)\](?::([A-Za-z]+))?(?::(\d+))?$/.exec(word);
  if (bracket) {
    return {
      address: bracket[1],
      ...(bracket[3] !== undefined ? { port: port(bracket[3], what) } : {}),
      ...(bracket[2] !== undefined ? { protocol: protocolOf(bracket[2], what) } : {}),
    };
  }
  const v4 = /^([^:]+):(\d+)$/.exec(word);
  if (v4) return { address: v4[1], port: port(v4[2], what) };
  return { address: word };
}

/** Takes one virtual server from the front of `words`; returns it and how many words it used. */
function takeVirtualServer(words: readonly string[]): { selector: VirtualServerSelector; used: number } {
  const [first, second] = words;
  if (first === undefined) throw new RsSelectError('missing the virtual server');
  const lower = first.toLowerCase();
  if (lower === 'fwmark' || lower === 'fwm') {
    const n = Number(second);
    if (second === undefined || !/^\d+$/.test(second) || n < 1 || n > 0xffffffff)
      throw new RsSelectError(`'${first}' needs a mark (1-4294967295), e.g. 'fwmark 1'`);
    // A fwmark service is keyed by (family, mark): `fwmark 1 inet6` when both families use the mark.
    const family = FAMILY_WORDS.get(words[2]?.toLowerCase() ?? '');
    return { selector: { kind: 'fwmark', fwmark: n, ...(family ? { family } : {}) }, used: family ? 3 : 2 };
  }
  if (lower === 'group') {
    if (second === undefined) throw new RsSelectError("'group' needs the virtual_server_group's name");
    return { selector: { kind: 'group', group: second }, used: 2 };
  }
  const e = endpointWord(first, 'virtual server');
  // `[NAME]` is how logs and status name a virtual server group.
  if (first.startsWith('[') && isIP(e.address) === 0 && e.port === undefined)
    return {
      selector: { kind: 'group', group: e.address, ...(e.protocol ? { protocol: e.protocol } : {}) },
      used: 1,
    };
  if (e.port === undefined && second !== undefined && PORT_TEXT.test(second))
    return {
      selector: { kind: 'address', address: e.address, port: port(second, 'virtual server') },
      used: 2,
    };
  return { selector: { kind: 'address', ...e }, used: 1 };
}

/** Takes one real server from the front of `words`. */
function takeRealServer(words: readonly string[]): { selector: RealServerSelector; used: number } {
  const [first, second] = words;
  if (first === undefined) throw new RsSelectError('missing the real server');
  const e = endpointWord(first, 'real server');
  if (e.port === undefined && second !== undefined && PORT_TEXT.test(second))
    return { selector: { address: e.address, port: port(second, 'real server') }, used: 2 };
  return { selector: { address: e.address, ...(e.port !== undefined ? { port: e.port } : {}) }, used: 1 };
}

export interface ParsedRsArgs {
  virtualServer: VirtualServerSelector;
  realServer: RealServerSelector;
}

/**
 * `VS RS` words (after the verb and without the weight) -> selectors. `protocol` (from --protocol) narrows
 * an address or group virtual server; it must agree with a protocol written in `[ADDR]:PROTO:PORT`.
 */
export function parseRsArgs(words: readonly string[], protocol?: string): ParsedRsArgs {
  const vs = takeVirtualServer(words);
  const rs = takeRealServer(words.slice(vs.used));
  const rest = words.slice(vs.used + rs.used);
  if (rest.length) throw new RsSelectError(`unexpected '${rest.join(' ')}' after the real server`);
  let virtualServer = vs.selector;
  if (protocol !== undefined) {
    const p = protocolOf(protocol, '--protocol');
    if (virtualServer.kind === 'fwmark')
      throw new RsSelectError('--protocol does not apply to a fwmark virtual server');
    if (virtualServer.protocol !== undefined && virtualServer.protocol !== p)
      throw new RsSelectError(
        `--protocol ${p} contradicts the virtual server's own ${virtualServer.protocol}`,
      );
    virtualServer = { ...virtualServer, protocol: p };
  }
  return { virtualServer, realServer: rs.selector };
}

// ---------------------------------------------------------------------------------------------------------
// Selectors -> the plan's typed ids

/** How many names an error lists before "and N more". */
const LIST_MAX = 12;

function listNames(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, LIST_MAX).join(', ');
  return names.length > LIST_MAX ? `${shown} and ${names.length - LIST_MAX} more` : shown;
}

/** A virtual server's name with its protocol where the name alone does not carry it (groups). */
function vsName(vs: IpvsVirtualServerPlan): string {
  return vs.id.kind === 'group' ? `${describeVirtualServer(vs.id)} (${vs.id.protocol})` : vs.name;
}

function selectorText(s: VirtualServerSelector): string {
  switch (s.kind) {
    case 'fwmark':
      return `fwmark ${s.fwmark}${s.family ? ` (IPv${s.family})` : ''}`;
    case 'group':
      return `group ${s.group}${s.protocol ? ` (${s.protocol})` : ''}`;
    case 'address': {
      const host = s.address.includes(':') ? `[${s.address}]` : s.address;
      return `${host}${s.port !== undefined ? `:${s.port}` : ''}${s.protocol ? ` (${s.protocol})` : ''}`;
    }
  }
}

function canonical(address: string, what: string): string {
  try {
    return canonicalAddress(address);
  } catch {
    throw new RsSelectError(`${what}: '${address}' is not an IP address`);
  }
}

export function resolveVirtualServer(
  virtualServers: readonly IpvsVirtualServerPlan[],
  s: VirtualServerSelector,
): IpvsVirtualServerPlan {
  let matches: IpvsVirtualServerPlan[];
  switch (s.kind) {
    case 'fwmark':
      matches = virtualServers.filter(
        (v) =>
          v.id.kind === 'fwmark' &&
          v.id.fwmark === s.fwmark &&
          (s.family === undefined || v.id.family === s.family),
      );
      break;
    case 'group':
      matches = virtualServers.filter(
        (v) =>
          v.id.kind === 'group' &&
          v.id.group === s.group &&
          (s.protocol === undefined || v.id.protocol === s.protocol),
      );
      break;
    case 'address': {
      const address = canonical(s.address, 'virtual server');
      matches = virtualServers.filter(
        (v) =>
          v.id.kind === 'address' &&
          v.id.address === address &&
          (s.port === undefined || v.id.port === s.port) &&
          (s.protocol === undefined || v.id.protocol === s.protocol),
      );
      break;
    }
  }
  if (matches.length === 1) return matches[0];
  if (matches.length === 0)
    throw new RsSelectError(
      `no virtual server ${selectorText(s)} in the running configuration; it has: ${listNames(virtualServers.map(vsName))}`,
    );
  const ports = new Set(matches.map((m) => (m.id.kind === 'address' ? m.id.port : 0)));
  const hint =
    s.kind === 'fwmark'
      ? "add the family ('fwmark N inet' or 'fwmark N inet6')"
      : ports.size > 1
        ? 'give the port'
        : "give the protocol (--protocol, or the '[ADDR]:PROTO:PORT' spelling)";
  throw new RsSelectError(
    `virtual server ${selectorText(s)} is ambiguous: ${listNames(matches.map(vsName))}; ${hint}`,
  );
}

export function resolveRealServer(
  virtualServers: readonly IpvsVirtualServerPlan[],
  vsSel: VirtualServerSelector,
  rsSel: RealServerSelector,
): { vs: IpvsVirtualServerPlan; rs: IpvsRealServerPlan } {
  const vs = resolveVirtualServer(virtualServers, vsSel);
  const address = canonical(rsSel.address, 'real server');
  const matches = vs.realServers.filter(
    (r) => r.address === address && (rsSel.port === undefined || r.port === rsSel.port),
  );
  if (matches.length === 1) return { vs, rs: matches[0] };
  const text = `${address.includes(':') ? `[${address}]` : address}${rsSel.port !== undefined ? `:${rsSel.port}` : ''}`;
  if (matches.length === 0)
    throw new RsSelectError(
      `no real server ${text} in virtual server ${vsName(vs)}; it has: ${listNames(vs.realServers.map((r) => describeRealServer(r.id)))}`,
    );
  throw new RsSelectError(
    `real server ${text} is ambiguous in ${vsName(vs)}: ${listNames(matches.map((r) => describeRealServer(r.id)))}; give the port`,
  );
}
