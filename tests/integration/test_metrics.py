"""Each process's real /metrics, scraped over HTTP while real requests go through the session's mesh.

Counters are cumulative over the session, so each test scrapes before and after what it does and
checks that the series moved (by exactly one where nothing else can move it).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest

from services.runtime.topology import SERVICE_NAMES
from shutter.like.v1 import like_pb2, like_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.metrics import Scrape, scrape, scrape_until
from tests.support.photos import make_jpeg, upload
from tests.support.search import unique_word
from tests.support.social import new_photo
from tests.support.users import SignedUp, sign_up_many

LIKE = "shutter.like.v1.LikeService"
PHOTO = "shutter.photo.v1.PhotoService"
JPEG = make_jpeg(40, 30)


async def test_every_process_serves_prometheus_metrics_on_its_own_port(mesh: Mesh, gateway: str) -> None:
    ports = set()
    for name in (*SERVICE_NAMES, "gateway"):
        found = await scrape(mesh.metrics_url(name))
        ports.add(mesh.metrics_url(name))
        assert found.value("process_cpu_seconds_total") > 0, name
        assert found.value("process_resident_memory_bytes") > 0, name
        runtime = {"grpc_client_handled", "grpc_client_handling_seconds"}
        if name != "gateway":
            runtime |= {"grpc_server_handled", "grpc_server_handling_seconds", "shutter_store_operation_seconds"}
        assert runtime <= found.names(), (name, runtime - found.names())
    assert len(ports) == len(SERVICE_NAMES) + 1


async def _like(mesh: Mesh, liker: SignedUp, photo_id: int) -> None:
    await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=liker.user_id), metadata=liker.metadata, timeout=10
    )


async def test_a_like_moves_the_like_services_rpc_counters_store_latency_and_its_call_to_photo(mesh: Mesh) -> None:
    owner, liker = await sign_up_many(mesh, 2, "metricslike")
    photo = await new_photo(mesh, owner)
    url = mesh.metrics_url("like")
    before = await scrape(url)
    await _like(mesh, liker, photo.photo_id)
    after = await scrape(url)

    def moved(scrape_: Scrape, name: str, **labels: str) -> float:
        return scrape_.value(name, **labels) - before.value(name, **labels)

    method = {"grpc_service": LIKE, "grpc_method": "LikePhoto"}
    assert moved(after, "grpc_server_handled_total", **method, grpc_code="OK") == 1
    assert moved(after, "grpc_server_handling_seconds_count", **method) == 1
    assert 0 < moved(after, "grpc_server_handling_seconds_sum", **method) < 10
    # Like asked photo whether the photo exists, through its client channel.
    assert moved(after, "grpc_client_handled_total", grpc_service=PHOTO, grpc_code="OK") >= 1
    # And wrote the like through the SQLite store base, named by the store method that did it.
    assert moved(after, "shutter_store_operation_seconds_count", backend="sqlite") >= 1
    assert any(
        op.startswith("SqliteLikeStore.") for op in after.labels("shutter_store_operation_seconds_count", "operation")
    )


async def test_a_refused_call_is_counted_under_its_status_code(mesh: Mesh) -> None:
    [liker] = await sign_up_many(mesh, 1, "metricsrefused")
    url = mesh.metrics_url("like")
    before = await scrape(url)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _like(mesh, liker, -5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
            like_pb2.LikePhotoRequest(photo_id=1), timeout=10
        )
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    after = await scrape(url)
    for code in ("INVALID_ARGUMENT", "UNAUTHENTICATED"):
        labels = {"grpc_service": LIKE, "grpc_method": "LikePhoto", "grpc_code": code}
        assert (
            after.value("grpc_server_handled_total", **labels) - before.value("grpc_server_handled_total", **labels)
            == 1
        )


async def test_a_post_moves_upload_fanout_and_index_figures_and_the_consumers(mesh: Mesh) -> None:
    author, first, second = await sign_up_many(mesh, 3, "metricsfan")
    await first.follow(mesh, author)
    await second.follow(mesh, author)
    urls = {name: mesh.metrics_url(name) for name in ("photo", "feed", "search")}
    before = {name: await scrape(url) for name, url in urls.items()}
    await upload(mesh, author.token, author.user_id, JPEG, tags=[unique_word()])

    photo = await scrape(urls["photo"])
    assert (
        photo.value("shutter_photo_uploads_total", outcome="created")
        - before["photo"].value("shutter_photo_uploads_total", outcome="created")
        == 1
    )
    assert photo.value("shutter_photo_upload_bytes_total", outcome="created") - before["photo"].value(
        "shutter_photo_upload_bytes_total", outcome="created"
    ) == len(JPEG)
    processed = "shutter_photo_image_processing_seconds_count"
    assert photo.value(processed) - before["photo"].value(processed) == 1
    assert {"shutter_outbox_unsent_events", "shutter_outbox_oldest_unsent_age_seconds"} <= photo.names()

    lag = "shutter_feed_fanout_lag_seconds_count"
    feed = await scrape_until(urls["feed"], lambda s: s.value(lag) > before["feed"].value(lag))
    assert feed.value(lag) > before["feed"].value(lag), mesh.log_tail("feed")
    assert feed.value("shutter_feed_fanout_lag_seconds_sum") > before["feed"].value(
        "shutter_feed_fanout_lag_seconds_sum"
    )
    entries = "shutter_feed_fanout_entries_sum"
    assert feed.value(entries) - before["feed"].value(entries) >= 2
    acked = {"consumer": "feed-fanout", "subject": "shutter.events.photo.posted", "outcome": "acked"}
    assert feed.value("shutter_events_handled_total", **acked) > before["feed"].value(
        "shutter_events_handled_total", **acked
    )
    assert feed.value("shutter_event_handler_seconds_count", consumer="feed-fanout") > 0
    # Consumer lag comes from JetStream's consumer info, read every few seconds.
    feed = await scrape_until(
        urls["feed"], lambda s: "feed-fanout" in s.labels("shutter_consumer_pending_events", "consumer")
    )
    assert "feed-fanout" in feed.labels("shutter_consumer_ack_pending_events", "consumer")

    indexed = "shutter_search_index_lag_seconds_count"
    search = await scrape_until(urls["search"], lambda s: s.value(indexed) > before["search"].value(indexed))
    assert search.value(indexed) > before["search"].value(indexed), mesh.log_tail("search")


async def test_a_refused_upload_is_counted_by_its_outcome(mesh: Mesh) -> None:
    [owner] = await sign_up_many(mesh, 1, "metricsbadupload")
    url = mesh.metrics_url("photo")
    before = await scrape(url)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await upload(mesh, owner.token, owner.user_id, b"not an image at all")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = await scrape(url)
    name = "shutter_photo_uploads_total"
    assert after.value(name, outcome="invalid_argument") - before.value(name, outcome="invalid_argument") == 1


async def test_sign_ups_show_in_the_user_service_and_its_hashing_queue(mesh: Mesh) -> None:
    url = mesh.metrics_url("user")
    before = await scrape(url)
    await sign_up_many(mesh, 2, "metricsuser")
    after = await scrape(url)
    labels = {"grpc_service": "shutter.user.v1.UserService", "grpc_method": "CreateUser", "grpc_code": "OK"}
    assert after.value("grpc_server_handled_total", **labels) - before.value("grpc_server_handled_total", **labels) == 2
    # Nothing is hashing between requests: the queue is back to empty.
    assert "shutter_user_password_hash_queue_depth" in after.names()
    assert after.value("shutter_user_password_hash_queue_depth") == 0


async def test_the_gateway_counts_requests_by_route_template_never_the_raw_path(mesh: Mesh, gateway: str) -> None:
    [owner] = await sign_up_many(mesh, 1, "metricshttp")
    photo = await new_photo(mesh, owner)
    url = mesh.metrics_url("gateway")
    before = await scrape(url)
    headers = {"Authorization": f"Bearer {owner.token}"}
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as client:
        assert (await client.get(f"/v1/views/photos/{photo.photo_id}", headers=headers)).status_code == 200
        assert (await client.get("/v1/views/photos/123456789", headers=headers)).status_code == 404
        assert (await client.get(f"/no/such/route/{photo.photo_id}")).status_code == 404
        assert (await client.get("/healthz")).status_code in (200, 503)
    after = await scrape(url)

    def moved(**labels: str) -> float:
        return after.value("shutter_http_requests_total", **labels) - before.value(
            "shutter_http_requests_total", **labels
        )

    view = "/v1/views/photos/{photo_id}"
    assert moved(route=view, method="GET", status="200") == 1
    assert moved(route=view, method="GET", status="404") == 1
    assert moved(route="unmatched", method="GET", status="404") == 1
    assert moved(route="/healthz", method="GET") == 1
    seconds = "shutter_http_request_seconds_count"
    assert after.value(seconds, route=view) - before.value(seconds, route=view) == 2
    routes = after.labels("shutter_http_requests_total", "route")
    assert not [route for route in routes if str(photo.photo_id) in route or "123456789" in route], routes
    # The gateway's own calls into the mesh, from its client side.
    assert after.value("grpc_client_handled_total", grpc_service="shutter.view.v1.ViewService") > before.value(
        "grpc_client_handled_total", grpc_service="shutter.view.v1.ViewService"
    )


@pytest.mark.slow
async def test_with_several_gateway_workers_the_metrics_port_serves_their_sum(tmp_path: Path) -> None:
    """uvicorn workers are processes of their own; the gateway's parent process serves them all."""
    alone = Mesh(tmp_path, services=(), extra_env={"SHUTTER_GATEWAY_WORKERS": "2"})
    alone.start_gateway()
    try:
        await alone.wait_gateway()
        url = alone.metrics_url("gateway")
        before = (await scrape(url)).value("shutter_http_requests_total", route="/openapi.json")
        for _ in range(20):  # a connection each, so both workers take some
            async with httpx.AsyncClient(base_url=alone.gateway_url, timeout=10) as client:
                assert (await client.get("/openapi.json")).status_code == 200
        after = await scrape_until(
            url, lambda s: s.value("shutter_http_requests_total", route="/openapi.json") >= before + 20
        )
        assert after.value("shutter_http_requests_total", route="/openapi.json") == before + 20
    finally:
        await alone.close()
