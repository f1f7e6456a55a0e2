/**
 * vrrp_strict / strict_mode, applied exactly as keepalived 2.2.7's vrrp_complete_instance() does: each
 * setting strict mode forbids is reported and reset (keepalived logs and runs on; so does halo), and the
 * two things it cannot run with are errors (keepalived drops the instance and `keepalived -t` fails).
 *
 * Defaults that change with strict mode (no garp_lower_prio, lower_prio_no_advert on,
 * higher_prio_send_advert off, accept off) are filled in normalise.ts; here only settings the user
 * wrote explicitly can still disagree. The receive side (an advert whose address list differs from ours
 * is dropped) is the VRRP core's, driven by the plan's strictMode.
 *
 * Strict mode also implies no_accept, which keepalived enforces with firewall rules; halo installs none
 * and says so.
 */
import type { DiagnosticSink } from './diagnostics.js';
import type { HaloConfig } from './model.js';
import type { Locate } from './normalise.js';

export function applyStrictMode(config: HaloConfig, sink: DiagnosticSink, at: Locate): void {
  config.vrrpInstances.forEach((vi, i) => {
    const p = (...rest: PropertyKey[]) => at(['vrrpInstances', i, ...rest]);
    const name = `(${vi.name})`;
    if (!vi.strictMode) {
      if (!vi.accept)
        sink.warning(
          p('accept'),
          `${name} no_accept is not enforced: halo installs no firewall rules, so the VIPs accept traffic`,
        );
      return;
    }
    const reset = (field: PropertyKey, message: string) =>
      sink.warning(p(field), `${name} ${message} (strict mode)`);
    if (vi.authentication) {
      reset('authentication', 'Strict mode does not support authentication. Ignoring.');
      vi.authentication = undefined;
    }
    if (vi.unicastPeers.length > 0) {
      sink.error(
        p('unicastPeers'),
        `${name} Unicast peers are not supported in strict mode`,
        'remove vrrp_strict / strict_mode, or the unicast_peer block',
      );
    }
    if (vi.preemptDelayMs > 0) {
      reset('preemptDelayMs', 'preempt_delay is incompatible with strict mode - resetting');
      vi.preemptDelayMs = 0;
    }
    if (vi.downTimerAdverts !== 3) {
      reset('downTimerAdverts', 'down_timer_adverts is incompatible with strict mode - resetting');
      vi.downTimerAdverts = 3;
    }
    if (vi.accept && vi.priority !== 255 && vi.version === 2) {
      reset('accept', 'warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting');
      vi.accept = false;
    }
    if (!vi.accept)
      sink.warning(
        p('strictMode'),
        `${name} strict mode implies no_accept, which is not enforced: halo installs no firewall rules, so the VIPs accept traffic`,
      );
    if ((vi.garpLowerPrioRepeat ?? 0) > 0) {
      reset('garpLowerPrioRepeat', 'Strict mode requires no repeat garps. resetting');
      vi.garpLowerPrioRepeat = 0;
    }
    if ((vi.garpLowerPrioDelayMs ?? 0) > 0) {
      reset('garpLowerPrioDelayMs', 'Strict mode requires no repeat garp delay. resetting');
      vi.garpLowerPrioDelayMs = 0;
    }
    if (!vi.lowerPrioNoAdvert) {
      reset('lowerPrioNoAdvert', 'Strict mode requires no lower priority advert. resetting');
      vi.lowerPrioNoAdvert = true;
    }
    if (vi.higherPrioSendAdvert) {
      reset('higherPrioSendAdvert', 'strict mode requires higher_prio_send_advert to be clear. resetting');
      vi.higherPrioSendAdvert = false;
    }
    if (vi.vmacXmitBase) {
      reset('vmacXmitBase', 'vmac_xmit_base is incompatible with strict mode - resetting');
      vi.vmacXmitBase = false;
    }
    const first = vi.virtualIpaddresses[0];
    if (vi.family === 6 && first && !first.address.toLowerCase().startsWith('fe80')) {
      sink.warning(p('virtualIpaddresses', 0), `${name} the first IPv6 VIP address must be link local`);
    }
  });
}
