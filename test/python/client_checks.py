"""
Drives the Cairn API emulator with the official Kubernetes Python client (Debian's
python3-kubernetes), a client no one on this project wrote: what it does is what a cluster's users
and tools do. Run by test/python/python-client.test.ts, which starts the emulator and reads the
results.

    python3 client_checks.py KUBECONFIG NAMESPACE

Prints one JSON object a line, {"check": name, "ok": bool, "detail": text}, and exits 0 when
every check ran (a failed check is a result, not a crash). Only the client's public API is used.
"""

import json
import sys
import time
import traceback

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

KUBECONFIG, NS = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=KUBECONFIG)
api = client.ApiClient()
core = client.CoreV1Api(api)
custom = client.CustomObjectsApi(api)
dyn = dynamic.DynamicClient(api)
configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")

GROUP, VERSION, PLURAL = "backup.cairn.dev", "v1alpha1", "backups"
DEADLINE_S = 20


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


def cm(name, data=None, labels=None, owners=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels, owner_references=owners),
        data=data,
    )


def status_of(fn):
    try:
        fn()
    except ApiException as e:
        return e.status, json.loads(e.body) if e.body else {}
    return 200, {}


def eventually(probe, what):
    until = time.monotonic() + DEADLINE_S
    while True:
        v = probe()
        if v:
            return v
        if time.monotonic() > until:
            raise Failed("not reached: " + what)
        time.sleep(0.05)


def exists(name):
    return status_of(lambda: core.read_namespaced_config_map(name, NS))[0] == 200


def check_crud():
    made = core.create_namespaced_config_map(NS, cm("crud", {"a": "1"}, {"app": "py"}))
    expect(made.metadata.uid and made.metadata.resource_version, "uid and resourceVersion set")
    got = core.read_namespaced_config_map("crud", NS)
    expect(got.data == {"a": "1"}, "read back: %r" % got.data)
    got.data["a"] = "2"
    replaced = core.replace_namespaced_config_map("crud", NS, got)
    expect(replaced.data["a"] == "2", "replaced")
    expect(replaced.metadata.resource_version != made.metadata.resource_version, "resourceVersion moved")
    gone = core.delete_namespaced_config_map("crud", NS)
    expect(gone.status == "Success" and gone.details.name == "crud", "delete answers a Status: %r" % gone)
    expect(status_of(lambda: core.read_namespaced_config_map("crud", NS))[0] == 404, "404 after delete")
    return "create, read, replace, delete"


def check_list_selectors_pagination():
    for i in range(5):
        core.create_namespaced_config_map(NS, cm("page-%d" % i, {"i": str(i)}, {"tier": "a" if i < 3 else "b"}))
    a = core.list_namespaced_config_map(NS, label_selector="tier=a")
    expect(sorted(x.metadata.name for x in a.items) == ["page-0", "page-1", "page-2"], "tier=a")
    notin = core.list_namespaced_config_map(NS, label_selector="tier,tier notin (a)")
    expect(sorted(x.metadata.name for x in notin.items) == ["page-3", "page-4"], "notin")
    byname = core.list_namespaced_config_map(NS, field_selector="metadata.name=page-1")
    expect([x.metadata.name for x in byname.items] == ["page-1"], "field selector")
    names, token, pages = [], None, 0
    while True:
        kw = {"label_selector": "tier in (a,b)", "limit": 2}
        if token:
            kw["_continue"] = token
        page = core.list_namespaced_config_map(NS, **kw)
        pages += 1
        expect(len(page.items) <= 2, "a page holds at most limit items")
        names += [x.metadata.name for x in page.items]
        token = page.metadata._continue
        if not token:
            break
    expect(sorted(names) == ["page-%d" % i for i in range(5)], "all pages: %r" % names)
    expect(pages == 3, "3 pages of 2, got %d" % pages)
    return "label, set-based and field selectors; %d pages" % pages


def check_json_patch():
    core.create_namespaced_config_map(NS, cm("jp", {"a": "1"}))
    # The client sends a list body as application/json-patch+json.
    out = core.patch_namespaced_config_map("jp", NS, [{"op": "replace", "path": "/data/a", "value": "3"},
                                                      {"op": "add", "path": "/data/b", "value": "4"}])
    expect(out.data == {"a": "3", "b": "4"}, "json patch: %r" % out.data)
    code, body = status_of(lambda: core.patch_namespaced_config_map(
        "jp", NS, [{"op": "test", "path": "/data/a", "value": "nope"}]))
    expect(code == 422, "a failed test op is 422, got %d %r" % (code, body))
    return "replace, add; failed test op refused"


