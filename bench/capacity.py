"""Capacity model: what the design's load would cost, from what this machine measured.

`make capacity` prints it from the latest bench results (bench/out/latest/results.json) and the replica
measurement (`make bench-replicas`: bench/out/replicas.json); the bench report includes it too. Every
assumption is a named constant; the table's `basis` column says which figures rest on a measurement made on
this machine and which only on the design's inputs and those constants.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from bench.accounting import LOAD_GENERATORS
from bench.report import markdown_table

ROOT = Path(__file__).resolve().parent.parent

# The design's load (shared/seed/system-design.md).
VIEWS_PER_S = 20_000
UPLOADS_PER_S = 1_000
DAILY_ACTIVE_USERS = 500_000_000
PHOTO_BYTES = 200 * 1024

# Assumptions, stated.
VARIANT_OVERHEAD = 0.6  # display (1080 px) + thumbnail (640 px) add ~60% of a 200 KB original
REPLICATION_FACTOR = 3  # ScyllaDB RF=3 per datacentre
NODE_CORES = 16  # application node size
TARGET_UTILISATION = 0.6  # headroom for failover and spikes
LARGE_ACCOUNT_THRESHOLD = 10_000
FEED_ENTRY_BYTES = 40  # (user_id, photo_id, author_id, posted_at) + overhead per replica row
EVENT_BYTES = 300  # a PhotoPosted protobuf with headers
EVENTS_PER_UPLOAD = 1.0
LIKES_PER_S = 10_000  # assumed: half the view rate likes something
COMMENTS_PER_S = 2_000
SCYLLA_OPS_PER_CORE = 12_500  # conservative ScyllaDB writes+reads/s per shard (core)
SCYLLA_NODE_CORES = 16
SCYLLA_NODE_TB = 10  # assumed data per ScyllaDB node (NVMe, room for compaction)
NATS_MSGS_PER_S_PER_NODE = 200_000  # JetStream file-storage publishes/s per node, R3, small messages
FOLLOWERS_MEAN_DESIGN = 200  # mean followers per author at full scale (assumption)

# Photo bytes in the object store (SeaweedFS: Haystack-style volumes behind S3; or a cloud bucket).
VARIANTS_PER_PHOTO = 3  # original, display, thumbnail: one object each
VOLUME_BYTES = 30_000 * 2**20  # SeaweedFS's default volume size limit (-volumeSizeLimitMB 30000)
HOT_DAYS = 30  # new photos are read most: their volumes stay replicated this long
HOT_COPIES = 3  # replication "020": three racks, reads from any copy, writes need all three
EC_DATA, EC_PARITY = 10, 4  # then erasure coded RS(10,4) (weed shell ec.encode): 1.4× raw, any 4 shards lost
DISK_TB = 20  # HDD per disk (photos are large sequential needles: HDD is the right medium)
DISKS_PER_VOLUME_SERVER = 12
DISK_FILL = 0.8  # headroom for EC rebuilds and vacuum (compaction of deleted needles)
CDN_HIT_RATIO = 0.9  # assumed: presigned/CDN-cached display and thumbnail reads that never reach the store
DOWNLOADS_PER_VIEW = 1  # a view shows one display rendition
CLOUD_USD_PER_TB_MONTH = 20.0  # assumed object-storage list price at PB scale (provider's durability)


MEASURED, ASSUMED = "measured", "assumed"
# Rows whose figure comes from a measurement on this machine (scaled to the design's load); every other row
# rests on the design's inputs and the constants above alone.
MEASURED_ROWS = (
    "view path cores",
    "view path nodes",
    "whole-mix",
    "object store cores",
    "photo service cores",
    "gateway + photo cores",
    "replicas:",
)
REPLICAS_RESULTS = ROOT / "bench" / "out" / "replicas.json"


def basis(label: str, results: dict) -> str:
    """Whether row `label` rests on a measurement (see MEASURED_ROWS) or only on assumptions."""
    if label.startswith(("feed writes per post", "feed entry writes", "feed storage")):
        return MEASURED if (results.get("graph") or {}).get("follower_counts") else ASSUMED
    return MEASURED if label.startswith(MEASURED_ROWS) else ASSUMED


def load_replicas(path: Path = REPLICAS_RESULTS) -> dict | None:
    """`make bench-replicas`'s figures, when it has been run."""
    return json.loads(path.read_text()) if path.exists() else None


