/**
 * Nothing accepted and then ignored: every keyword the keyword tables mark implemented must change what
 * some engine does. For each one, a config with the keyword (or a non-default value of it) and the same
 * config without it must produce different plans (src/plan/), or the table must say why the keyword has
 * no effect by design (`noEffect`).
 *
 * EXAMPLES gives, per block and keyword, the line(s) to add; a keyword the tables mark implemented without
 * an example fails this test, so a new keyword cannot be added without showing its effect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKeepalivedText } from '../../src/config/keepalived.js';
import { ALL_TABLES } from '../../src/config/keywords.js';
import { buildPlans } from '../../src/plan/index.js';

/**
 * The line(s) to add; or `with` on top of a `base` that makes the keyword visible (nopreempt / preempt),
 * optionally in another block (`at`) when the keyword only matters there (an IPv6 instance for
 * vrrp_mcast_group6).
 */
type Example = string | { with: string; base: string; at?: Slot; also?: string };

/** The blocks a snippet can go into, by keyword-table name. */
const SLOTS = [
  'the top level',
  'global_defs',
  'vrrp_script',
  'track_file',
  'vrrp_instance',
  'authentication',
  'vrrp_sync_group',
  'virtual_server',
  'real_server',
  'TCP_CHECK',
  'HTTP_GET',
  'SSL_GET',
  'MISC_CHECK',
  'PING_CHECK',
  'UDP_CHECK',
  'DNS_CHECK',
  'SMTP_CHECK',
  'FILE_CHECK',
  'url',
  'bgp',
  'announce',
  'vrrp_track_process',
] as const;
type Slot = (typeof SLOTS)[number];

function config(fill: Partial<Record<Slot, string>>): string {
  const f = (s: Slot) => fill[s] ?? '';
  return `
global_defs {
${f('global_defs')}
}
vrrp_script chk {
  script "/bin/true"
  weight 10
${f('vrrp_script')}
}
vrrp_track_file tf {
  file /tmp/halo-plan-test
${f('track_file')}
}
vrrp_track_process proc {
  process haproxy
  weight 5
${f('vrrp_track_process')}
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    10.0.0.100/24
  }
  authentication {
    auth_pass secret
${f('authentication')}
  }
  track_script {
    chk
  }
  track_file {
    tf
  }
  track_process {
    proc
  }
${f('vrrp_instance')}
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  virtual_ipaddress {
    10.0.0.101/24
  }
}
vrrp_instance VI_3 {
  interface eth0
  virtual_router_id 53
  virtual_ipaddress {
    10.0.0.102/24
  }
}
vrrp_sync_group SG {
  group {
    VI_2
    VI_3
  }
${f('vrrp_sync_group')}
}
virtual_server 10.0.0.100 80 {
  protocol TCP
${f('virtual_server')}
  real_server 10.0.1.1 80 {
${f('real_server')}
    TCP_CHECK {
${f('TCP_CHECK')}
    }
    HTTP_GET {
      url {
        path /
${f('url')}
      }
${f('HTTP_GET')}
    }
    SSL_GET {
      url {
        path /
      }
${f('SSL_GET')}
    }
    MISC_CHECK {
      misc_path /bin/true
${f('MISC_CHECK')}
    }
    PING_CHECK {
${f('PING_CHECK')}
    }
    UDP_CHECK {
${f('UDP_CHECK')}
    }
    DNS_CHECK {
${f('DNS_CHECK')}
    }
    SMTP_CHECK {
${f('SMTP_CHECK')}
    }
    FILE_CHECK {
      track_file tf
${f('FILE_CHECK')}
    }
  }
}
bgp {
  local_as 65001
${f('bgp')}
  announce 10.0.0.100 {
${f('announce')}
  }
}
${f('the top level')}
`;
}