def check_merge_patch():
    core.create_namespaced_config_map(NS, cm("mp", {"a": "1", "b": "2"}))
    out = dyn.patch(configmaps, name="mp", namespace=NS, body={"data": {"a": None, "c": "3"}},
                    content_type="application/merge-patch+json")
    expect(out.to_dict()["data"] == {"b": "2", "c": "3"}, "merge patch: %r" % out.to_dict())
    smp = dyn.patch(configmaps, name="mp", namespace=NS, body={"data": {"d": "4"}})
    expect(smp.to_dict()["data"] == {"b": "2", "c": "3", "d": "4"}, "strategic merge (the default)")
    return "merge patch null deletes; strategic merge adds"


def backup(name):
    return {"apiVersion": GROUP + "/" + VERSION, "kind": "Backup", "metadata": {"name": name},
            "spec": {"policyRef": {"kind": "BackupPolicy", "name": "nightly"}}}


def check_status_subresource():
    made = custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, backup("st"))
    expect("status" not in made, "status dropped on create")
    expect(made["metadata"]["generation"] == 1, "generation 1")
    st = custom.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "st",
                                                      {"status": {"phase": "Running"}})
    expect(st["status"]["phase"] == "Running", "status written through /status")
    expect(st["metadata"]["generation"] == 1, "a status write keeps the generation")
    main = custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "st",
                                                 {"status": {"phase": "Completed"},
                                                  "metadata": {"labels": {"x": "y"}}})
    expect(main["status"]["phase"] == "Running", "status ignored on the main resource")
    expect(main["metadata"]["labels"] == {"x": "y"}, "metadata applied")
    spec = custom.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "st",
                                                 {"spec": {"deletionPolicy": "Retain"}})
    expect(spec["metadata"]["generation"] == 2, "a spec change bumps the generation")
    got = custom.get_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "st")
    expect(got["status"]["phase"] == "Running", "read through /status")
    return "create, /status patch and read, generation"


def check_stale_resource_version():
    core.create_namespaced_config_map(NS, cm("stale", {"a": "1"}))
    first = core.read_namespaced_config_map("stale", NS)
    second = core.read_namespaced_config_map("stale", NS)
    first.data["a"] = "2"
    core.replace_namespaced_config_map("stale", NS, first)
    second.data["a"] = "3"
    code, body = status_of(lambda: core.replace_namespaced_config_map("stale", NS, second))
    expect(code == 409 and body.get("reason") == "Conflict", "409 Conflict, got %d %r" % (code, body))
    expect("the object has been modified" in body.get("message", ""), body.get("message"))
    cr = custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, backup("stale"))
    cr["spec"]["deletionPolicy"] = "Retain"
    custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "stale", cr)
    code, _ = status_of(lambda: custom.replace_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "stale", cr))
    expect(code == 409, "a custom object replaced with a stale resourceVersion: %d" % code)
    return "replace with a stale resourceVersion: 409 Conflict"


def check_watch_from_resource_version():
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, cm("w1", {"a": "1"}))
    core.patch_namespaced_config_map("w1", NS, [{"op": "add", "path": "/data/b", "value": "2"}])
    core.delete_namespaced_config_map("w1", NS)
    seen, bookmarks = [], 0
    w = watch.Watch()
    started = time.monotonic()
    for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=2,
                       allow_watch_bookmarks=True, field_selector="metadata.name=w1"):
        if ev["type"] == "BOOKMARK":
            bookmarks += 1
            expect(int(ev["raw_object"]["metadata"]["resourceVersion"]) >= int(rv), "bookmark rv")
        else:
            seen.append((ev["type"], ev["object"].metadata.name))
    expect(seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], "events: %r" % seen)
    expect(bookmarks >= 1, "at least one BOOKMARK in 2 s (the test server sends them often)")
    expect(time.monotonic() - started < DEADLINE_S, "the server ended the watch at its timeout")
    return "%d events, %d bookmarks, ended by timeoutSeconds" % (len(seen), bookmarks)


def check_watch_too_old():
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, cm("churn", {"n": "0"}))
    for i in range(60):
        core.patch_namespaced_config_map("churn", NS, [{"op": "replace", "path": "/data/n", "value": str(i)}])
    try:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=2):
            pass
    except ApiException as e:
        expect(e.status == 410, "410 Gone, got %r" % e.status)
        return "410 for a resourceVersion older than the history: %s" % e.reason
    raise Failed("no 410 for a resourceVersion older than the kept history")


