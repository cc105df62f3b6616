#!/usr/bin/env bash
# A real OpenStack (Debian 12's packages, release Zed) on this machine, on
# loopback only, as the OpenStack provider's second test target.
#
#   scripts/openstack-test-cloud.sh start    install (once), configure, start, seed
#   scripts/openstack-test-cloud.sh status   which services run; exit 0 only if all do
#   scripts/openstack-test-cloud.sh stop     end every process, remove every file,
#                                            database and interface that start made
#   scripts/openstack-test-cloud.sh auth     print nubo's auth-file line
#                                            (`auth quota`: the quota test's project)
#
# Services: Keystone and Placement under uWSGI; Glance, Nova (API,
# conductor, scheduler, compute with compute_driver = fake.FakeDriver) and
# Neutron (server with ML2/linuxbridge, flat networks, the linuxbridge agent
# so that ports bind on this host) as their own eventlet daemons; RabbitMQ;
# a PostgreSQL cluster of its own (Debian's PostgreSQL 15, initdb'ed under
# the state directory, port 15432). Everything listens on 127.0.0.1.
#
# Everything start makes lives under $NUBO_OST_DIR (default
# /var/lib/nubo-openstack): configs, logs, pids, databases, images,
# RabbitMQ's node, clouds.yaml, the password. Outside it: two bridges
# (the linuxbridge agent's bridge_mappings: ostc-ext with 10.250.255.1/24
# for the external network, ostc-priv without an address for the private
# one, with an unreachable route for 10.250.254.0/24; the address and the
# route mark both /24s as used, so the local provider and the test clouds
# never pick them; test-cloud hosts behind Nova's servers are plugged into
# them, src/testcloud/nova.rs) and the installed packages. stop removes all but the packages (purging them is
# not needed for a clean restart; `apt-get purge` them by hand if wanted).
#
# nubo's auth line is printed at the end of start and by `auth`; the
# `openstack` client works with OS_CLIENT_CONFIG_FILE=$NUBO_OST_DIR/clouds.yaml
# and --os-cloud nubo (the project) or nubo-admin.
set -euo pipefail

DIR=${NUBO_OST_DIR:-/var/lib/nubo-openstack}
ETC=$DIR/etc
LOG=$DIR/log
RUN=$DIR/run
DONE=$DIR/done
HOSTNAME_C=ostc-compute
REGION=RegionOne

KS_PORT=15000
GLANCE_PORT=19292
PLACEMENT_PORT=18778
NOVA_PORT=18774
NEUTRON_PORT=19696
PG_PORT=15432
AMQP_PORT=15673
EPMD_PORT=14369

EXT_IF=ostc-ext
PRIV_IF=ostc-priv
EXT_NET=10.250.255
PRIV_NET=10.250.254

PG_BIN=/usr/lib/postgresql/15/bin
PACKAGES="keystone glance-api placement-api nova-api nova-conductor nova-scheduler
  neutron-server neutron-linuxbridge-agent rabbitmq-server python3-psycopg2
  python3-openstackclient uwsgi-plugin-python3"
SERVICES="postgres rabbitmq keystone glance placement nova-api nova-conductor
  nova-scheduler nova-compute neutron-server neutron-linuxbridge-agent"

