#!/bin/sh
# Builds a minimal root filesystem from Debian's busybox-static into DIR: /bin/busybox plus one
# symlink per applet, /etc/passwd and /etc/group with root and nobody, empty /proc /sys /dev /tmp.
set -eu
dir=${1:?usage: make-busybox-rootfs.sh DIR}
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-busybox-rootfs: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || true
tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/sbin" "$tmp/usr/bin" "$tmp/usr/sbin" "$tmp/etc" "$tmp/proc" "$tmp/sys" \
    "$tmp/dev" "$tmp/tmp" "$tmp/root" "$tmp/var/www" "$tmp/home"
chmod 1777 "$tmp/tmp"
cp "$bb" "$tmp/bin/busybox"
for applet in $("$bb" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    ln -sf /bin/busybox "$tmp/$applet"
done
cat > "$tmp/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
PW
cat > "$tmp/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
echo "berth" > "$tmp/etc/hostname"
rm -rf "$dir"
mv "$tmp" "$dir"
