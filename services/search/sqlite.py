"""SQLite implementation of the search index, with tables laid out the way the CQL one (cql.py) is.

postings(term_kind, term, photo_id DESC) is the reverse index: one partition per term, newest photo
first, so a single-term page is one range read. term_stats keeps each posting list's length so a
multi-term query can drive from the rarest list and probe the others by primary key (CROSS JOIN
fixes SQLite's join order to the one we chose). docs answers the hits; deletes leave tombstones
(services.runtime.tombstones) that a late post respects.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from functools import partial

from services.runtime.normalise import Term, TermKind
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import Kind, SqliteTombstones
from services.search.store import IndexedPhoto

_STEP_1 = """
CREATE TABLE IF NOT EXISTS postings (
    term_kind TEXT NOT NULL,
    term TEXT NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (term_kind, term, photo_id DESC)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS term_stats (
    term_kind TEXT NOT NULL,
    term TEXT NOT NULL,
    postings INTEGER NOT NULL,
    PRIMARY KEY (term_kind, term)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (
    photo_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    terms TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_by_user ON docs (user_id, photo_id DESC);
CREATE TABLE IF NOT EXISTS tombstones (
    photo_id INTEGER PRIMARY KEY,
    deleted_at_ms INTEGER NOT NULL
);
"""

SCHEMA = SqliteSchema(
    (
        _STEP_1,
        # The index's own tombstones move into the runtime's deleted_ids (one retention for every store).
        """
        INSERT OR IGNORE INTO deleted_ids (kind, id, marked_ms)
            SELECT 'photo', photo_id, deleted_at_ms FROM tombstones;
        DROP TABLE tombstones;
        """,
        # The edit a document reflects: an older post or edit event never replaces a newer one.
        "ALTER TABLE docs ADD COLUMN edited_at_ms INTEGER NOT NULL DEFAULT 0;",
    )
)

_DOC_COLUMNS = "d.photo_id, d.user_id, d.title, d.location, d.tags, d.created_at_ms, d.edited_at_ms"


def _doc(row: sqlite3.Row | tuple) -> IndexedPhoto:
    photo_id, user_id, title, location, tags, created_at_ms, edited_at_ms = row
    return IndexedPhoto(photo_id, user_id, title, location, tuple(json.loads(tags)), created_at_ms, edited_at_ms)


def _add_posting(conn: sqlite3.Connection, term: Term, photo_id: int) -> None:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO postings (term_kind, term, photo_id) VALUES (?, ?, ?)", (term.kind, term.text, photo_id)
    )
    if cursor.rowcount:
        conn.execute(
            "INSERT INTO term_stats (term_kind, term, postings) VALUES (?, ?, 1) "
            "ON CONFLICT (term_kind, term) DO UPDATE SET postings = postings + 1",
            (term.kind, term.text),
        )


def _drop_posting(conn: sqlite3.Connection, term: Term, photo_id: int) -> None:
    cursor = conn.execute(
        "DELETE FROM postings WHERE term_kind = ? AND term = ? AND photo_id = ?", (term.kind, term.text, photo_id)
    )
    if cursor.rowcount:
        conn.execute(
            "UPDATE term_stats SET postings = postings - 1 WHERE term_kind = ? AND term = ?", (term.kind, term.text)
        )
        conn.execute(
            "DELETE FROM term_stats WHERE term_kind = ? AND term = ? AND postings <= 0", (term.kind, term.text)
        )


def _filing(conn: sqlite3.Connection, photo_id: int) -> tuple[list[Term], int] | None:
    """The terms the photo is filed under and the edit its document reflects; None when it has none."""
    row = conn.execute("SELECT terms, edited_at_ms FROM docs WHERE photo_id = ?", (photo_id,)).fetchone()
    if row is None:
        return None
    return [Term(TermKind(kind), text) for kind, text in json.loads(row[0])], row[1]


class SqliteSearchStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._marks = SqliteTombstones()

    async def index_photo(self, photo: IndexedPhoto, terms: Sequence[Term]) -> bool:
        wanted = sorted(set(terms))

        def work(conn: sqlite3.Connection) -> bool:
            if self._marks.is_marked(conn, Kind.PHOTO, photo.photo_id):
                return False
            previous, filed_edit = _filing(conn, photo.photo_id) or ([], 0)
            if filed_edit > photo.edited_at_ms:
                return False
            for term in set(previous) - set(wanted):
                _drop_posting(conn, term, photo.photo_id)
            for term in wanted:
                _add_posting(conn, term, photo.photo_id)
            conn.execute(
                "INSERT INTO docs (photo_id, user_id, title, location, tags, created_at_ms, terms, edited_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (photo_id) DO UPDATE SET user_id = excluded.user_id, "
                "title = excluded.title, location = excluded.location, tags = excluded.tags, "
                "created_at_ms = excluded.created_at_ms, terms = excluded.terms, edited_at_ms = excluded.edited_at_ms",
                (
                    photo.photo_id,
                    photo.user_id,
                    photo.title,
                    photo.location,
                    json.dumps(list(photo.tags), ensure_ascii=False),
                    photo.created_at_ms,
                    json.dumps([[t.kind.value, t.text] for t in wanted], ensure_ascii=False),
                    photo.edited_at_ms,
                ),
            )
            return True

        return await self._db.write(work)

    async def remove_photo(self, photo_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._marks.mark(conn, Kind.PHOTO, photo_id)
            for term in (_filing(conn, photo_id) or ([], 0))[0]:
                _drop_posting(conn, term, photo_id)
            conn.execute("DELETE FROM docs WHERE photo_id = ?", (photo_id,))

        await self._db.write(work)

    async def search(self, terms: Sequence[Term], before_photo_id: int | None, limit: int) -> list[IndexedPhoto]:
        unique = sorted(set(terms))
        if not unique or limit <= 0:
            return []

        def work(conn: sqlite3.Connection) -> list[IndexedPhoto]:
            sizes: list[tuple[int, Term]] = []
            for term in unique:
                row = conn.execute(
                    "SELECT postings FROM term_stats WHERE term_kind = ? AND term = ?", (term.kind, term.text)
                ).fetchone()
                if row is None:
                    return []  # a term nobody used: nothing can match every term
                sizes.append((row[0], term))
            driver, *probes = [term for _, term in sorted(sizes)]
            sql = ["SELECT", _DOC_COLUMNS, "FROM postings p0"]
            params: list[object] = []
            for i, term in enumerate(probes, start=1):
                sql.append(
                    f"CROSS JOIN postings p{i} ON p{i}.term_kind = ? AND p{i}.term = ? AND p{i}.photo_id = p0.photo_id"
                )
                params += [term.kind, term.text]
            sql.append("CROSS JOIN docs d ON d.photo_id = p0.photo_id")
            sql.append("WHERE p0.term_kind = ? AND p0.term = ?")
            params += [driver.kind, driver.text]
            if before_photo_id is not None:
                sql.append("AND p0.photo_id < ?")
                params.append(before_photo_id)
            sql.append("ORDER BY p0.photo_id DESC LIMIT ?")
            params.append(limit)
            return [_doc(row) for row in conn.execute(" ".join(sql), params)]

        return await self._db.read(work)

    async def user_photo_ids(self, user_id: int, below_photo_id: int) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            rows = conn.execute(
                "SELECT photo_id FROM docs WHERE user_id = ? AND photo_id < ? ORDER BY photo_id DESC",
                (user_id, below_photo_id),
            )
            return [row[0] for row in rows]

        return await self._db.read(work)

    async def indexed_user_ids(self, page_size: int = 1000) -> AsyncIterator[int]:
        def work(conn: sqlite3.Connection, after: int) -> list[int]:
            rows = conn.execute(
                "SELECT DISTINCT user_id FROM docs WHERE user_id > ? ORDER BY user_id LIMIT ?", (after, page_size)
            )
            return [row[0] for row in rows]

        after = -1
        while page := await self._db.read(partial(work, after=after)):
            for user_id in page:
                yield user_id
            after = page[-1]