/** Keywords every network checker shares (checkerCommon(true) in keywords.ts). */
const CONNECTION: Record<string, Example> = {
  connect_ip: 'connect_ip 10.0.1.9',
  connect_port: 'connect_port 8080',
  bindto: 'bindto 10.0.0.2',
  bind_port: 'bind_port 4000',
  bind_if: 'bind_if eth1',
  connect_timeout: 'connect_timeout 2',
  fwmark: 'fwmark 7',
};
const TIMING: Record<string, Example> = {
  retry: 'retry 7',
  delay_before_retry: 'delay_before_retry 9',
  warmup: 'warmup 4',
  delay_loop: 'delay_loop 13',
  alpha: 'alpha',
  log_all_failures: 'log_all_failures',
};
const HTTP: Record<string, Example> = {
  ...CONNECTION,
  ...TIMING,
  nb_get_retry: 'nb_get_retry 5',
  virtualhost: 'virtualhost www.example',
  http_protocol: 'http_protocol 1.1',
  enable_sni: 'enable_sni',
  fast_recovery: 'fast_recovery',
  url: 'url {\npath /other\n}',
};
const LVS_INHERITED: Record<string, Example> = {
  retry: 'retry 6',
  delay_before_retry: 'delay_before_retry 8',
  warmup: 'warmup 3',
  connect_timeout: 'connect_timeout 3',
  delay_loop: 'delay_loop 11',
  inhibit_on_failure: 'inhibit_on_failure',
  smtp_alert: 'smtp_alert',
  virtualhost: 'virtualhost www.example',
};

/** An instance that tracks vrrp_track_process p9 (unused track processes are not in the plan). */
const TRACKING_P9 =
  'vrrp_instance VI_9 {\ninterface eth0\nvirtual_router_id 99\nvirtual_ipaddress {\n10.0.0.199\n}\ntrack_process {\np9\n}\n}';

/** Mail switches only matter when mail is configured at all. */
const mailing = (line: string): Example => ({
  base: 'notification_email {\nops@example.com\n}\nsmtp_server 10.0.0.25',
  with: line,
});

