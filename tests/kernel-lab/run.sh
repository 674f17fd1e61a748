#!/usr/bin/env bash
# tests/kernel-lab/run.sh - run ONE command as root inside a throwaway qemu VM.
#
#   run.sh [--timeout SEC] [--mem SIZE] [--smp N] [--accel auto|kvm|tcg]
#          [--share DIR] [--modules "m1 m2"] [--env NAME]... [--rebuild] -- CMD ARGS...
#
# The VM boots Debian's distribution kernel (package linux-image-amd64) with this
# machine's root file system as its root, read-only over 9p. Inside the guest:
#   /                   the host's root, read-only
#   /tmp /var /root     copy-on-write overlays over the host's directories (writes stay in RAM)
#   /run                an empty tmpfs
#   $KLAB_OUT           the --share directory, read-write, same path as on the host
#                       (default: $STATE/out)
# CMD runs as root in the host's current directory. Its stdout and stderr stream to ours and
# our exit status is CMD's; 124 means the timeout hit, 125 means the VM failed (no status).
#
# State (one-time build, per-run logs) lives in $KLAB_STATE, default tests/kernel-lab/:
#   build/              initramfs and uncompressed kernel, rebuilt when the kernel or this
#                       script changes (or with --rebuild)
#   runs/<id>/          console.log (kernel + init), qemu.log, cmd, stage2, rc; the last 20 kept
#
# Needs root (Debian's /boot/vmlinuz-* is mode 0600) and the Debian packages
# qemu-system-x86 linux-image-amd64 busybox-static kmod; xz-utils makes boots faster (PVH).
#
# The kernel boots with cryptomgr.notests: the crypto self-tests run whenever a crypto
# module loads (the first PF_KEY REGISTER loads a dozen) and cost minutes under TCG; they
# test the kernel, not us. $KLAB_APPEND adds kernel arguments.
#
# Acceleration: "auto" uses KVM when /dev/kvm is usable and is not kvm_pvm (a PVM host, which
# cannot run Debian's kernel), and falls back to TCG if a KVM guest does not reach CMD within
# $KLAB_KVM_WAIT seconds (default 30). TCG boots to CMD in about 5 s on the project's machines.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${KLAB_STATE:-$HERE}
TIMEOUT=600 MEM=1G SMP=2 ACCEL=auto SHARE= MODULES= REBUILD=0
PASS_ENV=()

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "[kernel-lab] error: $*" >&2; exit 125; }
note() { echo "[kernel-lab] $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --timeout) TIMEOUT=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --smp) SMP=$2; shift 2 ;;
    --accel) ACCEL=$2; shift 2 ;;
    --share) SHARE=$2; shift 2 ;;
    --modules) MODULES=$2; shift 2 ;;
    --env) PASS_ENV+=("$2"); shift 2 ;;
    --rebuild) REBUILD=1; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || usage
case $ACCEL in auto|kvm|tcg) ;; *) die "--accel must be auto, kvm or tcg" ;; esac
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds"

[ "$(id -u)" = 0 ] || die "must run as root (reads /boot/vmlinuz-*, needs modprobe -D)"
for tool in qemu-system-x86_64 busybox modprobe timeout cpio gzip; do
  command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install qemu-system-x86 busybox-static kmod)"
done

mkdir -p "$STATE/build" "$STATE/runs"
SHARE=$(realpath -m "${SHARE:-$STATE/out}")
mkdir -p "$SHARE"
# The share path travels on the kernel command line and through 9p mount options.
[[ $SHARE != *[[:space:],]* ]] || die "--share path must not contain spaces or commas"

