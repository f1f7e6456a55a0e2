/**
 * VM lane for kernel IPVS: the host kernel has no IPVS, so kernel-facing code
 * runs inside Debian's stock kernel booted with qemu (TCG; KVM hangs on this
 * kind of machine). The guest gets the host's root read-only over 9p and
 * chroots into it, so node, ipvsadm and the checkout are at their host paths.
 *
 *   prepareVm()  downloads and caches the kernel, the modules IPVS needs and a
 *                static busybox, and builds the initramfs (idempotent, cached).
 *   runInVm()    boots once, runs a shell script as root inside, returns its
 *                exit code and output.
 *
 * Results travel back over a second, writable 9p share (a host temp dir): the
 * guest writes the script's output and its exit code there before powering
 * off. 9p writes are synchronous RPCs, so nothing is lost at power-off, unlike
 * a serial port whose last bytes may still sit in the UART buffer; a serial
 * port is also slow under TCG (~70 KB/s measured). The host streams the output
 * file live by reading what has been appended since the last look.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { promisify } from 'node:util';
import { SCHEDULERS } from '../../src/config/model.js';

const execFileP = promisify(execFile);

/** Thrown when the VM cannot be used here at all (not root, qemu missing, no kernel package). */
export class VmUnavailableError extends Error {
  override name = 'VmUnavailableError';
}

/** Thrown when a boot fails or times out; carries the tail of the kernel console. */
export class VmRunError extends Error {
  override name = 'VmRunError';
  constructor(
    message: string,
    readonly consoleTail: string,
    /** timeout: qemu killed at the host deadline; qemu: qemu failed; no-exit-code: the guest stopped early. */
    readonly kind: 'timeout' | 'qemu' | 'no-exit-code',
  ) {
    super(`${message}\n--- kernel console (tail) ---\n${consoleTail}`);
  }
}

export interface VmImage {
  kernelVersion: string;
  kernelPath: string;
  initrdPath: string;
  /** Module names in load order, as insmod'ed by the initramfs. */
  modules: string[];
  /** IPVS scheduler names whose modules this kernel ships (all loaded at boot). */
  schedulers: string[];
}

export interface RunInVmOptions {
  /** Host-side limit for the whole boot + script; qemu is SIGKILLed by PID past it. Default 300 s. */
  timeoutMs?: number;
  /** Guest memory. Default 1024 MB. */
  memoryMb?: number;
  /** Guest vCPUs (TCG multi-threaded). Default 2. */
  cpus?: number;
  /** Working directory inside the guest (a host path). Default: process.cwd(). */
  cwd?: string;
  /** Extra environment for the script (HALO_IN_VM=1, PATH, HOME are always set). */
  env?: Record<string, string>;
  /** Live output of the script as it runs (from the serial port; the returned output is authoritative). */
  onOutput?: (chunk: string) => void;
  /** Progress messages from the lane itself (download, build, boot). */
  log?: (msg: string) => void;
}

export interface RunInVmResult {
  exitCode: number;
  output: string;
  /** Wall-clock time from spawning qemu until the guest was ready to run the script. */
  bootMs: number;
  /** Wall-clock time from spawning qemu until it exited. */
  totalMs: number;
  /** Kernel console (quiet: errors, warnings and the lane's own halo-vm: lines). */
  kernelLog: string;
}

/**
 * Modules loaded first, in this order. crc32c_generic goes before everything:
 * libcrc32c (an ip_vs dependency via nf_conntrack) asks the crypto API for
 * "crc32c", which would request_module() it, and the initramfs has no modprobe.
 */
const ROOT_MODULES = [
  'crc32c_generic',
  'virtio_pci',
  '9pnet_virtio',
  '9p',
  'nf_conntrack',
  'nf_defrag_ipv4',
  'nf_defrag_ipv6',
  'ip_vs',
];

/**
 * Loaded when the kernel ships them, so tests can build traffic topologies inside
 * the VM (veth pairs, dummy links, the NetnsLab bridge): nothing can be
 * autoloaded later.
 */
