#!/usr/bin/env node
/**
 * halo command-line entry point.
 *
 * Each subcommand lives in its own module under src/cli/ and exports
 * `run(argv): Promise<number>` (the process exit code). They are loaded lazily
 * so `halo config check` does not pay for the VRRP engine or netlink bindings.
 */

type CommandModule = { run(argv: string[]): Promise<number> };

const COMMANDS: Record<string, { module: string; summary: string }> = {
  config: { module: './config-cmd.js', summary: 'check, show or convert a configuration' },
  run: { module: './run-cmd.js', summary: 'run the daemon in the foreground' },
  status: { module: './status-cmd.js', summary: 'show instances, virtual and real servers' },
  reload: { module: './control-cmd.js', summary: 'ask the running daemon to reload its config' },
  stop: { module: './control-cmd.js', summary: 'ask the running daemon to stop' },
  dump: { module: './control-cmd.js', summary: 'ask the running daemon to write its data and stats dumps' },
  failover: {
    module: './hold-cmd.js',
    summary: 'hand VRRP instances to the peer without stopping (make-before-break), stay BACKUP',
  },
  maintenance: { module: './hold-cmd.js', summary: 'keep the whole node BACKUP (on|off), across restarts' },
  events: {
    module: './events-cmd.js',
    summary: 'show what happened: transitions, real servers, IPVS, reloads',
  },
  ipvs: { module: './ipvs-cmd.js', summary: 'show the kernel IPVS table and what halo owns' },
  rs: {
    module: './rs-cmd.js',
    summary: 'drain, disable, enable or re-weight a real server of the running daemon',
  },
  genhash: {
    module: './genhash-cmd.js',
    summary: 'compute an HTTP_GET/SSL_GET digest like keepalived genhash',
  },
};

function usage(): string {
  const lines = ['usage: halo <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push('', "Run 'halo <command> --help' for a command's options.");
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    process.stdout.write(`halo ${pkg.version}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`halo: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  if (name === 'run' && !rest.includes('--help') && !rest.includes('-h')) await releaseLeftoverVips(rest);
  const mod = (await import(entry.module)) as CommandModule;
  // control-cmd serves several verbs: hand it the verb too.
  return mod.run(entry.module === './control-cmd.js' || entry.module === './hold-cmd.js' ? argv : rest);
}

/**
 * A daemon that crashed may still hold VIPs a new master now holds too: drop them first, before the
 * config and the rest of halo load (see src/daemon/held-vips.ts). A bad path option is left for
 * `halo run` to report.
 */
async function releaseLeftoverVips(argv: string[]): Promise<void> {
  try {
    const { parsePathArgs } = await import('../daemon/paths.js');
    const held = await import('../daemon/held-vips.js');
    held.releasedAtStart.vips = await held.releaseHeldVips(parsePathArgs(argv).paths.pidFile);
    held.releasedAtStart.msAfterProcessStart = performance.now();
  } catch {
    // reported by halo run itself
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`halo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
