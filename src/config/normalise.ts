/**
 * From "what the user wrote" (the input shape, from either syntax) to the
 * normalised model: inheritance (global_defs -> vrrp_instance, virtual_server
 * -> real_server -> checker, track references -> the script/file weights),
 * then zod for types and plain defaults, with every zod issue mapped back to a
 * FILE:LINE:COL through the caller's position lookup.
 *
 * Inheritance runs on the raw input before zod because zod defaults cannot
 * depend on other objects; it is defensive about types (YAML input may be
 * anything) and leaves type errors for zod to report.
 */
import { isIP } from 'node:net';
import type { z } from 'zod';
import { type DiagnosticSink, didYouMean, type Position } from './diagnostics.js';
import { type HaloConfig, HaloConfigSchema, NormalisedHaloConfigSchema } from './model.js';

type Obj = Record<string, unknown>;

/** keepalived 2.2.7 defaults that inheritance needs (the rest are zod defaults in model.ts). */
export const KEEPALIVED_DEFAULTS = {
  connectTimeoutMs: 5000,
  delayLoopMs: 60_000,
  retry: 1,
  delayBeforeRetryMs: 1000,
  forwardingMethod: 'NAT',
  vrrpVersion: 2,
  garpMasterDelayMs: 5000,
  garpMasterRepeat: 5,
  garpMasterRefreshMs: 0,
  garpMasterRefreshRepeat: 1,
  garpIntervalMs: 0,
  gnaIntervalMs: 0,
} as const;