say() { printf '%s openstack-test-cloud: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"

# ---------------------------------------------------------------- install
install_packages() {
    local missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    say "installing:$missing"
    # The packages' own questions: no database, RabbitMQ, Keystone
    # registration of their own (start configures all that itself).
    for p in keystone glance nova neutron placement; do
        for q in configure_db configure_rabbit configure_ksat register-endpoint \
            create-admin-tenant configure_nova; do
            echo "$p $p/$q boolean false"
        done
    done | debconf-set-selections
    # No service may start with the packages' default configs: without
    # systemd, invoke-rc.d asks policy-rc.d, ours (exit 101) for the time
    # of the install; a machine's own is put back after. (Stopping through
    # the init scripts instead would not do: rabbitmq-server's stop runs
    # rabbitmqctl, which leaves an epmd on 0.0.0.0:4369.)
    local saved=""
    if [ -e /usr/sbin/policy-rc.d ]; then
        saved="$DIR/policy-rc.d.saved"
        cp -p /usr/sbin/policy-rc.d "$saved"
    fi
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    local rc=0
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confold $PACKAGES >"$LOG/apt.log" 2>&1 || rc=$?
    if [ -n "$saved" ]; then
        mv "$saved" /usr/sbin/policy-rc.d
    else
        rm -f /usr/sbin/policy-rc.d
    fi
    [ "$rc" = 0 ] || { tail -20 "$LOG/apt.log" >&2; die "apt-get install failed (see $LOG/apt.log)"; }
    apt-get clean
}

# ---------------------------------------------------------------- helpers
# A service is found by its main process's command line, not only by the
# pid it was started with: the pid file is a cache, checked against the
# pattern and refreshed from the running processes (a pid file may name a
# process that is gone, or another process, while the service still runs).
# Each pattern matches that one process of ours only: not the machine's
# own RabbitMQ or PostgreSQL, not the services' workers (they retitle
# themselves or are younger: pgrep -o picks the oldest).
svc_pattern() {
    case $1 in
    postgres) echo "^$PG_BIN/postgres -D $DIR/pg\$" ;;
    rabbitmq) echo "/beam\.smp .* -home $DIR/rabbit " ;;
    keystone) echo "^uwsgi .*--http-socket 127\.0\.0\.1:$KS_PORT " ;;
    placement) echo "^uwsgi .*--http-socket 127\.0\.0\.1:$PLACEMENT_PORT " ;;
    glance) echo "^/usr/bin/python3 /usr/bin/glance-api --config-file $ETC/" ;;
    nova-api | nova-conductor | nova-scheduler | neutron-server)
        echo "^/usr/bin/python3 /usr/bin/$1 --config-file $ETC/" ;;
    nova-compute) echo "^/usr/bin/python3 -c .*nova\.cmd\.compute import main.* --config-file $ETC/" ;;
    neutron-linuxbridge-agent) echo "^(neutron-linuxbridge-agent \()?/usr/bin/python3 /usr/bin/neutron-linuxbridge-agent --config-file $ETC/" ;;
    *) die "no such service: $1" ;;
    esac
}

# A pid file holds "PID STARTTIME" (the process's start time in clock
# ticks since boot, /proc/PID/stat's 22nd field): the process started is
# known as long as it lives, whatever it execs or retitles itself to, and
# a later process given the same pid is not taken for it.
# A zombie (killed, not yet reaped) has none.
starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '$1 !~ /^[ZX]/ {print $20}'; }
record() { echo "$2 $(starttime "$2")" >"$RUN/$1.pid"; }
pidof_svc() { [ -f "$RUN/$1.pid" ] && cut -d' ' -f1 "$RUN/$1.pid"; }

# svc_pids NAME: NAME's main processes: the one its pid file names (if
# that is still the process started) and those its pattern finds.
svc_pids() {
    local pid st
    if [ -f "$RUN/$1.pid" ]; then
        read -r pid st <"$RUN/$1.pid" || true
        [ -n "$pid" ] && [ -n "$st" ] && [ "$(starttime "$pid")" = "$st" ] && echo "$pid"
    fi
    pgrep -f "$(svc_pattern "$1")" 2>/dev/null || true
}

# running NAME: NAME runs: the process its pid file names, else a process
# its pattern finds (then recorded in the pid file).
running() {
    local pid st
    if [ -f "$RUN/$1.pid" ]; then
        read -r pid st <"$RUN/$1.pid" || true
        [ -n "$pid" ] && [ -n "$st" ] && [ "$(starttime "$pid")" = "$st" ] && return 0
    fi
    pid=$(pgrep -o -f "$(svc_pattern "$1")" 2>/dev/null) || return 1
    [ -d "$RUN" ] && record "$1" "$pid"
    return 0
}

# spawn NAME CMD...: run CMD in a session of its own (setsid: no signal
# to the caller's process group or session reaches it), log to
# $LOG/NAME.log; nothing if NAME runs.
spawn() {
    local name=$1
    shift
    running "$name" && return 0
    setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
    record "$name" $!
}

# kill_svc NAME: end NAME's processes (the main one and its descendants).
kill_svc() {
    local pids="" pid i
    for pid in $(svc_pids "$1"); do
        kill -0 "$pid" 2>/dev/null && pids="$pids $(tree_pids "$pid" | tr '\n' ' ')"
    done
    [ -z "$pids" ] && return 0
    kill $pids 2>/dev/null || true
    for i in $(seq 1 40); do
        local alive=""
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
        [ -z "$alive" ] && break
        sleep 0.25
    done
    kill -9 $pids 2>/dev/null || true
    rm -f "$RUN/$1.pid"
}

