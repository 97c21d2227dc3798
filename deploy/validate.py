#!/usr/bin/env python3
"""Validates the SpinKube manifests in deploy/ (run by deploy/validate.sh).

Checks, for every object in deploy/k8s/ (what `kubectl apply -f` applies)
and deploy/examples/ (example Secrets):

1. Schema, with unknown fields rejected everywhere:
   - SpinKube kinds (SpinApp, SpinAppExecutor) against the openAPIV3Schema of
     the served version of their CRD in ../shared/spinkube/, made strict:
     every object node without `additionalProperties` (or
     `x-kubernetes-preserve-unknown-fields`) gets `additionalProperties:
     false` (the API server would prune such keys silently, so a typo would
     vanish), `apiVersion` and `kind` must be the CRD's, `metadata` is
     Kubernetes' ObjectMeta (strict, from kubernetes-validate), `status` is
     refused, int32/int64 are range-checked.
   - Built-in kinds with kubernetes-validate's strict schemas, for every
     Kubernetes version in KUBE_VERSIONS. An apiVersion/kind pair it has no
     schema for is an error, never a warning.
   YAML with a duplicated key is refused (PyYAML would keep the last one).
2. Consistency, what no schema sees: every Spin variable the SpinApp sets is
   declared in spin.toml's [variables] and every required one is set;
   database_url and redis_url come from Secrets; every secretKeyRef /
   configMapKeyRef names an object and key that exist; fdfs_proxy_origin is
   the fdfs-proxy Service's address; selectors select pods; fdfs-proxy runs
   non-root, read-only, with probes and resources; Secrets live only in
   examples/ and every value there is a CHANGE-ME placeholder.
3. fdfs-proxy's real binary accepts the Deployment's flags and environment
   (started on 127.0.0.1:0 until it says it listens, then stopped).

`--self-test` then proves the checks can fail: it breaks copies of the
manifests in memory, one way at a time (misspelled fields, wrong
apiVersion/kind, missing required fields, undeclared variables, ...), and
expects each to be rejected with a specific message; and it misspells a
field in a copy of the files in a temporary directory and expects a run of
this script on that copy to fail. The last line is `N passed, M failed`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import functools
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The Kubernetes versions built-in kinds must be valid for: the oldest we
# claim to support and the newest kubernetes-validate knows.
KUBE_VERSIONS = ("1.30", "1.37")
PLACEHOLDER = "CHANGE-ME"
OBJECT_META_REF = (
    "https://kubernetes.io/api/_definitions.json#/$defs/"
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)
# Variables that make the replicas share state; each must come from a Secret.
STATE_VARIABLES = ("database_url", "redis_url")
SPIN_VARIABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# The spin-operator's Service for a SpinApp: named after the app, port 80.
SPINKUBE_SERVICE_PORT = 80


# --------------------------------------------------------------------------
# Loading


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping
)


@dataclass
class Manifest:
    file: str  # relative to the directory set's root, for messages
    doc: dict
    applied: bool  # in deploy/k8s/ (applied), or an example

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind"))

    @property
    def name(self) -> str:
        meta = self.doc.get("metadata")
        return str(meta.get("name")) if isinstance(meta, dict) else "?"

    @property
    def namespace(self) -> str | None:
        meta = self.doc.get("metadata")
        return meta.get("namespace") if isinstance(meta, dict) else None

    def label(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


def load_text(text: str, file: str, applied: bool) -> list[Manifest]:
    out = []
    for doc in yaml.load_all(text, Loader=UniqueKeyLoader):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"{file}: a document is not a mapping")
        out.append(Manifest(file, doc, applied))
    return out


def load_dir(directory: Path, applied: bool, errors: list[str]) -> list[Manifest]:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        errors.append(f"{directory}: no manifests")
    out = []
    for path in files:
        rel = f"{directory.name}/{path.name}"
        try:
            out.extend(load_text(path.read_text(), rel, applied))
        except (yaml.YAMLError, ValueError) as e:
            errors.append(f"{rel}: not valid YAML: {e}")
    return out


# --------------------------------------------------------------------------
# SpinKube CRDs, strict


def strict_schema(node: dict) -> dict:
    """A CRD structural schema as JSON Schema that refuses unknown keys."""
    out: dict = {}
    for key, value in node.items():
        if key in ("description", "default", "example", "nullable", "format"):
            continue
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [strict_schema(sub) for sub in value]
        else:
            out[key] = value
    fmt = node.get("format")
    if fmt == "int32":
        out.update(minimum=-(2**31), maximum=2**31 - 1)
    elif fmt == "int64":
        out.update(minimum=-(2**63), maximum=2**63 - 1)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if (
        node.get("type") == "object"
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        # With properties: only those. Without any: the API server keeps
        # nothing, so any key is one that would silently vanish.
        out["additionalProperties"] = False
    return out


@dataclass
class Crd:
    group: str
    kind: str
    served: dict[str, dict] = field(default_factory=dict)  # version -> strict schema


def load_crds(crd_dir: Path) -> dict[str, Crd]:
    """kind -> Crd, from every CustomResourceDefinition in crd_dir."""
    crds: dict[str, Crd] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            crd = Crd(spec["group"], spec["names"]["kind"])
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                schema = strict_schema(version["schema"]["openAPIV3Schema"])
                props = schema.setdefault("properties", {})
                props["apiVersion"] = {"const": f"{crd.group}/{version['name']}"}
                props["kind"] = {"const": crd.kind}
                props["metadata"] = {"$ref": OBJECT_META_REF}
                # A manifest states desired state; status is the operator's.
                props.pop("status", None)
                schema["additionalProperties"] = False
                schema["required"] = sorted(
                    set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"}
                )
                crd.served[version["name"]] = schema
            crds[crd.kind] = crd
    if not crds:
        raise SystemExit(f"no CustomResourceDefinitions in {crd_dir}")
    return crds


@functools.lru_cache(maxsize=None)
def k8s_definitions() -> Registry:
    """Kubernetes' own definitions (strict), for ObjectMeta inside CRD kinds."""
    version = kv_utils.latest_version()
    defs = kv_utils.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    return Resource.from_contents(defs) @ Registry()