def replica_rows(replicas: dict | None) -> list[list[object]]:
    """The mix with 1 and with 2 replicas of every service, measured (bench/replicas.py)."""
    if not replicas or len(replicas.get("runs") or []) < 2:
        return [["replicas not measured yet", "-", "run `make bench-replicas` (1 and 2 replicas of every service)"]]
    one, two = replicas["runs"][:2]
    cores = replicas.get("cores") or 1
    per_replica = two["views_per_s_per_replica"]
    rows: list[list[object]] = [
        [
            "replicas: mixed views/s, 1 replica of each service",
            f"{one['views_per_s']:,.0f}",
            f"closed loop, {one['workers']} workers, {one['errors']} errors, {cores} shared cores",
        ],
        [
            "replicas: mixed views/s, 2 replicas of each service",
            f"{two['views_per_s']:,.0f} ({per_replica:,.0f} per replica)",
            f"{two['workers']} workers, {two['errors']} errors, the same {cores} cores",
        ],
        [
            "replicas: scaling from 1 to 2 on shared cores",
            f"{replicas.get('scaling_1_to_2') or 0:.2f}×",
            "2.0× would mean a replica is bound by its own process, 1.0× by the machine's cores",
        ],
    ]
    if per_replica:
        needed = math.ceil(VIEWS_PER_S / per_replica)
        rows.append(
            [
                "replicas: mesh replicas for the design's views",
                f"{needed:,}",
                f"{VIEWS_PER_S:,} views/s ÷ {per_replica:,.0f} per replica measured with 2 (each on "
                f"{cores / 2 / 9:.2f} of a core here: an upper bound on replicas needed)",
            ]
        )
    return rows


def _per_core(results: dict, name: str) -> float | None:
    sustained = (results.get("sustained") or {}).get(name)
    cores = results.get("cores") or 1
    if not sustained:
        return None
    return sustained["achieved_rps"] / cores


def cpu_cores_for(results: dict, path: str, rate: float) -> tuple[float, float] | None:
    """Cores the mesh's processes would need for `rate` requests/s of `path`, from the CPU seconds per
    1,000 requests measured at its highest held step (load generators excluded), and that figure."""
    cost = (results.get("paths") or {}).get(path)
    if not cost:
        return None
    per_thousand = sum(v for k, v in cost["cpu_per_thousand"].items() if k != LOAD_GENERATORS)
    return rate * per_thousand / 1000, per_thousand


def feed_amplification(counts: list[int], threshold: int) -> tuple[float, float]:
    """Feed writes per post: every follower (push only) vs. only authors under the threshold."""
    if not counts:
        return (FOLLOWERS_MEAN_DESIGN, FOLLOWERS_MEAN_DESIGN)
    push_all = sum(counts) / len(counts)
    hybrid = sum(c for c in counts if c <= threshold) / len(counts)
    return push_all, hybrid


