# Helpers of nubo's recipe scripts (POSIX sh). Every step runs in a
# subshell under `set -e`; a helper records the step's outcome in
# "$nubo_tmp/outcome" (empty means changed). nubo_main, at the end of the
# script, sets nubo_tmp.
# shellcheck disable=SC2154

nubo_changed() { echo changed >"$nubo_tmp/outcome"; }
nubo_ok() { if [ ! -s "$nubo_tmp/outcome" ]; then echo ok >"$nubo_tmp/outcome"; fi; }
nubo_skip() { echo skipped >"$nubo_tmp/outcome"; }

# nubo_run NUMBER LABEL FUNCTION: runs one step between its markers; stops
# the script with the step's status when it fails.
nubo_run() {
	printf '::nubo-step %s %s\n' "$1" "$2"
	: >"$nubo_tmp/outcome"
	(
		set -e
		"$3"
	) </dev/null
	nubo_st=$?
	if [ "$nubo_st" -ne 0 ]; then
		printf '::nubo-result %s failed %s\n' "$1" "$nubo_st"
		exit "$nubo_st"
	fi
	# read, a builtin: no process for each step (an empty file leaves it empty)
	nubo_o=
	read -r nubo_o <"$nubo_tmp/outcome" || :
	printf '::nubo-result %s %s\n' "$1" "${nubo_o:-changed}"
}

# nubo_skipped NUMBER LABEL: a step whose `when` was false.
nubo_skipped() {
	printf '::nubo-step %s %s\n' "$1" "$2"
	printf '::nubo-result %s skipped\n' "$1"
}

# nubo_attrs PATH MODE OWNER GROUP: sets what is given and differs.
nubo_attrs() {
	if [ -n "$2" ] && [ "$(stat -c %a "$1")" != "$2" ]; then
		chmod "$2" "$1"
		nubo_changed
	fi
	if [ -n "$3" ]; then
		case $3 in *[!0-9]*) nubo_f=%U ;; *) nubo_f=%u ;; esac
		if [ "$(stat -c "$nubo_f" "$1")" != "$3" ]; then
			chown "$3" "$1"
			nubo_changed
		fi
	fi
	if [ -n "$4" ]; then
		case $4 in *[!0-9]*) nubo_f=%G ;; *) nubo_f=%g ;; esac
		if [ "$(stat -c "$nubo_f" "$1")" != "$4" ]; then
			chgrp "$4" "$1"
			nubo_changed
		fi
	fi
	nubo_ok
}

