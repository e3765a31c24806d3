#!/usr/bin/env bash
# Install (or uninstall) Phone Locker on Raspberry Pi OS Bookworm.
# Run `systemd/install.sh --help` for the options. Safe to run again: it
# upgrades the program and the units but never touches an existing
# config.toml, secret key or database.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: install.sh [OPTIONS]
       install.sh --uninstall [--purge-data] [OPTIONS]

Install Phone Locker: system users (a sysusers.d file applied with
systemd-sysusers), a virtual environment in /opt/phonelocker/venv,
/etc/phonelocker and /var/lib/phonelocker (a tmpfiles.d file applied with
systemd-tmpfiles), /etc/phonelocker/config.toml (from the commented example,
never overwriting an existing one), a random secret key, database
migrations, the systemd units, the udev rule for the USB NFC readers and the
modprobe blacklist for the kernel NFC drivers.

It never follows a symbolic link in /var/lib/phonelocker: if that directory,
or anything directly in it (backups, phonelocker.db, its -wal or -shm file),
is a link, it stops before changing anything.

Options:
  --root DIR      Install into the tree DIR instead of /. Files and modes are
                  written as usual, but nothing touches the running system:
                  no systemd-sysusers (no users or groups), no
                  systemd-tmpfiles (the directories get their modes but not
                  their owners), no chown, no migrations, no systemctl,
                  udevadm or modprobe. Each skipped step is
                  printed as "skipped (--root): ...". Meant for tests and
                  for staging a tree.
  --source DIR    The Phone Locker source tree (default: the parent of the
                  directory holding this script).
  --no-venv       Do not create /opt/phonelocker/venv or pip install the
                  source (the migrations are skipped if there is no venv).
  --no-start      Enable the units but do not start or restart them.
  --uninstall     Stop and remove the units, rules, the sysusers.d and
                  tmpfiles.d files and the venv. The data
                  (/var/lib/phonelocker), the config and secret key
                  (/etc/phonelocker) and the users are kept...
  --purge-data    ...unless this is given too: then they are deleted as well.
  -h, --help      Show this help and exit.

