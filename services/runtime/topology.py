"""The mesh's shape: services, default ports, id shard blocks, contracts, and who calls whom.

This is the single source of truth for the call graph: client channels refuse targets a service
does not declare here, and the Helm chart's NetworkPolicies are checked against it in tests.
"""

from __future__ import annotations

from google.protobuf.descriptor import ServiceDescriptor

from shutter.comment.v1 import comment_pb2
from shutter.feed.v1 import feed_pb2
from shutter.follow.v1 import follow_pb2
from shutter.like.v1 import like_pb2
from shutter.notification.v1 import notification_pb2
from shutter.photo.v1 import photo_pb2
from shutter.search.v1 import search_pb2
from shutter.user.v1 import user_pb2
from shutter.view.v1 import view_pb2

DEFAULT_PORTS: dict[str, int] = {
    "user": 50051,
    "follow": 50052,
    "photo": 50053,
    "like": 50054,
    "comment": 50055,
    "view": 50056,
    "feed": 50057,
    "search": 50058,
    "notification": 50059,
}
GATEWAY_PORT = 8080
NATS_PORT = 4222
# Each process's Prometheus /metrics port (SHUTTER_<PROCESS>_METRICS_PORT), its own HTTP listener.
METRICS_PORTS: dict[str, int] = {
    **{name: 9400 + port % 100 for name, port in DEFAULT_PORTS.items()},  # user 9451 … search 9458
    "gateway": 9480,
}

SERVICE_NAMES: tuple[str, ...] = tuple(DEFAULT_PORTS)

# Each service's block of id shards (services/runtime/ids.py), (first, count): its replicas mint ids with
# shards first .. first+count-1 (the chart gives pod ordinal i shard first+i), and a process started alone
# uses `first`. Stored, never computed from the list, so a new service takes a free block and moves nobody;
# a block, once deployed, never moves (ids already minted carry it). Free today: 512 at each n*1024+512.
SHARD_BLOCKS: dict[str, tuple[int, int]] = {
    "user": (0, 512),
    "follow": (1024, 512),
    "photo": (2048, 512),
    "like": (3072, 512),
    "comment": (4096, 512),
    "view": (5120, 512),
    "feed": (6144, 512),
    "search": (7168, 512),
    "notification": (512, 512),
}

CONTRACTS: dict[str, ServiceDescriptor] = {
    "user": user_pb2.DESCRIPTOR.services_by_name["UserService"],
    "follow": follow_pb2.DESCRIPTOR.services_by_name["FollowService"],
    "photo": photo_pb2.DESCRIPTOR.services_by_name["PhotoService"],
    "like": like_pb2.DESCRIPTOR.services_by_name["LikeService"],
    "comment": comment_pb2.DESCRIPTOR.services_by_name["CommentService"],
    "view": view_pb2.DESCRIPTOR.services_by_name["ViewService"],
    "feed": feed_pb2.DESCRIPTOR.services_by_name["FeedService"],
    "search": search_pb2.DESCRIPTOR.services_by_name["SearchService"],
    "notification": notification_pb2.DESCRIPTOR.services_by_name["NotificationService"],
}

# gRPC calls each process makes. Everyone also talks to NATS and the store. Calls to follow from readers are
# the visibility policy's (services/runtime/visibility.py).
CALL_GRAPH: dict[str, frozenset[str]] = {
    "gateway": frozenset(SERVICE_NAMES),
    "user": frozenset({"follow"}),
    "follow": frozenset({"user"}),
    "photo": frozenset({"follow", "user"}),  # user: a caption's @mentions, resolved to users
    "like": frozenset({"photo", "follow"}),
    "comment": frozenset({"photo", "follow"}),
    "view": frozenset({"photo", "like", "comment", "follow"}),
    "feed": frozenset({"follow"}),
    "search": frozenset({"photo", "follow"}),
    "notification": frozenset({"follow"}),
}