def capacity_rows(results: dict) -> list[list[object]]:
    rows: list[list[object]] = []
    for path, label in (("view grpc", "gRPC"), ("view http", "HTTP, gateway included")):
        measured = cpu_cores_for(results, path, VIEWS_PER_S)
        if measured:
            cores, per_thousand = measured
            rows.append(
                [
                    f"view path cores by CPU ({label})",
                    f"{cores:,.0f}",
                    f"{per_thousand:.3f} CPU s per 1,000 views, all mesh processes, measured at the highest held step",
                ]
            )
            rows.append(
                [
                    f"view path nodes by CPU ({label})",
                    f"{math.ceil(cores / (NODE_CORES * TARGET_UTILISATION)):,}",
                    f"{NODE_CORES}-core nodes at {TARGET_UTILISATION:.0%}",
                ]
            )
    view_core = _per_core(results, "view grpc")
    mix_view = results.get("mix_sustained_view_rate")
    cores = results.get("cores") or 1
    if view_core:
        view_cores = VIEWS_PER_S / view_core
        rows.append(
            [
                "view path cores by throughput (gRPC)",
                f"{view_cores:,.0f}",
                f"{view_core:,.0f} views/s per core at the ceiling (the load generator shares the cores)",
            ]
        )
        rows.append(
            [
                "view path nodes",
                f"{math.ceil(view_cores / (NODE_CORES * TARGET_UTILISATION)):,}",
                f"{NODE_CORES}-core nodes at {TARGET_UTILISATION:.0%}",
            ]
        )
    if mix_view:
        mix_cores = VIEWS_PER_S / (mix_view / cores)
        rows.append(
            [
                "whole-mix cores (views+uploads+…)",
                f"{mix_cores:,.0f}",
                f"{mix_view / cores:,.0f} mixed views/s per core (with 1/20 uploads etc.)",
            ]
        )
        rows.append(
            [
                "whole-mix nodes",
                f"{math.ceil(mix_cores / (NODE_CORES * TARGET_UTILISATION)):,}",
                f"{NODE_CORES}-core nodes at {TARGET_UTILISATION:.0%}",
            ]
        )
    daily = UPLOADS_PER_S * 86_400 * PHOTO_BYTES * (1 + VARIANT_OVERHEAD)
    rows.append(
        [
            "photo bytes per day (1 copy)",
            f"{daily / 1e12:,.1f} TB",
            f"{UPLOADS_PER_S}/s × 200 KB × (1 + {VARIANT_OVERHEAD} variants)",
        ]
    )
    rows.append(
        ["photo bytes per day (replicated)", f"{daily * REPLICATION_FACTOR / 1e12:,.1f} TB", f"RF={REPLICATION_FACTOR}"]
    )
    rows.append(
        [
            "photo bytes per year (replicated)",
            f"{daily * REPLICATION_FACTOR * 365 / 1e15:,.1f} PB",
            "no deletes assumed",
        ]
    )
    counts = (results.get("graph") or {}).get("follower_counts") or []
    threshold = (results.get("graph") or {}).get("large_threshold") or LARGE_ACCOUNT_THRESHOLD
    push_all, hybrid = feed_amplification(counts, threshold)
    rows.append(["feed writes per post, push only", f"{push_all:,.1f}", "mean followers per author (measured graph)"])
    rows.append(
        ["feed writes per post, hybrid", f"{hybrid:,.1f}", f"authors above {threshold} followers pulled at read time"]
    )
    scale = FOLLOWERS_MEAN_DESIGN / push_all if push_all else 1.0
    feed_writes = UPLOADS_PER_S * hybrid * scale
    rows.append(
        [
            "feed entry writes/s at design scale",
            f"{feed_writes:,.0f}",
            f"uploads × hybrid amplification scaled to {FOLLOWERS_MEAN_DESIGN} mean followers",
        ]
    )
    rows.append(
        [
            "feed storage growth per day (replicated)",
            f"{feed_writes * 86_400 * FEED_ENTRY_BYTES * REPLICATION_FACTOR / 1e12:,.2f} TB",
            "before the 800-entry cap trims it",
        ]
    )
    events = UPLOADS_PER_S * EVENTS_PER_UPLOAD + LIKES_PER_S + COMMENTS_PER_S
    rows.append(
        [
            "NATS JetStream publishes/s",
            f"{events:,.0f}",
            f"uploads + likes {LIKES_PER_S}/s + comments {COMMENTS_PER_S}/s",
        ]
    )
    rows.append(
        [
            "NATS nodes (R3)",
            f"{max(3, math.ceil(events / NATS_MSGS_PER_S_PER_NODE) * 3)}",
            f"{NATS_MSGS_PER_S_PER_NODE:,} msgs/s per node; "
            f"7-day retention ≈ {events * EVENT_BYTES * 86_400 * 7 / 1e12:,.1f} TB",
        ]
    )
    rows.extend(object_store_rows(results, daily))
    chunks = math.ceil(PHOTO_BYTES * (1 + VARIANT_OVERHEAD) / (64 * 1024))
    metadata_ops = feed_writes + LIKES_PER_S * 2 + COMMENTS_PER_S * 2 + VIEWS_PER_S * (3 + 2)
    s3_path_ops = (UPLOADS_PER_S * 3 + metadata_ops) * REPLICATION_FACTOR
    chunk_path_ops = (UPLOADS_PER_S * (chunks + 3) + metadata_ops) * REPLICATION_FACTOR
    per_node = SCYLLA_OPS_PER_CORE * SCYLLA_NODE_CORES * TARGET_UTILISATION
    rows.append(
        [
            "ScyllaDB ops/s (replicated), bytes in the object store",
            f"{s3_path_ops:,.0f}",
            "rows only; views read photo+likes+comments",
        ]
    )
    rows.append(
        [
            "ScyllaDB nodes, bytes in the object store",
            f"{math.ceil(s3_path_ops / per_node):,}",
            f"{SCYLLA_OPS_PER_CORE:,} ops/s per shard, {SCYLLA_NODE_CORES} shards per node",
        ]
    )
    rows.append(
        [
            "ScyllaDB ops/s and nodes, bytes as chunk rows (small clusters only)",
            f"{chunk_path_ops:,.0f} / {math.ceil(daily * REPLICATION_FACTOR * 365 / (SCYLLA_NODE_TB * 1e12)):,}",
            f"{chunks} × 64 KB chunk rows per photo; nodes bound by {daily * REPLICATION_FACTOR * 365 / 1e15:,.1f} "
            f"PB a year at {SCYLLA_NODE_TB} TB per node, not by ops",
        ]
    )
    rows.append(
        ["daily active users", f"{DAILY_ACTIVE_USERS:,}", "design input; views/uploads above are its peak rates"]
    )
    rows.extend(replica_rows(results["replicas"] if "replicas" in results else load_replicas()))
    return rows