# The pids of a process and all its descendants.
tree_pids() {
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}

# answers URL: something answers HTTP there.
answers() { curl -s -o /dev/null --max-time 2 "$1"; }

# wait_http NAME URL: wait for NAME to answer on URL. A service that runs
# but does not answer in time (half-started: left hung by an earlier
# start, or started by one and killed halfway) is ended and started again,
# once.
wait_http() {
    local name=$1 url=$2 try end
    for try in 1 2; do
        end=$((SECONDS + 120))
        while [ "$SECONDS" -lt "$end" ]; do
            answers "$url" && return 0
            running "$name" || break
            sleep 0.5
        done
        [ "$try" = 2 ] && break
        if running "$name"; then
            say "$name runs but does not answer on $url: restarting it"
        else
            tail -30 "$LOG/$name.log" >&2
            say "$name exited: starting it again"
        fi
        kill_svc "$name"
        start_svc "$name"
    done
    tail -30 "$LOG/$name.log" >&2
    die "$name does not answer on $url"
}

password() {
    if [ ! -s "$DIR/password" ]; then
        umask 077
        head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/password"
    fi
    cat "$DIR/password"
}

step_done() { [ -e "$DONE/$1" ]; }
mark() { touch "$DONE/$1"; }
# once KEY CMD...: CMD (its output dropped), unless an earlier start ran it
# (done/KEY): a start that stopped halfway through a step's commands goes
# on from the first not done.
once() {
    local key=$1
    shift
    step_done "$key" && return 0
    "$@" >/dev/null
    mark "$key"
}

# ---------------------------------------------------------------- configs
write_configs() {
    local pw=$1
    local db="postgresql+psycopg2://nubo:$pw@127.0.0.1:$PG_PORT"
    local rabbit="rabbit://nubo:$pw@127.0.0.1:$AMQP_PORT/"
    local ks="http://127.0.0.1:$KS_PORT"
    mkdir -p "$ETC"/{keystone,glance,placement,nova,neutron}
    authtoken() { # SECTION USER
        cat <<EOF
[$1]
www_authenticate_uri = $ks
auth_url = $ks
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $pw
region_name = $REGION
EOF
    }

    cat >"$ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
log_dir = $LOG
[database]
connection = $db/keystone
[token]
provider = fernet
[fernet_tokens]
key_repository = $DIR/keystone/fernet-keys
[credential]
key_repository = $DIR/keystone/credential-keys
EOF

    cat >"$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $GLANCE_PORT
workers = 1
enabled_backends = fs:file
[database]
connection = $db/glance
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DIR/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $DIR/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $DIR/glance/tasks
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
$(authtoken keystone_authtoken glance)
EOF

    cat >"$ETC/placement/placement.conf" <<EOF
[placement_database]
connection = $db/placement
[api]
auth_strategy = keystone
$(authtoken keystone_authtoken placement)
EOF

    cat >"$ETC/nova/nova.conf" <<EOF
[DEFAULT]
host = $HOSTNAME_C
my_ip = 127.0.0.1
state_path = $DIR/nova
transport_url = $rabbit
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = $NOVA_PORT
osapi_compute_workers = 1
compute_driver = fake.FakeDriver
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
instances_path = $DIR/nova/instances
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[api_database]
connection = $db/nova_api
[database]
connection = $db/nova
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[oslo_concurrency]
lock_path = $DIR/nova/lock
[vnc]
enabled = false
[glance]
region_name = $REGION
$(authtoken keystone_authtoken nova)
$(authtoken placement placement)
$(authtoken neutron neutron)
[service_user]
send_service_user_token = false
EOF

    cat >"$ETC/neutron/neutron.conf" <<EOF
[DEFAULT]
host = $HOSTNAME_C
bind_host = 127.0.0.1
bind_port = $NEUTRON_PORT
core_plugin = ml2
service_plugins = router,port_forwarding
auth_strategy = keystone
transport_url = $rabbit
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
state_path = $DIR/neutron
api_paste_config = /etc/neutron/api-paste.ini
[database]
connection = $db/neutron
[oslo_concurrency]
lock_path = $DIR/neutron/lock
[agent]
root_helper = sudo
$(authtoken keystone_authtoken neutron)
$(authtoken nova nova)
EOF

    cat >"$ETC/neutron/ml2_conf.ini" <<EOF
[experimental]
linuxbridge = true
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers = linuxbridge
extension_drivers = port_security
[ml2_type_flat]
flat_networks = external,private
EOF

    cat >"$ETC/neutron/linuxbridge_agent.ini" <<EOF
[linux_bridge]
bridge_mappings = external:$EXT_IF,private:$PRIV_IF
[vxlan]
enable_vxlan = false
[securitygroup]
enable_security_group = true
firewall_driver = noop
EOF

    mkdir -p "$DIR/rabbit"
    cat >"$DIR/rabbit/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
loopback_users = none
EOF
    cat >"$DIR/rabbit/advanced.config" <<EOF
[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}].
EOF
    : >"$DIR/rabbit/enabled_plugins"

    cat >"$DIR/clouds.yaml" <<EOF