const EXAMPLES: Record<Slot, Record<string, Example>> = {
  'the top level': {
    global_defs: 'global_defs {\nvrrp_startup_delay 5\n}',
    vrrp_script:
      'vrrp_script other {\nscript "/bin/false"\n}\nvrrp_instance VI_9 {\ninterface eth0\nvirtual_router_id 99\nvirtual_ipaddress {\n10.0.0.199\n}\ntrack_script {\nother\n}\n}',
    vrrp_track_file:
      'vrrp_track_file other {\nfile /tmp/x\n}\nvrrp_instance VI_9 {\ninterface eth0\nvirtual_router_id 99\nvirtual_ipaddress {\n10.0.0.199\n}\ntrack_file {\nother\n}\n}',
    track_file:
      'track_file other {\nfile /tmp/x\n}\nvrrp_instance VI_9 {\ninterface eth0\nvirtual_router_id 99\nvirtual_ipaddress {\n10.0.0.199\n}\ntrack_file {\nother\n}\n}',
    vrrp_instance:
      'vrrp_instance VI_9 {\ninterface eth0\nvirtual_router_id 99\nvirtual_ipaddress {\n10.0.0.199\n}\n}',
    vrrp_sync_group: 'vrrp_sync_group SG2 {\ngroup {\nVI_1\n}\n}',
    virtual_server_group:
      'virtual_server_group G {\n10.0.0.50 80\n}\nvirtual_server group G {\nprotocol TCP\nreal_server 10.0.1.5 80 {\n}\n}',
    virtual_server: 'virtual_server 10.0.0.60 80 {\nprotocol TCP\nreal_server 10.0.1.5 80 {\n}\n}',
    static_ipaddress: 'static_ipaddress {\n10.0.9.1/24 dev eth0\n}',
    static_routes: 'static_routes {\n10.9.0.0/16 via 10.0.0.1 dev eth0\n}',
    static_rules: 'static_rules {\nfrom 10.0.9.0/24 table 100\n}',
    vrrp_track_process:
      'vrrp_track_process nginx {\nprocess nginx\n}\nvrrp_instance VI_9 {\ninterface eth0\nvirtual_router_id 99\nvirtual_ipaddress {\n10.0.0.199\n}\ntrack_process {\nnginx\n}\n}',
    bgp: {
      at: 'the top level',
      base: '',
      with: 'virtual_server 10.0.0.61 80 {\nprotocol TCP\nreal_server 10.0.1.5 80 {\n}\n}',
    },
  },
  global_defs: {
    router_id: 'router_id lb-9',
    notification_email: { base: 'smtp_server 10.0.0.25', with: 'notification_email {\nops@example.com\n}' },
    notification_email_from: mailing('notification_email_from halo@example.com'),
    smtp_server: { base: 'notification_email {\nops@example.com\n}', with: 'smtp_server 10.0.0.25' },
    smtp_helo_name: mailing('smtp_helo_name lb.example'),
    smtp_connect_timeout: mailing('smtp_connect_timeout 7'),
    smtp_alert: mailing('smtp_alert'),
    enable_script_security: 'enable_script_security',
    script_user: 'script_user nobody',
    default_interface: {
      base: 'default_interface eth0',
      with: 'default_interface eth3',
      also: 'vrrp_instance VI_D {\nvirtual_router_id 70\nvirtual_ipaddress {\n10.0.0.170\n}\n}',
    },
    dynamic_interfaces: 'dynamic_interfaces',
    vrrp_version: 'vrrp_version 3',
    vrrp_mcast_group4: 'vrrp_mcast_group4 224.0.0.19',
    vrrp_mcast_group6: {
      base: '',
      with: 'vrrp_mcast_group6 ff02::19',
      also: 'vrrp_instance VI_6 {\ninterface eth0\nvirtual_router_id 66\nvirtual_ipaddress {\nfe80::66\n}\n}',
    },
    vrrp_strict: 'vrrp_strict',
    vrrp_skip_check_adv_addr: 'vrrp_skip_check_adv_addr',
    vrrp_check_unicast_src: 'vrrp_check_unicast_src',
    vrrp_garp_master_delay: 'vrrp_garp_master_delay 9',
    vrrp_garp_master_repeat: 'vrrp_garp_master_repeat 2',
    vrrp_garp_master_refresh: 'vrrp_garp_master_refresh 60',
    vrrp_garp_master_refresh_repeat: 'vrrp_garp_master_refresh_repeat 3',
    vrrp_garp_lower_prio_delay: 'vrrp_garp_lower_prio_delay 8',
    vrrp_garp_lower_prio_repeat: 'vrrp_garp_lower_prio_repeat 2',
    vrrp_garp_interval: 'vrrp_garp_interval 0.01',
    vrrp_gna_interval: 'vrrp_gna_interval 0.01',
    vrrp_lower_prio_no_advert: 'vrrp_lower_prio_no_advert',
    vrrp_higher_prio_send_advert: 'vrrp_higher_prio_send_advert',
    vrrp_down_timer_adverts: 'vrrp_down_timer_adverts 5',
    vrrp_startup_delay: 'vrrp_startup_delay 5',
    lvs_flush: 'lvs_flush',
    lvs_flush_on_stop: 'lvs_flush_on_stop',
    lvs_timeouts: 'lvs_timeouts tcp 7200',
    lvs_sync_daemon: 'lvs_sync_daemon eth0',
    notify_fifo: 'notify_fifo /run/halo.fifo',
    notify_fifo_script: { base: 'notify_fifo /run/halo.fifo', with: 'notify_fifo_script /bin/true' },
    vrrp_notify_fifo: 'vrrp_notify_fifo /run/halo-vrrp.fifo',
    vrrp_notify_fifo_script: {
      base: 'vrrp_notify_fifo /run/halo-vrrp.fifo',
      with: 'vrrp_notify_fifo_script /bin/true',
    },
    lvs_notify_fifo: 'lvs_notify_fifo /run/halo-lvs.fifo',
    lvs_notify_fifo_script: {
      base: 'lvs_notify_fifo /run/halo-lvs.fifo',
      with: 'lvs_notify_fifo_script /bin/true',
    },
    checker_log_all_failures: 'checker_log_all_failures',
    vrrp_priority: 'vrrp_priority -5',
    vrrp_rt_priority: 'vrrp_rt_priority 20',
    vrrp_cpu_affinity: 'vrrp_cpu_affinity 0',
    vrrp_rlimit_rttime: 'vrrp_rlimit_rttime 20000',
    vrrp_rlimit_rtime: 'vrrp_rlimit_rtime 20000',
    vrrp_no_swap: 'vrrp_no_swap off',
    checker_priority: 'checker_priority -5',
    checker_rt_priority: 'checker_rt_priority 5',
    checker_cpu_affinity: 'checker_cpu_affinity 0',
    checker_rlimit_rttime: { base: 'checker_rt_priority 5', with: 'checker_rlimit_rttime 20000' },
    checker_rlimit_rtime: { base: 'checker_rt_priority 5', with: 'checker_rlimit_rtime 20000' },
    v3_checksum_as_v2: 'v3_checksum_as_v2',
    smtp_alert_vrrp: mailing('smtp_alert_vrrp'),
    smtp_alert_checker: mailing('smtp_alert_checker'),
    no_email_faults: mailing('no_email_faults'),
    no_checker_emails: mailing('no_checker_emails'),
  },
  vrrp_script: {
    script: 'script "/bin/false"',
    interval: 'interval 3',
    timeout: 'timeout 2',
    weight: 'weight 20',
    rise: 'rise 3',
    fall: 'fall 3',
    user: 'user nobody',
    init_fail: 'init_fail',
  },
  track_file: {
    file: 'file /tmp/other',
    weight: 'weight 5',
    init_file: 'init_file',
  },
  vrrp_instance: {
    state: 'state MASTER',
    interface: 'interface eth1',
    virtual_router_id: 'virtual_router_id 61',
    priority: 'priority 150',
    advert_int: 'advert_int 2',
    version: 'version 3',
    nopreempt: 'nopreempt',
    preempt: { base: 'nopreempt', with: 'preempt' },
    preempt_delay: 'preempt_delay 5',
    authentication: 'authentication {\nauth_pass other\n}',
    virtual_ipaddress: 'virtual_ipaddress {\n10.0.0.110\n}',
    virtual_ipaddress_excluded: 'virtual_ipaddress_excluded {\n10.0.0.120\n}',
    virtual_routes: 'virtual_routes {\n10.9.0.0/16 via 10.0.0.1 dev eth0\n}',
    virtual_rules: 'virtual_rules {\nfrom 10.0.0.100 table 100\n}',
    track_process: {
      base: '',
      with: 'track_process {\nproc2\n}',
      also: 'vrrp_track_process proc2 {\nprocess nginx\n}',
    },
    unicast_src_ip: 'unicast_src_ip 10.0.0.2',
    unicast_peer: 'unicast_peer {\n10.0.0.3\n}',
    mcast_src_ip: 'mcast_src_ip 10.0.0.2',
    track_interface: 'track_interface {\neth1\n}',
    track_script: 'track_script {\nchk weight 30\n}',
    track_file: 'track_file {\ntf weight 2\n}',
    dont_track_primary: 'dont_track_primary',
    notify_master: 'notify_master /bin/true',
    notify_backup: 'notify_backup /bin/true',
    notify_fault: 'notify_fault /bin/true',
    notify_stop: 'notify_stop /bin/true',
    notify_deleted: 'notify_deleted /bin/true',
    notify: 'notify /bin/true',
    notify_master_rx_lower_pri: 'notify_master_rx_lower_pri /bin/true',
    smtp_alert: 'smtp_alert',
    garp_master_delay: 'garp_master_delay 9',
    garp_master_repeat: 'garp_master_repeat 2',
    garp_master_refresh: 'garp_master_refresh 60',
    garp_master_refresh_repeat: 'garp_master_refresh_repeat 3',
    garp_lower_prio_delay: 'garp_lower_prio_delay 8',
    garp_lower_prio_repeat: 'garp_lower_prio_repeat 2',
    lower_prio_no_advert: 'lower_prio_no_advert',
    higher_prio_send_advert: 'higher_prio_send_advert',
    accept: { base: 'no_accept', with: 'accept' },
    no_accept: 'no_accept',
    strict_mode: 'strict_mode',
    skip_check_adv_addr: 'skip_check_adv_addr',
    check_unicast_src: 'check_unicast_src',
    down_timer_adverts: 'down_timer_adverts 5',
    old_unicast_checksum: 'old_unicast_checksum',
    v3_checksum_as_v2: 'v3_checksum_as_v2',
    use_vmac: 'use_vmac',
    vmac_xmit_base: { base: 'use_vmac', with: 'vmac_xmit_base' },
  },
  authentication: {
    auth_type: 'auth_type AH',
    auth_pass: 'auth_pass other',
  },
  vrrp_sync_group: {
    group: 'group {\nVI_1\n}',
    track_interface: 'track_interface {\neth1\n}',
    track_script: 'track_script {\nchk\n}',
    track_file: 'track_file {\ntf weight 0\n}',
    track_process: 'track_process {\nproc weight 0\n}',
    notify_master: 'notify_master /bin/true',
    notify_backup: 'notify_backup /bin/true',
    notify_fault: 'notify_fault /bin/true',
    notify_stop: 'notify_stop /bin/true',
    notify: 'notify /bin/true',
    smtp_alert: 'smtp_alert',
  },
  virtual_server: {
    ...LVS_INHERITED,
    ip_family: {
      at: 'the top level',
      base: 'virtual_server fwmark 5 {\nprotocol TCP\n}',
      with: 'virtual_server fwmark 5 {\nprotocol TCP\nip_family inet6\n}',
    },
    lb_algo: 'lb_algo rr',
    lvs_sched: 'lvs_sched rr',
    hashed: 'hashed',
    ops: 'ops',
    'flag-1': 'flag-1',
    'flag-2': 'flag-2',
    'flag-3': 'flag-3',
    'sh-port': 'sh-port',
    'sh-fallback': 'sh-fallback',
    'mh-port': 'mh-port',
    'mh-fallback': 'mh-fallback',
    lb_kind: 'lb_kind DR',
    lvs_method: 'lvs_method DR',
    persistence_timeout: 'persistence_timeout 60',
    persistence_granularity: 'persistence_granularity 255.255.255.0',
    protocol: 'protocol UDP',
    ha_suspend: 'ha_suspend',
    alpha: 'alpha',
    omega: 'omega',
    quorum_up: 'quorum_up /bin/true',
    quorum_down: 'quorum_down /bin/true',
    quorum: 'quorum 2',
    hysteresis: 'hysteresis 1',
    sorry_server: 'sorry_server 10.0.1.99 80',
    sorry_server_inhibit: { base: 'sorry_server 10.0.1.99 80', with: 'sorry_server_inhibit' },
    sorry_server_lvs_method: { base: 'sorry_server 10.0.1.99 80', with: 'sorry_server_lvs_method DR' },
    real_server: 'real_server 10.0.1.2 80 {\n}',
  },
  real_server: {
    ...LVS_INHERITED,
    // keepalived mails real server changes unless told not to: the default is on.
    smtp_alert: { base: 'smtp_alert off', with: 'smtp_alert' },
    weight: 'weight 4',
    lvs_method: 'lvs_method DR',
    uthreshold: 'uthreshold 100',
    lthreshold: 'lthreshold 10',
    notify_up: 'notify_up /bin/true',
    notify_down: 'notify_down /bin/true',
    alpha: 'alpha',
    TCP_CHECK: 'TCP_CHECK {\nconnect_port 81\n}',
    HTTP_GET: 'HTTP_GET {\nurl {\npath /x\n}\n}',
    SSL_GET: 'SSL_GET {\nurl {\npath /x\n}\n}',
    MISC_CHECK: 'MISC_CHECK {\nmisc_path /bin/false\n}',
    PING_CHECK: 'PING_CHECK {\nconnect_ip 10.0.1.8\n}',
    UDP_CHECK: 'UDP_CHECK {\nconnect_port 53\n}',
    DNS_CHECK: 'DNS_CHECK {\nconnect_port 53\n}',
    SMTP_CHECK: 'SMTP_CHECK {\nconnect_port 25\n}',
    FILE_CHECK: 'FILE_CHECK {\ntrack_file tf\nweight 2\n}',
  },
  TCP_CHECK: { ...CONNECTION, ...TIMING },
  HTTP_GET: HTTP,
  SSL_GET: HTTP,
  MISC_CHECK: {
    ...TIMING,
    misc_path: 'misc_path /bin/false',
    misc_timeout: 'misc_timeout 3',
    misc_dynamic: 'misc_dynamic',
    user: 'user nobody',
  },
  PING_CHECK: { ...CONNECTION, ...TIMING },
  UDP_CHECK: {
    ...CONNECTION,
    ...TIMING,
    payload: 'payload 0a0b',
    require_reply: 'require_reply',
    // keepalived checks the reply length only together with a reply pattern.
    min_reply_length: { base: 'require_reply 0a', with: 'min_reply_length 4' },
    max_reply_length: { base: 'require_reply 0a', with: 'max_reply_length 64' },
  },
  FILE_CHECK: {
    track_file: {
      base: '',
      with: 'track_file tf2',
      also: 'vrrp_track_file tf2 {\nfile /tmp/halo-plan-other\n}',
    },
    weight: 'weight 3 reverse',
  },
  DNS_CHECK: { ...CONNECTION, ...TIMING, type: 'type A', name: 'name example.com' },
  SMTP_CHECK: { ...CONNECTION, ...TIMING, helo_name: 'helo_name mx.example' },
  bgp: {
    control_socket: 'control_socket /run/bird/other.ctl',
    routes_file: 'routes_file /run/halo/other.conf',
    protocol_name: 'protocol_name other',
    local_as: 'local_as 65002',
    router_id: 'router_id 192.0.2.9',
    vip_interface: 'vip_interface eth9',
    announce_delay: 'announce_delay 7',
    withdraw_delay: 'withdraw_delay 7',
    withdraw_timeout: 'withdraw_timeout 7',
    poll_interval: 'poll_interval 7',
    announce: {
      base: '',
      with: 'announce 10.0.0.60',
      also: 'virtual_server 10.0.0.60 80 {\nprotocol TCP\nreal_server 10.0.1.5 80 {\n}\n}',
    },
  },
  announce: {
    quorum: 'quorum 3',
    hysteresis: 'hysteresis 1',
    community: 'community 65000:80',
    large_community: 'large_community 65000:1:2',
    med: 'med 50',
    as_path_prepend: 'as_path_prepend 2',
  },
  vrrp_track_process: {
    process: {
      at: 'the top level',
      base: `vrrp_track_process p9 {\nprocess nginx\n}\n${TRACKING_P9}`,
      with: `vrrp_track_process p9 {\nprocess apache2\n}\n${TRACKING_P9}`,
    },
    param_match: {
      at: 'the top level',
      base: `vrrp_track_process p9 {\nprocess nginx -g x\n}\n${TRACKING_P9}`,
      with: `vrrp_track_process p9 {\nprocess nginx -g x\nparam_match partial\n}\n${TRACKING_P9}`,
    },
    weight: 'weight 9',
    quorum: 'quorum 2',
    quorum_max: 'quorum_max 3',
    delay: 'delay 2',
    fork_delay: 'fork_delay 2',
    terminate_delay: 'terminate_delay 2',
    full_command: 'full_command',
  },
  url: {
    path: 'path /other',
    digest: 'digest 0123456789abcdef0123456789abcdef',
    status_code: 'status_code 200-204',
    virtualhost: 'virtualhost url.example',
    regex: 'regex ok',
    regex_no_match: { base: 'regex ok', with: 'regex_no_match' },
    regex_options: { base: 'regex ok', with: 'regex_options caseless' },
    regex_min_offset: { base: 'regex ok', with: 'regex_min_offset 10' },
    regex_max_offset: { base: 'regex ok', with: 'regex_max_offset 100' },
  },
};