/** Per-checker defaults (keepalived: DNS_CHECK retries 3, MISC_CHECK 0; HTTP/SSL wait 3 s; DNS waits a delay loop). */
function checkerDefaults(type: unknown, delayLoopMs: number): { retry: number; delayBeforeRetryMs: number } {
  switch (type) {
    case 'DNS_CHECK':
      return { retry: 3, delayBeforeRetryMs: delayLoopMs };
    case 'MISC_CHECK':
      return { retry: 0, delayBeforeRetryMs: 1000 };
    case 'HTTP_GET':
    case 'SSL_GET':
      return { retry: 1, delayBeforeRetryMs: 3000 };
    default:
      return { retry: 1, delayBeforeRetryMs: 1000 };
  }
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const objects = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function inherit(target: Obj, key: string, value: unknown): void {
  if (target[key] === undefined && value !== undefined) target[key] = value;
}

function familyOf(addr: unknown): 4 | 6 | undefined {
  if (typeof addr !== 'string') return undefined;
  const f = isIP(addr.split('/')[0]);
  return f === 4 || f === 6 ? f : undefined;
}

/** A route's family: `inet`/`inet6` when given, else its first address, else IPv4 (keepalived's default). */
function inheritRouteFamily(r: Obj): void {
  const addrs = [r.destination, r.via, r.src, r.from, ...objects(r.nexthops).map((n) => n.via)];
  inherit(r, 'family', addrs.map((a) => familyOf(a)).find((f) => f !== undefined) ?? 4);
}

function inheritRuleFamily(r: Obj): void {
  inherit(r, 'family', familyOf(r.from) ?? familyOf(r.to) ?? 4);
}

/**
 * keepalived gives a rule without a preference the next of 16384, 16383, ... for its family, in the order
 * the rules are read, and warns ("Rule has no preference specified - setting to N"). The model's key order is
 * the order the blocks first appear.
 */
function fillRulePriorities(input: Obj, sink: DiagnosticSink, locate: Locate): void {
  const next = { 4: 16384, 6: 16384 };
  const fill = (rule: Obj, path: PropertyKey[]) => {
    if (rule.priority !== undefined) return;
    const fam = rule.family === 6 || familyOf(rule.from) === 6 || familyOf(rule.to) === 6 ? 6 : 4;
    rule.priority = next[fam]--;
    sink.warning(
      locate(path),
      `rule has no preference specified - setting to ${String(rule.priority)}`,
      "give every rule a 'preference' so they are added in the order you want",
    );
  };
  for (const key of Object.keys(input)) {
    if (key === 'staticRules') {
      objects(input.staticRules).forEach((r, i) => {
        fill(r, ['staticRules', i]);
      });
    }
    if (key === 'vrrpInstances') {
      objects(input.vrrpInstances).forEach((vi, i) => {
        objects(vi.virtualRules).forEach((r, k) => {
          fill(r, ['vrrpInstances', i, 'virtualRules', k]);
        });
      });
    }
  }
}

/** Copies inherited values down the tree, in place. Returns the same object. */
export function applyInheritance(input: Obj): Obj {
  const globalParsed = HaloConfigSchema.shape.global.safeParse(input.global ?? {});
  const g = globalParsed.success ? globalParsed.data : HaloConfigSchema.shape.global.parse({});

  const scripts = new Map(objects(input.vrrpScripts).map((s) => [s.name, s]));
  const files = new Map(objects(input.trackFiles).map((f) => [f.name, f]));
  const processes = new Map(objects(input.vrrpTrackProcesses).map((p) => [p.name, p]));
  for (const s of objects(input.vrrpScripts)) inherit(s, 'timeoutMs', num(s.intervalMs) ?? 1000);

  const resolveRefs = (owner: Obj, field: string, from: Map<unknown, Obj>, defaultWeight: number) => {
    for (const ref of objects(owner[field])) {
      const target = from.get(ref.name);
      inherit(ref, 'weight', target ? (num(target.weight) ?? defaultWeight) : defaultWeight);
      inherit(ref, 'weightReverse', target ? (target.weightReverse ?? false) : false);
    }
  };

  for (const vi of objects(input.vrrpInstances)) {
    inherit(vi, 'strictMode', g.vrrpStrict);
    // keepalived vrrp_complete_instance(): strict mode changes these defaults (strict-mode.ts reports
    // explicit settings that disagree).
    const strict = vi.strictMode === true;
    inherit(vi, 'interface', g.defaultInterface);
    inherit(vi, 'garpMasterDelayMs', g.vrrpGarpMasterDelayMs);
    inherit(vi, 'garpMasterRepeat', g.vrrpGarpMasterRepeat);
    inherit(vi, 'garpMasterRefreshMs', g.vrrpGarpMasterRefreshMs);
    inherit(vi, 'garpMasterRefreshRepeat', g.vrrpGarpMasterRefreshRepeat);
    inherit(vi, 'garpLowerPrioDelayMs', strict ? 0 : g.vrrpGarpLowerPrioDelayMs);
    inherit(vi, 'garpLowerPrioRepeat', strict ? 0 : g.vrrpGarpLowerPrioRepeat);
    inherit(vi, 'garpIntervalMs', g.vrrpGarpIntervalMs);
    inherit(vi, 'gnaIntervalMs', g.vrrpGnaIntervalMs);
    inherit(vi, 'lowerPrioNoAdvert', strict ? true : g.vrrpLowerPrioNoAdvert);
    inherit(vi, 'higherPrioSendAdvert', strict ? false : g.vrrpHigherPrioSendAdvert);
    inherit(vi, 'skipCheckAdvAddr', g.vrrpSkipCheckAdvAddr);
    inherit(vi, 'checkUnicastSrc', g.vrrpCheckUnicastSrc);
    // keepalived 2.2.7 (vrrp.c): instance smtp_alert, else smtp_alert_vrrp, else smtp_alert, else off.
    inherit(vi, 'smtpAlert', g.smtpAlertVrrp ?? g.smtpAlert ?? false);
    inherit(vi, 'downTimerAdverts', g.vrrpDownTimerAdverts);
    inherit(vi, 'v3ChecksumAsV2', g.v3ChecksumAsV2);
    // keepalived 2.2.7: accept is on unless strict mode is, except for the address owner.
    inherit(vi, 'accept', vi.priority === 255 || !strict);
    for (const vip of [...objects(vi.virtualIpaddresses), ...objects(vi.virtualIpaddressesExcluded)]) {
      inherit(vip, 'family', familyOf(vip.address));
      inherit(vip, 'prefixLength', vip.family === 6 ? 128 : 32);
    }
    // As in keepalived, the first address written (VIP, unicast source or peer, multicast source)
    // sets the instance's family; key order is the order of the config.
    const firstAddress: Record<string, (v: unknown) => unknown> = {
      virtualIpaddresses: (v) => objects(v)[0]?.address,
      unicastSrcIp: (v) => v,
      unicastPeers: (v) => objects(v)[0]?.address,
      mcastSrcIp: (v) => v,
    };
    const family =
      Object.keys(vi)
        .filter((k) => k in firstAddress)
        .map((k) => familyOf(firstAddress[k](vi[k])))
        .find((f) => f !== undefined) ??
      familyOf(objects(vi.virtualIpaddressesExcluded)[0]?.address) ??
      4;
    inherit(vi, 'family', family);
    // keepalived: an IPv6 instance without its own 'version' runs VRRPv3 whatever the global vrrp_version.
    inherit(vi, 'version', vi.family === 6 ? 3 : g.vrrpVersion);
    resolveRefs(vi, 'trackScripts', scripts, 0);
    resolveRefs(vi, 'trackFiles', files, 1);
    resolveRefs(vi, 'trackProcesses', processes, 0);
    for (const r of objects(vi.virtualRoutes)) inheritRouteFamily(r);
    for (const r of objects(vi.virtualRules)) inheritRuleFamily(r);
  }
  for (const sg of objects(input.syncGroups)) {
    inherit(sg, 'smtpAlert', g.smtpAlertVrrp ?? g.smtpAlert ?? false);
    resolveRefs(sg, 'trackScripts', scripts, 0);
    resolveRefs(sg, 'trackFiles', files, 1);
    resolveRefs(sg, 'trackProcesses', processes, 0);
  }
  for (const a of objects(input.staticIpaddresses)) {
    inherit(a, 'family', familyOf(a.address));
    inherit(a, 'prefixLength', a.family === 6 ? 128 : 32);
    // keepalived's get_default_if(): global default_interface, else "eth0".
    inherit(a, 'dev', g.defaultInterface ?? 'eth0');
  }
  for (const r of objects(input.staticRoutes)) inheritRouteFamily(r);
  for (const r of objects(input.staticRules)) inheritRuleFamily(r);
  for (const tp of objects(input.vrrpTrackProcesses)) {
    // keepalived: parameters imply an exact parameter match; any parameter match implies the full command.
    inherit(tp, 'paramMatch', Array.isArray(tp.params) && tp.params.length > 0 ? 'exact' : 'none');
    if (tp.paramMatch !== 'none') tp.fullCommand = true;
    // quorum_max 0 ("the process must not run") with no quorum given means quorum 0.
    if (tp.quorumMax === 0) inherit(tp, 'quorum', 0);
  }

  const groups = new Map(objects(input.virtualServerGroups).map((vsg) => [vsg.name, vsg]));
  for (const vs of objects(input.virtualServers)) {
    const vsDelayLoop = num(vs.delayLoopMs) ?? KEEPALIVED_DEFAULTS.delayLoopMs;
    const vsForwarding = vs.forwardingMethod ?? KEEPALIVED_DEFAULTS.forwardingMethod;
    const groupMember = objects(groups.get(vs.group)?.members).find((m) => m.type === 'address');
    const rsFamily = objects(vs.realServers)
      .map((rs) => familyOf(rs.address))
      .find((f) => f !== undefined);
    inherit(vs, 'protocol', vs.fwmark !== undefined ? 'TCP' : 'UDP');
    inherit(vs, 'family', familyOf(vs.address) ?? familyOf(groupMember?.address) ?? rsFamily ?? 4);
    for (const rs of objects(vs.realServers)) {
      inherit(rs, 'forwardingMethod', vsForwarding);
      inherit(rs, 'inhibitOnFailure', vs.inhibitOnFailure ?? false);
      // keepalived 2.2.7 (check_data.c): a real server does not inherit the virtual server's smtp_alert;
      // unset everywhere it is ON ("for backwards compatibility"), unlike every other smtp_alert.
      inherit(rs, 'smtpAlert', g.smtpAlertChecker ?? g.smtpAlert ?? true);
      inherit(rs, 'connectTimeoutMs', vs.connectTimeoutMs ?? KEEPALIVED_DEFAULTS.connectTimeoutMs);
      inherit(rs, 'delayLoopMs', vsDelayLoop);
      inherit(rs, 'alpha', vs.alpha ?? false);
      // retry / delay_before_retry / warmup: unset ones fall through to the checker's own defaults.
      inherit(rs, 'retry', vs.retry);
      inherit(rs, 'delayBeforeRetryMs', vs.delayBeforeRetryMs);
      inherit(rs, 'warmupMs', vs.warmupMs);
      // A real server without a port uses the service's port (not for fwmark services: IPVS ignores it).
      if ((rs.port === undefined || rs.port === 0) && vs.fwmark === undefined && num(vs.port))
        rs.port = vs.port;
      const rsDelayLoop = num(rs.delayLoopMs) ?? vsDelayLoop;
      for (const ck of objects(rs.checkers)) {
        if (ck.type === 'FILE_CHECK') {
          // check_file.c file_end_handler: no weight of its own -> the track_file's weight and reverse.
          const tf = files.get(ck.trackFile);
          inherit(ck, 'weight', tf ? (num(tf.weight) ?? 1) : 1);
          inherit(ck, 'weightReverse', tf ? (tf.weightReverse ?? false) : false);
          continue;
        }
        inherit(ck, 'connectTimeoutMs', rs.connectTimeoutMs);
        inherit(ck, 'delayLoopMs', rsDelayLoop);
        const ckDelayLoop = num(ck.delayLoopMs) ?? rsDelayLoop;
        const d = checkerDefaults(ck.type, ckDelayLoop);
        inherit(ck, 'retry', rs.retry ?? d.retry);
        inherit(ck, 'delayBeforeRetryMs', rs.delayBeforeRetryMs ?? d.delayBeforeRetryMs);
        inherit(ck, 'warmupMs', rs.warmupMs ?? ckDelayLoop);
        inherit(ck, 'alpha', rs.alpha);
        // The Host: header: url > checker > real_server > virtual_server virtualhost (keepalived's order).
        if (ck.type === 'HTTP_GET' || ck.type === 'SSL_GET')
          inherit(ck, 'virtualhost', rs.virtualhost ?? vs.virtualhost);
        // misc_timeout 0/unset: keepalived uses the virtual server's delay loop.
        if (ck.type === 'MISC_CHECK' && !ck.miscTimeoutMs) ck.miscTimeoutMs = vsDelayLoop;
      }
      inherit(rs, 'retry', KEEPALIVED_DEFAULTS.retry);
      inherit(rs, 'delayBeforeRetryMs', KEEPALIVED_DEFAULTS.delayBeforeRetryMs);
      inherit(rs, 'warmupMs', rsDelayLoop);
    }
    inherit(vs, 'retry', KEEPALIVED_DEFAULTS.retry);
    inherit(vs, 'delayBeforeRetryMs', KEEPALIVED_DEFAULTS.delayBeforeRetryMs);
    inherit(vs, 'warmupMs', vsDelayLoop);
    inherit(vs, 'smtpAlert', g.smtpAlertChecker ?? g.smtpAlert ?? false);
    if (isObj(vs.sorryServer)) {
      inherit(vs.sorryServer, 'forwardingMethod', vsForwarding);
      if (
        (vs.sorryServer.port === undefined || vs.sorryServer.port === 0) &&
        vs.fwmark === undefined &&
        num(vs.port)
      ) {
        vs.sorryServer.port = vs.port;
      }
    }
  }
  return input;
}

/**
 * keepalived fills two service defaults with a complaint rather than silently; so does halo:
 * no protocol means UDP (the kernel's reading of protocol 0), no scheduler means wlc.
 */
function warnUnsetServiceDefaults(input: Obj, sink: DiagnosticSink, locate: Locate): void {
  objects(input.virtualServers).forEach((vs, i) => {
    const name =
      vs.fwmark !== undefined
        ? `fwmark ${String(vs.fwmark)}`
        : vs.group !== undefined
          ? `group ${String(vs.group)}`
          : `${String(vs.address)} ${String(vs.port ?? 0)}`;
    if (vs.protocol === undefined && vs.fwmark === undefined) {
      sink.warning(
        locate(['virtualServers', i]),
        `virtual_server ${name}: no protocol set - defaulting to UDP, as keepalived does`,
        "add 'protocol TCP' if this is a TCP service",
      );
    }
    if (vs.scheduler === undefined) {
      sink.warning(
        locate(['virtualServers', i]),
        `virtual_server ${name}: no scheduler set - using 'wlc', as keepalived does`,
        "set 'lb_algo'",
      );
    }
  });
}

/** Maps a zod path to a position; supplied by the syntax (keepalived positions or YAML node ranges). */
/** 'value' (default): the value or object start; 'key': the key naming it; 'end': the end of the object's block. */
export type LocateMode = 'value' | 'key' | 'end';
export type Locate = (path: readonly PropertyKey[], mode?: LocateMode) => Position;
/** Turns a model path into the name the user wrote (keepalived keyword or YAML key). */
export type NameOf = (path: readonly PropertyKey[]) => string;

export function validateModel(
  input: Obj,
  sink: DiagnosticSink,
  locate: Locate,
  nameOf: NameOf,
  contextOf: NameOf = () => '',
): HaloConfig | undefined {
  warnUnsetServiceDefaults(input, sink, locate);
  fillRulePriorities(input, sink, locate);
  applyInheritance(input);
  const parsed = HaloConfigSchema.safeParse(input);
  if (!parsed.success) {
    reportIssues(parsed.error.issues, input, sink, locate, nameOf, contextOf);
    return undefined;
  }
  const normalised = NormalisedHaloConfigSchema.safeParse(parsed.data);
  if (!normalised.success) {
    // Only reachable if inheritance missed a field: report it rather than crash.
    reportIssues(normalised.error.issues, input, sink, locate, nameOf, contextOf);
    return undefined;
  }
  return normalised.data;
}

/**
 * Reports issues, at most MAX_REPORTED in detail (each is located by walking the document, and 100,000
 * unknown keys must not take minutes); the rest are counted in one line.
 */
function reportIssues(
  issues: z.core.$ZodIssue[],
  root: unknown,
  sink: DiagnosticSink,
  locate: Locate,
  nameOf: NameOf,
  contextOf: NameOf,
): void {
  let budget = MAX_REPORTED;
  let skipped = 0;
  for (const original of issues) {
    let issue = original;
    if (issue.code === 'unrecognized_keys' && issue.keys.length > budget) {
      skipped += issue.keys.length - Math.max(budget, 0);
      issue = { ...issue, keys: issue.keys.slice(0, Math.max(budget, 0)) };
    }
    if (budget <= 0) {
      skipped += issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
      continue;
    }
    budget -= issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
    if (issue.code !== 'unrecognized_keys' || issue.keys.length > 0)
      reportIssue(issue, root, sink, locate, nameOf, contextOf);
  }
  if (skipped > 0) {
    sink.error(
      locate([]),
      `${skipped} more problem${skipped === 1 ? '' : 's'} not shown`,
      'fix the ones above first',
    );
  }
}

const MAX_REPORTED = 200;

function valueAt(root: unknown, path: readonly PropertyKey[]): { present: boolean; value: unknown } {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !(String(key) in (cur as Obj)))
      return { present: false, value: undefined };
    cur = (cur as Obj)[key as string];
  }
  return { present: cur !== undefined, value: cur };
}

