"""The framework's own limits on this machine, measured in the same run as the mesh.

`echo`: a bare grpc.aio server (no interceptors, no auth, no store) answering ViewPhoto with a
fixed, realistic-size response: the same messages as the real view path, none of the work; on the event
loop the services run on (SHUTTER_EVENT_LOOP), so a ratio to it measures our work, not the loop's.
`floor`: the same constant answer served the way every service is (services.runtime.server: its
interceptor with token verification, lifecycle, errors, access log and metrics; health, reflection),
called with a bearer token: the most a view could reach if it did no work of its own at all. It splits
the view's distance from the echo into the runtime's share (floor ÷ echo) and the view's (view ÷ floor).
`hello`: a bare ASGI app on uvicorn (uvloop + httptools) answering GET / with a short body.
`gateway-floor`: the least an HTTP gateway in front of the mesh can do, on the gateway's own parts: one raw
ASGI callable on uvicorn (uvloop + httptools) that matches the contracts' route, makes the gRPC call over
the runtime's channels with the client's token, and answers the reply as JSON; no Starlette, request
id, metrics, access log, security headers, compression, deadline header or error mapping. Run against
the bench's mesh, it says how close to a view via gRPC any gateway built of these parts could come.
Every mesh path is reported as a ratio to these, since absolute numbers on a shared 2-core box
are noise.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable

import grpc
import uvicorn
from grpc_reflection.v1alpha import reflection

from gateway.backends import Backends
from gateway.routes import Router, routes_for
from gateway.transcoding import build_request, query_items, to_json
from services.runtime import loop as event_loop
from services.runtime.config import Settings
from services.runtime.server import Runtime, run_service
from services.runtime.topology import CONTRACTS
from shutter.comment.v1 import comment_pb2
from shutter.photo.v1 import photo_pb2
from shutter.view.v1 import view_pb2, view_pb2_grpc


class EchoView(view_pb2_grpc.ViewServiceServicer):
    """Answers with a constant view: the cheapest possible unary handler for the same contract."""

    def __init__(self) -> None:
        photo = photo_pb2.Photo(title="sunset over the bay", location="Lisbon", tags=["sunset", "sea", "travel"])
        photo.width, photo.height, photo.byte_size, photo.content_type = 1080, 720, 200_000, "image/jpeg"
        comments = [comment_pb2.Comment(comment_id=i, photo_id=1, user_id=i, text="lovely light") for i in range(1, 6)]
        self._reply = view_pb2.ViewPhotoResponse(
            view=view_pb2.PhotoView(photo=photo, like_count=42, comment_count=5, comments=comments)
        )

    async def ViewPhoto(self, request: view_pb2.ViewPhotoRequest, context: object) -> view_pb2.ViewPhotoResponse:
        reply = view_pb2.ViewPhotoResponse()
        reply.CopyFrom(self._reply)
        reply.view.photo.photo_id = request.photo_id
        return reply


async def serve_echo(port: int) -> None:
    server = grpc.aio.server()
    view_pb2_grpc.add_ViewServiceServicer_to_server(EchoView(), server)
    names = [view_pb2.DESCRIPTOR.services_by_name["ViewService"].full_name, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def build_floor(runtime: Runtime) -> None:
    """The floor's only servicer: the echo's constant view, as the view service would register its own."""
    runtime.add_servicer(
        view_pb2_grpc.add_ViewServiceServicer_to_server, EchoView(), view_pb2.DESCRIPTOR.services_by_name["ViewService"]
    )


async def hello_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """A raw ASGI callable: no framework, no routing."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"hello"})  # type: ignore[operator]


def gateway_floor_app() -> Callable[..., Awaitable[None]]:
    """The gateway floor (see above) on the mesh named by the environment; every failure is a 500."""
    settings = Settings.from_env()
    router = Router(routes_for(CONTRACTS))
    backends = Backends(settings)
    json_headers = [(b"content-type", b"application/json")]

    async def app(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        match = router.match(scope["method"], scope["raw_path"].decode())
        if match is None:
            await send({"type": "http.response.start", "status": 404, "headers": json_headers})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        authorization = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        request = build_request(match.route, match.bindings, query_items(scope["query_string"]), b"", {})
        call = await backends.callable(match.route)(
            request, metadata=(("authorization", authorization.decode()),), timeout=settings.default_deadline_seconds
        )
        body = json.dumps(to_json(await call, match.route), separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 200, "headers": json_headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["echo", "floor", "hello", "gateway-floor"])
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    if options.kind == "echo":
        event_loop.run(serve_echo(options.port), Settings.from_env().event_loop)
    elif options.kind == "floor":
        # Run as the view process would be (its settings, logging, metrics port and token secret come from the
        # environment the bench gives it); no NATS, so no deleted-users list: a test double's start.
        os.environ["SHUTTER_VIEW_PORT"] = str(options.port)
        run_service("view", build_floor, refuse_deleted_users=False)
    else:
        app = hello_app if options.kind == "hello" else gateway_floor_app()
        uvicorn.run(app, host="127.0.0.1", port=options.port, loop="uvloop", http="httptools", log_level="warning")


if __name__ == "__main__":
    main()