def owned_by(owner):
    return [client.V1OwnerReference(api_version="v1", kind="ConfigMap", name=owner.metadata.name,
                                    uid=owner.metadata.uid, block_owner_deletion=True)]


def check_delete_propagation():
    out = []
    for policy in ["Foreground", "Background", "Orphan", "orphanDependents=True"]:
        tag = policy.split("=")[0].lower()
        owner = core.create_namespaced_config_map(NS, cm("owner-" + tag))
        for i in range(2):
            core.create_namespaced_config_map(NS, cm("dep-%s-%d" % (tag, i), owners=owned_by(owner)))
        if policy == "orphanDependents=True":
            core.delete_namespaced_config_map(owner.metadata.name, NS, orphan_dependents=True)
        else:
            core.delete_namespaced_config_map(owner.metadata.name, NS,
                                              body=client.V1DeleteOptions(propagation_policy=policy))
        eventually(lambda: not exists(owner.metadata.name), policy + ": owner gone")
        orphaned = policy in ("Orphan", "orphanDependents=True")
        for i in range(2):
            name = "dep-%s-%d" % (tag, i)
            if orphaned:
                dep = eventually(lambda: (lambda d: d if not d.metadata.owner_references else None)(
                    core.read_namespaced_config_map(name, NS)), policy + ": ownerReferences removed")
                expect(dep.metadata.name == name, name)
            else:
                eventually(lambda: not exists(name), policy + ": dependent deleted")
        out.append(policy)
    # Foreground: while a dependent holds a finalizer, the owner waits with foregroundDeletion.
    owner = core.create_namespaced_config_map(NS, cm("owner-held"))
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(
        name="dep-held", owner_references=owned_by(owner), finalizers=["example.com/hold"])))
    core.delete_namespaced_config_map("owner-held", NS, propagation_policy="Foreground")
    waiting = eventually(lambda: (lambda o: o if o.metadata.deletion_timestamp else None)(
        core.read_namespaced_config_map("owner-held", NS)), "owner marked for deletion")
    expect("foregroundDeletion" in (waiting.metadata.finalizers or []), "foregroundDeletion finalizer")
    core.patch_namespaced_config_map("dep-held", NS, [{"op": "remove", "path": "/metadata/finalizers"}])
    eventually(lambda: not exists("owner-held") and not exists("dep-held"), "both gone once released")
    return ", ".join(out) + "; foreground waits for a held dependent"


def managers(obj):
    return sorted((m.manager, m.operation) for m in (obj.metadata.managed_fields or []))


def apply(path, body, manager, force=None):
    """Server-side apply through the client's ApiClient.call_api: client 22.x's REST layer cannot
    encode a dict as application/apply-patch+yaml (dynamic.server_side_apply fails before sending),
    so the body goes as JSON text, which is YAML."""
    query = [("fieldManager", manager)]
    if force is not None:
        query.append(("force", force))
    return api.call_api(path, "PATCH", query_params=query, body=json.dumps(body),
                        header_params={"Content-Type": "application/apply-patch+yaml",
                                       "Accept": "application/json"},
                        response_type="object", auth_settings=["BearerToken"],
                        _return_http_data_only=True, _preload_content=True)


def check_server_side_apply():
    path = "/api/v1/namespaces/%s/configmaps/ssa" % NS
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"a": "1"}},
           "data": {"a": "1", "b": "2"}}
    applied = apply(path, doc, "py-apply")
    expect(applied["data"] == {"a": "1", "b": "2"}, "apply creates: %r" % applied)
    got = core.read_namespaced_config_map("ssa", NS)
    expect(("py-apply", "Apply") in managers(got), "managedFields names the applier: %r" % managers(got))
    entry = [m for m in got.metadata.managed_fields if m.manager == "py-apply"][0]
    expect(entry.fields_type == "FieldsV1" and "f:data" in entry.fields_v1, "fieldsV1: %r" % entry.fields_v1)
    expect(entry.time is not None, "time")
    # Another manager changes a field the applier owns: an update takes it over.
    core.patch_namespaced_config_map("ssa", NS, [{"op": "replace", "path": "/data/a", "value": "9"}],
                                     field_manager="py-editor")
    got = core.read_namespaced_config_map("ssa", NS)
    expect(("py-editor", "Update") in managers(got), "the editor is a manager: %r" % managers(got))
    # Applying a value another manager owns conflicts, unless forced (force=True, as Python writes it).
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": {"a": "1"}},
           "data": {"a": "1", "b": "2"}}
    code, body = status_of(lambda: apply(path, doc, "py-apply"))
    expect(code == 409 and body.get("reason") == "Conflict", "conflict: %d %r" % (code, body))
    expect("py-editor" in body.get("message", "") and ".data.a" in body.get("message", ""), body.get("message"))
    forced = apply(path, doc, "py-apply", force=True)
    expect(forced["data"] == {"a": "1", "b": "2"}, "forced apply wins: %r" % forced["data"])
    # A field the applier stops applying (and no one else owns) is removed.
    dropped = apply(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
                           "data": {"a": "1"}}, "py-apply")
    expect(dropped["data"] == {"a": "1"}, "b removed when no longer applied: %r" % dropped["data"])
    expect("labels" not in dropped["metadata"], "labels removed when no longer applied")
    # Custom resources too, with the CRD's defaults.
    made = apply("/apis/%s/%s/namespaces/%s/%s/ssa" % (GROUP, VERSION, NS, PLURAL), backup("ssa"), "py-apply")
    expect(made["spec"]["policyRef"]["name"] == "nightly", "apply creates a custom object")
    expect(made["spec"]["deletionPolicy"] == "Delete", "defaults applied")
    return "create by apply, managedFields, conflict, force, removal of unapplied fields"