def object_store_rows(results: dict, daily_bytes: float) -> list[list[object]]:
    """Volumes, raw bytes (replicated vs. erasure coded), servers, request rates and their cores."""
    rows: list[list[object]] = []
    year_days = 365
    replicated = daily_bytes * HOT_COPIES * year_days
    ec_ratio = (EC_DATA + EC_PARITY) / EC_DATA
    tiered = daily_bytes * (HOT_COPIES * HOT_DAYS + ec_ratio * (year_days - HOT_DAYS))
    server_bytes = DISK_TB * 1e12 * DISKS_PER_VOLUME_SERVER * DISK_FILL
    rows.append(
        [
            "object store: new volumes per day",
            f"{daily_bytes / VOLUME_BYTES:,.0f}",
            f"{VOLUME_BYTES / 2**20:,.0f} MB SeaweedFS volumes (one copy); objects are needles in them",
        ]
    )
    rows.append(
        [
            "object store: raw bytes after a year, all 3 copies",
            f"{replicated / 1e15:,.1f} PB",
            f"replication 020, {math.ceil(replicated / server_bytes):,} volume servers",
        ]
    )
    rows.append(
        [
            "object store: raw bytes after a year, recommended tiering",
            f"{tiered / 1e15:,.1f} PB",
            f"{HOT_COPIES} copies for {HOT_DAYS} days, then RS({EC_DATA},{EC_PARITY}) at {ec_ratio:.1f}×: "
            f"{math.ceil(tiered / server_bytes):,} volume servers of {DISKS_PER_VOLUME_SERVER}×{DISK_TB} TB "
            f"at {DISK_FILL:.0%}",
        ]
    )
    rows.append(
        [
            "cloud bucket instead: monthly bill after a year",
            f"${daily_bytes * year_days / 1e12 * CLOUD_USD_PER_TB_MONTH:,.0f}",
            f"{daily_bytes * year_days / 1e15:,.1f} PB billed once at ${CLOUD_USD_PER_TB_MONTH:.0f}/TB-month "
            "(assumed), egress not included",
        ]
    )
    puts = UPLOADS_PER_S * VARIANTS_PER_PHOTO
    gets = VIEWS_PER_S * DOWNLOADS_PER_VIEW * (1 - CDN_HIT_RATIO)
    rows.append(
        [
            "object store requests/s",
            f"{puts:,.0f} PUT, {gets:,.0f} GET",
            f"{VARIANTS_PER_PHOTO} objects per upload; {CDN_HIT_RATIO:.0%} of view downloads served by a CDN",
        ]
    )
    measured = (results.get("object_store") or {}).get("rates") or {}
    cores = results.get("cores") or 1

    def per_core(name: str) -> float | None:
        rate = (measured.get(name) or {}).get("ops_per_s")
        return rate / cores if rate else None

    put_core, get_core = per_core("SeaweedFS PUT"), per_core("SeaweedFS GET")
    if put_core and get_core:
        rows.append(
            [
                "object store cores (S3 gateway + volume servers)",
                f"{puts / put_core + gets / get_core:,.0f}",
                f"{put_core:,.0f} PUT/s and {get_core:,.0f} GET/s per core measured (one weed server sharing its "
                "cores with the load generator: an upper bound)",
            ]
        )

    def python_ms(name: str) -> float | None:
        return (measured.get(name) or {}).get("python_cpu_ms_per_op")

    upload_ms = python_ms("upload (gRPC)")
    streamed_ms = python_ms("download streamed (gateway)")
    presigned_ms = python_ms("download presigned (307 + store)")
    if upload_ms:
        rows.append(
            [
                "photo service cores for uploads",
                f"{UPLOADS_PER_S * upload_ms / 1000:,.0f}",
                f"{upload_ms:,.0f} ms CPU per upload measured (decode, two renditions, three checksummed PUTs)",
            ]
        )
    if streamed_ms and presigned_ms:
        downloads = VIEWS_PER_S * DOWNLOADS_PER_VIEW
        rows.append(
            [
                "gateway + photo cores for view downloads, streamed vs presigned",
                f"{downloads * streamed_ms / 1000:,.0f} vs {downloads * presigned_ms / 1000:,.0f}",
                f"{streamed_ms:.1f} vs {presigned_ms:.1f} ms CPU per download measured; presigned bytes come "
                "from the store or a CDN, and a browser reuses a 307 until its URL nears expiry",
            ]
        )
    return rows


def capacity_table(results: dict) -> str:
    rows = [[*row, basis(str(row[0]), results)] for row in capacity_rows(results)]
    return markdown_table(["quantity", "estimate", "from", "basis"], rows)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "out" / "latest" / "results.json"
    if path.exists():
        results = json.loads(path.read_text())
        print(f"Capacity model from {path}\n")
    else:
        results = {}
        print(f"No bench results at {path}: run `make bench` first. Showing the model with design defaults only.\n")
    print(capacity_table(results))


if __name__ == "__main__":
    main()
