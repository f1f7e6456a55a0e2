/**
 * keepalived 2.2.7's timing inheritance for health checkers
 * (virtual_server -> real_server -> checker), as done in
 * keepalived/check/check_data.c validate_check_config() and the per-type
 * defaults set where each checker is queued (check_api.c queue_checker(),
 * check_http.c http_get_handler(), check_misc.c misc_check_handler(),
 * check_dns.c dns_check_handler()).
 */
import type { CheckerType, CheckTiming } from './types.js';

/** The timing keywords as written at one level; undefined = not written there. */
export interface TimingLayer {
  connectTimeoutMs?: number;
  delayLoopMs?: number;
  retry?: number;
  delayBeforeRetryMs?: number;
  warmupMs?: number;
  alpha?: boolean;
}

/** check_data.c alloc_vs(): connection_to 5 s, delay_loop KEEPALIVED_DEFAULT_DELAY (60 s), alpha off. */
export const VS_DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const VS_DEFAULT_DELAY_LOOP_MS = 60_000;
/** lib/scheduler.h BOOTSTRAP_DELAY: every checker's first run waits this long after start. */
export const BOOTSTRAP_DELAY_MS = 1000;

/** queue_checker(): default_retry 1; MISC_CHECK 0; DNS_CHECK DNS_DEFAULT_RETRY (3). */
export function defaultRetry(type: CheckerType): number {
  if (type === 'MISC_CHECK') return 0;
  if (type === 'DNS_CHECK') return 3;
  return 1;
}

/**
 * queue_checker(): default_delay_before_retry 1 s; HTTP_GET/SSL_GET 3 s;
 * DNS_CHECK 0, which validate_check_config() turns into the delay loop.
 */
export function defaultDelayBeforeRetryMs(type: CheckerType): number {
  if (type === 'HTTP_GET' || type === 'SSL_GET') return 3000;
  if (type === 'DNS_CHECK') return 0;
  return 1000;
}

export interface ResolvedTiming extends CheckTiming {
  connectTimeoutMs: number;
  /** MISC_CHECK's default misc_timeout: the *virtual server's* delay_loop (check_misc.c misc_check_thread). */
  virtualServerDelayLoopMs: number;
}

/**
 * Resolve one checker's timing. A value written on the checker wins, then the
 * real server's, then the virtual server's, then keepalived's default for the
 * checker type. Two keepalived details are kept: warmup defaults to the
 * checker's own delay_loop (so first runs are spread over one loop), and
 * delay_before_retry falls back to the delay loop when the type's default is 0.
 */
export function resolveTiming(
  type: CheckerType,
  vs: TimingLayer,
  rs: TimingLayer,
  checker: TimingLayer,
): ResolvedTiming {
  const vsDelayLoop = vs.delayLoopMs ?? VS_DEFAULT_DELAY_LOOP_MS;
  const rsLayer: TimingLayer = {
    alpha: rs.alpha ?? vs.alpha ?? false,
    retry: rs.retry ?? vs.retry,
    connectTimeoutMs: rs.connectTimeoutMs ?? vs.connectTimeoutMs ?? VS_DEFAULT_CONNECT_TIMEOUT_MS,
    delayLoopMs: rs.delayLoopMs ?? vsDelayLoop,
    warmupMs: rs.warmupMs ?? vs.warmupMs,
    delayBeforeRetryMs: rs.delayBeforeRetryMs ?? vs.delayBeforeRetryMs,
  };
  const delayLoopMs = checker.delayLoopMs ?? (rsLayer.delayLoopMs as number);
  const typeDbr = defaultDelayBeforeRetryMs(type);
  return {
    alpha: checker.alpha ?? (rsLayer.alpha as boolean),
    retry: checker.retry ?? rsLayer.retry ?? defaultRetry(type),
    connectTimeoutMs: checker.connectTimeoutMs ?? (rsLayer.connectTimeoutMs as number),
    delayLoopMs,
    warmupMs: checker.warmupMs ?? rsLayer.warmupMs ?? delayLoopMs,
    delayBeforeRetryMs:
      checker.delayBeforeRetryMs ?? rsLayer.delayBeforeRetryMs ?? (typeDbr > 0 ? typeDbr : delayLoopMs),
    virtualServerDelayLoopMs: vsDelayLoop,
  };
}
