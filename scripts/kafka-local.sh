#!/usr/bin/env bash
# kafka-local.sh — a throwaway single-node Apache Kafka 4.x (KRaft, combined
# broker+controller) on loopback, for churnwatch's local runs and integration
# tests. No Docker and no Kafka tarball: the broker and its CLI tools are
# fetched from Maven Central as plain jars into a cache OUTSIDE the repo.
#
# Usage:
#   scripts/kafka-local.sh fetch    download kafka_2.13 + kafka-tools + runtime deps (idempotent)
#   scripts/kafka-local.sh start    fetch if needed, format storage once, start, wait until it answers
#   scripts/kafka-local.sh stop     SIGTERM, wait up to 30 s, then SIGKILL; KAFKA_WIPE=1 also deletes the data
#   scripts/kafka-local.sh status   exit 0 iff the broker is running and answers a topic listing
#   scripts/kafka-local.sh tool <MainClass|alias> [args...]
#                                   run a Kafka CLI main class on the same classpath
#
# Kafka 4.x main classes (all on the fetched classpath):
#   broker          kafka.Kafka                                      (kafka_2.13)
#   storage format  kafka.tools.StorageTool                          (kafka_2.13)   alias: storage
#   topics          org.apache.kafka.tools.TopicCommand              (kafka-tools)  alias: topics
#   console prod.   org.apache.kafka.tools.ConsoleProducer           (kafka-tools)  alias: console-producer
#   console cons.   org.apache.kafka.tools.consumer.ConsoleConsumer  (kafka-tools)  alias: console-consumer
#   consumer groups org.apache.kafka.tools.consumer.group.ConsumerGroupCommand      alias: consumer-groups
#
# Examples:
#   scripts/kafka-local.sh tool topics --bootstrap-server 127.0.0.1:9092 --create --topic t
#   echo hi | scripts/kafka-local.sh tool console-producer --bootstrap-server 127.0.0.1:9092 --topic t
#   scripts/kafka-local.sh tool console-consumer --bootstrap-server 127.0.0.1:9092 --topic t \
#       --from-beginning --max-messages 1 --timeout-ms 20000
#
# Environment:
#   KAFKA_VERSION          Kafka version on Maven Central (default 4.3.1)
#   KAFKA_PORT             PLAINTEXT listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener on 127.0.0.1 (default 9093)
#   CHURNWATCH_CACHE       cache root (default $HOME/.cache/churnwatch)
#   KAFKA_HEAP             broker heap flags (default "-Xms256m -Xmx512m")
#   KAFKA_WIPE=1           with stop: also delete the data directory
#   JAVA_HOME              if set, $JAVA_HOME/bin/java is used (Java 17+ is required)
#
# Layout under $CHURNWATCH_CACHE/kafka-<version>/:
#   libs/            the classpath (every jar, flat)        .fetched  marker written last
#   run/server.properties, run/log4j2*.properties, run/broker.pid, run/broker.log, run/data/
set -euo pipefail

KAFKA_VERSION=${KAFKA_VERSION:-4.3.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
CHURNWATCH_CACHE=${CHURNWATCH_CACHE:-$HOME/.cache/churnwatch}
KAFKA_HEAP=${KAFKA_HEAP:--Xms256m -Xmx512m}
KAFKA_WIPE=${KAFKA_WIPE:-0}

# Pinned so the fetch does not depend on Maven's default plugin version (2.8 on Maven 3.8).
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
READY_TIMEOUT_S=90
STOP_TIMEOUT_S=30

BASE="$CHURNWATCH_CACHE/kafka-$KAFKA_VERSION"
LIBS="$BASE/libs"
MARKER="$BASE/.fetched"
RUN="$BASE/run"
DATA="$RUN/data"
PROPS="$RUN/server.properties"
BROKER_LOG4J="$RUN/log4j2.properties"
TOOLS_LOG4J="$RUN/log4j2-tools.properties"
PID_FILE="$RUN/broker.pid"
LOG_FILE="$RUN/broker.log"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
# Short-lived CLI JVMs: small heap, C1-only + serial GC for a faster start,
# quiet logging (WARN+ to stderr) so their stdout carries only data.
TOOL_JVM=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$TOOLS_LOG4J")

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

log() { printf 'kafka-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

# Serialise fetch/start/stop between concurrent callers (parallel test
# binaries may all call `start`). The lock fd must not leak into the broker,
# or the lock would be held for the broker's whole life (see `9>&-` below).
take_lock() {
  mkdir -p "$BASE"
  exec 9>"$BASE/.lock"
  flock -w 600 9 || die "timed out waiting for $BASE/.lock"
}

require_java17() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka 4.x needs Java 17+)"
  local v major
  v=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
  major=${v%%.*}
  [[ "$major" == 1 ]] && major=$(cut -d. -f2 <<<"$v") # 1.8.0_x style
  if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "Java 17+ required, found '${v:-unknown}' ($JAVA)"
  fi
}