const OPTIONAL_MODULES = ['veth', 'dummy', 'bridge'];

/** Bump when what populateCache() keeps changes, so old cache entries are rebuilt. */
const CACHE_LAYOUT = 2;

export function cacheRoot(): string {
  return process.env.HALO_VM_CACHE || '/var/cache/halo-vm';
}

async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await execFileP(cmd, args, { cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 });
  return r.stdout.toString();
}

async function commandExists(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

async function aptGet(args: string[], cwd?: string): Promise<void> {
  // Other developers (and CI's install step) may hold the dpkg lock: wait for it instead of failing.
  await execFileP('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    cwd,
    env: APT_ENV,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** The versioned kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64. */
async function resolveKernelPackage(): Promise<string | undefined> {
  const lookup = async () => {
    try {
      const out = await run('apt-cache', ['depends', 'linux-image-amd64']);
      return /Depends:\s*(linux-image-[0-9][^\s]*)/.exec(out)?.[1];
    } catch {
      return undefined;
    }
  };
  let pkg = await lookup();
  if (!pkg) {
    await aptGet(['update', '-qq']).catch(() => undefined);
    pkg = await lookup();
  }
  return pkg;
}

// ---------------------------------------------------------------------------
// Kernel module metadata: read `depends=` from the ELF .modinfo section.
// Debian's package carries no modules.dep (depmod runs at install time) and the
// host has no kmod tools necessarily, so parse the ELF directly.

export function modinfo(ko: Buffer): Map<string, string[]> {
  const info = new Map<string, string[]>();
  if (ko.length < 64 || ko.readUInt32BE(0) !== 0x7f454c46 || ko[4] !== 2 || ko[5] !== 1) {
    throw new Error('not a little-endian ELF64 kernel module');
  }
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  const section = (i: number) => {
    const base = shoff + i * shentsize;
    return {
      name: ko.readUInt32LE(base),
      offset: Number(ko.readBigUInt64LE(base + 0x18)),
      size: Number(ko.readBigUInt64LE(base + 0x20)),
    };
  };
  const strtab = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameStart = strtab.offset + s.name;
    const name = ko.toString('latin1', nameStart, ko.indexOf(0, nameStart));
    if (name !== '.modinfo') continue;
    for (const entry of ko.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const key = entry.slice(0, eq);
      info.set(key, [...(info.get(key) ?? []), entry.slice(eq + 1)]);
    }
  }
  return info;
}

const modName = (file: string) => file.replace(/\.ko$/, '').replace(/-/g, '_');

async function walkModules(dir: string, out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walkModules(p, out);
    else if (e.name.endsWith('.ko')) out.set(modName(e.name), p);
  }
  return out;
}

/** Dependency closure of `roots` in load order (dependencies first); built-in modules are skipped. */
async function resolveLoadOrder(
  roots: string[],
  available: Map<string, string>,
  builtin: Set<string>,
): Promise<string[]> {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = async (name: string, path: string[]) => {
    if (seen.has(name) || builtin.has(name)) return;
    const file = available.get(name);
    if (!file) throw new Error(`kernel module ${name} not found (needed by ${path.join(' -> ') || 'lane'})`);
    seen.add(name);
    const deps = (modinfo(await readFile(file)).get('depends') ?? [])
      .flatMap((d) => d.split(','))
      .filter(Boolean)
      .map(modName);
    for (const d of deps) await visit(d, [...path, name]);
    order.push(name);
  };
  for (const r of roots) await visit(r, []);
  return order;
}

// ---------------------------------------------------------------------------
// initramfs: a "newc" cpio archive written here, so no cpio tool is needed.

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
}

