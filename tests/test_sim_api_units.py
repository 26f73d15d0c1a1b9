"""The simulator's pure parts: patches, selectors, the store's versions and
history, tables' durations."""
from __future__ import annotations

import pytest

from console.sim import api_errors
from console.sim.clock import SimClock
from console.sim.patching import apply_patch, json_patch, merge_patch, strategic_merge_patch
from console.sim.resources import BY_PLURAL
from console.sim.selectors import labels_match, parse_field_selector, parse_label_selector
from console.sim.store import Store
from console.sim.tables import human_duration

POD = {"metadata": {"name": "p", "labels": {"app": "x"}, "finalizers": ["a"]},
       "spec": {"containers": [{"name": "a", "image": "i:1", "env": [{"name": "X", "value": "1"},
                                                                     {"name": "Y", "value": "2"}]},
                               {"name": "b", "image": "j:1"}],
                "tolerations": [{"key": "k", "operator": "Exists"}]}}


def test_strategic_merge_merges_lists_by_their_key():
    out = strategic_merge_patch(POD, {"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "a", "image": "i:2", "env": [{"name": "Y", "$patch": "delete"},
                                                             {"name": "Z", "value": "3"}]}]}})
    a, b = out["spec"]["containers"]
    assert a["image"] == "i:2" and b == {"name": "b", "image": "j:1"}
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Z", "value": "3"}]
    assert out["spec"]["tolerations"] == POD["spec"]["tolerations"]
    assert POD["spec"]["containers"][0]["image"] == "i:1"  # the input is not changed
    # atomic lists are replaced; null deletes; $retainKeys prunes
    out = strategic_merge_patch(POD, {"metadata": {"labels": {"app": None, "v": "2"}},
                                      "spec": {"tolerations": [{"key": "z", "operator": "Exists"}]}})
    assert out["metadata"]["labels"] == {"v": "2"}
    assert out["spec"]["tolerations"] == [{"key": "z", "operator": "Exists"}]
    out = strategic_merge_patch({"s": {"type": "A", "a": 1}}, {"s": {"$retainKeys": ["type"], "type": "B"}})
    assert out == {"s": {"type": "B"}}
    out = strategic_merge_patch(POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == []
    out = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "c", "image": "k"}, {"$patch": "replace"}]}})
    assert out["spec"]["containers"] == [{"name": "c", "image": "k"}]


def test_merge_and_json_patch():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == \
        {"a": {"c": 2, "d": 3}, "l": [2]}
    doc = {"a": [1, 2], "b": {"c": 1}}
    out = json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 9},
                           {"op": "move", "from": "/b/c", "path": "/d"}, {"op": "test", "path": "/a/0", "value": 1},
                           {"op": "copy", "from": "/a", "path": "/e"}, {"op": "remove", "path": "/a/1"}])
    assert out == {"a": [1, 3], "b": {}, "d": 9, "e": [1, 2, 3]} and doc == {"a": [1, 2], "b": {"c": 1}}
    with pytest.raises(api_errors.ApiError) as e:
        json_patch(doc, [{"op": "test", "path": "/a/0", "value": 5}])
    assert e.value.code == 422
    with pytest.raises(api_errors.ApiError) as e:
        json_patch(doc, {"op": "add"})
    assert e.value.code == 400
    with pytest.raises(api_errors.ApiError) as e:
        apply_patch("application/x-unknown-patch", doc, {})
    assert e.value.code == 415