# ---- the kernel: newest /boot/vmlinuz-VER that has /lib/modules/VER ----
KVER=
for k in /boot/vmlinuz-*; do
  v=${k#/boot/vmlinuz-}
  [ -d "/lib/modules/$v" ] && KVER=$(printf '%s\n%s\n' "$KVER" "$v" | sed '/^$/d' | sort -V | tail -1)
done
[ -n "$KVER" ] || die "no /boot/vmlinuz-* with matching /lib/modules (apt-get install linux-image-amd64)"
VMLINUZ=/boot/vmlinuz-$KVER

# ---- one-time build: initramfs and PVH-bootable vmlinux ----
# The build is keyed on this script's content, so changing the init code rebuilds it.
KEY=$(sha256sum "$0" | cut -c1-12)
INITRD=$STATE/build/initramfs-$KVER-$KEY.cpio.gz
VMLINUX=$STATE/build/vmlinux-$KVER
if [ "$REBUILD" = 1 ] || [ "$VMLINUZ" -nt "$INITRD" ]; then rm -f "$INITRD" "$VMLINUX"; fi

# The guest's PID 1 before switch_root. It only has busybox and the few modules needed to
# reach the host's root over virtio 9p; everything else comes from the host's /lib/modules.
write_init() {
  cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /lib/modules.order); do insmod "/lib/$m" || echo "klab-init: insmod $m failed"; done
share=$(sed -n 's/.*klab_share=\([^ ]*\).*/\1/p' /proc/cmdline)
opts=trans=virtio,version=9p2000.L,msize=512000
R=/newroot
if ! mount -t 9p -o ro,cache=loose,$opts hostroot $R; then
  echo "klab-init: cannot mount the host root over 9p"; echo o > /proc/sysrq-trigger
fi
mount -t tmpfs -o mode=0755 tmpfs $R/run
# Writable views of host directories that tools expect to write into.
for d in tmp var root; do
  mkdir -p $R/run/.overlay/$d/upper $R/run/.overlay/$d/work
  mount -t overlay -o lowerdir=$R/$d,upperdir=$R/run/.overlay/$d/upper,workdir=$R/run/.overlay/$d/work \
    overlay $R/$d || mount -t tmpfs -o mode=1777 tmpfs $R/$d
done
chmod 1777 $R/tmp
mkdir -p $R/run/klab "$R$share"
mount -t 9p -o $opts klabctl $R/run/klab || echo "klab-init: control share missing"
mount -t 9p -o $opts klabshare "$R$share" || echo "klab-init: output share missing"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
# virtio-serial ports by name: /dev/klab.stdout, /dev/klab.stderr
for p in /sys/class/virtio-ports/*; do [ -e "$p/name" ] && ln -sf "/dev/${p##*/}" "/dev/$(cat $p/name)"; done
hostname kernel-lab
echo "klab-init: initramfs done at $(cut -d' ' -f1 /proc/uptime)s"
for d in proc sys dev; do mount --move /$d $R/$d; done
exec switch_root $R /bin/busybox sh /run/klab/stage2
INIT
}

