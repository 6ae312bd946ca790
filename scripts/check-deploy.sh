#!/usr/bin/env bash
# Static checks of deploy/: Prometheus config, alert rules and their unit tests
# (promtool), the Grafana dashboard and provisioning, the Kubernetes manifests and the
# compose file. Needs promtool (Debian: `apt-get install prometheus`) and python3 (with
# PyYAML, installed with pip if missing). Runs no container and no cluster: there may be
# no Docker engine or Kubernetes API where it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'check-deploy: %s\n' "$*"; }
fail() { printf 'check-deploy: FAILED: %s\n' "$*" >&2; exit 1; }

# --- Prometheus ----------------------------------------------------------------------
if ! command -v promtool >/dev/null 2>&1; then
    fail "promtool not found on PATH. Install Debian's 'prometheus' package (apt-get install prometheus), which ships /usr/bin/promtool, or put promtool from a Prometheus release tarball on PATH."
fi
say "$(promtool --version 2>&1 | head -n 1)"

say "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml
say "promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml
say "promtool test rules deploy/prometheus/alerts.test.yml"
promtool test rules deploy/prometheus/alerts.test.yml

# --- JSON (Grafana dashboards) --------------------------------------------------------
mapfile -t json_files < <(find deploy/grafana -type f -name '*.json' | sort)
[ "${#json_files[@]}" -gt 0 ] || fail "no JSON file under deploy/grafana"
for f in "${json_files[@]}"; do
    say "python3 -m json.tool $f"
    python3 -m json.tool "$f" >/dev/null || fail "$f is not valid JSON"
done

# --- YAML, Kubernetes kinds, dashboard queries, metric names ------------------------
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
    say "PyYAML missing: pip install pyyaml"
    python3 -m pip install --quiet --user pyyaml \
        || fail "could not install PyYAML with pip; install Debian's python3-yaml instead"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say "YAML under deploy/k8s, deploy/grafana and deploy/docker-compose.yml; dashboard queries; metric names"
python3 - "$tmp/dashboard-queries.yml" <<'PY'
import glob, json, os, re, sys
import yaml

out_rules = sys.argv[1]
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]

# Every YAML file under deploy/ parses.
yaml_files = sorted(glob.glob("deploy/**/*.yml", recursive=True) + glob.glob("deploy/**/*.yaml", recursive=True))
docs = {}
for path in yaml_files:
    try:
        docs[path] = load_all(path)
    except yaml.YAMLError as e:
        errors.append(f"{path}: not valid YAML: {e}")

# Kubernetes: the expected kinds, one document per file.
expected = {
    "deploy/k8s/configmap.yaml": "ConfigMap",
    "deploy/k8s/deployment.yaml": "Deployment",
    "deploy/k8s/service.yaml": "Service",
    "deploy/k8s/secret.example.yaml": "Secret",
    "deploy/k8s/kustomization.yaml": "Kustomization",
}
k8s_files = sorted(p for p in docs if p.startswith("deploy/k8s/"))
for path in k8s_files:
    check(path in expected, f"{path}: unexpected file (expected: {sorted(expected)})")
for path, kind in expected.items():
    got = [d.get("kind") for d in docs.get(path, [])]
    check(got == [kind], f"{path}: expected one {kind}, found {got or 'nothing'}")
    for d in docs.get(path, []):
        check(bool(d.get("apiVersion")), f"{path}: {kind} without apiVersion")
        if kind != "Kustomization":
            check(bool((d.get("metadata") or {}).get("name")), f"{path}: {kind} without metadata.name")

def one(path):
    ds = docs.get(path) or [{}]
    return ds[0]

kust = one("deploy/k8s/kustomization.yaml")
for res in kust.get("resources", []):
    check(os.path.exists(os.path.join("deploy/k8s", res)), f"kustomization.yaml: resource {res} does not exist")
check("secret.example.yaml" not in kust.get("resources", []),
      "kustomization.yaml must not deploy the placeholder token of secret.example.yaml")
check(sorted(kust.get("resources", [])) == ["configmap.yaml", "deployment.yaml", "service.yaml"],
      f"kustomization.yaml: resources are {kust.get('resources')}")