clouds:
  nubo-admin:
    auth:
      auth_url: $ks/v3
      username: admin
      password: $pw
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    identity_api_version: 3
  nubo-quota:
    auth:
      auth_url: $ks/v3
      username: nubo-quota
      password: $pw
      project_name: nubo-quota
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    identity_api_version: 3
  nubo:
    auth:
      auth_url: $ks/v3
      username: nubo
      password: $pw
      project_name: nubo
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    identity_api_version: 3
EOF
    chmod 600 "$DIR/clouds.yaml"
}

# RabbitMQ's environment for our node (env's arguments).
rabbit_vars() {
    RABBIT_VARS=(HOME="$DIR/rabbit" RABBITMQ_NODENAME=nubo-ost@localhost
        RABBITMQ_CONFIG_FILE="$DIR/rabbit/rabbitmq.conf"
        RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/rabbit/advanced.config"
        RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/rabbit/enabled_plugins"
        RABBITMQ_MNESIA_BASE="$DIR/rabbit/mnesia" RABBITMQ_LOG_BASE="$LOG/rabbit"
        RABBITMQ_PID_FILE="$DIR/rabbit/beam.pid"
        RABBITMQ_CTL_DIST_PORT_MIN=45673 RABBITMQ_CTL_DIST_PORT_MAX=45683
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$EPMD_PORT)
}
rabbit_env() {
    rabbit_vars
    env "${RABBIT_VARS[@]}" "$@"
}

# ---------------------------------------------------------------- services
pg_ready() { su postgres -s /bin/sh -c "$PG_BIN/pg_isready -q -h 127.0.0.1 -p $PG_PORT"; }

# start_svc NAME: start NAME unless it runs.
start_svc() {
    local n=$ETC/nova/nova.conf q=$ETC/neutron/neutron.conf
    running "$1" && return 0
    case $1 in
    postgres)
        rm -f "$DIR/pg/postmaster.pid"
        touch "$LOG/postgres.log"
        chown postgres "$LOG/postgres.log"
        # su makes a session of its own; postgres's pid is the sh's $!.
        su postgres -s /bin/sh -c "$PG_BIN/postgres -D $DIR/pg >>$LOG/postgres.log 2>&1 </dev/null & echo \$! >$DIR/pgsock/pid"
        record postgres "$(cat "$DIR/pgsock/pid")"
        ;;
    rabbitmq)
        # The node's distribution port is given to the server only: a CLI
        # command given it too (rabbitmqctl wait, started just after) may
        # take it first. Crash dumps land in the node's directory. The
        # pid recorded is rabbitmq-server's (a shell waiting for the
        # Erlang VM); `running` finds the VM itself.
        mkdir -p "$LOG/rabbit" "$DIR/rabbit/mnesia"
        rabbit_vars
        (cd "$DIR/rabbit" && spawn rabbitmq env "${RABBIT_VARS[@]}" RABBITMQ_DIST_PORT=35673 \
            /usr/lib/rabbitmq/bin/rabbitmq-server)
        ;;
    keystone)
        OS_KEYSTONE_CONFIG_DIR="$ETC/keystone" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
            spawn keystone uwsgi --plugin python3 --http-socket "127.0.0.1:$KS_PORT" \
            --wsgi-file /usr/bin/keystone-wsgi-public --master --die-on-term \
            --processes 2 --threads 4 --lazy-apps --buffer-size 65535 --add-header "Connection: close"
        ;;
    placement)
        OS_PLACEMENT_CONFIG_DIR="$ETC/placement" spawn placement uwsgi --plugin python3 \
            --http-socket "127.0.0.1:$PLACEMENT_PORT" --wsgi-file /usr/bin/placement-api \
            --master --die-on-term --processes 1 --threads 4 --lazy-apps --add-header "Connection: close"
        ;;
    glance) spawn glance glance-api --config-file "$ETC/glance/glance-api.conf" ;;
    nova-api | nova-conductor | nova-scheduler) spawn "$1" "$1" --config-file "$n" ;;
    nova-compute)
        # Debian's nova-compute package pulls in a hypervisor (QEMU,
        # libvirt); the fake driver needs none, so nova-compute runs from
        # python3-nova.
        spawn nova-compute /usr/bin/python3 -c 'import sys; from nova.cmd.compute import main; sys.argv[0] = "nova-compute"; sys.exit(main())' \
            --config-file "$n"
        ;;
    neutron-server) spawn neutron-server neutron-server --config-file "$q" --config-file "$ETC/neutron/ml2_conf.ini" ;;
    neutron-linuxbridge-agent)
        spawn neutron-linuxbridge-agent neutron-linuxbridge-agent \
            --config-file "$q" --config-file "$ETC/neutron/linuxbridge_agent.ini"
        ;;
    esac
}