if [ ! -s "$INITRD" ]; then
  note "building $INITRD"
  # busybox must be static: the initramfs has no libc
  if readelf -l "$(command -v busybox)" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    die "$(command -v busybox) is dynamically linked (apt-get install busybox-static)"
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp"/{bin,dev,proc,sys,newroot,lib}
  cp "$(command -v busybox)" "$tmp/bin/busybox"
  ln -s busybox "$tmp/bin/sh"
  # modprobe -D prints the insmod lines in dependency order; built-ins print "builtin ..."
  for m in virtio_pci virtio_console 9pnet_virtio 9p overlay; do
    modprobe -S "$KVER" -D "$m" || die "modprobe -D $m failed for kernel $KVER"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$tmp/modpaths"
  while read -r ko; do
    # modules may be compressed (.ko.xz); busybox insmod handles plain and xz on Debian,
    # but decompressing here keeps the initramfs independent of that.
    case $ko in
      *.xz) xz -dc "$ko" > "$tmp/lib/$(basename "${ko%.xz}")"; echo "$(basename "${ko%.xz}")" ;;
      *.zst) zstd -dcq "$ko" > "$tmp/lib/$(basename "${ko%.zst}")"; echo "$(basename "${ko%.zst}")" ;;
      *) cp "$ko" "$tmp/lib/"; basename "$ko" ;;
    esac
  done < "$tmp/modpaths" > "$tmp/lib/modules.order"
  rm "$tmp/modpaths"
  write_init > "$tmp/init"
  chmod 0755 "$tmp/init"
  (cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.part"
  mv "$INITRD.part" "$INITRD"
  rm -rf "$tmp"; trap - EXIT
  # drop initramfs images of older script versions
  find "$STATE/build" -name "initramfs-*.cpio.gz" ! -name "$(basename "$INITRD")" -delete
fi

# An uncompressed vmlinux boots through the PVH entry point, which skips the real-mode setup
# and the in-guest decompression: several seconds under TCG. Optional; needs xz.
if [ ! -s "$VMLINUX" ] && command -v xz >/dev/null; then
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "$VMLINUZ" | xz -dcq > "$VMLINUX.part" 2>/dev/null || true
    # PVH needs the XEN_ELFNOTE_PHYS32_ENTRY note (type 0x12)
    if LC_ALL=C readelf -n "$VMLINUX.part" 2>/dev/null | grep -q 'type: (0x00000012)'; then
      mv "$VMLINUX.part" "$VMLINUX"
    fi
  fi
  rm -f "$VMLINUX.part"
fi
KERNEL=$VMLINUZ
[ -s "$VMLINUX" ] && KERNEL=$VMLINUX

# ---- the run directory, shared with the guest as /run/klab ----
{ ls -1d "$STATE"/runs/*/ 2>/dev/null | head -n -20 | xargs -r rm -rf; } || true
RUN=$(mktemp -d "$STATE/runs/$(date +%Y%m%d-%H%M%S)-XXXX")
{ printf 'exec'; printf ' %q' "$@"; echo; } > "$RUN/cmd"
{
  echo "# guest PID 1 after switch_root: runs /run/klab/cmd, records its status, powers off"
  echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "export HOME=/root TERM=dumb LANG=C.UTF-8"
  printf 'export KLAB_OUT=%q KLAB_GUEST=1\n' "$SHARE"
  for name in "${PASS_ENV[@]}"; do
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--env wants a variable name, got '$name'"
    [ -n "${!name+x}" ] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  echo "ip link set lo up"
  # Kernel module autoloading with a negative cache. Every PF_KEY REGISTER makes the
  # kernel probe its algorithm list, asking modprobe for modules Debian does not ship
  # (sm3, sm4, lzs, lzjh): under TCG each of those runs costs ~0.5 s, so a REGISTER took
  # seconds. The root is read-only, so a module missing once stays missing.
  cat <<'MODPROBE'
cat > /run/klab-modprobe <<'EOF_MP'
#!/bin/sh
for name; do :; done
grep -qxF -- "$name" /run/klab-modprobe.missing 2>/dev/null && exit 1
/sbin/modprobe "$@" && exit 0
echo "$name" >> /run/klab-modprobe.missing
exit 1
EOF_MP
chmod 0755 /run/klab-modprobe && echo /run/klab-modprobe > /proc/sys/kernel/modprobe
MODPROBE
  echo "modprobe -q virtio_rng 2>/dev/null"
  [ -z "$MODULES" ] || printf 'modprobe -a %s || echo "klab: modprobe %s failed"\n' "$MODULES" "$MODULES"
  printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
  echo 'read -r up _ < /proc/uptime; echo "klab: command starts at ${up}s"; echo "$up" > /run/klab/started'
  echo '( . /run/klab/cmd ) </dev/null >/dev/klab.stdout 2>/dev/klab.stderr'
  echo 'echo $? > /run/klab/rc.part; mv /run/klab/rc.part /run/klab/rc'
  echo 'read -r up _ < /proc/uptime; echo "klab: command done at ${up}s"'
  echo 'sync; echo o > /proc/sysrq-trigger; sleep 30'
} > "$RUN/stage2"

BIOS=()
[ -e /usr/share/qemu/qboot.rom ] && BIOS=(-bios /usr/share/qemu/qboot.rom)   # faster than SeaBIOS

# boot ACCEL: one VM run. Guest stdout/stderr arrive through FIFOs that we relay.
boot() {
  local accel=$1 cpu=max rc=0 relay_out relay_err qsub watchdog=
  [ "$accel" = kvm ] && cpu=host
  rm -f "$RUN/stdout" "$RUN/stderr" "$RUN/started" "$RUN/qemu.pid"
  mkfifo "$RUN/stdout" "$RUN/stderr"
  cat "$RUN/stdout" & relay_out=$!
  cat "$RUN/stderr" >&2 & relay_err=$!
  (
    exec </dev/null 2>>"$RUN/qemu.log"
    timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp "$SMP" -m "$MEM" \
      -M pc "${BIOS[@]}" -nodefaults -no-user-config -display none -no-reboot \
      -kernel "$KERNEL" -initrd "$INITRD" -serial "file:$RUN/console.log" \
      -append "console=ttyS0 quiet panic=-1 acpi=noirq cryptomgr.notests klab_share=$SHARE ${KLAB_APPEND:-}" \
      -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
      -virtfs local,path="$RUN",mount_tag=klabctl,security_model=none \
      -virtfs local,path="$SHARE",mount_tag=klabshare,security_model=none \
      -device virtio-rng-pci \
      -device virtio-serial-pci \
      -chardev file,id=out,path="$RUN/stdout" -device virtserialport,chardev=out,name=klab.stdout \
      -chardev file,id=err,path="$RUN/stderr" -device virtserialport,chardev=err,name=klab.stderr &
    echo $! > "$RUN/qemu.pid"
    wait $!
  ) & qsub=$!
  if [ "$accel" = kvm ]; then
    # A KVM guest that does not reach CMD in time is stuck (e.g. nested or PVM KVM): kill it.
    ( for _ in $(seq $((${KLAB_KVM_WAIT:-30} * 10))); do [ -e "$RUN/started" ] && exit 0; sleep 0.1; done
      echo "kernel-lab: KVM guest did not reach CMD in ${KLAB_KVM_WAIT:-30}s" >> "$RUN/qemu.log"
      kill "$(cat "$RUN/qemu.pid")" 2>/dev/null ) & watchdog=$!
  fi
  wait $qsub || rc=$?
  [ -z "$watchdog" ] || kill $watchdog 2>/dev/null || true
  # If qemu never opened the FIFOs, the relays still wait for a writer: open and close them.
  : 1<>"$RUN/stdout"; : 1<>"$RUN/stderr"
  wait $relay_out $relay_err || true
  return $rc
}

if [ "$ACCEL" = auto ]; then
  ACCEL=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; fi
fi
T0=$(date +%s.%N) QRC=0
boot "$ACCEL" || QRC=$?
if [ "$ACCEL" = kvm ] && [ ! -e "$RUN/started" ] && [ $QRC -ne 124 ]; then
  note "KVM failed ($(grep -m1 . "$RUN/qemu.log" | cut -c1-120)); retrying with TCG"
  mv "$RUN/console.log" "$RUN/console-kvm.log" 2>/dev/null || true
  ACCEL=tcg T0=$(date +%s.%N) QRC=0
  boot tcg || QRC=$?
fi
T1=$(date +%s.%N)

if [ -e "$RUN/rc" ]; then RC=$(cat "$RUN/rc")
elif [ $QRC -eq 124 ]; then RC=124
else RC=125
fi
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
BOOT=n/a
[ -e "$RUN/started" ] && BOOT=$(secs "$(stat -c %.3Y "$RUN/started")" "$T0")s
note "kernel=$KVER accel=$ACCEL boot=$BOOT total=$(secs "$T1" "$T0")s rc=$RC log=$RUN"
if [ ! -e "$RUN/rc" ]; then
  [ $RC -eq 124 ] && note "timeout after ${TIMEOUT}s"
  note "no exit status from the guest; last console lines:"
  tail -n 20 "$RUN/console.log" "$RUN/qemu.log" >&2 2>/dev/null || true
fi
exit "$RC"