def where(path) -> str:
    return ".".join(str(p) for p in path) or "(top)"


def crd_errors(m: Manifest, crds: dict[str, Crd]) -> list[str]:
    api_version = str(m.doc.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    crd = crds.get(m.kind)
    if crd is None:
        return [f"{m.label()}: kind {m.kind!r} is not a kind of {group} "
                f"(known: {', '.join(sorted(k for k, c in crds.items() if c.group == group))})"]
    if crd.group != group or version not in crd.served:
        return [f"{m.label()}: apiVersion {api_version!r} is not served for {m.kind} "
                f"(served: {', '.join(crd.group + '/' + v for v in crd.served)})"]
    validator = jsonschema.Draft202012Validator(crd.served[version], registry=k8s_definitions())
    errors = sorted(validator.iter_errors(m.doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{m.label()}: {where(e.absolute_path)}: {e.message}" for e in errors]


# --------------------------------------------------------------------------
# Built-in kinds: kubernetes-validate, strict


# The same schema files are read for every object; read each once.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


@functools.lru_cache(maxsize=None)
def _builtin_errors(doc_json: str, version: str) -> tuple[str, ...]:
    doc = json.loads(doc_json)
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return (f"{where(e.path)}: {e.message} (Kubernetes {e.version})",)
    except kubernetes_validate.SchemaNotFoundError as e:
        return (f"no schema for kind {e.kind!r} with apiVersion {e.api_version!r} "
                f"in Kubernetes {e.version}: wrong apiVersion or kind",)
    return ()


def builtin_errors(m: Manifest) -> list[str]:
    if not m.doc.get("apiVersion") or not m.doc.get("kind"):
        return [f"{m.label()}: apiVersion and kind are required"]
    doc_json = json.dumps(m.doc, sort_keys=True)
    out = []
    for version in KUBE_VERSIONS:
        out.extend(f"{m.label()}: {e}" for e in _builtin_errors(doc_json, version))
    return out


# --------------------------------------------------------------------------
# Consistency


def labels_match(selector: dict | None, labels: dict | None) -> bool:
    if not selector or not isinstance(selector, dict):
        return False
    return all((labels or {}).get(k) == v for k, v in selector.items())


def spin_variables(spin_toml: dict) -> dict[str, dict]:
    return {name: spec or {} for name, spec in spin_toml.get("variables", {}).items()}


def decoded_secret_values(doc: dict) -> dict[str, str]:
    values = dict(doc.get("stringData") or {})
    for key, value in (doc.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(str(value)).decode()
        except Exception:  # noqa: BLE001 - reported as a non-placeholder below
            values[key] = str(value)
    return values


class Index:
    """The objects by kind and name, for references between them."""

    def __init__(self, manifests: list[Manifest]):
        self.by_kind: dict[str, dict[str, Manifest]] = {}
        for m in manifests:
            self.by_kind.setdefault(m.kind, {})[m.name] = m

    def get(self, kind: str, name: str) -> Manifest | None:
        return self.by_kind.get(kind, {}).get(name)

    def all(self, kind: str) -> list[Manifest]:
        return list(self.by_kind.get(kind, {}).values())

    def keys_of(self, kind: str, name: str) -> set[str] | None:
        m = self.get(kind, name)
        if m is None:
            return None
        if kind == "Secret":
            return set(decoded_secret_values(m.doc))
        return set((m.doc.get("data") or {}).keys()) | set((m.doc.get("binaryData") or {}).keys())


def ref_error(where_: str, ref_kind: str, ref: dict, index: Index) -> str | None:
    """A secretKeyRef / configMapKeyRef that names nothing, unless optional."""
    kind = "Secret" if ref_kind == "secretKeyRef" else "ConfigMap"
    keys = index.keys_of(kind, str(ref.get("name", "")))
    if ref.get("optional") and (keys is None or ref.get("key") not in keys):
        return None
    if keys is None:
        return f"{where_}: {ref_kind} names {kind} {ref.get('name')!r}, which no manifest defines"
    if ref.get("key") not in keys:
        return (f"{where_}: {ref_kind}: {kind} {ref.get('name')} has no key {ref.get('key')!r} "
                f"(keys: {', '.join(sorted(keys))})")
    return None


def resolve_ref(ref_kind: str, ref: dict, index: Index) -> str | None:
    kind = "Secret" if ref_kind == "secretKeyRef" else "ConfigMap"
    m = index.get(kind, str(ref.get("name", "")))
    if m is None:
        return None
    values = decoded_secret_values(m.doc) if kind == "Secret" else (m.doc.get("data") or {})
    return values.get(ref.get("key"))


def pod_workloads(index: Index) -> list[tuple[str, dict, set[int], set[str]]]:
    """(what, pod labels, container ports, port names) of every pod template."""
    out = []
    for d in index.all("Deployment"):
        tmpl = d.doc.get("spec", {}).get("template", {})
        labels = tmpl.get("metadata", {}).get("labels", {})
        ports = [p for c in tmpl.get("spec", {}).get("containers", []) for p in c.get("ports", [])]
        out.append((f"Deployment/{d.name}", labels,
                    {p.get("containerPort") for p in ports}, {p.get("name") for p in ports}))
    for job in index.all("CronJob"):
        tmpl = job.doc.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {})
        labels = tmpl.get("metadata", {}).get("labels", {})
        ports = [p for c in tmpl.get("spec", {}).get("containers", []) for p in c.get("ports", [])]
        out.append((f"CronJob/{job.name}", labels,
                    {p.get("containerPort") for p in ports}, {p.get("name") for p in ports}))
    for app in index.all("SpinApp"):
        labels = dict(app.doc.get("spec", {}).get("podLabels") or {})
        labels["core.spinkube.dev/app-name"] = app.name
        out.append((f"SpinApp/{app.name}", labels, {SPINKUBE_SERVICE_PORT}, {"http-app"}))
    return out


def consistency_errors(manifests: list[Manifest], spin_toml: dict,
                       dockerfile: Path | None) -> list[str]:
    errors: list[str] = []
    index = Index(manifests)
    workloads = pod_workloads(index)

    # Names, namespaces, duplicates.
    namespaces = [m.name for m in index.all("Namespace")]
    seen = set()
    for m in manifests:
        meta = m.doc.get("metadata") or {}
        if not isinstance(meta, dict) or not meta.get("name"):
            errors.append(f"{m.label()}: metadata.name is required")
            continue
        if not DNS_SUBDOMAIN.match(str(meta["name"])) or len(str(meta["name"])) > 253:
            errors.append(f"{m.label()}: metadata.name {meta['name']!r} is not a DNS subdomain name")
        if m.kind != "Namespace":
            if not meta.get("namespace"):
                errors.append(f"{m.label()}: metadata.namespace is required (kubectl would use the current one)")
            elif namespaces and meta["namespace"] not in namespaces:
                errors.append(f"{m.label()}: namespace {meta['namespace']!r} is not the one deploy/ creates ({', '.join(namespaces)})")
        key = (m.kind, meta.get("namespace"), meta["name"])
        if key in seen:
            errors.append(f"{m.label()}: defined twice")
        seen.add(key)
        if m.kind in ("Deployment", "Service", "Ingress", "NetworkPolicy",
                      "PodDisruptionBudget") and not isinstance(m.doc.get("spec"), dict):
            errors.append(f"{m.label()}: spec is required")

    # Secrets: examples only, placeholders only.
    for s in index.all("Secret"):
        if s.applied:
            errors.append(f"{s.label()}: a Secret belongs in deploy/examples/, outside deploy/k8s/, "
                          "so that applying deploy/k8s/ never overwrites the real one")
        for key, value in decoded_secret_values(s.doc).items():
            if PLACEHOLDER not in value:
                errors.append(f"{s.label()}: value of {key!r} has no {PLACEHOLDER} marker: "
                              "example Secrets hold placeholders, never real values")

    # The SpinApp.
    declared = spin_variables(spin_toml)
    apps = index.all("SpinApp")
    if not apps:
        errors.append("no SpinApp in deploy/k8s/")
    for app in apps:
        spec = app.doc.get("spec") or {}
        replicas = spec.get("replicas")
        if not (isinstance(replicas, int) and replicas >= 2):
            errors.append(f"{app.label()}: spec.replicas is {replicas!r}; the deployment runs at least 2 replicas")
        executor = spec.get("executor")
        if executor and index.get("SpinAppExecutor", executor) is None:
            errors.append(f"{app.label()}: executor {executor!r} is not a SpinAppExecutor in deploy/k8s/")
        variables = spec.get("variables") or []
        names = [v.get("name") for v in variables if isinstance(v, dict)]
        for name in sorted({n for n in names if names.count(n) > 1}):
            errors.append(f"{app.label()}: variable {name!r} is set twice")
        for v in variables:
            if not isinstance(v, dict):
                continue
            name = v.get("name")
            here = f"{app.label()}: variable {name!r}"
            if not isinstance(name, str) or not SPIN_VARIABLE_NAME.match(name):
                errors.append(f"{here}: not a Spin variable name (lower-case letters, digits, _)")
            elif name not in declared:
                errors.append(f"{here}: not declared in spin.toml [variables] "
                              f"(declared: {', '.join(sorted(declared))})")
            if ("value" in v) == ("valueFrom" in v):
                errors.append(f"{here}: needs exactly one of value and valueFrom")
            source = v.get("valueFrom") or {}
            if len(source) > 1:
                errors.append(f"{here}: valueFrom names more than one source")
            for ref_kind in ("secretKeyRef", "configMapKeyRef"):
                if isinstance(source.get(ref_kind), dict):
                    err = ref_error(here, ref_kind, source[ref_kind], index)
                    if err:
                        errors.append(err)
            for other in set(source) - {"secretKeyRef", "configMapKeyRef"}:
                errors.append(f"{here}: valueFrom.{other} gives a pod field, not configuration")
            if name in STATE_VARIABLES and "secretKeyRef" not in source:
                errors.append(f"{here}: holds credentials, so it must come from a Secret (valueFrom.secretKeyRef)")
        for name, decl in sorted(declared.items()):
            required = decl.get("required", False) or "default" not in decl
            if required and name not in names:
                errors.append(f"{app.label()}: spin.toml variable {name!r} is required and the SpinApp does not set it")
        for name in STATE_VARIABLES:
            if name not in names:
                errors.append(f"{app.label()}: variable {name!r} is not set: without it every replica keeps its own state")

        # fdfs_proxy_origin is the fdfs-proxy Service.
        origin_var = next((v for v in variables if isinstance(v, dict) and v.get("name") == "fdfs_proxy_origin"), None)
        if origin_var is not None:
            source = origin_var.get("valueFrom") or {}
            origin = origin_var.get("value")
            for ref_kind in ("configMapKeyRef", "secretKeyRef"):
                if isinstance(source.get(ref_kind), dict):
                    origin = resolve_ref(ref_kind, source[ref_kind], index)
            svc = index.get("Service", "fdfs-proxy")
            if svc is None:
                errors.append(f"{app.label()}: no Service fdfs-proxy for fdfs_proxy_origin to name")
            else:
                ports = svc.doc.get("spec", {}).get("ports") or [{}]
                expected = {f"http://{svc.name}.{svc.namespace}.svc.cluster.local:{p.get('port')}" for p in ports}
                if str(origin).rstrip("/") not in expected:
                    errors.append(f"{app.label()}: fdfs_proxy_origin is {origin!r}, not the fdfs-proxy Service "
                                  f"({' or '.join(sorted(expected))})")
        header_var = next((v for v in variables if isinstance(v, dict) and v.get("name") == "client_ip_header"), None)
        if header_var is not None:
            source = header_var.get("valueFrom") or {}
            header = header_var.get("value")
            if isinstance(source.get("configMapKeyRef"), dict):
                header = resolve_ref("configMapKeyRef", source["configMapKeyRef"], index)
            if header is not None and not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]*", str(header)):
                errors.append(f"{app.label()}: client_ip_header {header!r} is not a header name")

    # Deployments: selectors, references, hardening, probes.
    for d in index.all("Deployment"):
        spec = d.doc.get("spec") or {}
        tmpl = spec.get("template") or {}
        labels = (tmpl.get("metadata") or {}).get("labels")
        if not labels_match((spec.get("selector") or {}).get("matchLabels"), labels):
            errors.append(f"{d.label()}: spec.selector.matchLabels does not match the pod template's labels")
        pod = tmpl.get("spec") or {}
        psc = pod.get("securityContext") or {}
        for c in pod.get("containers") or []:
            here = f"{d.label()}: container {c.get('name')!r}"
            csc = c.get("securityContext") or {}
            if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
                errors.append(f"{here}: runAsNonRoot is not set")
            if (csc.get("runAsUser", psc.get("runAsUser")) or 0) == 0:
                errors.append(f"{here}: runs as uid 0 (set runAsUser)")
            if csc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{here}: allowPrivilegeEscalation must be false")
            if csc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{here}: readOnlyRootFilesystem must be true")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                errors.append(f"{here}: capabilities must drop ALL")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        errors.append(f"{here}: resources.{part}.{r} is not set")
            for probe in ("readinessProbe", "livenessProbe"):
                if not c.get(probe):
                    errors.append(f"{here}: no {probe}")
            port_names = {p.get("name") for p in c.get("ports") or []}
            for probe in ("readinessProbe", "livenessProbe"):
                handler = (c.get(probe) or {}).get("httpGet") or (c.get(probe) or {}).get("tcpSocket") or {}
                if handler and handler.get("port") not in port_names | {p.get("containerPort") for p in c.get("ports") or []}:
                    errors.append(f"{here}: {probe} port {handler.get('port')!r} is not a container port")
            for env in c.get("env") or []:
                source = env.get("valueFrom") or {}
                for ref_kind in ("secretKeyRef", "configMapKeyRef"):
                    if isinstance(source.get(ref_kind), dict):
                        err = ref_error(f"{here}: env {env.get('name')}", ref_kind, source[ref_kind], index)
                        if err:
                            errors.append(err)
        if d.name == "fdfs-proxy":
            c = (pod.get("containers") or [{}])[0]
            probe = (c.get("readinessProbe") or {}).get("httpGet") or {}
            if probe.get("path") != "/health":
                errors.append(f"{d.label()}: readinessProbe must GET /health")
            if dockerfile is not None:
                user = re.search(r"^USER\s+(\d+)", dockerfile.read_text(), re.M)
                uid = (c.get("securityContext") or {}).get("runAsUser", psc.get("runAsUser"))
                if not user or int(user.group(1)) != uid:
                    errors.append(f"{d.label()}: runAsUser {uid} is not the USER of {dockerfile.name} "
                                  f"({user.group(1) if user else 'none'})")

    # Services, PodDisruptionBudgets, NetworkPolicies select real pods.
    for s in index.all("Service"):
        spec = s.doc.get("spec") or {}
        picked = [w for w in workloads if labels_match(spec.get("selector"), w[1])]
        if not picked:
            errors.append(f"{s.label()}: spec.selector selects no pod of deploy/k8s/")
        for p in spec.get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            if picked and not any(target in w[2] | w[3] for w in picked):
                errors.append(f"{s.label()}: targetPort {target!r} is no port of the pods it selects")
    for pdb in index.all("PodDisruptionBudget"):
        sel = ((pdb.doc.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if not any(labels_match(sel, w[1]) for w in workloads):
            errors.append(f"{pdb.label()}: selector selects no pod of deploy/k8s/")
    for np in index.all("NetworkPolicy"):
        spec = np.doc.get("spec") or {}
        targets = [w for w in workloads if labels_match((spec.get("podSelector") or {}).get("matchLabels"), w[1])]
        if not targets:
            errors.append(f"{np.label()}: podSelector selects no pod of deploy/k8s/")
        for rule in spec.get("ingress") or []:
            for peer in rule.get("from") or []:
                sel = (peer.get("podSelector") or {}).get("matchLabels")
                if sel and not any(labels_match(sel, w[1]) for w in workloads):
                    errors.append(f"{np.label()}: ingress from podSelector {sel} selects no pod of deploy/k8s/")
            for port in rule.get("ports") or []:
                if targets and not any(port.get("port") in w[2] | w[3] for w in targets):
                    errors.append(f"{np.label()}: port {port.get('port')!r} is no port of the pods it protects")

    # Ingress backends: a Service here, or the one SpinKube creates for a SpinApp.
    for ing in index.all("Ingress"):
        for rule in (ing.doc.get("spec") or {}).get("rules") or []:
            for path in ((rule.get("http") or {}).get("paths")) or []:
                svc = ((path.get("backend") or {}).get("service")) or {}
                name, port = svc.get("name"), (svc.get("port") or {}).get("number")
                if index.get("SpinApp", name) is not None:
                    ok = port == SPINKUBE_SERVICE_PORT
                else:
                    s = index.get("Service", name)
                    ok = s is not None and port in {p.get("port") for p in (s.doc.get("spec") or {}).get("ports") or []}
                if not ok:
                    errors.append(f"{ing.label()}: backend {name}:{port} is not a Service port of deploy/k8s/ "
                                  f"(SpinKube's Service for a SpinApp is named after it, port {SPINKUBE_SERVICE_PORT})")
    return errors


# --------------------------------------------------------------------------
# fdfs-proxy's own flag parser


def fdfs_proxy_errors(manifests: list[Manifest], binary: Path) -> list[str]:
    """Starts the real fdfs-proxy with the Deployment's args and env.

    `--listen` and `--state-dir` become loopback port 0 and a temporary
    directory; every other flag and variable is passed as deployed. It must
    say `Listening on ...` (it validates all configuration before that, and
    resolves trackers only when asked to serve), and is then stopped.
    """
    index = Index(manifests)
    d = index.get("Deployment", "fdfs-proxy")
    if d is None:
        return ["no Deployment fdfs-proxy"]
    c = d.doc["spec"]["template"]["spec"]["containers"][0]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
            continue
        source = e.get("valueFrom") or {}
        for ref_kind in ("secretKeyRef", "configMapKeyRef"):
            if isinstance(source.get(ref_kind), dict):
                value = resolve_ref(ref_kind, source[ref_kind], index)
                if value is not None:
                    env[e["name"]] = value
    args = [a for a in c.get("args") or []
            if not a.startswith(("--listen=", "--state-dir="))]
    with tempfile.TemporaryDirectory(prefix="deploy-fdfs-") as state, \
            tempfile.TemporaryFile(mode="w+") as stderr:
        args += ["--listen=127.0.0.1:0", f"--state-dir={state}"]
        proc = subprocess.Popen([str(binary), *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 20)
            line = proc.stdout.readline() if ready else ""
            if line.startswith("Listening on http://127.0.0.1:"):
                return []
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr.seek(0)
        said = (stderr.read().strip() or line.strip() or "nothing")[:400]
        return [f"{d.label()}: fdfs-proxy did not start with the Deployment's flags "
                f"(exit {proc.returncode}): {said}"]


# --------------------------------------------------------------------------
# All checks


@dataclass
class Inputs:
    manifests: list[Manifest]
    spin_toml: dict
    crds: dict[str, Crd]
    dockerfile: Path | None
    fdfs_proxy: Path | None


def validate(inputs: Inputs, with_binary: bool = True) -> list[str]:
    errors: list[str] = []
    crd_groups = {c.group for c in inputs.crds.values()}
    for m in inputs.manifests:
        group = str(m.doc.get("apiVersion", "")).rpartition("/")[0]
        if group in crd_groups:
            errors.extend(crd_errors(m, inputs.crds))
        else:
            errors.extend(builtin_errors(m))
    errors.extend(consistency_errors(inputs.manifests, inputs.spin_toml, inputs.dockerfile))
    if with_binary and inputs.fdfs_proxy is not None:
        errors.extend(fdfs_proxy_errors(inputs.manifests, inputs.fdfs_proxy))
    return errors


# --------------------------------------------------------------------------
# Self-test: every kind of mistake is caught


def find(inputs: Inputs, kind: str, name: str | None = None) -> dict:
    for m in inputs.manifests:
        if m.kind == kind and (name is None or m.name == name):
            return m.doc
    raise KeyError(f"{kind}/{name}")


def spinapp(i: Inputs) -> dict:
    return find(i, "SpinApp")


def fdfs_container(i: Inputs) -> dict:
    return find(i, "Deployment", "fdfs-proxy")["spec"]["template"]["spec"]["containers"][0]


def variable(i: Inputs, name: str) -> dict:
    return next(v for v in spinapp(i)["spec"]["variables"] if v["name"] == name)


def rename(d: dict, old: str, new: str) -> None:
    d[new] = d.pop(old)


def _move_secret_to_k8s(i: Inputs) -> None:
    next(m for m in i.manifests if m.kind == "Secret").applied = True


def _real_looking_secret(i: Inputs) -> None:
    find(i, "Secret", "ihome-postgres")["stringData"]["database_url"] = "postgres://ihome:hunter2@db:5432/ihome"


def _inline_database_url(i: Inputs) -> None:
    v = variable(i, "database_url")
    v.pop("valueFrom")
    v["value"] = "postgres://ihome:CHANGE-ME@db:5432/ihome"


def _required_variable(i: Inputs) -> None:
    i.spin_toml.setdefault("variables", {})["must_be_set"] = {"required": True}


# (what is broken, how, a piece of the message that must reject it, needs the binary)
MUTATIONS = [
    # Unknown fields, at every depth and in every validator.
    ("SpinApp: spec.replicas misspelled",
     lambda i: rename(spinapp(i)["spec"], "replicas", "replica"), "'replica' was unexpected", False),
    ("SpinApp: a misspelled key inside variables[].valueFrom.secretKeyRef",
     lambda i: rename(variable(i, "database_url")["valueFrom"]["secretKeyRef"], "name", "nmae"),
     "'nmae' was unexpected", False),
    ("SpinApp: a misspelled key in checks.readiness.httpGet",
     lambda i: rename(spinapp(i)["spec"]["checks"]["readiness"]["httpGet"], "path", "paht"),
     "'paht' was unexpected", False),
    ("SpinApp: metadata.labels misspelled (ObjectMeta is strict too)",
     lambda i: rename(spinapp(i)["metadata"], "labels", "lables"), "'lables' was unexpected", False),
    ("SpinApp: a status block",
     lambda i: spinapp(i).__setitem__("status", {"readyReplicas": 2}), "'status' was unexpected", False),
    ("SpinAppExecutor: a misspelled field",
     lambda i: rename(find(i, "SpinAppExecutor")["spec"]["deploymentConfig"], "runtimeClassName", "runtimeClass"),
     "'runtimeClass' was unexpected", False),
    ("Deployment: a misspelled container field",
     lambda i: rename(fdfs_container(i), "readinessProbe", "readynessProbe"),
     "'readynessProbe' was unexpected", False),
    ("Service: spec.selector misspelled",
     lambda i: rename(find(i, "Service")["spec"], "selector", "selctor"), "'selctor' was unexpected", False),
    ("Secret: stringData misspelled",
     lambda i: rename(find(i, "Secret"), "stringData", "stringdata"), "'stringdata' was unexpected", False),
    ("ConfigMap: a misspelled top-level field",
     lambda i: rename(find(i, "ConfigMap", "ihome-config"), "data", "dta"), "'dta' was unexpected", False),
    ("Ingress: a misspelled backend field",
     lambda i: rename(find(i, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"], "service", "svc"),
     "'svc' was unexpected", False),
    # Wrong apiVersion / kind.
    ("SpinApp: apiVersion core.spinkube.dev/v1",
     lambda i: spinapp(i).__setitem__("apiVersion", "core.spinkube.dev/v1"), "is not served for SpinApp", False),
    ("SpinApp: kind SpinApplication",
     lambda i: spinapp(i).__setitem__("kind", "SpinApplication"), "'SpinApplication' is not a kind", False),
    ("Deployment: apiVersion apps/v1beta1",
     lambda i: find(i, "Deployment").__setitem__("apiVersion", "apps/v1beta1"), "wrong apiVersion or kind", False),
    ("Service: kind Servce",
     lambda i: find(i, "Service").__setitem__("kind", "Servce"), "wrong apiVersion or kind", False),
    # Missing required fields and wrong types.
    ("SpinApp: no spec.image",
     lambda i: spinapp(i)["spec"].pop("image"), "'image' is a required property", False),
    ("SpinApp: no spec.executor",
     lambda i: spinapp(i)["spec"].pop("executor"), "'executor' is a required property", False),
    ("SpinApp: a variable without a name",
     lambda i: variable(i, "utc_offset").pop("name"), "'name' is a required property", False),
    ("SpinApp: replicas as a string",
     lambda i: spinapp(i)["spec"].__setitem__("replicas", "2"), "is not of type 'integer'", False),
    ("SpinAppExecutor: no createDeployment",
     lambda i: find(i, "SpinAppExecutor")["spec"].pop("createDeployment"),
     "'createDeployment' is a required property", False),
    ("Deployment: no spec.selector",
     lambda i: find(i, "Deployment")["spec"].pop("selector"), "'selector' is a required property", False),
    ("Deployment: a container without a name",
     lambda i: fdfs_container(i).pop("name"), "'name' is a required property", False),
    # Spin variables against spin.toml, and where they come from.
    ("SpinApp: a variable spin.toml does not declare",
     lambda i: spinapp(i)["spec"]["variables"].append({"name": "utc_ofset", "value": "+08:00"}),
     "not declared in spin.toml", False),
    ("spin.toml: a required variable the SpinApp does not set",
     _required_variable, "is required and the SpinApp does not set it", False),
    ("SpinApp: database_url inline instead of from a Secret",
     _inline_database_url, "must come from a Secret", False),
    ("SpinApp: no redis_url",
     lambda i: spinapp(i)["spec"].__setitem__(
         "variables", [v for v in spinapp(i)["spec"]["variables"] if v["name"] != "redis_url"]),
     "'redis_url' is not set", False),
    ("SpinApp: a secretKeyRef to a key the Secret lacks",
     lambda i: variable(i, "redis_url")["valueFrom"]["secretKeyRef"].__setitem__("key", "url"),
     "has no key 'url'", False),
    ("SpinApp: one replica",
     lambda i: spinapp(i)["spec"].__setitem__("replicas", 1), "at least 2 replicas", False),
    ("ConfigMap: fdfs_proxy_origin on the wrong port",
     lambda i: find(i, "ConfigMap", "ihome-config")["data"].__setitem__(
         "fdfs_proxy_origin", "http://fdfs-proxy.ihome.svc.cluster.local:8080"),
     "not the fdfs-proxy Service", False),
    # Secrets.
    ("Secret: inside deploy/k8s/", _move_secret_to_k8s, "belongs in deploy/examples/", False),
    ("Secret: a value without the CHANGE-ME marker", _real_looking_secret, "no CHANGE-ME marker", False),
    # Wiring and hardening.
    ("Service: selector matching no pod",
     lambda i: find(i, "Service")["spec"]["selector"].__setitem__("app.kubernetes.io/name", "fdfs"),
     "selects no pod", False),
    ("Ingress: backend on a port SpinKube's Service does not have",
     lambda i: find(i, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]
     .__setitem__("number", 3000), "is not a Service port", False),
    ("Deployment: fdfs-proxy may run as root",
     lambda i: find(i, "Deployment")["spec"]["template"]["spec"]["securityContext"].__setitem__("runAsNonRoot", False),
     "runAsNonRoot is not set", False),
    ("Deployment: a uid other than the image's USER",
     lambda i: find(i, "Deployment")["spec"]["template"]["spec"]["securityContext"].__setitem__("runAsUser", 1000),
     "is not the USER of", False),
    # fdfs-proxy's own parser.
    ("Deployment: an fdfs-proxy flag it does not have",
     lambda i: fdfs_container(i)["args"].append("--answer-timeout=8000"),
     "did not start with the Deployment's flags", True),
    ("ConfigMap: a tracker fdfs-proxy cannot parse",
     lambda i: find(i, "ConfigMap", "fdfs-proxy-config")["data"].__setitem__("tracker", "tracker-1.fastdfs.example"),
     "did not start with the Deployment's flags", True),
]


def self_test(inputs: Inputs, report) -> None:
    for what, mutate, expected, needs_binary in MUTATIONS:
        if needs_binary and inputs.fdfs_proxy is None:
            report(False, f"rejects {what}: no fdfs-proxy binary to run")
            continue
        broken = Inputs(copy.deepcopy(inputs.manifests), copy.deepcopy(inputs.spin_toml),
                        inputs.crds, inputs.dockerfile, inputs.fdfs_proxy)
        mutate(broken)
        errors = validate(broken, with_binary=needs_binary)
        hit = next((e for e in errors if expected in e), None)
        if hit:
            report(True, f"rejects {what}: {hit[:160]}")
        else:
            report(False, f"did NOT reject {what} (expected {expected!r}; got {errors[:3] or 'no error'})")
    # A duplicated key (PyYAML alone would keep the last value).
    try:
        load_text("kind: ConfigMap\ndata: {}\ndata: {}\n", "dup.yaml", True)
        report(False, "did NOT reject a duplicated YAML key")
    except yaml.YAMLError as e:
        report(True, f"rejects a duplicated YAML key: {str(e).splitlines()[0]}")


def broken_copy_test(args, report) -> None:
    """A field misspelled in a copy of the files, as a person would: this
    script run on that copy must fail and name the field."""
    with tempfile.TemporaryDirectory(prefix="deploy-broken-") as tmp:
        k8s, examples = Path(tmp) / "k8s", Path(tmp) / "examples"
        shutil.copytree(args.k8s, k8s)
        shutil.copytree(args.examples, examples)
        target = k8s / "30-spinapp.yaml"
        text = target.read_text()
        broken = re.sub(r"(?m)^  replicas:", "  replicsa:", text, count=1)
        if broken == text:
            report(False, f"broken copy: found no 'replicas:' to misspell in {target.name}")
            return
        target.write_text(broken)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--k8s", str(k8s), "--examples",
               str(examples), "--spin-toml", str(args.spin_toml), "--crds", str(args.crds),
               "--dockerfile", str(args.dockerfile)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        expected = "spec: Additional properties are not allowed ('replicsa' was unexpected)"
        if run.returncode == 1 and expected in run.stdout:
            line = next(l for l in run.stdout.splitlines() if expected in l)
            report(True, f"a copy with 'replicas' misspelled in a temp dir fails (exit 1): {line.strip()[:160]}")
        else:
            report(False, f"a copy with 'replicas' misspelled did NOT fail as expected "
                          f"(exit {run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-2000:]}")


# --------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k8s", type=Path, default=DEPLOY / "k8s", help="manifests that are applied")
    p.add_argument("--examples", type=Path, default=DEPLOY / "examples", help="example Secrets")
    p.add_argument("--spin-toml", type=Path, default=ROOT / "spin.toml")
    p.add_argument("--crds", type=Path,
                   default=Path(os.environ.get("IHOME_SPINKUBE_CRDS", ROOT.parent / "shared" / "spinkube")))
    p.add_argument("--dockerfile", type=Path, default=DEPLOY / "fdfs-proxy.Dockerfile")
    p.add_argument("--fdfs-proxy", type=Path, help="the fdfs-proxy binary, to check the Deployment's flags")
    p.add_argument("--self-test", action="store_true",
                   help="also prove that broken manifests are rejected")
    args = p.parse_args()

    passed = failed = 0

    def report(ok: bool, text: str) -> None:
        nonlocal passed, failed
        print(("ok    " if ok else "FAIL  ") + text, flush=True)
        if ok:
            passed += 1
        else:
            failed += 1

    if not args.crds.is_dir():
        print(f"FAIL  the SpinKube CRDs are not at {args.crds} (set IHOME_SPINKUBE_CRDS)")
        return 1
    load_errors: list[str] = []
    manifests = load_dir(args.k8s, True, load_errors) + load_dir(args.examples, False, load_errors)
    for e in load_errors:
        report(False, e)
    inputs = Inputs(manifests, tomllib.loads(args.spin_toml.read_text()), load_crds(args.crds),
                    args.dockerfile, args.fdfs_proxy)

    errors = validate(inputs, with_binary=False)
    crd_kinds = set(inputs.crds)
    for m in manifests:
        mine = [e for e in errors if e.startswith(m.label() + ":")]
        how = ("CRD " + next(iter(inputs.crds[m.kind].served)) + ", strict") if m.kind in crd_kinds \
            else f"kubernetes-validate strict, Kubernetes {' and '.join(KUBE_VERSIONS)}"
        report(not mine, f"{m.label()} ({how})" + "".join(f"\n      {e}" for e in mine))
    rest = [e for e in errors if not any(e.startswith(m.label() + ":") for m in manifests)]
    report(not rest, "cross-object checks" + "".join(f"\n      {e}" for e in rest))
    if args.fdfs_proxy is not None:
        errs = fdfs_proxy_errors(manifests, args.fdfs_proxy)
        report(not errs, "fdfs-proxy starts with the Deployment's args and env"
               + "".join(f"\n      {e}" for e in errs))

    if args.self_test:
        if errors or load_errors:
            report(False, "self-test skipped: the real manifests must pass first")
        else:
            self_test(inputs, report)
            broken_copy_test(args, report)

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
