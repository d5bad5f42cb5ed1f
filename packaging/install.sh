#!/usr/bin/env bash
# Install attnviewer's desktop integration: the desktop entry, the AppStream metainfo and the
# app icon (scalable SVG plus hicolor PNGs), so the app shows up in the application menu and
# software centres like any other Linux desktop app.
#
# Usage:
#   packaging/install.sh                     # per user, into ~/.local/share
#   PREFIX=/usr/local sudo -E packaging/install.sh   # system-wide, into /usr/local/share
#
# The `attnviewer` command itself comes from installing the Python package (pip install .);
# this script only installs the files around it. Running it again just overwrites the same files.
set -euo pipefail

APP_ID=io.github.attnviewer.AttnViewer
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
SHARE="$PREFIX/share"

install -Dm644 "$HERE/$APP_ID.desktop" "$SHARE/applications/$APP_ID.desktop"
install -Dm644 "$HERE/$APP_ID.metainfo.xml" "$SHARE/metainfo/$APP_ID.metainfo.xml"
install -Dm644 "$HERE/icons/$APP_ID.svg" "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
for png in "$HERE"/icons/hicolor/*/apps/"$APP_ID.png"; do
    size="$(basename "$(dirname "$(dirname "$png")")")"   # e.g. 48x48
    install -Dm644 "$png" "$SHARE/icons/hicolor/$size/apps/$APP_ID.png"
done

# Refresh the caches when the tools are there; a missing tool or cache is not an error.
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$SHARE/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$SHARE/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
fi

echo "installed $APP_ID into $SHARE"