Environment:
  PYTHON          The interpreter for the venv (default /usr/bin/python3,
                  Debian's, whose python3-lgpio the venv can see). It must be
                  usable by the phonelocker users: not one under /root.
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

# --- options ---------------------------------------------------------------

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=""
SOURCE=$(dirname -- "$script_dir")
MAKE_VENV=1
START=1
UNINSTALL=0
PURGE=0

while (($# > 0)); do
    case "$1" in
        --root)
            [[ $# -ge 2 && -n "$2" ]] || die "--root needs a directory"
            ROOT=$2
            shift 2
            ;;
        --root=*)
            ROOT=${1#--root=}
            shift
            ;;
        --source)
            [[ $# -ge 2 && -n "$2" ]] || die "--source needs a directory"
            SOURCE=$2
            shift 2
            ;;
        --source=*)
            SOURCE=${1#--source=}
            shift
            ;;
        --no-venv)
            MAKE_VENV=0
            shift
            ;;
        --no-start)
            START=0
            shift
            ;;
        --uninstall)
            UNINSTALL=1
            shift
            ;;
        --purge-data)
            PURGE=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown option: $1"
            ;;
    esac
done

if ((PURGE && !UNINSTALL)); then
    die "--purge-data only goes with --uninstall"
fi

if [[ -n "$ROOT" ]]; then
    mkdir -p -- "$ROOT"
    ROOT=$(cd -- "$ROOT" && pwd)
    if [[ "$ROOT" == / ]]; then
        ROOT=""
    fi
fi
HOST=1 # 1: act on the running system; 0: --root, only write files
if [[ -n "$ROOT" ]]; then
    HOST=0
fi

if ((HOST)) && ((EUID != 0)); then
    die "run me as root (sudo $0 ...), or use --root DIR"
fi

# Files and directories are created 0755/0644 unless a mode is given.
umask 022

# --- layout ------------------------------------------------------------------

# The users and groups themselves are in systemd/phonelocker.sysusers.
KIOSK_USER=phonelocker
WEB_USER="phonelocker-web"

PYTHON=${PYTHON:-/usr/bin/python3}
OPT_DIR=/opt/phonelocker
VENV=$OPT_DIR/venv
CONF_DIR=/etc/phonelocker
CONFIG=$CONF_DIR/config.toml
SECRET=$CONF_DIR/secret_key
DATA_DIR=/var/lib/phonelocker
UNIT_DIR=/etc/systemd/system
UDEV_RULE=/etc/udev/rules.d/60-phonelocker-nfc.rules
MODPROBE_CONF=/etc/modprobe.d/phonelocker-nfc-blacklist.conf
SYSUSERS_CONF=/etc/sysusers.d/phonelocker.conf
TMPFILES_CONF=/etc/tmpfiles.d/phonelocker.conf
UNITS=(
    phonelocker-kiosk.service
    phonelocker-web.service
    phonelocker-maintenance.service
    phonelocker-maintenance.timer
    phonelocker-notify.service
    phonelocker-notify.timer
)
ENABLE=(phonelocker-kiosk.service phonelocker-web.service phonelocker-maintenance.timer
        phonelocker-notify.timer)
# The kernel modules blacklisted by phonelocker-nfc-blacklist.conf, in unload order.
NFC_MODULES=(pn533_usb port100 pn533 nfc)
START_FAILED=()

# --- helpers -----------------------------------------------------------------

# host CMD...: run CMD against the running system, or only print it under --root.
host() {
    if ((HOST)); then
        "$@"
    else
        skipped "$@"
    fi
}

# skipped CMD...: say that CMD was not run because of --root (quoted for a shell).
skipped() {
    local arg line="" quote="'" escaped="'\\''"
    for arg in "$@"; do
        if [[ "$arg" =~ ^[][A-Za-z0-9_./:=,+@%{}-]+$ ]]; then
            line+=" $arg"
        else
            line+=" '${arg//$quote/$escaped}'"
        fi
    done
    say "skipped (--root):$line"
}

# own OWNER:GROUP PATH: chown on the running system (the accounts do not exist
# in a --root tree, so there the ownership is only printed).
own() {
    host chown -- "$1" "$2"
}

# put SRC DEST MODE: copy SRC to $ROOT/DEST unless it is already identical;
# sets the mode either way. Prints and returns 0 when DEST changed, 1 if not.
put() {
    local src=$1 dest=$ROOT$2 mode=$3
    [[ -f "$src" ]] || die "missing $src (is --source right?)"
    mkdir -p -- "$(dirname -- "$dest")"
    if [[ -f "$dest" ]] && cmp -s -- "$src" "$dest"; then
        chmod -- "$mode" "$dest"
        return 1
    fi
    install -m "$mode" -- "$src" "$dest"
    say "installed $2"
    return 0
}

# remove PATH...: delete $ROOT/PATH (files or trees) if present.
remove() {
    local path
    for path in "$@"; do
        [[ "$path" == /?* ]] || die "refusing to remove '$path'"
        if [[ -e "$ROOT$path" || -L "$ROOT$path" ]]; then
            rm -rf -- "$ROOT$path"
            say "removed $path"
        fi
    done
}

# The example config shipped inside the installed package, else in the source tree.
find_example_config() {
    local candidate
    if [[ -x "$ROOT$VENV/bin/python" ]]; then
        candidate=$("$ROOT$VENV/bin/python" -c \
            'import kiosk, pathlib; print(pathlib.Path(kiosk.__file__).with_name("example-config.toml"))' \
            2>/dev/null) || candidate=""
        if [[ -n "$candidate" && -f "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    fi
    candidate=$SOURCE/kiosk/example-config.toml
    if [[ -f "$candidate" ]]; then
        printf '%s\n' "$candidate"
        return 0
    fi
    return 1
}

# The config written when no example config can be found: only the paths that
# must differ from the built-in defaults on an installed system.
write_minimal_config() {
    cat <<EOF
# Phone Locker configuration, written by systemd/install.sh because the
# commented example (kiosk/example-config.toml) was not found. Every other key
# keeps its built-in default; see the example in the source tree for them all.

[database]
url = "sqlite:///$DATA_DIR/phonelocker.db"

[web]
# The dashboard listens here (phonelocker-web.service reads these).
host = "127.0.0.1"
port = 8080
secret_key_file = "$SECRET"
EOF
}

# Warn when the config does not point the web at the key file written here.
check_config_paths() {
    local python=python3 key
    if [[ -x "$ROOT$VENV/bin/python" ]]; then
        python=$ROOT$VENV/bin/python
    elif [[ -x "$PYTHON" ]]; then
        python=$PYTHON
    fi
    key=$("$python" - "$ROOT$CONFIG" <<'EOF' 2>/dev/null
import sys
import tomllib

with open(sys.argv[1], "rb") as file:
    data = tomllib.load(file)
print(data.get("web", {}).get("secret_key_file", ""))
EOF
    ) || return 0
    if [[ "$key" != "$SECRET" ]]; then
        warn "$CONFIG: [web] secret_key_file is '${key:-(not set)}', not '$SECRET';" \
            "the dashboard will not find the key written by this installer"
    fi
}

# --- install -------------------------------------------------------------------

# The users and groups, from systemd/phonelocker.sysusers: systemd-sysusers
# creates whichever is missing and adds the group memberships, and leaves
# existing accounts (e.g. made by an older installer with useradd) alone.
create_accounts() {
    put "$SOURCE/systemd/phonelocker.sysusers" "$SYSUSERS_CONF" 0644 || true
    if ((HOST)); then
        command -v systemd-sysusers >/dev/null ||
            die "systemd-sysusers not found (it comes with systemd 246 or later: apt install systemd)"
        systemd-sysusers -- "$SYSUSERS_CONF" ||
            die "systemd-sysusers could not create the users in $SYSUSERS_CONF (see above)"
    else
        skipped systemd-sysusers "$SYSUSERS_CONF"
    fi
}

create_venv() {
    if ((!MAKE_VENV)); then
        say "--no-venv: not creating $VENV"
        return 0
    fi
    [[ -x "$PYTHON" ]] || die "no $PYTHON (apt install python3 python3-venv, or set PYTHON=)"
    mkdir -p -- "$ROOT$OPT_DIR"
    if [[ ! -x "$ROOT$VENV/bin/python" ]]; then
        # --system-site-packages: Raspberry Pi OS ships lgpio (the GPIO
        # library behind gpiozero's lgpio pin factory) as python3-lgpio.
        "$PYTHON" -m venv --system-site-packages -- "$ROOT$VENV"
        say "created $VENV with $PYTHON"
    fi
    "$ROOT$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$ROOT$VENV/bin/python" -m pip install --quiet --upgrade -- "$SOURCE"
    say "installed $SOURCE into $VENV"
    if ! "$ROOT$VENV/bin/python" -c 'import lgpio' 2>/dev/null; then
        warn "the lgpio module is missing: apt install python3-lgpio (needed for real GPIO)"
    fi
}

create_config() {
    local example tmp
    # $CONF_DIR itself comes from create_directories.
    if [[ -e "$ROOT$CONFIG" ]]; then
        say "kept the existing $CONFIG"
    else
        tmp=$(mktemp -- "$ROOT$CONF_DIR/.config.toml.XXXXXX")
        if example=$(find_example_config); then
            cat -- "$example" >"$tmp"
            say "wrote $CONFIG from $example"
        else
            write_minimal_config >"$tmp"
            warn "no example-config.toml found; wrote a minimal $CONFIG"
        fi
        chmod 0640 -- "$tmp"
        mv -- "$tmp" "$ROOT$CONFIG"
    fi
    # root:phonelocker 0640: both services read it (phonelocker-web is in
    # group phonelocker); neither can change it.
    chmod 0640 -- "$ROOT$CONFIG"
    own "root:$KIOSK_USER" "$ROOT$CONFIG"
    check_config_paths
}

create_secret() {
    local tmp
    if [[ -s "$ROOT$SECRET" ]]; then
        say "kept the existing $SECRET"
    else
        tmp=$(mktemp -- "$ROOT$CONF_DIR/.secret_key.XXXXXX")
        chmod 0600 -- "$tmp"
        # 32 random bytes as 64 hex digits, no newline.
        od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp"
        mv -- "$tmp" "$ROOT$SECRET"
        say "wrote a new random $SECRET"
    fi
    # Only the dashboard signs sessions with it.
    chmod 0600 -- "$ROOT$SECRET"
    own "$WEB_USER:$WEB_USER" "$ROOT$SECRET"
}

# refuse_links: stop, before anything is changed, if the data directory or
# anything directly in it is a symbolic link. The directory belongs to the
# kiosk user, so a link there (say backups -> /etc, or phonelocker.db ->
# /etc/shadow) could otherwise make this script, running as root, change the
# owner or mode of a file elsewhere. Nothing the program writes is a link.
refuse_links() {
    local dir=$ROOT$DATA_DIR path found=()
    if [[ -L "$dir" ]]; then
        found+=("$DATA_DIR -> $(readlink -- "$dir")")
    elif [[ -d "$dir" ]]; then
        while IFS= read -r -d '' path; do
            found+=("${path#"$ROOT"} -> $(readlink -- "$path")")
        done < <(find -P "$dir" -mindepth 1 -maxdepth 1 -type l -print0)
    fi
    if ((${#found[@]} > 0)); then
        printf 'install.sh: error: symbolic link in the data directory: %s\n' "${found[@]}" >&2
        die "refusing to go on: the installer runs as root and never follows a link in" \
            "$DATA_DIR. Nothing was changed. Put the real directory or file in its" \
            "place (or remove the link), then run it again."
    fi
}

# The directories, from systemd/phonelocker.tmpfiles: systemd-tmpfiles creates
# them and sets their owners and modes through file descriptors opened without
# following links, and refuses a link in their place. Under --root, where the
# accounts do not exist, the same lines give the modes (and the owners are only
# printed); refuse_links has already made sure that none of them is a link.
create_directories() {
    local type path mode user group _
    put "$SOURCE/systemd/phonelocker.tmpfiles" "$TMPFILES_CONF" 0644 || true
    if ((HOST)); then
        command -v systemd-tmpfiles >/dev/null ||
            die "systemd-tmpfiles not found (apt install systemd)"
        # It refuses (and reports above) e.g. a folder of another owner planted
        # in the phonelocker-owned data directory.
        systemd-tmpfiles --create -- "$TMPFILES_CONF" ||
            die "systemd-tmpfiles could not set up the folders in $TMPFILES_CONF (see above)"
        return 0
    fi
    skipped systemd-tmpfiles --create "$TMPFILES_CONF"
    while read -r type path mode user group _; do
        [[ "$type" == d ]] || continue
        [[ ! -L "$ROOT$path" ]] || die "$path is a symbolic link"
        mkdir -p -- "$ROOT$path"
        chmod -- "$mode" "$ROOT$path"
        own "$user:$group" "$ROOT$path"
    done < <(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -- "$ROOT$TMPFILES_CONF")
}

# The SQLite file the config names (absolute; relative paths are relative to
# the services' WorkingDirectory), or nothing for another database.
sqlite_database() {
    "$VENV/bin/python" - "$CONFIG" "$DATA_DIR" <<'EOF'
import os
import sys

from kiosk.config import load_config
from kiosk.store.db import sqlite_file

path = sqlite_file(load_config(sys.argv[1]).database.url)
if path is not None:
    print(os.path.join(sys.argv[2], path))
EOF
}

migrate() {
    local phonelocker=$VENV/bin/phonelocker database file
    if ((!HOST)); then
        skipped runuser -u "$KIOSK_USER" -- "$phonelocker" --config "$CONFIG" db upgrade
        return 0
    fi
    if [[ ! -x "$phonelocker" ]]; then
        warn "no $phonelocker: not running the migrations (run install.sh without --no-venv)"
        return 0
    fi
    database=$(sqlite_database) || die "cannot read $CONFIG (see the error above)"
    # Inside the data directory root creates and changes nothing itself: the
    # kiosk user (who owns it) does, so even a link planted there could only
    # lead to files that user may change anyway.
    if [[ -n "$database" ]]; then
        for file in "$database" "$database-wal" "$database-shm"; do
            if [[ -L "$file" ]]; then
                die "$file is a symbolic link; refusing to migrate (nothing was changed" \
                    "in $DATA_DIR). Put the real database there, or point [database] url at it."
            fi
        done
        if [[ "$database" != "$DATA_DIR"/* ]]; then
            warn "$CONFIG: the SQLite database $database is outside $DATA_DIR," \
                "where the hardened services cannot write"
        elif [[ ! -e "$database" ]]; then
            # SQLite creates new files 0644 (less the umask), whatever the
            # umask allows; the dashboard needs group write for the WAL, so
            # create the (empty, hence valid) database file 0660 first. The
            # setgid data directory gives it group phonelocker.
            if [[ ! -d "$(dirname -- "$database")" ]]; then
                runuser -u "$KIOSK_USER" -- install -d -m 2770 -- "$(dirname -- "$database")"
            fi
            runuser -u "$KIOSK_USER" -- install -m 0660 -- /dev/null "$database"
        fi
    fi
    # As the kiosk user, in the data directory and with the services' umask.
    (
        cd -- "$DATA_DIR"
        umask 0007
        runuser -u "$KIOSK_USER" -- "$phonelocker" --config "$CONFIG" db upgrade
    )
    say "database migrated"
    if [[ "$database" == "$DATA_DIR"/* ]]; then
        # -wal and -shm take the database file's mode; mend an older install
        # (as the kiosk user, for the reason above).
        for file in "$database" "$database-wal" "$database-shm"; do
            if [[ -f "$file" && ! -L "$file" ]]; then
                runuser -u "$KIOSK_USER" -- chmod 0660 -- "$file" ||
                    warn "could not make $file group-writable (chmod 0660 it as its owner)"
            fi
        done
    fi
}

install_system_files() {
    local unit udev_changed=0
    for unit in "${UNITS[@]}"; do
        put "$SOURCE/systemd/$unit" "$UNIT_DIR/$unit" 0644 || true
    done
    if put "$SOURCE/systemd/60-phonelocker-nfc.rules" "$UDEV_RULE" 0644; then udev_changed=1; fi
    put "$SOURCE/systemd/phonelocker-nfc-blacklist.conf" "$MODPROBE_CONF" 0644 || true

    # Unload the kernel NFC drivers now, so that nfcpy can claim a plugged-in
    # reader without a reboot (they may well not be loaded: ignore failures).
    if ((HOST)); then
        modprobe -r "${NFC_MODULES[@]}" 2>/dev/null || true
    else
        skipped modprobe -r "${NFC_MODULES[@]}"
    fi
    if ((udev_changed)) && ((HOST)); then
        # No udevd in a container or chroot: that is not worth failing for.
        if udevadm control --reload-rules; then
            udevadm trigger --subsystem-match=usb --action=add || true
        else
            warn "udevadm could not reload the rules; re-plug the reader or reboot"
        fi
    elif ! ((HOST)); then
        skipped udevadm control --reload-rules
        skipped udevadm trigger --subsystem-match=usb --action=add
    fi
    host systemctl daemon-reload
    host systemctl enable "${ENABLE[@]}"
    if ((START)); then
        local service action
        for service in "${ENABLE[@]}"; do
            # restart picks up a new version; start covers a first install.
            action=start
            if ((HOST)) && systemctl is-active --quiet "$service"; then
                action=restart
            fi
            if ! host systemctl "$action" "$service"; then
                # Keep going: the other units should still start.
                warn "$service did not start: see journalctl -u $service"
                START_FAILED+=("$service")
            fi
        done
    fi
}

do_install() {
    [[ -d "$SOURCE/systemd" ]] || die "$SOURCE does not look like the Phone Locker source (no systemd/)"
    SOURCE=$(cd -- "$SOURCE" && pwd)
    say "installing from $SOURCE into ${ROOT:-/}"
    refuse_links
    create_accounts
    create_directories
    create_venv
    create_config
    create_secret
    migrate
    install_system_files
    if ((${#START_FAILED[@]} > 0)); then
        die "installed, but ${START_FAILED[*]} failed to start (check $CONFIG and the" \
            "journal, then: systemctl restart ${START_FAILED[*]})"
    fi
    say "done. Edit $CONFIG, then: systemctl restart phonelocker-kiosk phonelocker-web"
}

# --- uninstall -------------------------------------------------------------------

do_uninstall() {
    local unit
    say "uninstalling from ${ROOT:-/}"
    if ((HOST)); then
        systemctl disable --now "${ENABLE[@]}" 2>/dev/null || true
        systemctl stop phonelocker-maintenance.service 2>/dev/null || true
    else
        skipped systemctl disable --now "${ENABLE[@]}"
    fi
    for unit in "${UNITS[@]}"; do
        remove "$UNIT_DIR/$unit"
    done
    # Without them systemd neither recreates the users nor the directories at
    # boot; the users and directories themselves stay (unless --purge-data).
    remove "$UDEV_RULE" "$MODPROBE_CONF" "$SYSUSERS_CONF" "$TMPFILES_CONF" "$OPT_DIR"
    host systemctl daemon-reload
    if ((HOST)); then
        systemctl reset-failed 2>/dev/null || true
        udevadm control --reload-rules 2>/dev/null || true
    else
        skipped systemctl reset-failed
        skipped udevadm control --reload-rules
    fi
    if ((PURGE)); then
        # rm -rf deletes a symbolic link itself, never what it points to, and
        # does not descend through one: a link planted in $DATA_DIR (or in
        # place of it) leaves its target alone.
        remove "$CONF_DIR" "$DATA_DIR"
        if ((!HOST)) || getent passwd "$WEB_USER" >/dev/null; then
            host userdel "$WEB_USER"
        fi
        if ((!HOST)) || getent passwd "$KIOSK_USER" >/dev/null; then
            host userdel "$KIOSK_USER"
        fi
        if ((!HOST)) || getent group "$KIOSK_USER" >/dev/null; then
            host groupdel "$KIOSK_USER"
        fi
    else
        say "kept $CONF_DIR, $DATA_DIR and the users $KIOSK_USER, $WEB_USER" \
            "(--purge-data deletes them)"
    fi
    say "done"
}

if ((UNINSTALL)); then
    do_uninstall
else
    do_install
fi