start_postgres() {
    local pw=$1
    if [ ! -f "$DIR/pg/PG_VERSION" ]; then
        mkdir -p "$DIR/pg" "$DIR/pgsock"
        chown postgres:postgres "$DIR/pg" "$DIR/pgsock"
        chmod 700 "$DIR/pg"
        su postgres -s /bin/sh -c "$PG_BIN/initdb -D $DIR/pg -U postgres --auth=trust -E UTF8 >/dev/null"
        cat >>"$DIR/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/pgsock'
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
    local try i
    for try in 1 2; do
        start_svc postgres
        for i in $(seq 1 60); do
            pg_ready && break 2
            running postgres || break
            sleep 0.5
        done
        [ "$try" = 2 ] && { tail -20 "$LOG/postgres.log" >&2; die "postgres does not start"; }
        say "postgres does not answer: starting it again"
        kill_svc postgres
    done
    if ! step_done databases; then
        psql_() { su postgres -s /bin/sh -c "psql -q -h 127.0.0.1 -p $PG_PORT -U postgres -v ON_ERROR_STOP=1 -c \"$1\""; }
        psql_ "CREATE ROLE nubo LOGIN PASSWORD '$pw'"
        for d in keystone glance placement nova_api nova nova_cell0 neutron; do
            psql_ "CREATE DATABASE $d OWNER nubo"
        done
        mark databases
    fi
}

start_rabbit() {
    local pw=$1
    mkdir -p "$LOG/rabbit" "$DIR/rabbit/mnesia"
    local try
    for try in 1 2; do
        # A node that runs is waited for, never started a second time (a
        # second server on the node's distribution port fails:
        # dist_port_already_used).
        start_svc rabbitmq
        rabbit_env /usr/lib/rabbitmq/bin/rabbitmqctl wait --timeout 120 "$DIR/rabbit/beam.pid" >/dev/null 2>&1 && break
        [ "$try" = 2 ] && { tail -20 "$LOG/rabbitmq.log" >&2; die "rabbitmq does not start"; }
        say "rabbitmq does not answer: starting it again"
        kill_svc rabbitmq
    done
    if ! step_done rabbit-user; then
        rabbit_env /usr/lib/rabbitmq/bin/rabbitmqctl add_user nubo "$pw" >/dev/null
        rabbit_env /usr/lib/rabbitmq/bin/rabbitmqctl set_permissions nubo '.*' '.*' '.*' >/dev/null
        mark rabbit-user
    fi
}

start_keystone() {
    local pw=$1
    if ! step_done keystone-db; then
        mkdir -p "$DIR/keystone/fernet-keys" "$DIR/keystone/credential-keys"
        local km="keystone-manage --config-file $ETC/keystone/keystone.conf"
        {
            $km db_sync
            $km fernet_setup --keystone-user root --keystone-group root
            $km credential_setup --keystone-user root --keystone-group root
            $km bootstrap --bootstrap-password "$pw" \
                --bootstrap-admin-url "http://127.0.0.1:$KS_PORT/v3/" \
                --bootstrap-internal-url "http://127.0.0.1:$KS_PORT/v3/" \
                --bootstrap-public-url "http://127.0.0.1:$KS_PORT/v3/" \
                --bootstrap-region-id "$REGION"
        } >>"$LOG/keystone-manage.log" 2>&1 || { tail -20 "$LOG/keystone-manage.log" >&2; die "keystone-manage failed"; }
        mark keystone-db
    fi
    start_svc keystone
    wait_http keystone "http://127.0.0.1:$KS_PORT/v3"
}

