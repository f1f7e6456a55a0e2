/** Where `halo run` and `halo config` look for a config when none is given (kept apart: no parser loads). */
export const DEFAULT_CONFIG_PATHS = ['/etc/halo/halo.conf', '/etc/keepalived/keepalived.conf'];
