"""Chunked lists decoded by the helper process (console.kube.list_pages,
console.kube.list_decoder) against the real simulator: the same rows as decoding in
process, no helper left behind, and a helper that dies is an error the cache
recovers from by decoding in process."""
import os
import threading
import time

import pytest

from console.kube.cache import ClusterCache
from console.kube.client import KubeHttp
from console.kube.kubeconfig import resolve
from console.kube.list_decoder import DecoderGone, PageDecoder
from console.kube.list_pages import PageFetcher

pytestmark = pytest.mark.timeout(120)


def http(small_site) -> KubeHttp:
    return KubeHttp(resolve(str(small_site.kubeconfig_path), small_site.context))


def helpers() -> set[int]:
    """This process' living list decoder helpers."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"console.kube.list_decoder" in cmd:
            found.add(int(pid))
    return found


def list_all(small_site, kind: str, offload: int | None, limit: int = 3):
    pages = PageFetcher(http(small_site), kind, limit, threading.Event(), offload_min_items=offload)
    rows, used = [], False
    try:
        for page, _token in pages:
            rows.extend(page.rows)
            used = used or pages.decoder is not None
    finally:
        pages.close()
    return rows, used


@pytest.mark.parametrize("kind", ["pods", "nodes"])
def test_helper_process_decodes_the_same_rows(small_site, kind):
    local, used_local = list_all(small_site, kind, offload=None)
    remote, used_remote = list_all(small_site, kind, offload=1)
    assert not used_local and used_remote
    assert len(local) > 3 and remote == local
    assert not helpers()


def test_small_list_and_services_stay_in_process(small_site):
    _rows, used = list_all(small_site, "pods", offload=10_000)
    assert not used
    _rows, used = list_all(small_site, "services", offload=1, limit=1)   # dict rows: not sent to a helper
    assert not used


def test_a_dying_helper_is_an_error_the_cache_recovers_from(small_site):
    pages = PageFetcher(http(small_site), "pods", 2, threading.Event(), offload_min_items=1)
    try:
        it = iter(pages)
        page, _ = next(it)           # the first page is decoded here, while the helper starts
        assert page.rows and pages.decoder is not None
        (pid,) = helpers()
        os.kill(pid, 9)
        with pytest.raises(DecoderGone):
            for _ in it:
                pass
    finally:
        pages.close()
    assert not helpers()
    # the cache: the failed list is listed again, decoded in process from then on
    cache = ClusterCache(http(small_site), kinds=("pods",), page_size=2, offload_min_items=1, max_backoff_s=0.5)
    assert cache.offload_min_items == 1 or os.cpu_count() == 1
    killer_stop = threading.Event()

    def kill_helpers():
        while not killer_stop.is_set():
            for pid in helpers():
                os.kill(pid, 9)
            time.sleep(0.001)

    killer = threading.Thread(target=kill_helpers, daemon=True)
    killer.start()
    cache.start()
    try:
        assert cache.wait_synced(30)
        assert len(cache.items("pods")) == len(list_all(small_site, "pods", offload=None)[0])
        if cache.offload_min_items is not None:
            assert not cache._offload_ok
    finally:
        killer_stop.set()
        cache.stop()


def test_malformed_page_is_a_value_error_not_a_dead_helper():
    decoder = PageDecoder("pods")
    try:
        seq = decoder.submit(b'{"items": [{"metadata": {"name": 5}}]}')
        with pytest.raises(ValueError) as err:
            decoder.result(seq)
        assert not isinstance(err.value, DecoderGone)
        ok = decoder.submit(b'{"metadata": {"resourceVersion": "5"}, "items": []}')
        assert decoder.result(ok).resource_version == "5"
    finally:
        decoder.close()