def test_label_and_field_selectors():
    obj = {"metadata": {"name": "n", "namespace": "ns", "labels": {"app": "a", "tier": "gpu"}},
           "spec": {"nodeName": "gpu-node-0001", "unschedulable": True}, "status": {"phase": "Running"}}
    for expr, want in [("app=a", True), ("app==a,tier=gpu", True), ("app!=a", False), ("app in (a, b)", True),
                       ("app notin (a)", False), ("tier", True), ("!tier", False), ("missing", False),
                       ("tier in (gpu),app", True), ("", True)]:
        pred = parse_label_selector(expr)
        assert (pred is None or pred(obj)) == want, expr
    with pytest.raises(api_errors.ApiError):
        parse_label_selector("a b c")
    pods = BY_PLURAL["pods"]
    assert parse_field_selector("spec.nodeName=gpu-node-0001,status.phase=Running", pods.fields, "Pod")(obj)
    assert not parse_field_selector("status.phase!=Running", pods.fields, "Pod")(obj)
    assert parse_field_selector("metadata.namespace==ns", pods.fields, "Pod")(obj)
    assert parse_field_selector("spec.unschedulable=true", BY_PLURAL["nodes"].fields, "Node")(obj)
    with pytest.raises(api_errors.ApiError) as e:
        parse_field_selector("spec.bogus=1", pods.fields, "Pod")
    assert e.value.code == 400
    assert labels_match({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]}, {"app": "a"})
    assert not labels_match(None, {"app": "a"}) and labels_match({}, {})


def test_store_versions_history_and_compaction():
    store = Store(SimClock(frozen=True), history_limit=3)
    ns_res, cm = BY_PLURAL["namespaces"], BY_PLURAL["configmaps"]
    store.create(ns_res, {"metadata": {"name": "default"}})
    a = store.create(cm, {"metadata": {"name": "a", "namespace": "default"}, "data": {"k": "1"}})
    rv_a = int(a["metadata"]["resourceVersion"])
    same = store.update(cm, {"metadata": {"name": "a", "namespace": "default"}, "data": {"k": "1"}})
    assert same["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]  # no-op: no new version
    with pytest.raises(api_errors.ApiError) as e:
        store.update(cm, {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "999"}, "data": {}})
    assert e.value.reason == "Conflict"
    for i in range(2, 6):
        store.update(cm, {"metadata": {"name": "a", "namespace": "default"}, "data": {"k": str(i)}})
    w, backlog = store.watch("configmaps", store.resource_version - 2)
    assert [ev.obj["data"]["k"] for ev in backlog] == ["4", "5"]
    store.unwatch(w)
    with pytest.raises(api_errors.ApiError) as e:
        store.watch("configmaps", rv_a)   # history holds only the last 3 changes
    assert e.value.code == 410 and e.value.reason == "Expired"
    store.compact()
    with pytest.raises(api_errors.ApiError):
        store.watch("configmaps", store.resource_version - 1)
    w, backlog = store.watch("configmaps", store.resource_version)
    assert backlog == []
    store.unwatch(w)
    with pytest.raises(api_errors.ApiError) as e:
        store.create(cm, {"metadata": {"name": "x", "namespace": "nowhere"}})
    assert e.value.code == 404


@pytest.mark.parametrize("seconds,text", [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600, "3h"),
                                          (7200 + 60 * 5, "125m"), (9 * 3600, "9h"), (3 * 86400, "3d"),
                                          (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"), (-5, "<invalid>")])
def test_human_duration_like_kubectl(seconds, text):
    assert human_duration(seconds) == text


def test_a_watcher_that_falls_too_far_behind_is_cut_off(monkeypatch):
    import threading

    from console.sim import watch_stream
    store = Store(SimClock(frozen=True))
    store.create(BY_PLURAL["namespaces"], {"metadata": {"name": "default"}})
    monkeypatch.setattr(watch_stream, "MAX_BACKLOG", 5)
    stream = watch_stream.WatchStream(store, BY_PLURAL["configmaps"], None, None,
                                      since_rv=store.resource_version, timeout_s=5, bookmarks=False)
    for i in range(10):   # nobody reads meanwhile
        store.create(BY_PLURAL["configmaps"], {"metadata": {"name": f"c{i}", "namespace": "default"}})
    assert stream.watcher.overflowed and stream.watcher not in store._watchers["configmaps"]
    assert list(stream.chunks(threading.Event())) == []   # the stream ends; the client resumes or relists
    # a watcher that keeps up is not affected
    fine = watch_stream.WatchStream(store, BY_PLURAL["configmaps"], None, None,
                                    since_rv=store.resource_version, timeout_s=0.3, bookmarks=False)
    store.create(BY_PLURAL["configmaps"], {"metadata": {"name": "late", "namespace": "default"}})
    got = b"".join(fine.chunks(threading.Event()))
    assert b'"name":"late"' in got and not fine.watcher.overflowed
