#!/bin/sh
# Before removal (deb: prerm remove, rpm: %preun with $1 = 0). On upgrade
# (deb: prerm upgrade, rpm: $1 = 1) the service keeps running; postinstall
# restarts it.
set -e
case "$1" in
remove | 0)
	systemctl disable httpbox.socket httpbox.service >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		systemctl stop httpbox.socket httpbox.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
