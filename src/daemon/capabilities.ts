/**
 * Capabilities the daemon needs, checked before it takes its pid file or touches the network: a start
 * that cannot work is refused with a sentence that names what is missing, instead of failing half-way
 * (keepalived fails on the first raw socket with "Operation not permitted").
 */
import { readFileSync } from 'node:fs';

export interface Capability {
  readonly bit: number;
  readonly name: string;
  /** What halo uses it for. */
  readonly use: string;
}

export const CAP_NET_ADMIN: Capability = { bit: 12, name: 'CAP_NET_ADMIN', use: 'adding and removing VIPs' };
export const CAP_NET_RAW: Capability = {
  bit: 13,
  name: 'CAP_NET_RAW',
  use: 'the raw sockets that send and receive VRRP adverts',
};

/** The effective capability set of this process (/proc/self/status CapEff); undefined if unknown. */
export function effectiveCapabilities(statusText?: string): bigint | undefined {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** The capabilities of `needed` missing from `effective` (none when the set is unknown). */
export function missingCapabilities(
  needed: readonly Capability[],
  effective = effectiveCapabilities(),
): Capability[] {
  if (effective === undefined) return [];
  return needed.filter((c) => ((effective >> BigInt(c.bit)) & 1n) === 0n);
}

export class MissingCapabilityError extends Error {
  override name = 'MissingCapabilityError';
  constructor(readonly missing: readonly Capability[]) {
    super(
      `this process lacks ${missing.map((c) => `${c.name} (${c.use})`).join(' and ')}: run halo as root with ` +
        'these capabilities (the systemd unit keeps them in CapabilityBoundingSet), or use --check-only',
    );
  }
}

/** Throws MissingCapabilityError when VRRP cannot run here. */
export function assertVrrpCapabilities(effective = effectiveCapabilities()): void {
  const missing = missingCapabilities([CAP_NET_RAW, CAP_NET_ADMIN], effective);
  if (missing.length) throw new MissingCapabilityError(missing);
}