def check_managed_fields_on_writes():
    made = core.create_namespaced_config_map(NS, cm("mf", {"a": "1"}), field_manager="py-create")
    expect(managers(made) == [("py-create", "Update")], "create: %r" % managers(made))
    t = made.metadata.managed_fields[0]
    expect(t.api_version == "v1" and t.fields_type == "FieldsV1", "entry shape")
    expect(t.fields_v1 == {"f:data": {".": {}, "f:a": {}}}, "fieldsV1 of create: %r" % t.fields_v1)
    made.data["b"] = "2"
    upd = core.replace_namespaced_config_map("mf", NS, made, field_manager="py-update")
    expect(managers(upd) == [("py-create", "Update"), ("py-update", "Update")], "update: %r" % managers(upd))
    cr = custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, backup("mf"))
    st = custom.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "mf",
                                                      {"status": {"phase": "Running"}}, field_manager="py-status")
    subs = [(m["manager"], m.get("subresource")) for m in st["metadata"]["managedFields"]]
    expect(("py-status", "status") in subs, "a status write is recorded with subresource status: %r" % subs)
    expect(len(cr["metadata"]["managedFields"]) == 1, "the creator of a custom object is recorded")
    return "create, update and status writes recorded per manager"


def check_all_namespaces_and_dry_run():
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS + "-other")))
    core.create_namespaced_config_map(NS + "-other", cm("across", labels={"spread": "yes"}))
    core.create_namespaced_config_map(NS, cm("across", labels={"spread": "yes"}))
    both = core.list_config_map_for_all_namespaces(label_selector="spread=yes")
    expect(sorted(x.metadata.namespace for x in both.items) == sorted([NS, NS + "-other"]), "all namespaces")
    dry = core.create_namespaced_config_map(NS, cm("dry", {"a": "1"}), dry_run="All")
    expect(dry.metadata.name == "dry" and dry.metadata.uid, "a dry run answers the object")
    expect(not exists("dry"), "a dry run stores nothing")
    code, body = status_of(lambda: core.read_namespaced_config_map("absent", NS))
    expect(code == 404 and body.get("reason") == "NotFound", "404 NotFound: %r" % body)
    expect(body.get("details", {}).get("kind") == "configmaps", "details.kind is the resource")
    return "list across namespaces, dryRun=All, 404 Status"


def check_events_and_times():
    import datetime
    first = datetime.datetime(2026, 11, 29, 10, 35, 0, 123456, tzinfo=datetime.timezone.utc)
    ev = core.create_namespaced_event(NS, client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="ev1"),
        involved_object=client.V1ObjectReference(kind="ConfigMap", name="x", namespace=NS),
        reason="Tested", message="times", type="Normal", count=1,
        first_timestamp=first, last_timestamp=first, event_time=first,
        reporting_component="py", reporting_instance="py-1"))
    raw = api.call_api("/api/v1/namespaces/%s/events/ev1" % NS, "GET", response_type="object",
                       auth_settings=["BearerToken"], _return_http_data_only=True)
    expect(raw["firstTimestamp"] == "2026-11-29T10:35:00Z", "metav1.Time: %r" % raw["firstTimestamp"])
    expect(raw["eventTime"] == "2026-11-29T10:35:00.123456Z", "MicroTime keeps microseconds: %r" % raw["eventTime"])
    expect(ev.first_timestamp == first.replace(microsecond=0), "read back as a datetime: %r" % ev.first_timestamp)
    v1 = client.EventsV1Api(api).read_namespaced_event("ev1", NS)
    expect(v1.note == "times" and v1.regarding.name == "x", "the same Event through events.k8s.io/v1")
    by_field = core.list_namespaced_event(NS, field_selector="involvedObject.name=x")
    expect([e.metadata.name for e in by_field.items] == ["ev1"], "events by involvedObject.name")
    return "Event times as metav1.Time/MicroTime; events.k8s.io/v1; field selector"


