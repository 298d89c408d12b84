#!/bin/sh
# A manifest of the host's state that a check-mode run must leave alone: every file
# outside the volatile trees (path, type, mode, owner, size, mtime, link target), the
# accounts, the loaded nftables ruleset, unit enablement and the services' states.
set -eu
find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp \
  -o -path /var/log -o -path /var/cache -o -path /var/lib/systemd -o -path /var/lib/apt/lists \
  -o -path /root/.ansible \) -prune -o -printf '%p %y %m %U:%G %s %T@ %l\n' | sort
echo "## accounts"
getent passwd | sort
getent group | sort
echo "## nftables"
if command -v nft >/dev/null 2>&1; then nft list ruleset; fi
echo "## unit files"
systemctl list-unit-files --no-legend --no-pager | awk '{print $1, $2}' | sort
echo "## services"
for unit in ssh nftables fail2ban docker systemd-timesyncd unattended-upgrades; do
  echo "$unit $(systemctl is-active "$unit" 2>/dev/null || true)"
done
