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
    "deploy/k8s/notify-deployment.yaml": "Deployment",
    "deploy/k8s/tutors-configmap.yaml": "ConfigMap",
    "deploy/k8s/notify-secret.example.yaml": "Secret",
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
for placeholder in ("secret.example.yaml", "notify-secret.example.yaml"):
    check(placeholder not in kust.get("resources", []),
          f"kustomization.yaml must not deploy the placeholders of {placeholder}")
check(sorted(kust.get("resources", [])) == ["configmap.yaml", "deployment.yaml", "notify-deployment.yaml", "service.yaml", "tutors-configmap.yaml"],
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
        # Keys without a default are written there commented out: `# tutor_directory = …`.
        section = ""
        with open("churnwatch.example.toml", encoding="utf-8") as f:
            for line in f:
                if m := re.match(r"^\[([a-z_.]+)\]", line):
                    section = m.group(1) + "."
                elif m := re.match(r"^#\s*([a-z_]+)\s*=", line):
                    known.add(section + m.group(1))
        for k in keys(conf):
            check(k in known, f"configmap.yaml: churnwatch.toml key {k} is not in churnwatch.example.toml")
        check(conf.get("http", {}).get("bind", "").startswith("0.0.0.0:9180"),
              "configmap.yaml: [http] bind must be 0.0.0.0:9180 (probes and Prometheus reach the pod)")
        check("token" not in conf.get("http", {}), "configmap.yaml: the token belongs in the Secret")
    except tomllib.TOMLDecodeError as e:
        errors.append(f"configmap.yaml: churnwatch.toml is not valid TOML: {e}")

# The notifier: one replica, Recreate; a name label of its own (the engine's Service must
# not select it); /healthz and metrics on 9181; the tutor directory mounted as a
# directory (a subPath mount never sees a ConfigMap update, and the notifier reloads on
# one); its channels' secrets from the Secret of notify-secret.example.yaml.
ndep = one("deploy/k8s/notify-deployment.yaml")
nspec = ndep.get("spec", {})
ntemplate = nspec.get("template", {})
npod = ntemplate.get("spec", {})
nlabels = ntemplate.get("metadata", {}).get("labels", {})
nann = ntemplate.get("metadata", {}).get("annotations", {})
nc = (npod.get("containers") or [{}])[0]
check(nspec.get("replicas") == 1, "notify-deployment.yaml: replicas must be 1 (a robot's rate budget and a tutor's batches are per process)")
check(nspec.get("strategy", {}).get("type") == "Recreate", "notify-deployment.yaml: strategy must be Recreate")
check(npod.get("enableServiceLinks") is False, "notify-deployment.yaml: enableServiceLinks must be false")
check(npod.get("securityContext", {}).get("runAsNonRoot") is True, "notify-deployment.yaml: runAsNonRoot")
check(nc.get("securityContext", {}).get("readOnlyRootFilesystem") is True, "notify-deployment.yaml: readOnlyRootFilesystem")
check(nc.get("args", [])[:1] == ["notify"], f"notify-deployment.yaml: args must start with notify, not {nc.get('args')}")
check(not (svc.get("spec", {}).get("selector", {}).items() <= nlabels.items()),
      "Service churnwatch selects the notifier's pod too: give it its own app.kubernetes.io/name")
check(any(p.get("containerPort") == 9181 for p in nc.get("ports", [])), "notify-deployment.yaml: containerPort 9181")
check(nc.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "notify-deployment.yaml: livenessProbe must be /healthz")
check(nann.get("prometheus.io/scrape") == "true" and nann.get("prometheus.io/port") == "9181",
      "notify-deployment.yaml: prometheus.io/scrape and prometheus.io/port 9181")
nres = nc.get("resources", {})
check(all(nres.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
      "notify-deployment.yaml: cpu and memory requests and limits")
nenv = {e.get("name"): e for e in nc.get("env", [])}
check(nenv.get("CHURNWATCH_NOTIFY__BIND", {}).get("value") == "0.0.0.0:9181", "notify-deployment.yaml: CHURNWATCH_NOTIFY__BIND=0.0.0.0:9181")
nvols = {v.get("name"): v for v in npod.get("volumes", [])}
nmounts = nc.get("volumeMounts", [])
tutors_cm = one("deploy/k8s/tutors-configmap.yaml")
tutors_name = tutors_cm.get("metadata", {}).get("name")
tmounts = [m for m in nmounts if nvols.get(m.get("name"), {}).get("configMap", {}).get("name") == tutors_name]
directory_path = nenv.get("CHURNWATCH_NOTIFY__DIRECTORY", {}).get("value", "")
check(len(tmounts) == 1 and "subPath" not in tmounts[0]
      and directory_path == tmounts[0].get("mountPath", "").rstrip("/") + "/tutors.toml",
      "notify-deployment.yaml: CHURNWATCH_NOTIFY__DIRECTORY must be tutors.toml in a directory mount (no subPath) of the ConfigMap of tutors-configmap.yaml")
nsecret = one("deploy/k8s/notify-secret.example.yaml")
nsecret_name = nsecret.get("metadata", {}).get("name")
check(any(e.get("secretRef", {}).get("name") == nsecret_name for e in nc.get("envFrom", [])),
      "notify-deployment.yaml: envFrom must name the Secret of notify-secret.example.yaml")
# Files mounted from that Secret: mount path + item path.
secret_files = set()
for m in nmounts:
    sv = nvols.get(m.get("name"), {}).get("secret", {})
    if sv.get("secretName") == nsecret_name:
        for item in sv.get("items", []):
            check(item.get("key") in nsecret.get("stringData", {}), f"notify-deployment.yaml: secret item {item.get('key')} is not in notify-secret.example.yaml")
            secret_files.add(m.get("mountPath", "").rstrip("/") + "/" + item.get("path", ""))
check(any(m.get("mountPath") == "/etc/churnwatch-tutors" for m in c.get("volumeMounts", [])),
      "deployment.yaml: the engine mounts the tutor directory at /etc/churnwatch-tutors ([http] tutor_directory)")

# Compose: the expected services, and the mounted paths exist.
compose = one("deploy/docker-compose.yml")
services = compose.get("services", {})
for s in ("kafka", "topics", "churnwatch", "notify", "prometheus", "grafana"):
    check(s in services, f"docker-compose.yml: service {s} missing")
cw_env = services.get("churnwatch", {}).get("environment", {})
check(cw_env.get("CHURNWATCH_HTTP__BIND") == "0.0.0.0:9180", "docker-compose.yml: churnwatch needs CHURNWATCH_HTTP__BIND=0.0.0.0:9180")
check("CHURNWATCH_HTTP__TOKEN" in cw_env, "docker-compose.yml: churnwatch needs CHURNWATCH_HTTP__TOKEN")
for name, svc_ in services.items():
    for v in svc_.get("volumes", []):
        src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
        if src.startswith("."):
            check(os.path.exists(os.path.join("deploy", src)), f"docker-compose.yml: {name} mounts {src}, which does not exist")

notify_svc = services.get("notify", {})
notify_env = notify_svc.get("environment", {})
check(notify_svc.get("command", [])[:1] == ["notify"], "docker-compose.yml: the notify service runs `churnwatch notify`")
check(notify_env.get("CHURNWATCH_NOTIFY__BIND") == "0.0.0.0:9181", "docker-compose.yml: notify needs CHURNWATCH_NOTIFY__BIND=0.0.0.0:9181")
prom = one("deploy/prometheus/prometheus.yml")
check(any(j.get("job_name") == "churnwatch-notify" for j in prom.get("scrape_configs", [])),
      "prometheus.yml: no scrape job churnwatch-notify (alerts.yml's notifier rules need it)")

# The tutor directory: the ConfigMap's equals deploy/tutors.example.toml but for
# page_url; every channel a tutor or the fallback names exists; every secret it names is
# in notify-secret.example.yaml (and the compose notify service), every secret file is
# mounted from it.
if tomllib is not None:
    try:
        cm_dir = tomllib.loads(tutors_cm.get("data", {}).get("tutors.toml", ""))
        with open("deploy/tutors.example.toml", "rb") as f:
            example_dir = tomllib.load(f)
        drop = lambda d: {k: v for k, v in d.items() if k != "page_url"}
        check(drop(cm_dir) == drop(example_dir), "tutors-configmap.yaml: differs from deploy/tutors.example.toml (beyond page_url)")
        channels = cm_dir.get("channels", {})
        named = [cm_dir.get("fallback")] + [ch for t in cm_dir.get("tutors", {}).values() for ch in t.get("channels", [])]
        for ch in named:
            check(ch in channels, f"tutors-configmap.yaml: channel {ch} is named but not defined")
        for name, ch in channels.items():
            for key in ("secret_env", "url_env"):
                if key in ch:
                    check(ch[key] in nsecret.get("stringData", {}), f"notify-secret.example.yaml: no {ch[key]} (channel {name}'s {key})")
                    check(ch[key] in notify_env, f"docker-compose.yml: the notify service sets no {ch[key]} (channel {name}'s {key})")
            if "secret_file" in ch:
                check(ch["secret_file"] in secret_files, f"notify-deployment.yaml: {ch['secret_file']} (channel {name}) is not mounted from the Secret")
    except tomllib.TOMLDecodeError as e:
        errors.append(f"tutors-configmap.yaml / deploy/tutors.example.toml: not valid TOML: {e}")

# Grafana provisioning: a Prometheus datasource and a file provider whose path the
# compose file mounts.
for path in sorted(p for p in docs if p.startswith("deploy/grafana/provisioning/")):
    d = one(path)
    check(d.get("apiVersion") == 1, f"{path}: apiVersion: 1 expected")
    check(bool(d.get("datasources") or d.get("providers")), f"{path}: neither datasources nor providers")

# Metric names: everything churnwatch_* referenced by the alerts and the dashboard is one
# of the names the server exports (README, "Deploying and monitoring").
# The names the code registers (string literals churnwatch_… under src/), so that this
# list cannot fall behind the code.
KNOWN = set()
for path in glob.glob("src/**/*.rs", recursive=True):
    with open(path, encoding="utf-8") as f:
        KNOWN.update(re.findall(r'"(churnwatch_[a-z_]+)', f.read()))
HISTOGRAMS = {m for m in KNOWN if m.endswith("_seconds")}
def metric_names(text):
    for m in re.findall(r"\bchurnwatch_[a-z_]+", text):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        yield base if base in HISTOGRAMS else m


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
