"""Member photos, kept as files on disk: a flask-avg plugin of the club's own.

The database does not hold them, so this plugin speaks for them: they are listed in
the member's export and removed when the member is erased, by request or by the
retention purge (after the database commit; a failure is retried).
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from flask_avg import ExportSection, ExternalContext, Plugin, SubjectContext


def photo_dir() -> Path:
    return Path(
        current_app.config.get("CLUB_PHOTO_DIR") or Path(current_app.instance_path) / "photos"
    )


class MemberPhotos(Plugin):
    name, title = "club.photos", "Pasfoto's"
    external = True  # erase_external removes files, after the commit

    def export(self, ctx: SubjectContext):  # type: ignore[no-untyped-def]
        files = sorted(photo_dir().glob(f"{ctx.key}.*"))
        if files:
            rows = [{"file": f.name, "bytes": f.stat().st_size} for f in files]
            yield ExportSection(
                "photos", "Pasfoto", {"file": "Bestand", "bytes": "Grootte"}, rows, "media"
            )

    def erase_external(self, ctx: ExternalContext) -> None:
        gone = set(ctx.keys)  # one listing of the folder for a whole batch of members
        for path in photo_dir().glob("*.*"):
            if path.stem in gone:
                path.unlink(missing_ok=True)


def save_photo(member_id: int, svg: str) -> Path:
    """Store a member's photo (the demo draws an SVG badge with the initials)."""
    folder = photo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{int(member_id)}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def badge(initials: str) -> str:
    from markupsafe import escape

    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96">'
        '<rect width="96" height="96" rx="12" fill="#2f6f4f"/>'
        '<text x="48" y="60" font-size="36" text-anchor="middle" fill="#fff">'
        f"{escape(initials)}</text></svg>"
    )