# --- fetch -------------------------------------------------------------------

fetch_locked() {
  if [[ -f "$MARKER" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once, to fetch Kafka $KAFKA_VERSION)"
  local tmp staging mvnlog t0
  tmp=$(mktemp -d)
  staging="$BASE/libs.partial.$$"
  mvnlog="$BASE/fetch.log"
  # shellcheck disable=SC2064 # expand now: the paths are fixed for this run
  trap "rm -rf '$tmp' '$staging'" EXIT
  rm -rf "$staging"
  t0=$SECONDS
  log "fetching Kafka $KAFKA_VERSION from Maven Central into $LIBS ..."

  # kafka_2.13 is the broker (kafka.Kafka, kafka.tools.StorageTool); in 4.x the
  # CLI tools (TopicCommand, console producer/consumer) live in kafka-tools.
  # kafka-tools drags in connect-runtime (jetty/jersey, ~10 MB): it is what the
  # official distribution ships too, so keep it rather than maintain excludes.
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>churnwatch.local</groupId>
  <artifactId>kafka-local-fetch</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  local -a mvn_cmd=(mvn -B -q -f "$tmp/pom.xml" -Dstyle.color=never)
  if ! "${mvn_cmd[@]}" "$DEPENDENCY_PLUGIN:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$staging" >"$mvnlog" 2>&1; then
    tail -n 40 "$mvnlog" >&2
    die "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full log: $mvnlog)"
  fi

  # The poms carry slf4j-api 1.7 and log4j-core but no slf4j binding (the
  # distribution adds it at packaging time). Without it the broker logs
  # nothing at all, so add log4j-slf4j-impl at the same version as log4j-core.
  local core log4j_version
  core=$(find "$staging" -maxdepth 1 -name 'log4j-core-*.jar' -printf '%f\n' | head -n 1)
  [[ -n "$core" ]] || die "no log4j-core jar among Kafka $KAFKA_VERSION's dependencies"
  log4j_version=${core#log4j-core-}
  log4j_version=${log4j_version%.jar}
  if ! "${mvn_cmd[@]}" "$DEPENDENCY_PLUGIN:copy" \
      -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j_version" \
      -DoutputDirectory="$staging" >>"$mvnlog" 2>&1; then
    tail -n 40 "$mvnlog" >&2
    die "maven could not fetch log4j-slf4j-impl:$log4j_version (full log: $mvnlog)"
  fi

  [[ -f "$staging/kafka_2.13-$KAFKA_VERSION.jar" && -f "$staging/kafka-tools-$KAFKA_VERSION.jar" ]] \
    || die "fetch finished but the Kafka jars are missing from $staging"
  # Publish atomically: a half-fetched libs/ is never visible under its name.
  rm -rf "$LIBS"
  mv "$staging" "$LIBS"
  date -u +%FT%TZ >"$MARKER"
  rm -rf "$tmp"
  trap - EXIT
  log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $((SECONDS - t0)) s"
}

# --- helpers -----------------------------------------------------------------

run_java_tool() {
  "$JAVA" "${TOOL_JVM[@]}" -cp "$LIBS/*" "$@"
}

write_tools_log4j() {
  mkdir -p "$RUN"
  cat >"$TOOLS_LOG4J" <<'EOF'
# Written by scripts/kafka-local.sh: CLI tools log WARN+ to stderr only.
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# The pid from the pid file, if that process is alive and really our broker
# (guards against a stale pid file whose pid was reused).
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $PROPS" || return 1
  printf '%s\n' "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The broker "answers" when an admin client can list topics through it; the
# port alone opens before the KRaft metadata is loaded.
broker_answers() {
  port_open "$KAFKA_PORT" || return 1
  timeout 30 "$JAVA" "${TOOL_JVM[@]}" -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1
}

write_config() {
  mkdir -p "$RUN" "$DATA"
  # Static quorum (controller.quorum.voters) rather than the 4.x quickstart's
  # dynamic one (controller.quorum.bootstrap.servers + format --standalone):
  # the dynamic quorum records the controller endpoint in the metadata log at
  # format time, so a later KAFKA_CONTROLLER_PORT change would break restarts.
  # This file is rewritten on every start, so the knobs always apply.
  cat >"$PROPS" <<EOF
# Written by scripts/kafka-local.sh — edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

num.partitions=3
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true

# Single node: every internal topic must get by with one replica. Few
# partitions keep the first consumer-group join / transaction fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# KIP-848 (group.protocol=consumer) groups: a member killed with -9 is dropped after
# 6 s rather than the 45 s default, so failover tests finish quickly.
group.consumer.min.session.timeout.ms=6000
group.consumer.session.timeout.ms=6000
group.consumer.min.heartbeat.interval.ms=1000
group.consumer.heartbeat.interval.ms=1000

# Small footprint for a laptop / a 2-core CI box.
num.network.threads=2
num.io.threads=4
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
EOF
  cat >"$BROKER_LOG4J" <<'EOF'
# Written by scripts/kafka-local.sh: everything goes to stdout, which start
# redirects to run/broker.log. INFO for Kafka itself, WARN for chatty parts.
status = error
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
EOF
  write_tools_log4j
}

format_storage_once() {
  # meta.properties is written by the formatter once the directory is complete.
  if [[ -f "$DATA/meta.properties" ]]; then
    return 0
  fi
  local cluster_id
  cluster_id=$(run_java_tool kafka.tools.StorageTool random-uuid)
  [[ -n "$cluster_id" ]] || die "StorageTool random-uuid printed nothing"
  log "formatting $DATA (cluster id $cluster_id)"
  if ! run_java_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" >"$RUN/format.log" 2>&1; then
    cat "$RUN/format.log" >&2
    die "storage format failed"
  fi
}

print_log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    log "last lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2
  fi
}

# --- subcommands -------------------------------------------------------------

cmd_fetch() {
  require_java17
  take_lock
  fetch_locked
  log "Kafka $KAFKA_VERSION classpath: $LIBS"
}

cmd_start() {
  require_java17
  take_lock
  local pid
  if pid=$(broker_pid); then
    log "already running (pid $pid) on $BOOTSTRAP"
    return 0
  fi
  rm -f "$PID_FILE"
  fetch_locked
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "127.0.0.1:$p is already in use by another process (not this script's broker)"
    fi
  done
  write_config
  format_storage_once

  local -a heap
  read -r -a heap <<<"$KAFKA_HEAP"
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  local t0=$SECONDS
  # setsid: its own session, so a test harness's Ctrl-C or `timeout` killing
  # the caller's process group does not take the broker down. setsid does not
  # fork here (a background job of a non-interactive shell is not a process
  # group leader), so $! is the java pid. 9>&- keeps the lock out of it.
  nohup setsid "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$BROKER_LOG4J" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" >"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started pid $pid, waiting up to ${READY_TIMEOUT_S}s for $BOOTSTRAP ..."

  while ((SECONDS - t0 < READY_TIMEOUT_S)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      print_log_tail
      rm -f "$PID_FILE"
      die "broker exited during startup"
    fi
    if broker_answers; then
      log "Kafka $KAFKA_VERSION ready on $BOOTSTRAP (pid $pid) after $((SECONDS - t0)) s; log: $LOG_FILE"
      return 0
    fi
    sleep 1
  done
  print_log_tail
  log "not ready after ${READY_TIMEOUT_S}s; stopping it"
  stop_pid "$pid"
  die "broker did not come up"
}

stop_pid() {
  local pid=$1 waited=0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT_S * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
}

cmd_stop() {
  take_lock
  local pid
  if pid=$(broker_pid); then
    log "stopping pid $pid"
    stop_pid "$pid"
    log "stopped"
  else
    rm -f "$PID_FILE"
    log "not running"
  fi
  if [[ "$KAFKA_WIPE" == 1 ]]; then
    rm -rf "$DATA"
    log "wiped $DATA"
  fi
}

cmd_status() {
  local pid
  if ! pid=$(broker_pid); then
    log "not running"
    return 1
  fi
  [[ -f "$TOOLS_LOG4J" ]] || write_tools_log4j
  if broker_answers; then
    log "running (pid $pid) and answering on $BOOTSTRAP"
    return 0
  fi
  log "running (pid $pid) but not answering on $BOOTSTRAP"
  return 1
}

cmd_tool() {
  (($# >= 1)) || die "usage: $0 tool <MainClass|alias> [args...]"
  local main=$1
  shift
  case "$main" in
    topics) main=org.apache.kafka.tools.TopicCommand ;;
    console-producer) main=org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    consumer-groups) main=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    storage) main=kafka.tools.StorageTool ;;
  esac
  if [[ ! -f "$MARKER" ]]; then
    require_java17
    take_lock
    fetch_locked
    exec 9>&-
  fi
  [[ -f "$TOOLS_LOG4J" ]] || write_tools_log4j
  exec "$JAVA" "${TOOL_JVM[@]}" -cp "$LIBS/*" "$main" "$@"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  tool) shift; cmd_tool "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