function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const push = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  for (const e of entries) push(e);
  push({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

const DIR = 0o040755;
const FILE = 0o100644;
const EXEC = 0o100755;
const LINK = 0o120777;

/**
 * PID 1 inside the guest (busybox sh). Kernel console is ttyS0; script output
 * and exit code land on the writable `result` share. Every step that fails
 * prints why on the console, and the guest always powers off so the host never
 * waits for its timeout on a known failure.
 */
const INIT_SCRIPT = `#!/bin/busybox sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox mount -t devtmpfs dev /dev
say() { echo "halo-vm: $*" > /dev/ttyS0; }
die() { say "FATAL: $*"; busybox sync; busybox poweroff -f; sleep 5; echo o > /proc/sysrq-trigger; }
while read -r m; do
  busybox insmod "/modules/$m.ko" || say "insmod $m failed"
done < /modules.order
say "modules loaded"
mkdir -p /host /result
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || die "mount hostroot"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 result /result || die "mount result"
# Guest-side deadline: powers off even if the host process died and could not kill qemu.
deadline=$(cat /result/deadline 2>/dev/null)
case "$deadline" in ''|*[!0-9]*) say "bad deadline '$deadline', using 600"; deadline=600 ;; esac
( sleep "$deadline"; say "guest deadline of $deadline s reached"; echo o > /proc/sysrq-trigger ) &
# The working directory (the checkout) may live under a directory that gets a fresh
# tmpfs below (a CI clone in /tmp): hold it with a bind mount and put it back on top.
keep=$(cat /result/cwd)
[ -n "$keep" ] || die "no cwd in /result/cwd"
mkdir -p /keep
[ "$keep" != / ] && { mount -o bind "/host$keep" /keep || die "bind $keep"; }
mount -t proc proc /host/proc || die "mount proc"
mount -t sysfs sys /host/sys || die "mount sys"
mount -t devtmpfs dev /host/dev || die "mount dev"
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs /host/$d || die "mount /$d"; done
mkdir -p /host/tmp/.halo-vm /host/tmp/home
if [ "$keep" != / ]; then mkdir -p "/host$keep" 2>/dev/null; mount -o bind /keep "/host$keep" || die "rebind $keep"; fi
mount -o bind /result /host/tmp/.halo-vm || die "bind result"
ip link set lo up
say "ready"
echo ready > /result/ready
chroot /host /bin/sh /tmp/.halo-vm/script.sh < /dev/null > /result/output 2>&1
status=$?
echo "$status" > /result/exit || say "cannot write the exit code"
say "script exited with $status"
sync
umount /host/tmp/.halo-vm /result 2>/dev/null
poweroff -f
sleep 5
echo o > /proc/sysrq-trigger
`;

const BUSYBOX_APPLETS = ['sh', 'mount', 'umount', 'mkdir', 'insmod', 'ip', 'chroot', 'sync', 'poweroff'];
const BUSYBOX_APPLETS_MORE = ['sleep', 'echo', 'cat', 'ls', 'cp', 'dmesg', 'lsmod'];

function buildInitramfs(busybox: Buffer, modules: { name: string; data: Buffer }[]): Buffer {
  const entries: CpioEntry[] = [
    { name: 'bin', mode: DIR },
    { name: 'bin/busybox', mode: EXEC, data: busybox },
    ...[...BUSYBOX_APPLETS, ...BUSYBOX_APPLETS_MORE].map((a) => ({
      name: `bin/${a}`,
      mode: LINK,
      data: Buffer.from('busybox'),
    })),
    { name: 'dev', mode: DIR },
    { name: 'proc', mode: DIR },
    { name: 'sys', mode: DIR },
    { name: 'modules', mode: DIR },
    ...modules.map((m) => ({ name: `modules/${m.name}.ko`, mode: FILE, data: m.data })),
    { name: 'modules.order', mode: FILE, data: Buffer.from(modules.map((m) => `${m.name}\n`).join('')) },
    { name: 'init', mode: EXEC, data: Buffer.from(INIT_SCRIPT) },
  ];
  return cpioNewc(entries);
}

// ---------------------------------------------------------------------------

async function ensureHostPackages(log: (m: string) => void): Promise<void> {
  if (await commandExists('qemu-system-x86_64')) return;
  log('installing qemu-system-x86 (apt-get, --no-install-recommends)');
  try {
    await aptGet(['install', '-y', '-qq', '--no-install-recommends', 'qemu-system-x86']);
  } catch (err) {
    throw new VmUnavailableError(`cannot install qemu-system-x86: ${(err as Error).message}`);
  }
  if (!(await commandExists('qemu-system-x86_64'))) {
    throw new VmUnavailableError('qemu-system-x86_64 missing after installing qemu-system-x86');
  }
}

interface CacheManifest {
  layout: number;
  kernelVersion: string;
  modules: string[];
  schedulers: string[];
}

async function readManifest(dir: string): Promise<CacheManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as CacheManifest;
    return m.layout === CACHE_LAYOUT ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Newest fully populated cache entry, for when apt cannot be asked (offline). */
async function newestCachedKernel(): Promise<string | undefined> {
  try {
    const names = (await readdir(cacheRoot())).filter((n) =>
      existsSync(join(cacheRoot(), n, 'manifest.json')),
    );
    return names.sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).pop();
  } catch {
    return undefined;
  }
}

/** Download the kernel package and busybox-static, keep only vmlinuz, the modules we load and busybox. */
async function populateCache(kernelPkg: string, dir: string, log: (m: string) => void): Promise<void> {
  const kernelVersion = kernelPkg.replace(/^linux-image-/, '');
  await mkdir(cacheRoot(), { recursive: true });
  const work = await mkdtemp(join(cacheRoot(), `.tmp-${kernelVersion}-`));
  try {
    const t0 = Date.now();
    log(`downloading ${kernelPkg} and busybox-static`);
    await aptGet(['download', kernelPkg, 'busybox-static'], work);
    const debs = await readdir(work);
    const kdeb = debs.find((f) => f.startsWith(`${kernelPkg}_`));
    const bdeb = debs.find((f) => f.startsWith('busybox-static_'));
    if (!kdeb || !bdeb) throw new Error(`apt-get download produced ${debs.join(', ')}`);
    const sizeMb = ((await stat(join(work, kdeb))).size + (await stat(join(work, bdeb))).size) / 1e6;
    log(`downloaded ${sizeMb.toFixed(1)} MB in ${Date.now() - t0} ms; extracting`);
    await run('dpkg-deb', ['-x', join(work, kdeb), join(work, 'k')]);
    await run('dpkg-deb', ['-x', join(work, bdeb), join(work, 'b')]);

    const staging = `${dir}.new-${randomBytes(3).toString('hex')}`;
    await mkdir(join(staging, 'modules'), { recursive: true });
    await copyFile(join(work, 'k/boot', `vmlinuz-${kernelVersion}`), join(staging, 'vmlinuz'));
    await copyFile(join(work, 'b/bin/busybox'), join(staging, 'busybox'));

    const modRoot = join(work, 'k/lib/modules', kernelVersion);
    const available = await walkModules(join(modRoot, 'kernel'));
    const builtin = new Set(
      (await readFile(join(modRoot, 'modules.builtin'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => modName(l.split('/').pop()!)),
    );
    // Every scheduler halo's config accepts, where this kernel ships it (twos appeared in 6.2).
    const schedulers = SCHEDULERS.filter((s) => available.has(`ip_vs_${s}`));
    const order = await resolveLoadOrder(
      [
        ...ROOT_MODULES,
        ...schedulers.map((s) => `ip_vs_${s}`),
        ...OPTIONAL_MODULES.filter((m) => available.has(m) && !builtin.has(m)),
      ],
      available,
      builtin,
    );
    for (const m of order) await copyFile(available.get(m)!, join(staging, 'modules', `${m}.ko`));
    const manifest: CacheManifest = { layout: CACHE_LAYOUT, kernelVersion, modules: order, schedulers };
    await uncompressedKernel(staging, log);
    await writeFile(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    // Atomic publish: a concurrent preparer either sees nothing or a complete entry.
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    log(`cached ${kernelVersion}: ${order.length} modules, schedulers ${schedulers.join(',')} in ${dir}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Debian's vmlinuz is xz-compressed, and decompressing it under TCG costs ~2 s
 * per boot. The kernel has CONFIG_PVH, so qemu can boot the uncompressed ELF
 * vmlinux directly: unpack it once (xz, from xz-utils, which Debian always has)
 * and fall back to the bzImage when that is not possible.
 */
async function uncompressedKernel(dir: string, log: (m: string) => void): Promise<string> {
  const vmlinux = join(dir, 'vmlinux');
  if (existsSync(vmlinux)) return vmlinux;
  const bzImage = join(dir, 'vmlinuz');
  try {
    const image = await readFile(bzImage);
    const at = image.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
    if (at < 0) return bzImage;
    const elf = await new Promise<Buffer>((resolve, reject) => {
      const xz = spawn('xz', ['-dc', '--single-stream'], { stdio: ['pipe', 'pipe', 'ignore'] });
      const chunks: Buffer[] = [];
      xz.stdout.on('data', (c: Buffer) => chunks.push(c));
      xz.once('error', reject);
      xz.once('close', (code) =>
        code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`xz ${code}`)),
      );
      xz.stdin.on('error', () => {}); // xz stops reading after the stream: EPIPE on the trailing bytes is fine
      xz.stdin.end(image.subarray(at));
    });
    if (elf.readUInt32BE(0) !== 0x7f454c46) return bzImage;
    const tmp = `${vmlinux}.${randomBytes(3).toString('hex')}`;
    await writeFile(tmp, elf);
    await rename(tmp, vmlinux);
    log(`unpacked vmlinux (${(elf.length / 1e6).toFixed(0)} MB) for PVH boot`);
    return vmlinux;
  } catch (err) {
    log(`booting the compressed kernel (${(err as Error).message})`);
    return bzImage;
  }
}

/** A new kernel ABI replaces the cached one: drop the older entries (about 80 MB each). */
async function pruneOtherKernels(keep: string, log: (m: string) => void): Promise<void> {
  for (const name of await readdir(cacheRoot()).catch(() => [] as string[])) {
    if (name === keep || !existsSync(join(cacheRoot(), name, 'manifest.json'))) continue;
    await rm(join(cacheRoot(), name), { recursive: true, force: true });
    log(`removed old cached kernel ${name}`);
  }
}

let prepared: Promise<VmImage> | undefined;

/**
 * Make the VM usable: qemu installed, kernel + modules + busybox cached under
 * cacheRoot()/<kernel-version>/, initramfs built (keyed by its content hash so
 * a changed init script rebuilds it). Throws VmUnavailableError when the VM
 * cannot work here at all.
 */
export function prepareVm(opts: { log?: (msg: string) => void } = {}): Promise<VmImage> {
  prepared ??= prepareOnce(opts.log ?? (() => {})).catch((err) => {
    prepared = undefined;
    throw err;
  });
  return prepared;
}

async function prepareOnce(log: (m: string) => void): Promise<VmImage> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new VmUnavailableError(`needs linux/x64, this is ${process.platform}/${process.arch}`);
  }
  if (process.getuid?.() !== 0) throw new VmUnavailableError('needs root (apt-get, 9p export of /)');
  await ensureHostPackages(log);

  let kernelPkg = await resolveKernelPackage();
  let kernelVersion = kernelPkg?.replace(/^linux-image-/, '');
  if (!kernelVersion) {
    kernelVersion = await newestCachedKernel();
    if (!kernelVersion) throw new VmUnavailableError('apt-cache cannot resolve linux-image-amd64');
    log(`apt-cache could not resolve linux-image-amd64; using cached ${kernelVersion}`);
  }
  let dir = join(cacheRoot(), kernelVersion);
  let manifest = await readManifest(dir);
  if (!manifest) {
    if (!kernelPkg) throw new VmUnavailableError(`no cached kernel ${kernelVersion}`);
    try {
      await populateCache(kernelPkg, dir, log);
    } catch (first) {
      // Stale package lists make `apt-get download` 404 once the archive has moved on: refresh, retry once.
      log(`fetching ${kernelPkg} failed (${(first as Error).message.trim()}); apt-get update and retry`);
      await aptGet(['update', '-qq']).catch(() => undefined);
      kernelPkg = (await resolveKernelPackage()) ?? kernelPkg;
      kernelVersion = kernelPkg.replace(/^linux-image-/, '');
      dir = join(cacheRoot(), kernelVersion);
      try {
        await populateCache(kernelPkg, dir, log);
      } catch (err) {
        throw new VmUnavailableError(`cannot fetch kernel ${kernelPkg}: ${(err as Error).message}`);
      }
    }
    manifest = (await readManifest(dir))!;
    await pruneOtherKernels(kernelVersion, log);
  }

  const kernelPath = await uncompressedKernel(dir, log);
  const modules = await Promise.all(
    manifest.modules.map(async (name) => ({
      name,
      data: await readFile(join(dir, 'modules', `${name}.ko`)),
    })),
  );
  const initramfs = buildInitramfs(await readFile(join(dir, 'busybox')), modules);
  const hash = createHash('sha256').update(initramfs).digest('hex').slice(0, 16);
  const initrdPath = join(dir, `initramfs-${hash}.cpio`);
  if (!existsSync(initrdPath)) {
    const tmp = `${initrdPath}.${randomBytes(3).toString('hex')}`;
    await writeFile(tmp, initramfs);
    await rename(tmp, initrdPath);
  }
  return {
    kernelVersion: manifest.kernelVersion,
    kernelPath,
    initrdPath,
    modules: manifest.modules,
    schedulers: manifest.schedulers,
  };
}

// ---------------------------------------------------------------------------

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** qemu command line for one boot; exported for inspection/debugging. */
export function qemuArgs(
  image: VmImage,
  resultDir: string,
  opts: { memoryMb: number; cpus: number },
): string[] {
  return [
    // KVM exists here but hangs: TCG, multi-threaded so -smp 2 uses both host cores.
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-smp',
    String(opts.cpus),
    '-m',
    String(opts.memoryMb),
    // No default devices (NIC, VGA, ...): no option ROMs needed, faster boot.
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    image.kernelPath,
    '-initrd',
    image.initrdPath,
    '-append',
    'console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3 mitigations=off random.trust_cpu=on',
    '-chardev',
    `file,id=console,path=${join(resultDir, 'console.log')}`,
    '-serial',
    'chardev:console',
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${resultDir},mount_tag=result,security_model=none,multidevs=remap`,
  ];
}

/** Emits what was appended to a file since the last poll (the guest writes it over 9p). */
class AppendedText {
  private offset = 0;
  // A multi-byte character split across two reads must not turn into U+FFFD.
  private readonly decoder = new StringDecoder('utf8');
  private running: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly emit: (text: string) => void,
  ) {}

  /** Read to the current end; concurrent calls share one read. */
  poll(): Promise<void> {
    this.running ??= this.readMore().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async readMore(): Promise<void> {
    const fh = await open(this.path, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(256 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const text = this.decoder.write(buf.subarray(0, bytesRead));
        if (text) this.emit(text);
      }
    } finally {
      await fh.close();
    }
  }
}

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess, resultDir: string): void {
  live.add(child);
  liveDirs.add(resultDir);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Never leave a qemu behind when the host process goes away: on a normal exit, and on the
    // usual termination signals (re-raised after killing qemu so the default action still happens).
    const killAll = () => {
      for (const c of live) c.kill('SIGKILL');
      if (!process.env.HALO_VM_KEEP) for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    };
    process.once('exit', killAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        killAll();
        process.kill(process.pid, sig);
      });
    }
  }
}

/**
 * Boot the VM, run `script` (POSIX sh, as root, cwd = opts.cwd) inside the
 * chroot of the host root, and return its exit code and combined output.
 * /tmp inside is a fresh tmpfs; /tmp/.halo-vm is the host-visible result dir.
 */
export async function runInVm(script: string, opts: RunInVmOptions = {}): Promise<RunInVmResult> {
  let image = await prepareVm({ log: opts.log });
  if (!existsSync(image.kernelPath) || !existsSync(image.initrdPath)) {
    // Another process rebuilt the cache entry since this one prepared: prepare again.
    prepared = undefined;
    image = await prepareVm({ log: opts.log });
  }
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const cwd = resolvePath(opts.cwd ?? process.cwd());
  const resultDir = await mkdtemp(join(tmpdir(), 'halo-vm-'));
  // Kept for diagnosis when the VM itself fails (not when the script merely exits non-zero).
  let failed = true;
  try {
    const env: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/tmp/home',
      TMPDIR: '/tmp',
      LANG: 'C.UTF-8',
      HALO_IN_VM: '1',
      ...(process.env.CI ? { CI: process.env.CI } : {}),
      ...opts.env,
    };
    for (const k of Object.keys(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`);
    }
    const wrapped = [
      ...Object.entries(env).map(([k, v]) => `export ${k}=${shq(v)}`),
      `cd ${shq(cwd)} || exit 125`,
      script,
      '',
    ].join('\n');
    await writeFile(join(resultDir, 'script.sh'), wrapped);
    if (!cwd.startsWith('/') || /[\n]/.test(cwd)) throw new Error(`cwd must be an absolute path: ${cwd}`);
    await writeFile(join(resultDir, 'cwd'), `${cwd}\n`);
    // The guest's own deadline trails the host's, which normally fires first and SIGKILLs qemu.
    await writeFile(join(resultDir, 'deadline'), `${Math.ceil(timeoutMs / 1000) + 15}\n`);

    const t0 = Date.now();
    let bootMs = -1;
    const tail = opts.onOutput ? new AppendedText(join(resultDir, 'output'), opts.onOutput) : undefined;
    const tailTimer = tail && setInterval(() => void tail.poll(), 250);
    const child = spawn(
      'qemu-system-x86_64',
      qemuArgs(image, resultDir, {
        memoryMb: opts.memoryMb ?? 1024,
        cpus: opts.cpus ?? 2,
      }),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    trackChild(child, resultDir);
    let qemuStderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      qemuStderr += d.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const status = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    }).finally(() => {
      clearTimeout(timer);
      clearInterval(tailTimer);
    });
    const totalMs = Date.now() - t0;
    await tail?.poll();

    const kernelLog = await readFile(join(resultDir, 'console.log'), 'utf8')
      .then((s) => s.replace(/\r/g, ''))
      .catch(() => '(no console log)');
    const consoleTail = kernelLog.split('\n').slice(-40).join('\n');
    if (timedOut) {
      throw new VmRunError(`VM timed out after ${timeoutMs} ms (qemu killed)`, consoleTail, 'timeout');
    }
    if (status.code !== 0) {
      throw new VmRunError(
        `qemu exited with ${status.code ?? status.signal}: ${qemuStderr.trim()}`,
        consoleTail,
        'qemu',
      );
    }
    const readyAt = await stat(join(resultDir, 'ready')).catch(() => undefined);
    if (readyAt) bootMs = Math.max(0, readyAt.mtimeMs - t0);
    const exitText = await readFile(join(resultDir, 'exit'), 'utf8').catch(() => undefined);
    const output = await readFile(join(resultDir, 'output'), 'utf8').catch(() => '');
    const exitCode = Number.parseInt(exitText ?? '', 10);
    if (!Number.isInteger(exitCode)) {
      const outputTail = output.split('\n').slice(-15).join('\n');
      throw new VmRunError(
        `guest powered off without an exit code (${JSON.stringify(exitText)}) after ${totalMs} ms; ` +
          `script output (tail):\n${outputTail}`,
        consoleTail,
        'no-exit-code',
      );
    }
    failed = false;
    return { exitCode, output, bootMs, totalMs, kernelLog };
  } catch (err) {
    if (err instanceof VmRunError)
      err.message += `\n(files kept in ${resultDir}: console.log, output, script.sh)`;
    throw err;
  } finally {
    liveDirs.delete(resultDir);
    if (!process.env.HALO_VM_KEEP && !failed) await rm(resultDir, { recursive: true, force: true });
    else opts.log?.(`kept ${resultDir}`);
  }
}
