#!/bin/sh
# After install or upgrade (deb: postinst configure, rpm: %post).
# Nothing is enabled or started here: `systemctl enable --now httpbox` is the
# admin's choice. On upgrade, a running httpbox is restarted on the new binary.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl try-restart httpbox.service >/dev/null 2>&1 || true
fi
exit 0
