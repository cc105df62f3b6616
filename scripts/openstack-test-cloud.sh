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
# (the linuxbridge agent's bridge_mappings) (ostc-ext 10.250.255.1/24 for the external network,
# ostc-priv 10.250.254.1/24 for the private one: they mark both /24s as
# used, so the local provider and the test clouds never pick them) and the
# installed packages. stop removes all but the packages (purging them is
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
pidof_svc() { [ -f "$RUN/$1.pid" ] && cat "$RUN/$1.pid"; }
running() {
    local pid
    pid=$(pidof_svc "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# spawn NAME CMD...: run CMD in its own session, log to $LOG/NAME.log.
spawn() {
    local name=$1
    shift
    running "$name" && return 0
    setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
}

wait_http() {
    local name=$1 url=$2 i
    for i in $(seq 1 240); do
        curl -s -o /dev/null --max-time 2 "$url" && return 0
        running "$name" || { tail -30 "$LOG/$name.log" >&2; die "$name exited"; }
        sleep 0.5
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

rabbit_env() {
    env HOME="$DIR/rabbit" RABBITMQ_NODENAME=nubo-ost@localhost \
        RABBITMQ_CONFIG_FILE="$DIR/rabbit/rabbitmq.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/rabbit/advanced.config" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/rabbit/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$DIR/rabbit/mnesia" RABBITMQ_LOG_BASE="$LOG/rabbit" \
        RABBITMQ_PID_FILE="$DIR/rabbit/beam.pid" \
        RABBITMQ_CTL_DIST_PORT_MIN=45673 RABBITMQ_CTL_DIST_PORT_MAX=45683 \
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$EPMD_PORT "$@"
}

# ---------------------------------------------------------------- services
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
    if ! running postgres; then
        rm -f "$DIR/pg/postmaster.pid"
        touch "$LOG/postgres.log"
        chown postgres "$LOG/postgres.log"
        su postgres -s /bin/sh -c "$PG_BIN/postgres -D $DIR/pg >>$LOG/postgres.log 2>&1 </dev/null & echo \$! >$DIR/pgsock/pid"
        cp "$DIR/pgsock/pid" "$RUN/postgres.pid"
    fi
    local i
    for i in $(seq 1 60); do
        su postgres -s /bin/sh -c "$PG_BIN/pg_isready -q -h 127.0.0.1 -p $PG_PORT" && break
        [ "$i" = 60 ] && { tail -20 "$LOG/postgres.log" >&2; die "postgres does not start"; }
        sleep 0.5
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
    if ! running rabbitmq; then
        # The node's distribution port is given to the server only: a CLI
        # command given it too (rabbitmqctl wait, started just after) may
        # take it first. Crash dumps land in the node's directory.
        (cd "$DIR/rabbit" && RABBITMQ_DIST_PORT=35673 rabbit_env setsid /usr/lib/rabbitmq/bin/rabbitmq-server \
            >>"$LOG/rabbitmq.log" 2>&1 </dev/null) &
        echo $! >"$RUN/rabbitmq.pid"
    fi
    rabbit_env /usr/lib/rabbitmq/bin/rabbitmqctl wait --timeout 120 "$DIR/rabbit/beam.pid" >/dev/null 2>&1 \
        || { tail -20 "$LOG/rabbitmq.log" >&2; die "rabbitmq does not start"; }
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
    OS_KEYSTONE_CONFIG_DIR="$ETC/keystone" OS_KEYSTONE_CONFIG_FILES=keystone.conf \
        spawn keystone uwsgi --plugin python3 --http-socket "127.0.0.1:$KS_PORT" \
        --wsgi-file /usr/bin/keystone-wsgi-public --master --die-on-term \
        --processes 2 --threads 4 --lazy-apps --buffer-size 65535 --add-header "Connection: close"
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
    ost project create --domain default --description "OpenStack's services" service -f value -c id >/dev/null
    local u t p
    for u in glance nova neutron placement; do
        ost user create --domain default --password "$pw" "$u" -f value -c id >/dev/null
        ost role add --project service --user "$u" admin
    done
    for t in "glance image $GLANCE_PORT" "nova compute $NOVA_PORT/v2.1" \
        "neutron network $NEUTRON_PORT" "placement placement $PLACEMENT_PORT"; do
        set -- $t
        ost service create --name "$1" "$2" -f value -c id >/dev/null
        for p in public internal admin; do
            ost endpoint create --region "$REGION" "$2" "$p" "http://127.0.0.1:$3" -f value -c id >/dev/null
        done
    done
    ost project create --domain default --description "nubo's tests" nubo -f value -c id >/dev/null
    ost user create --domain default --project nubo --password "$pw" nubo -f value -c id >/dev/null
    ost role add --project nubo --user nubo member
    mark catalog
}

start_glance() {
    mkdir -p "$DIR/glance"/{images,staging,tasks}
    if ! step_done glance-db; then
        glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync >>"$LOG/glance-manage.log" 2>&1 \
            || { tail -20 "$LOG/glance-manage.log" >&2; die "glance-manage failed"; }
        mark glance-db
    fi
    spawn glance glance-api --config-file "$ETC/glance/glance-api.conf"
}

start_placement() {
    if ! step_done placement-db; then
        OS_PLACEMENT_CONFIG_DIR="$ETC/placement" placement-manage --config-file "$ETC/placement/placement.conf" db sync \
            >>"$LOG/placement-manage.log" 2>&1
        mark placement-db
    fi
    OS_PLACEMENT_CONFIG_DIR="$ETC/placement" spawn placement uwsgi --plugin python3 \
        --http-socket "127.0.0.1:$PLACEMENT_PORT" --wsgi-file /usr/bin/placement-api \
        --master --die-on-term --processes 1 --threads 4 --lazy-apps --add-header "Connection: close"
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
    spawn nova-api nova-api --config-file "$c"
    spawn nova-conductor nova-conductor --config-file "$c"
    spawn nova-scheduler nova-scheduler --config-file "$c"
    # Debian's nova-compute package pulls in a hypervisor (QEMU, libvirt);
    # the fake driver needs none, so nova-compute runs from python3-nova.
    spawn nova-compute /usr/bin/python3 -c 'import sys; from nova.cmd.compute import main; sys.argv[0] = "nova-compute"; sys.exit(main())' \
        --config-file "$c"
}

start_neutron() {
    local c="--config-file $ETC/neutron/neutron.conf --config-file $ETC/neutron/ml2_conf.ini"
    mkdir -p "$DIR/neutron/lock"
    if ! step_done neutron-db; then
        neutron-db-manage $c upgrade heads >>"$LOG/neutron-db-manage.log" 2>&1 \
            || { tail -20 "$LOG/neutron-db-manage.log" >&2; die "neutron-db-manage failed"; }
        mark neutron-db
    fi
    spawn neutron-server neutron-server $c
    spawn neutron-linuxbridge-agent neutron-linuxbridge-agent \
        --config-file "$ETC/neutron/neutron.conf" --config-file "$ETC/neutron/linuxbridge_agent.ini"
}

interfaces() {
    local ifc net
    for ifc in "$EXT_IF $EXT_NET" "$PRIV_IF $PRIV_NET"; do
        set -- $ifc
        ip link show "$1" >/dev/null 2>&1 || ip link add "$1" type bridge
        ip -4 addr show dev "$1" | grep -q "$2.1/24" || ip addr add "$2.1/24" dev "$1"
        ip link set "$1" up
    done
}

seed() {
    step_done seed && return 0
    # A tiny raw image: the fake driver boots nothing.
    head -c 1048576 /dev/zero >"$DIR/tiny.img"
    ost image create --public --disk-format raw --container-format bare \
        --file "$DIR/tiny.img" debian-12-fake -f value -c id >/dev/null
    rm -f "$DIR/tiny.img"
    local f
    for f in "m1.tiny 1 512 1" "m1.small 1 2048 10" "m1.medium 2 4096 20" \
        "m1.large 4 8192 40" "m1.xlarge 8 16384 80"; do
        set -- $f
        ost flavor create --public --vcpus "$2" --ram "$3" --disk "$4" "$1" -f value -c id >/dev/null
    done
    ost network create --external --share --provider-network-type flat \
        --provider-physical-network external public -f value -c id >/dev/null
    ost subnet create --network public --subnet-range "$EXT_NET.0/24" --gateway "$EXT_NET.1" \
        --allocation-pool "start=$EXT_NET.100,end=$EXT_NET.199" --no-dhcp public-subnet -f value -c id >/dev/null
    ost network create --project nubo --provider-network-type flat \
        --provider-physical-network private private -f value -c id >/dev/null
    ost subnet create --project nubo --network private --subnet-range "$PRIV_NET.0/24" \
        --gateway "$PRIV_NET.1" --allocation-pool "start=$PRIV_NET.10,end=$PRIV_NET.250" \
        --dns-nameserver 127.0.0.1 private-subnet -f value -c id >/dev/null
    ost router create --project nubo router -f value -c id >/dev/null
    ost router set --external-gateway public router
    ost router add subnet router private-subnet
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
    ost project create --domain default --description "nubo's quota test" nubo-quota -f value -c id >/dev/null
    ost user create --domain default --project nubo-quota --password "$1" nubo-quota -f value -c id >/dev/null
    ost role add --project nubo-quota --user nubo-quota member
    ost quota set --instances 2 nubo-quota
    ost network set --share private
    mark quota-project
}

wait_compute() {
    local i
    for i in $(seq 1 120); do
        ost hypervisor list -f value -c "Hypervisor Hostname" 2>/dev/null | grep -q . \
            && ost network agent list -f value -c Alive 2>/dev/null | grep -q True \
            && return 0
        sleep 1
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

# The pids of a service: its recorded pid and all its descendants.
tree_pids() {
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}

stop() {
    local s pid pids=""
    if [ -d "$RUN" ]; then
        for s in $SERVICES; do
            if running "$s"; then
                pid=$(pidof_svc "$s")
                pids="$pids $(tree_pids "$pid" | tr '\n' ' ')"
            fi
        done
    fi
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
