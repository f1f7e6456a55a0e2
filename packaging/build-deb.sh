#!/usr/bin/env bash
# Builds the halo Debian package from a built checkout.
#
#   packaging/build-deb.sh [OUT_DIR]        (default OUT_DIR: ./dist-deb)
#
# Needs: `npm run build` output (dist/src), the native addon (build/Release/halo_net.node, from
# `npm ci`/`npm run build:native`), node_modules (from `npm ci`), dpkg-deb. Works offline: production
# node_modules are a pruned copy of the checkout's. Prints the path of halo_<version>_<arch>.deb.
#
# Layout:
#   /usr/lib/halo/{package.json,dist/src,web,node_modules,build/Release/halo_net.node}
#   /usr/bin/halo                       wrapper: exec /usr/bin/node /usr/lib/halo/dist/src/cli/main.js
#   /lib/systemd/system/halo.service
#   /etc/halo/halo.conf                 conffile (inert default)
#   /usr/share/doc/halo/{copyright,README.Debian,examples/}
set -euo pipefail

die() { echo "build-deb: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/dist-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg)"
command -v node >/dev/null || die "node not found"
[ -f "$repo/dist/src/cli/main.js" ] || die "dist/src/cli/main.js is missing: run 'npm run build' first"
addon=$repo/build/Release/halo_net.node
[ -f "$addon" ] || die "native addon $addon is missing: run 'npm run build:native' (or 'npm ci') first"
[ -d "$repo/node_modules" ] || die "node_modules is missing: run 'npm ci' first"

version=${HALO_VERSION:-$(node -p "require(process.argv[1]).version" "$repo/package.json")}
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "bad version '$version'"
arch=$(dpkg --print-architecture)

stage=$(mktemp -d "${TMPDIR:-/tmp}/halo-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
lib=$root/usr/lib/halo
doc=$root/usr/share/doc/halo
install -d -m 755 "$lib/dist" "$lib/build/Release" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/halo" "$doc/examples" "$root/DEBIAN"

# Application: compiled JS without source maps (the .ts sources are not shipped).
cp -r "$repo/dist/src" "$lib/dist/src"
find "$lib/dist" -name '*.map' -delete
# The status page (halo run --http): plain files, served from /usr/lib/halo/web, nothing from a CDN.
install -d -m 755 "$lib/web"
install -m 644 "$repo"/web/index.html "$repo"/web/app.js "$repo"/web/app.css "$lib/web/"
install -m 644 "$repo/package.json" "$lib/package.json"
install -m 755 "$addon" "$lib/build/Release/halo_net.node"

# Production dependencies: copy, then prune dev dependencies (no network needed).
cp -r "$repo/node_modules" "$lib/node_modules"
[ -f "$repo/package-lock.json" ] && install -m 644 "$repo/package-lock.json" "$lib/package-lock.json"
(cd "$lib" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
  || die "npm prune failed"
rm -f "$lib/package-lock.json" "$lib/node_modules/.package-lock.json"
find "$lib/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete # scopes emptied by the prune
for dev in typescript @biomejs fast-check @types playwright-core; do
  [ ! -e "$lib/node_modules/$dev" ] || die "dev dependency $dev survived pruning"
done

cat > "$root/usr/bin/halo" <<'WRAPPER'
#!/bin/sh
# halo command-line wrapper (Debian package).
exec /usr/bin/node /usr/lib/halo/dist/src/cli/main.js "$@"
WRAPPER
chmod 755 "$root/usr/bin/halo"

install -m 644 "$repo/packaging/halo.service" "$root/lib/systemd/system/halo.service"
install -m 644 "$repo/packaging/halo.conf" "$root/etc/halo/halo.conf"
for f in "$repo"/conf/*.conf; do [ -f "$f" ] && install -m 644 "$f" "$doc/examples/"; done
cat > "$doc/copyright" <<'COPYRIGHT'
halo: high-availability controller for LVS/IPVS directors.
License: MIT
COPYRIGHT
cat > "$doc/README.Debian" <<'README'
halo for Debian
---------------
The service is installed but neither enabled nor started. Edit /etc/halo/halo.conf
(keepalived.conf syntax; an existing keepalived.conf works as-is), then:

  halo config check -f /etc/halo/halo.conf
  systemctl enable --now halo
  halo status
  journalctl -u halo -f          (JSON lines: journalctl -u halo -o cat | jq)
  systemctl reload halo          (after config edits; a config with errors is refused)

halo and keepalived must not run on the same host (the unit conflicts with keepalived.service).
Runtime files: /run/halo (control socket, pid file, dumps written on SIGUSR1/SIGUSR2).
README
find "$doc" -type f -exec chmod 644 {} +

for s in postinst prerm postrm; do install -m 755 "$repo/packaging/deb/$s" "$root/DEBIAN/$s"; done
echo /etc/halo/halo.conf > "$root/DEBIAN/conffiles"
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: halo
Version: $version
Architecture: $arch
Maintainer: halo developers <halo@localhost>
Section: net
Priority: optional
Installed-Size: $installed_kb
Depends: nodejs (>= 20)
Recommends: ipvsadm
Description: high-availability controller for LVS/IPVS directors
 halo does what keepalived does -- VRRP v2/v3 failover of virtual IP addresses,
 health checks of real servers and programming of the kernel IPVS table -- and
 reads keepalived.conf as-is. Written in TypeScript for Node.js.
CONTROL
# No package-level Conflicts with keepalived: both may be installed (interop testing, migration); the
# unit's Conflicts=keepalived.service keeps them from running at the same time.

# Normalise ownership and permissions (root:root, no group/world write) without needing fakeroot.
find "$root" -type d -exec chmod 755 {} +
chmod -R go-w "$root"
deb=$out/halo_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
echo "$deb"