function reportIssue(
  issue: z.core.$ZodIssue,
  root: unknown,
  sink: DiagnosticSink,
  locate: Locate,
  nameOf: NameOf,
  contextOf: NameOf,
): void {
  const pos = locate(issue.path);
  const name = nameOf(issue.path);
  const prefix = name ? `${name}: ` : '';
  const { present, value: input } = valueAt(root, issue.path);
  switch (issue.code) {
    case 'invalid_union': {
      // Literal unions (2 | 3) and discriminated unions (checker type): list what is allowed.
      const disc = issue as { options?: unknown[] };
      const values =
        disc.options ??
        issue.errors.flatMap((e) => (e.length === 1 && e[0].code === 'invalid_value' ? e[0].values : []));
      if (values.length > 0 && present) {
        const allowed = values.map(String);
        const hint = typeof input === 'string' ? didYouMean(input, allowed) : undefined;
        sink.error(pos, `${prefix}${describeValue(input)} is not one of ${allowed.join(', ')}`, hint);
      } else if (!present) {
        const where = contextOf(issue.path.slice(0, -1));
        sink.error(pos, `${where ? `${where}: ` : ''}missing required '${name}'`);
      } else sink.error(pos, `${prefix}${issue.message}`);
      return;
    }
    case 'invalid_type':
      if (!present) {
        // Like keepalived, a missing setting is noticed (and shown) at the end of its block.
        const where = contextOf(issue.path.slice(0, -1));
        sink.error(
          locate(issue.path.slice(0, -1), 'end'),
          `${where ? `${where}: ` : ''}missing required '${name}'`,
        );
      } else sink.error(pos, `${prefix}expected ${issue.expected}, got ${describeValue(input)}`);
      return;
    case 'unrecognized_keys':
      for (const key of issue.keys) {
        const where = contextOf(issue.path);
        sink.error(
          locate([...issue.path, key], 'key'),
          `unknown setting '${key}'${where ? ` in ${where}` : ''}`,
          didYouMean(key, schemaKeysAt(issue.path)),
        );
      }
      return;
    case 'too_big':
      if (issue.origin === 'string') sink.error(pos, `${prefix}longer than ${issue.maximum} characters`);
      else if (issue.origin === 'array') sink.error(pos, `${prefix}more than ${issue.maximum} items`);
      else sink.error(pos, `${prefix}${describeValue(input)} is above the maximum ${issue.maximum}`);
      return;
    case 'too_small':
      if (issue.origin === 'string') sink.error(pos, `${prefix}must not be empty`);
      else if (issue.origin === 'array')
        sink.error(pos, `${prefix}needs at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`);
      else sink.error(pos, `${prefix}${describeValue(input)} is below the minimum ${issue.minimum}`);
      return;
    case 'invalid_value':
      sink.error(
        pos,
        `${prefix}${describeValue(input)} is not one of ${issue.values.map((v) => String(v)).join(', ')}`,
      );
      return;
    default:
      sink.error(pos, `${prefix}${issue.message}`);
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

/** Keys the schema allows at a model path (list indexes step into the element; unions merge). */
function schemaKeysAt(path: readonly PropertyKey[]): string[] {
  let schemas: unknown[] = [HaloConfigSchema];
  for (const part of path) {
    const next: unknown[] = [];
    for (const s of schemas.flatMap(unwrapSchema)) {
      const def = (s as { def?: Obj }).def ?? {};
      if (typeof part === 'number') {
        if (def.type === 'array') next.push(def.element);
      } else {
        const shape = (s as { shape?: Obj }).shape;
        if (shape?.[String(part)]) next.push(shape[String(part)]);
      }
    }
    schemas = next;
  }
  return [
    ...new Set(schemas.flatMap(unwrapSchema).flatMap((s) => Object.keys((s as { shape?: Obj }).shape ?? {}))),
  ];
}

function unwrapSchema(s: unknown): unknown[] {
  const def = (s as { def?: Obj }).def ?? {};
  if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable')
    return unwrapSchema(def.innerType);
  if (def.type === 'union') return (def.options as unknown[]).flatMap(unwrapSchema);
  return [s];
}