# The openstack client as admin; its stderr (eventlet's noise at exit
# included) goes to a log, shown when it fails.
ost() {
    local rc=0
    OS_CLIENT_CONFIG_FILE="$DIR/clouds.yaml" openstack --os-cloud nubo-admin "$@" 2>"$LOG/openstack-cli.err" || rc=$?
    cat "$LOG/openstack-cli.err" >>"$LOG/openstack-cli.log"
    if [ "$rc" != 0 ]; then
        grep -v -e '^Exception ignored' -e '^Traceback' -e '^  File ' -e "^AttributeError: 'NoneType'" "$LOG/openstack-cli.err" >&2 || true
        say "openstack $* failed"
    fi
    return $rc
}

register_services() {
    local pw=$1
    step_done catalog && return 0
    # uWSGI's http-socket closes each connection after its answer: the
    # "Connection: close" it is told to add keeps clients from reusing one
    # (a POST on a reused, closed connection ends in "connection reset").
    once project-service ost project create --domain default --description "OpenStack's services" service -f value -c id
    local u t p
    for u in glance nova neutron placement; do
        once "user-$u" ost user create --domain default --password "$pw" "$u" -f value -c id
        once "role-$u" ost role add --project service --user "$u" admin
    done
    for t in "glance image $GLANCE_PORT" "nova compute $NOVA_PORT/v2.1" \
        "neutron network $NEUTRON_PORT" "placement placement $PLACEMENT_PORT"; do
        set -- $t
        once "service-$1" ost service create --name "$1" "$2" -f value -c id
        for p in public internal admin; do
            once "endpoint-$1-$p" ost endpoint create --region "$REGION" "$2" "$p" "http://127.0.0.1:$3" -f value -c id
        done
    done
    once project-nubo ost project create --domain default --description "nubo's tests" nubo -f value -c id
    once user-nubo ost user create --domain default --project nubo --password "$pw" nubo -f value -c id
    once role-nubo ost role add --project nubo --user nubo member
    mark catalog
}

start_glance() {
    mkdir -p "$DIR/glance"/{images,staging,tasks}
    if ! step_done glance-db; then
        glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync >>"$LOG/glance-manage.log" 2>&1 \
            || { tail -20 "$LOG/glance-manage.log" >&2; die "glance-manage failed"; }
        mark glance-db
    fi
    start_svc glance
}

start_placement() {
    if ! step_done placement-db; then
        OS_PLACEMENT_CONFIG_DIR="$ETC/placement" placement-manage --config-file "$ETC/placement/placement.conf" db sync \
            >>"$LOG/placement-manage.log" 2>&1
        mark placement-db
    fi
    start_svc placement
}

start_nova() {
    local pw=$1
    local c="$ETC/nova/nova.conf"
    mkdir -p "$DIR/nova"/{instances,lock}
    if ! step_done nova-db; then
        {
            nova-manage --config-file "$c" api_db sync
            nova-manage --config-file "$c" cell_v2 map_cell0 \
                --database_connection "postgresql+psycopg2://nubo:$pw@127.0.0.1:$PG_PORT/nova_cell0"
            nova-manage --config-file "$c" cell_v2 create_cell --name cell1
            nova-manage --config-file "$c" db sync
        } >>"$LOG/nova-manage.log" 2>&1 || { tail -20 "$LOG/nova-manage.log" >&2; die "nova-manage failed"; }
        mark nova-db
    fi
    local s
    for s in nova-api nova-conductor nova-scheduler nova-compute; do start_svc $s; done
}

start_neutron() {
    local c="--config-file $ETC/neutron/neutron.conf --config-file $ETC/neutron/ml2_conf.ini"
    mkdir -p "$DIR/neutron/lock"
    if ! step_done neutron-db; then
        neutron-db-manage $c upgrade heads >>"$LOG/neutron-db-manage.log" 2>&1 \
            || { tail -20 "$LOG/neutron-db-manage.log" >&2; die "neutron-db-manage failed"; }
        mark neutron-db
    fi
    start_svc neutron-server
    start_svc neutron-linuxbridge-agent
}

