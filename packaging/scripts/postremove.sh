#!/bin/sh
# After removal or upgrade (deb: postrm, rpm: %postun): forget the old units.
# The served files in /var/lib/private/httpbox (/var/lib/httpbox) are kept.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