def check_jobs():
    batch = client.BatchV1Api(api)
    job = client.V1Job(metadata=client.V1ObjectMeta(name="py-job"), spec=client.V1JobSpec(
        template=client.V1PodTemplateSpec(spec=client.V1PodSpec(restart_policy="Never", containers=[
            client.V1Container(name="c", image="busybox", command=["true"])]))))
    made = batch.create_namespaced_job(NS, job)
    expect(made.spec.backoff_limit == 6 and made.spec.completions == 1, "defaults")
    expect(made.spec.selector.match_labels["batch.kubernetes.io/controller-uid"] == made.metadata.uid,
           "selector by controller-uid")
    code, body = status_of(lambda: batch.patch_namespaced_job("py-job", NS, [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "alpine"}]))
    expect(code == 422 and "field is immutable" in body.get("message", ""), "the template is immutable: %r" % body)
    st = batch.patch_namespaced_job_status("py-job", NS, [{"op": "add", "path": "/status", "value": {"active": 1}}])
    expect(st.status.active == 1, "status through /status")
    gone = batch.delete_namespaced_job("py-job", NS, propagation_policy="Background")
    expect(gone.status == "Success" and gone.details.name == "py-job", "a Job deleted at once answers a Status")
    return "defaults, immutable template, /status, Background delete"


def check_namespace_lifecycle():
    name = NS + "-gone"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, cm("inside"))
    # The answer to the DELETE is the namespace, now Terminating (its spec.finalizers defer it).
    answer = api.call_api("/api/v1/namespaces/" + name, "DELETE", response_type="object",
                          auth_settings=["BearerToken"], _return_http_data_only=True)
    expect(answer["kind"] == "Namespace" and answer["status"]["phase"] == "Terminating", "answer: %r" % answer)
    expect(answer["metadata"].get("deletionTimestamp"), "deletionTimestamp")
    eventually(lambda: status_of(lambda: core.read_namespace(name))[0] == 404, "the namespace is removed")
    expect(status_of(lambda: core.read_namespaced_config_map("inside", name))[0] == 404, "emptied first")
    return "DELETE answers it Terminating; emptied, then removed"


def check_watch_selector_transitions():
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, cm("sel", labels={"watched": "yes"}))
    core.patch_namespaced_config_map("sel", NS, [{"op": "replace", "path": "/metadata/labels/watched", "value": "no"}])
    core.patch_namespaced_config_map("sel", NS, [{"op": "replace", "path": "/metadata/labels/watched", "value": "yes"}])
    seen = []
    for ev in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=1,
                                   label_selector="watched=yes"):
        if ev["type"] != "BOOKMARK":
            seen.append(ev["type"])
    expect(seen == ["ADDED", "DELETED", "ADDED"], "leaving and entering the selector: %r" % seen)
    return "ADDED, DELETED on leaving the selector, ADDED on entering it"


CHECKS = [
    check_crud,
    check_list_selectors_pagination,
    check_json_patch,
    check_merge_patch,
    check_status_subresource,
    check_stale_resource_version,
    check_watch_from_resource_version,
    check_delete_propagation,
    check_server_side_apply,
    check_managed_fields_on_writes,
    check_all_namespaces_and_dry_run,
    check_events_and_times,
    check_jobs,
    check_namespace_lifecycle,
    check_watch_selector_transitions,
    check_watch_too_old,
]

only = sys.argv[3:]
for fn in CHECKS:
    name = fn.__name__[len("check_"):]
    if only and name not in only:
        continue
    try:
        detail = fn()
        print(json.dumps({"check": name, "ok": True, "detail": detail}), flush=True)
    except Failed as e:
        print(json.dumps({"check": name, "ok": False, "detail": str(e)}), flush=True)
    except ApiException as e:
        print(json.dumps({"check": name, "ok": False, "detail": "HTTP %s %s: %s" % (e.status, e.reason, e.body)}),
              flush=True)
    except Exception:
        print(json.dumps({"check": name, "ok": False, "detail": traceback.format_exc()}), flush=True)