# nubo_file PATH MODE OWNER GROUP: puts "$nubo_tmp/new" at PATH when the
# bytes differ (creating parent directories), then the attributes.
nubo_file() {
	if [ -f "$1" ] && cmp -s "$nubo_tmp/new" "$1"; then
		nubo_ok
	else
		nubo_d=${1%/*}
		if [ -n "$nubo_d" ]; then mkdir -p "$nubo_d"; fi
		if [ -L "$1" ] || [ ! -f "$1" ]; then
			cat "$nubo_tmp/new" >"$1"
		else
			# Replaced whole, by a rename, so no reader ever sees the file
			# empty or half written (/etc/hosts, which daemons read at any
			# time); the copy keeps its mode and owner.
			cp -p "$1" "$1.nubo-new"
			cat "$nubo_tmp/new" >"$1.nubo-new"
			mv -f "$1.nubo-new" "$1"
		fi
		nubo_changed
	fi
	nubo_attrs "$1" "$2" "$3" "$4"
}

# nubo_line PATH, with NUBO_LINE and NUBO_RE (an ERE, may be empty) in the
# environment: replaces the last line matching NUBO_RE by NUBO_LINE, or
# appends NUBO_LINE when no line matches and it is not there yet.
nubo_line() {
	if [ -f "$1" ]; then
		awk 'BEGIN { want = ENVIRON["NUBO_LINE"]; re = ENVIRON["NUBO_RE"]; last = 0; found = 0 }
			{ line[NR] = $0; if (re != "" && $0 ~ re) last = NR; if ($0 == want) found = 1 }
			END {
				if (last) line[last] = want
				for (i = 1; i <= NR; i++) print line[i]
				if (!last && !found) print want
			}' "$1" >"$nubo_tmp/new"
	else
		printf '%s\n' "$NUBO_LINE" >"$nubo_tmp/new"
	fi
	nubo_file "$1" "" "" ""
}

# nubo_installed NAME: whether the package is installed.
nubo_installed() {
	if command -v dpkg-query >/dev/null 2>&1; then
		[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
	elif command -v rpm >/dev/null 2>&1; then
		rpm -q "$1" >/dev/null 2>&1
	elif command -v apk >/dev/null 2>&1; then
		apk info -e "$1" >/dev/null 2>&1
	else
		return 1
	fi
}

# nubo_package NAME...: installs the ones that are missing; runs no package
# manager at all when none is.
nubo_package() {
	nubo_missing=
	for nubo_p in "$@"; do
		if ! nubo_installed "$nubo_p"; then nubo_missing="$nubo_missing $nubo_p"; fi
	done
	if [ -z "$nubo_missing" ]; then
		nubo_ok
		return 0
	fi
	if command -v apt-get >/dev/null 2>&1; then
		# shellcheck disable=SC2086 # names are checked words
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y $nubo_missing; then
			DEBIAN_FRONTEND=noninteractive apt-get update
			DEBIAN_FRONTEND=noninteractive apt-get install -y $nubo_missing
		fi
	elif command -v dnf >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		dnf install -y $nubo_missing
	elif command -v yum >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		yum install -y $nubo_missing
	elif command -v apk >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		apk add $nubo_missing
	else
		echo "nubo: cannot install$nubo_missing: no apt-get, dnf, yum or apk here" >&2
		return 1
	fi
	nubo_changed
}

# nubo_sysv NAME ACTION: a service action without systemd.
nubo_sysv() {
	if command -v service >/dev/null 2>&1; then
		service "$1" "$2"
	elif [ -x "/etc/init.d/$1" ]; then
		"/etc/init.d/$1" "$2"
	else
		echo "nubo: cannot manage service $1: no systemd, no service command, no /etc/init.d/$1" >&2
		return 1
	fi
}

# nubo_sysv_enable NAME yes|no: boot-time start without systemd.
nubo_sysv_enable() {
	if command -v update-rc.d >/dev/null 2>&1; then
		if ls /etc/rc[2345].d/S[0-9][0-9]"$1" >/dev/null 2>&1; then nubo_e=yes; else nubo_e=no; fi
		if [ "$nubo_e" != "$2" ]; then
			if [ "$2" = yes ]; then
				update-rc.d "$1" defaults
				update-rc.d "$1" enable
			else
				update-rc.d "$1" disable
			fi
			nubo_changed
		fi
	elif command -v chkconfig >/dev/null 2>&1; then
		if chkconfig "$1" >/dev/null 2>&1; then nubo_e=yes; else nubo_e=no; fi
		if [ "$nubo_e" != "$2" ]; then
			if [ "$2" = yes ]; then chkconfig "$1" on; else chkconfig "$1" off; fi
			nubo_changed
		fi
	elif command -v rc-update >/dev/null 2>&1; then
		if rc-update show default 2>/dev/null | grep -q "^ *$1 "; then nubo_e=yes; else nubo_e=no; fi
		if [ "$nubo_e" != "$2" ]; then
			if [ "$2" = yes ]; then rc-update add "$1" default; else rc-update del "$1" default; fi
			nubo_changed
		fi
	else
		echo "nubo: no init system to enable or disable $1 at boot; left as it is" >&2
	fi
}

# nubo_service NAME STATE ENABLED: STATE is started, stopped, restarted or
# empty; ENABLED is yes, no or empty.
nubo_service() {
	if [ -d /run/systemd/system ]; then
		if [ -n "$3" ]; then
			if systemctl is-enabled --quiet "$1" 2>/dev/null; then nubo_e=yes; else nubo_e=no; fi
			if [ "$nubo_e" != "$3" ]; then
				if [ "$3" = yes ]; then systemctl enable "$1"; else systemctl disable "$1"; fi
				nubo_changed
			fi
		fi
		case $2 in
		started)
			if ! systemctl is-active --quiet "$1"; then
				systemctl start "$1"
				nubo_changed
			fi
			;;
		stopped)
			if systemctl is-active --quiet "$1"; then
				systemctl stop "$1"
				nubo_changed
			fi
			;;
		restarted)
			systemctl restart "$1"
			nubo_changed
			;;
		esac
	else
		if [ -n "$3" ]; then nubo_sysv_enable "$1" "$3"; fi
		case $2 in
		started)
			if ! nubo_sysv "$1" status >/dev/null 2>&1; then
				nubo_sysv "$1" start
				nubo_changed
			fi
			;;
		stopped)
			if nubo_sysv "$1" status >/dev/null 2>&1; then
				nubo_sysv "$1" stop
				nubo_changed
			fi
			;;
		restarted)
			nubo_sysv "$1" restart
			nubo_changed
			;;
		esac
	fi
	nubo_ok
}

# nubo_alive PIDFILE: whether the pidfile names a live process (not a
# zombie waiting to be reaped).
nubo_alive() {
	[ -s "$1" ] || return 1
	nubo_pid=$(cat "$1")
	kill -0 "$nubo_pid" 2>/dev/null || return 1
	if [ -r "/proc/$nubo_pid/stat" ]; then
		case $(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$nubo_pid/stat") in Z | X) return 1 ;; esac
	fi
	return 0
}

# nubo_daemon NAME USER, with NUBO_CMD in the environment: keeps NUBO_CMD
# running detached, its pid in $NUBO_RUN_DIR/daemons/NAME.pid and its
# output in $NUBO_LOG_DIR/NAME.log (by default /run/nubo, /var/log/nubo).
nubo_daemon() {
	nubo_name=$1
	nubo_piddir=${NUBO_RUN_DIR:-/run/nubo}/daemons
	nubo_logdir=${NUBO_LOG_DIR:-/var/log/nubo}
	nubo_pidf=$nubo_piddir/$1.pid
	nubo_log=$nubo_logdir/$1.log
	if nubo_alive "$nubo_pidf"; then
		nubo_ok
		return 0
	fi
	mkdir -p "$nubo_piddir" "$nubo_logdir"
	rm -f "$nubo_pidf"
	if [ -n "$2" ]; then
		set -- su -s /bin/sh -c "$NUBO_CMD" "$2"
	else
		set -- sh -c "$NUBO_CMD"
	fi
	# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
	set -- nohup sh -c 'echo $$ >"$0"; exec "$@"' "$nubo_pidf" "$@"
	if command -v setsid >/dev/null 2>&1; then set -- setsid "$@"; fi
	# In a subshell that exits at once, so the daemon is nobody's child here.
	("$@" </dev/null >>"$nubo_log" 2>&1 &)
	sleep 1
	if nubo_alive "$nubo_pidf"; then
		echo "nubo: started $nubo_name (pid $(cat "$nubo_pidf")), log $nubo_log"
		nubo_changed
		return 0
	fi
	echo "nubo: daemon $nubo_name stopped at once; the end of $nubo_log:" >&2
	tail -n 20 "$nubo_log" >&2 || true
	return 1
}

# nubo_passwd USER FIELD: a field of the user's passwd entry.
nubo_passwd() {
	{ getent passwd "$1" 2>/dev/null || grep "^$1:" /etc/passwd; } | cut -d: -f"$2"
}

# nubo_user NAME SHELL HOME GROUPS(comma-separated), with the authorized
# keys one per line in "$nubo_tmp/keys".
nubo_user() {
	nubo_u=$1
	nubo_shell=$2
	nubo_home=$3
	nubo_groups=$4
	if id -u "$nubo_u" >/dev/null 2>&1; then
		if [ -n "$nubo_shell" ] && [ "$(nubo_passwd "$nubo_u" 7)" != "$nubo_shell" ]; then
			usermod -s "$nubo_shell" "$nubo_u"
			nubo_changed
		fi
		nubo_old_ifs=$IFS
		IFS=,
		for nubo_g in $nubo_groups; do
			IFS=$nubo_old_ifs
			if ! id -nG "$nubo_u" | tr ' ' '\n' | grep -qx "$nubo_g"; then
				usermod -a -G "$nubo_g" "$nubo_u"
				nubo_changed
			fi
		done
		IFS=$nubo_old_ifs
	else
		if command -v useradd >/dev/null 2>&1; then
			set -- -m
			if [ -n "$nubo_shell" ]; then set -- "$@" -s "$nubo_shell"; fi
			if [ -n "$nubo_home" ]; then set -- "$@" -d "$nubo_home"; fi
			if [ -n "$nubo_groups" ]; then set -- "$@" -G "$nubo_groups"; fi
			useradd "$@" "$nubo_u"
			# A new account's password is locked ("!"), and sshd refuses
			# key logins to locked accounts without PAM: "*" has no
			# password either, but is not locked.
			usermod -p '*' "$nubo_u"
		else
			set -- -D
			if [ -n "$nubo_shell" ]; then set -- "$@" -s "$nubo_shell"; fi
			if [ -n "$nubo_home" ]; then set -- "$@" -h "$nubo_home"; fi
			adduser "$@" "$nubo_u"
			nubo_old_ifs=$IFS
			IFS=,
			for nubo_g in $nubo_groups; do addgroup "$nubo_u" "$nubo_g"; done
			IFS=$nubo_old_ifs
		fi
		nubo_changed
	fi
	if [ -s "$nubo_tmp/keys" ]; then
		nubo_home=$(nubo_passwd "$nubo_u" 6)
		nubo_gid=$(id -g "$nubo_u")
		if [ ! -d "$nubo_home/.ssh" ]; then
			mkdir -p "$nubo_home/.ssh"
			chmod 700 "$nubo_home/.ssh"
			chown "$nubo_u:$nubo_gid" "$nubo_home/.ssh"
			nubo_changed
		fi
		nubo_ak=$nubo_home/.ssh/authorized_keys
		if [ ! -f "$nubo_ak" ]; then
			: >"$nubo_ak"
			chmod 600 "$nubo_ak"
			chown "$nubo_u:$nubo_gid" "$nubo_ak"
			nubo_changed
		fi
		while IFS= read -r nubo_k; do
			if ! grep -qxF -e "$nubo_k" "$nubo_ak"; then
				if [ -s "$nubo_ak" ] && [ -n "$(tail -c 1 "$nubo_ak")" ]; then echo >>"$nubo_ak"; fi
				printf '%s\n' "$nubo_k" >>"$nubo_ak"
				nubo_changed
			fi
		done <"$nubo_tmp/keys"
	fi
	nubo_ok
}