interfaces() {
    local br
    for br in $EXT_IF $PRIV_IF; do
        ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge forward_delay 0
    done
    # The external network is this machine's way to the floating IPs: it
    # has the gateway's address there. The private network is not
    # reachable from this machine, as a cloud's private network is not
    # from outside: no address (IPv6 off: no link-local one either) and
    # an unreachable route, which also marks the /24 as used.
    ip -4 addr show dev "$EXT_IF" | grep -q "$EXT_NET.1/24" || ip addr add "$EXT_NET.1/24" dev "$EXT_IF"
    ip -4 addr flush dev "$PRIV_IF"
    echo 1 >"/proc/sys/net/ipv6/conf/$PRIV_IF/disable_ipv6" 2>/dev/null || true
    ip route replace unreachable "$PRIV_NET.0/24"
    ip link set "$EXT_IF" up
    ip link set "$PRIV_IF" up
}

seed() {
    step_done seed && return 0
    # A tiny raw image: the fake driver boots nothing.
    if ! step_done image; then
        head -c 1048576 /dev/zero >"$DIR/tiny.img"
        once image ost image create --public --disk-format raw --container-format bare \
            --file "$DIR/tiny.img" debian-12-fake -f value -c id
        rm -f "$DIR/tiny.img"
    fi
    local f
    for f in "m1.tiny 1 512 1" "m1.small 1 2048 10" "m1.medium 2 4096 20" \
        "m1.large 4 8192 40" "m1.xlarge 8 16384 80"; do
        set -- $f
        once "flavor-$1" ost flavor create --public --vcpus "$2" --ram "$3" --disk "$4" "$1" -f value -c id
    done
    once net-public ost network create --external --share --provider-network-type flat \
        --provider-physical-network external public -f value -c id
    once subnet-public ost subnet create --network public --subnet-range "$EXT_NET.0/24" --gateway "$EXT_NET.1" \
        --allocation-pool "start=$EXT_NET.100,end=$EXT_NET.199" --no-dhcp public-subnet -f value -c id
    once net-private ost network create --project nubo --provider-network-type flat \
        --provider-physical-network private private -f value -c id
    once subnet-private ost subnet create --project nubo --network private --subnet-range "$PRIV_NET.0/24" \
        --gateway "$PRIV_NET.1" --allocation-pool "start=$PRIV_NET.10,end=$PRIV_NET.250" \
        --dns-nameserver 127.0.0.1 private-subnet -f value -c id
    once router ost router create --project nubo router -f value -c id
    once router-gateway ost router set --external-gateway public router
    once router-subnet ost router add subnet router private-subnet
    mark seed
}

# Room for the tests' clusters run side by side (Nova's default is 10
# instances, 20 cores; Neutron's 10 security groups).
quotas() {
    step_done quotas && return 0
    ost quota set --instances 40 --cores 200 --ram 1048576 --floating-ips 40 \
        --ports 200 --secgroups 40 --secgroup-rules 400 nubo
    mark quotas
}

# A second project for the quota test: 2 instances at most; it sees the
# private network (shared) and the public one.
quota_project() {
    step_done quota-project && return 0
    once project-quota ost project create --domain default --description "nubo's quota test" nubo-quota -f value -c id
    once user-quota ost user create --domain default --project nubo-quota --password "$1" nubo-quota -f value -c id
    once role-quota ost role add --project nubo-quota --user nubo-quota member
    once quota-quota ost quota set --instances 2 nubo-quota
    once share-private ost network set --share private
    mark quota-project
}

wait_compute() {
    local try end
    for try in 1 2; do
        end=$((SECONDS + 150))
        while [ "$SECONDS" -lt "$end" ]; do
            ost hypervisor list -f value -c "Hypervisor Hostname" 2>/dev/null | grep -q . &&
                ost network agent list -f value -c Alive 2>/dev/null | grep -q True &&
                return 0
            sleep 1
        done
        [ "$try" = 2 ] && break
        # Half-started: running, never registered.
        say "nova-compute or the linuxbridge agent did not register: starting them again"
        kill_svc nova-compute
        kill_svc neutron-linuxbridge-agent
        start_svc nova-compute
        start_svc neutron-linuxbridge-agent
    done
    die "nova-compute or the linuxbridge agent did not register (see $LOG)"
}

