#!/usr/bin/env bash
# Single-node SLURM "cluster" for CI on Debian 12 (bookworm), run as root, no systemd needed.
# Used by tests/test_slurm.py (and bench/bench_rerun.py --slurm) to run the study through profiles/slurm.
#   ./start_cluster.sh          install (if needed), configure, start, wait until node is idle
#   ./start_cluster.sh stop     stop the daemons this script started (by pid file)
# It writes /etc/slurm/slurm.conf, /etc/slurm/gres.conf and /etc/munge/munge.key: run it on a CI or
# throw-away machine, not on a host that belongs to a real cluster.
# Env knobs:
#   SLURM_BASE=/tmp/slurm-ci  state/log dir
#   WITH_DBD=1                  also run mariadb + slurmdbd so `sacct` works (the snakemake
#                               slurm plugin's default status command). WITH_DBD=0 -> no
#                               accounting; then use `slurm-status-command: squeue` in the profile.
#   FAKE_GPUS=1                 1 = declare one fake gres/gpu (File=/dev/null), 0 = none
set -euo pipefail

BASE=${SLURM_BASE:-/tmp/slurm-ci}
WITH_DBD=${WITH_DBD:-1}
FAKE_GPUS=${FAKE_GPUS:-1}
STATE=$BASE/state
LOG=$BASE/log
H=$(hostname -s)
APT_LOCK=${APT_LOCK:-/tmp/vae-latent-study-apt.lock}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {  # stop one daemon we started, by its pid file
  local pf=$1
  if alive "$pf"; then
    local p; p=$(cat "$pf"); kill "$p"
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    # A slurmd still retrying to reach a dead controller can outlast SIGTERM's 10 s: no orphan is left.
    if kill -0 "$p" 2>/dev/null; then
      kill -9 "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$pf"
}

if [ "${1:-}" = stop ]; then
  stop_pidfile "$STATE/slurmd.pid"
  stop_pidfile "$STATE/slurmctld.pid"
  stop_pidfile "$STATE/slurmdbd.pid"
  stop_pidfile /run/mysqld/mysqld.pid
  stop_pidfile /run/munge/munged.pid
  # Also remove the configuration written below: with a slurm.conf naming a controller that is gone, every
  # SLURM client call waits ~10 s for it, and snakemake-executor-plugin-slurm runs `scontrol show config`
  # when it is imported, so every `snakemake` command on this machine would start 9 s slower.
  rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf
  exit 0
fi

# ---------------------------------------------------------------- packages
PKGS="slurm-wlm slurmctld slurmd slurm-client munge"
[ "$WITH_DBD" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  # One apt-get at a time: the browser test may install Chromium from another pytest worker meanwhile,
  # under the same lock file (tests/test_report_browser.py).
  flock "$APT_LOCK" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive flock "$APT_LOCK" apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

mkdir -p "$STATE/ctld" "$STATE/d" "$LOG"
# slurmctld/slurmd resolve the host name; make sure it resolves
getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts

# ---------------------------------------------------------------- munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 40); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.25; done
fi

# ---------------------------------------------------------------- config
MEM=$(( $(free -m | awk '/^Mem:/{print $2}') - 2048 ))
CPUS=$(nproc)
if [ "$WITH_DBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux"
else
  # (AccountingStorageTRES=gres/gpu is refused here: slurmctld wants slurmdbd for it.)
  ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.log"
fi
GRES_NODE=""; GRES_TYPES=""
if [ "$FAKE_GPUS" = 1 ]; then
  GRES_TYPES="GresTypes=gpu"; GRES_NODE="Gres=gpu:1"
  {
    echo "AutoDetect=off"
    # A gres/gpu needs a File= or slurmd reports count 0 and the node goes INVAL.
    # /dev/null is accepted as the "device"; jobs get CUDA_VISIBLE_DEVICES=0.
    echo "NodeName=$H Name=gpu File=/dev/null"
  } > /etc/slurm/gres.conf
else
  rm -f /etc/slurm/gres.conf
fi

cat > /etc/slurm/slurm.conf <<EOF
ClusterName=ci
SlurmctldHost=$H
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=300
$ACCT
$GRES_TYPES
NodeName=$H CPUs=$CPUS RealMemory=$MEM $GRES_NODE State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# ---------------------------------------------------------------- accounting (optional)
if [ "$WITH_DBD" = 1 ]; then
  mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
  if ! mysqladmin ping >/dev/null 2>&1; then
    nohup /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
      > "$LOG/mariadb.log" 2>&1 &
    for _ in $(seq 1 120); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.25; done
  fi
  mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
            CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
  chmod 600 /etc/slurm/slurmdbd.conf
  if ! alive "$STATE/slurmdbd.pid"; then
    /usr/sbin/slurmdbd
    for _ in $(seq 1 120); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.25; done
  fi
fi

# ---------------------------------------------------------------- slurm daemons
if alive "$STATE/slurmctld.pid"; then scontrol reconfigure || true; else /usr/sbin/slurmctld; fi
alive "$STATE/slurmd.pid" || /usr/sbin/slurmd

state=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do   # up to 60 s
  # A controller that died at start (a config it refuses) would make every sinfo wait for its timeout.
  alive "$STATE/slurmctld.pid" || { echo "slurmctld is not running"; break; }
  # %t is the compact state; a trailing '*' means slurmd has not registered yet
  state=$(timeout 10 sinfo -h -n "$H" -o %t 2>/dev/null || true)
  case "$state" in
    idle|mix|alloc) break ;;
    *drain*|down*|inval*|fail*)    # stale drain reason from an earlier config, etc.
      scontrol update nodename="$H" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.25
done
case "$state" in idle|mix|alloc) sinfo; echo "SLURM node $H is $state";;
  *) echo "node not ready: '$state'"; timeout 10 sinfo -R || true
     tail -n 20 "$LOG/slurmctld.log" "$LOG/slurmd.log"; exit 1;; esac