dep = one("deploy/k8s/deployment.yaml")
spec = dep.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
ann = spec.get("template", {}).get("metadata", {}).get("annotations", {})
containers = pod.get("containers", [])
c = containers[0] if containers else {}
check(spec.get("replicas") == 1, "Deployment: replicas must be 1 (group figures need one instance owning all partitions)")
check(spec.get("strategy", {}).get("type") == "Recreate", "Deployment: strategy must be Recreate (no second consumer during a rollout)")
check(pod.get("terminationGracePeriodSeconds") == 60, "Deployment: terminationGracePeriodSeconds must be 60")
check(pod.get("enableServiceLinks") is False, "Deployment: enableServiceLinks must be false (service-link CHURNWATCH_* variables are unknown config keys)")
check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "Deployment: runAsNonRoot")
check(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, "Deployment: readOnlyRootFilesystem")
check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "Deployment: readinessProbe must be /readyz")
check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "Deployment: livenessProbe must be /healthz")
check(any(p.get("containerPort") == 9180 for p in c.get("ports", [])), "Deployment: containerPort 9180")
check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9180",
      "Deployment: prometheus.io/scrape and prometheus.io/port annotations")
res = c.get("resources", {})
check(all(res.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
      "Deployment: cpu and memory requests and limits")
env = {e.get("name"): e for e in c.get("env", [])}
tok = env.get("CHURNWATCH_HTTP__TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
secret = one("deploy/k8s/secret.example.yaml")
check(tok.get("name") == secret.get("metadata", {}).get("name") and tok.get("key") in secret.get("stringData", {}),
      "Deployment: CHURNWATCH_HTTP__TOKEN must come from the Secret of secret.example.yaml")
cm = one("deploy/k8s/configmap.yaml")
vols = [v.get("configMap", {}).get("name") for v in pod.get("volumes", [])]
check(cm.get("metadata", {}).get("name") in vols, "Deployment: must mount the ConfigMap")
svc = one("deploy/k8s/service.yaml")
check(any(p.get("port") == 9180 for p in svc.get("spec", {}).get("ports", [])), "Service: port 9180")
check(svc.get("spec", {}).get("selector", {}).items() <= spec.get("template", {}).get("metadata", {}).get("labels", {}).items(),
      "Service: selector does not match the pod labels")

# The ConfigMap's churnwatch.toml parses and uses only keys churnwatch knows (unknown keys
# are errors at start-up); the key list is churnwatch.example.toml, which a test keeps
# equal to the built-in defaults.
try:
    import tomllib
except ImportError:
    tomllib = None
if tomllib is None:
    print("check-deploy: note: python3 < 3.11, churnwatch.toml in the ConfigMap not parsed")
else:
    def keys(t, prefix=""):
        for k, v in t.items():
            yield prefix + k
            if isinstance(v, dict) and not k.endswith("properties"):
                yield from keys(v, prefix + k + ".")
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for x in v:
                    yield from keys(x, prefix + k + ".")
    try:
        conf = tomllib.loads(cm.get("data", {}).get("churnwatch.toml", ""))
        with open("churnwatch.example.toml", "rb") as f:
            known = set(keys(tomllib.load(f)))
        for k in keys(conf):
            check(k in known, f"configmap.yaml: churnwatch.toml key {k} is not in churnwatch.example.toml")
        check(conf.get("http", {}).get("bind", "").startswith("0.0.0.0:9180"),
              "configmap.yaml: [http] bind must be 0.0.0.0:9180 (probes and Prometheus reach the pod)")
        check("token" not in conf.get("http", {}), "configmap.yaml: the token belongs in the Secret")
    except tomllib.TOMLDecodeError as e:
        errors.append(f"configmap.yaml: churnwatch.toml is not valid TOML: {e}")

# Compose: the expected services, and the mounted paths exist.
compose = one("deploy/docker-compose.yml")
services = compose.get("services", {})
for s in ("kafka", "topics", "churnwatch", "prometheus", "grafana"):
    check(s in services, f"docker-compose.yml: service {s} missing")
cw_env = services.get("churnwatch", {}).get("environment", {})
check(cw_env.get("CHURNWATCH_HTTP__BIND") == "0.0.0.0:9180", "docker-compose.yml: churnwatch needs CHURNWATCH_HTTP__BIND=0.0.0.0:9180")
check("CHURNWATCH_HTTP__TOKEN" in cw_env, "docker-compose.yml: churnwatch needs CHURNWATCH_HTTP__TOKEN")
for name, svc_ in services.items():
    for v in svc_.get("volumes", []):
        src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith("."):
            check(os.path.exists(os.path.join("deploy", src)), f"docker-compose.yml: {name} mounts {src}, which does not exist")

# Grafana provisioning: a Prometheus datasource and a file provider whose path the
# compose file mounts.
for path in sorted(p for p in docs if p.startswith("deploy/grafana/provisioning/")):
    d = one(path)
    check(d.get("apiVersion") == 1, f"{path}: apiVersion: 1 expected")
    check(bool(d.get("datasources") or d.get("providers")), f"{path}: neither datasources nor providers")

# Metric names: everything churnwatch_* referenced by the alerts and the dashboard is one
# of the names the server exports (README, "Deploying and monitoring").
KNOWN = {
    "churnwatch_events_consumed_total", "churnwatch_events_rejected_total",
    "churnwatch_warnings_total", "churnwatch_warnings_capped_total",
    "churnwatch_commit_errors_total", "churnwatch_produce_errors_total",
    "churnwatch_event_to_warning_seconds", "churnwatch_watermark_lag_seconds",
    "churnwatch_watermark_timestamp_seconds", "churnwatch_consumer_lag_messages",
    "churnwatch_members_by_segment", "churnwatch_members_by_stage",
    "churnwatch_groups_by_activity_grade", "churnwatch_groups_by_output_grade",
    "churnwatch_members_tracked", "churnwatch_groups_tracked",
    "churnwatch_members_evicted_total", "churnwatch_members_dormant",
    "churnwatch_state_memory_bytes", "churnwatch_timers_pending",
    "churnwatch_partitions_assigned", "churnwatch_ready",
}
def metric_names(text):
    for m in re.findall(r"\bchurnwatch_[a-z_]+", text):
        yield re.sub(r"_(bucket|sum|count)$", "", m) if m.startswith("churnwatch_event_to_warning_seconds") else m

rules = one("deploy/prometheus/alerts.yml")
for g in rules.get("groups", []):
    for r in g.get("rules", []):
        for m in metric_names(r.get("expr", "")):
            check(m in KNOWN, f"alerts.yml: {r.get('alert')} uses unknown metric {m}")
        check(r.get("labels", {}).get("severity") in ("critical", "warning"), f"alerts.yml: {r.get('alert')} needs severity")
        check("for" in r, f"alerts.yml: {r.get('alert')} needs for:")
        check({"summary", "description"} <= set(r.get("annotations", {})), f"alerts.yml: {r.get('alert')} needs summary and description")

# Dashboard queries become recording rules (with Grafana's variables replaced) so that
# promtool can parse them as PromQL.
recording = []
for path in sorted(glob.glob("deploy/grafana/**/*.json", recursive=True)):
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    names = [v.get("name") for v in dash.get("templating", {}).get("list", [])]
    check("datasource" in names, f"{path}: no datasource variable")
    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))
    for p in walk(dash.get("panels", [])):
        ds = p.get("datasource")
        if p.get("type") != "row":
            check(isinstance(ds, dict) and ds.get("uid") == "${datasource}", f"{path}: panel {p.get('title')!r} does not use the datasource variable")
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            for m in metric_names(expr):
                check(m in KNOWN, f"{path}: panel {p.get('title')!r} uses unknown metric {m}")
            expr = expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
            check("$" not in expr, f"{path}: panel {p.get('title')!r}: unreplaced variable in {expr}")
            recording.append({"record": f"dashboard:query:{len(recording)}", "expr": expr})
check(len(recording) > 0, "no dashboard queries found")
with open(out_rules, "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": recording}]}, f)

if errors:
    for e in errors:
        print(f"check-deploy: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check-deploy: {len(yaml_files)} YAML files parse; k8s kinds {sorted(expected.values())}; {len(recording)} dashboard queries extracted")
PY

say "dashboard queries parse as PromQL (promtool check rules)"
promtool check rules "$tmp/dashboard-queries.yml" >/dev/null \
    || { promtool check rules "$tmp/dashboard-queries.yml" || true; fail "a dashboard query is not valid PromQL"; }

# --- Optional: render the kustomization if kubectl is around --------------------------
if command -v kubectl >/dev/null 2>&1; then
    say "kubectl kustomize deploy/k8s"
    kubectl kustomize deploy/k8s >/dev/null || fail "kubectl kustomize deploy/k8s"
else
    say "kubectl not found: kustomize rendering skipped"
fi

say "OK"