/**
 * Implemented keywords whose engine part is being built in another change right now; each entry names
 * where its effect will come from. This list must be empty before a release.
 */
const PENDING: Record<string, string> = {};

function plansOf(text: string): string {
  const r = parseKeepalivedText(text, 'effect.conf', { hostChecks: 'off' });
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  assert.ok(r.config, `config does not load:\n${errors.map((d) => `${d.line}: ${d.message}`).join('\n')}`);
  const p = buildPlans(r.config, { hostname: 'lb1', username: 'root' });
  return JSON.stringify(p, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v instanceof Map ? [...v.entries()] : v,
  );
}

describe('every implemented keyword changes a plan (or says why not)', () => {
  const tables = new Map(ALL_TABLES.map((t) => [t.name, t]));
  for (const slot of SLOTS) {
    const table = tables.get(slot);
    it(`${slot}: every keyword has an effect or a reason`, () => {
      assert.ok(table, `no keyword table named ${slot}`);
      const problems: string[] = [];
      for (const [word, kw] of Object.entries(table.keywords)) {
        if (kw.status !== 'implemented') continue;
        const key = `${slot}.${word}`;
        if (kw.noEffect) {
          assert.ok(kw.noEffect.length > 10, `${key}: noEffect needs a real reason`);
          continue;
        }
        if (PENDING[key]) continue;
        const ex = EXAMPLES[slot][word];
        if (ex === undefined) {
          problems.push(`${key}: implemented, but no example shows its effect (add one to EXAMPLES)`);
          continue;
        }
        const e = typeof ex === 'string' ? { base: '', with: ex } : ex;
        const at = e.at ?? slot;
        // `at` examples replace the base; the others add their line to it.
        const line = e.at ? e.with : `${e.base}\n${e.with}`;
        const also = e.also ? { 'the top level': e.also } : {};
        let without: string;
        let withIt: string;
        try {
          without = plansOf(config({ ...also, [at]: e.base }));
          withIt = plansOf(config({ ...also, [at]: line }));
        } catch (err) {
          problems.push(`${key}: ${(err as Error).message}`);
          continue;
        }
        if (without === withIt) problems.push(`${key}: accepted, but no plan changes (ignored at run time)`);
      }
      assert.deepEqual(problems, []);
    });
  }

  it('the base config loads, every slot is a keyword table and every keyword table a slot', () => {
    plansOf(config({}));
    for (const slot of SLOTS) assert.ok(tables.has(slot), slot);
    for (const t of ALL_TABLES)
      assert.ok((SLOTS as readonly string[]).includes(t.name), `no slot for ${t.name}`);
  });

  it('no pending keyword is left without its table entry', () => {
    for (const key of Object.keys(PENDING)) {
      const [slot, word] = key.split(/\.(?=[^.]+$)/);
      assert.equal(tables.get(slot)?.keywords[word]?.status, 'implemented', key);
    }
  });
});