# nubo's auth line for project nubo, or nubo-quota (`auth quota`).
auth_line() {
    local who=nubo
    [ "${1:-}" = quota ] && who=nubo-quota
    echo "id = ost; type = OpenStack; host = http://127.0.0.1:$KS_PORT; username = $who; password = '$(password)'; tenant = $who; domain = Default; auth_version = 3.x_password; service_region = $REGION"
}

start() {
    mkdir -p "$DIR" "$LOG" "$RUN" "$DONE"
    chmod 711 "$DIR" # postgres reaches pg/ and pgsock/; secrets are 0600
    install_packages
    local pw
    pw=$(password)
    write_configs "$pw"
    interfaces
    start_postgres "$pw"
    start_rabbit "$pw"
    start_keystone "$pw"
    register_services "$pw"
    start_glance
    start_placement
    start_neutron
    start_nova "$pw"
    wait_http glance "http://127.0.0.1:$GLANCE_PORT/"
    wait_http placement "http://127.0.0.1:$PLACEMENT_PORT/"
    wait_http neutron-server "http://127.0.0.1:$NEUTRON_PORT/"
    wait_http nova-api "http://127.0.0.1:$NOVA_PORT/"
    seed
    quotas
    quota_project "$pw"
    wait_compute
    say "running; clouds.yaml: $DIR/clouds.yaml (OS_CLIENT_CONFIG_FILE=$DIR/clouds.yaml openstack --os-cloud nubo ...)"
    auth_line
}

status() {
    local bad=0 s
    for s in $SERVICES; do
        if running "$s"; then
            printf '%-28s running (pid %s)\n' "$s" "$(pidof_svc "$s")"
        else
            printf '%-28s stopped\n' "$s"
            bad=1
        fi
    done
    # Memory: every process of the services (RSS counts shared pages in
    # each process, PSS shares them out).
    local pids="" p rss=0 pss=0 n=0 r q
    for s in $SERVICES; do running "$s" && pids="$pids $(tree_pids "$(pidof_svc "$s")" | tr '\n' ' ')"; done
    pids="$pids $(pgrep -f "$DIR/etc/" 2>/dev/null | tr '\n' ' ' || true)"
    for p in $(echo "$pids" | tr ' ' '\n' | sort -u); do
        r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
        q=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
        [ -n "$r" ] && { rss=$((rss + r)); pss=$((pss + q)); n=$((n + 1)); }
    done
    echo "memory: $n processes, RSS $((rss / 1024)) MiB, PSS $((pss / 1024)) MiB"
    return $bad
}

stop() {
    local s pid pids=""
    # Each service by its pid file and by its command line (what an
    # earlier start left running without a pid file is found too).
    for s in $SERVICES; do
        for pid in $(svc_pids "$s"); do
            kill -0 "$pid" 2>/dev/null && pids="$pids $(tree_pids "$pid" | tr '\n' ' ')"
        done
    done
    # Daemons that detach from their service (the linuxbridge agent's
    # privsep-helper, started through sudo) still name a config file of
    # ours on their command line.
    pids="$pids $(pgrep -f "$DIR/etc/" 2>/dev/null || true)"
    # RabbitMQ's epmd runs detached from the server.
    pids="$pids $(pgrep -f "epmd.*-port $EPMD_PORT" 2>/dev/null || true)"
    pids="$pids $(pgrep -x epmd 2>/dev/null | while read -r p; do
        { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -q "^ERL_EPMD_PORT=$EPMD_PORT$" && echo "$p"; done || true)"
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    local i
    for i in $(seq 1 40); do
        local alive=""
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
        [ -z "$alive" ] && break
        sleep 0.25
    done
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    ip link del "$EXT_IF" 2>/dev/null || true
    ip link del "$PRIV_IF" 2>/dev/null || true
    ip route del unreachable "$PRIV_NET.0/24" 2>/dev/null || true
    rm -rf "$DIR"
    say "stopped; $DIR removed (Debian's packages stay installed)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
auth) auth_line "${2:-}" ;;
openstack-quota)
    # The openstack client as project nubo-quota's user (for the tests).
    shift
    OS_CLOUD=nubo-quota OS_CLIENT_CONFIG_FILE="$DIR/clouds.yaml" openstack "$@" 2>/dev/null
    ;;
*)
    echo "usage: $0 start|stop|status|auth [quota]" >&2
    exit 2
    ;;
esac
