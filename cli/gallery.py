"""Gallery upkeep, as the Gallery page does it: ``people``, ``delete``, ``rename``, ``merge``,
``export`` and ``import``; and ``migrate``, which the operator alone runs."""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.commands import Command

if TYPE_CHECKING:
    from cli.context import CommandContext
    from store import Gallery, Person

PERSON_HELP = "the person's name (any case), or id:<id> as `cli.py people` lists it"
ID_PREFIX = "id:"
PERSON_ID = re.compile(r"[0-9a-f]{32}")


def find_person(gallery: Gallery, text: str) -> Person:
    """PERSON as every command takes it: ``id:<32 hex digits>`` is a person id; anything else
    is a name, normalised as stored names are and matched ignoring case. Names never look like
    ids (``store.names``), so a bare id is still taken as one, unless someone's (older) name
    is that very string: then, as when two older names match, the error lists the ids."""
    from store import AmbiguousPerson, PersonNotFound
    from store.names import name_key

    text = text.strip()
    if text.lower().startswith(ID_PREFIX):
        person_id = text[len(ID_PREFIX) :].strip().lower()
        if not PERSON_ID.fullmatch(person_id):
            raise PersonNotFound(
                f"{text!r} is not a person id: id: takes the 32 hex digits `cli.py people` lists"
            )
        return gallery.get_person(person_id)
    key = name_key(text)
    found = [p for p in gallery.people() if name_key(p.name) == key]
    if PERSON_ID.fullmatch(text):
        with suppress(PersonNotFound):
            found.append(gallery.get_person(text))
    found = list({p.id: p for p in found}.values())
    if len(found) > 1:
        raise AmbiguousPerson(
            f"{text!r} could be {len(found)} people: say which by id: "
            + ", ".join(f"id:{p.id} ({p.name!r})" for p in found)
        )
    if not found:
        raise PersonNotFound(
            f"no person named {text!r} in the gallery (an id is written id:<id>; see "
            "`cli.py people`)"
        )
    [person] = found
    return person


def person_dict(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "faces": person.face_count,
        "created": str(person.created),
    }


class People(Command):
    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        with context.gallery() as gallery:
            return {
                "gallery": str(gallery.location),
                "people": [person_dict(p) for p in gallery.people()],
            }

    def show(self, result: dict[str, Any]) -> None:
        people = result["people"]
        print(f"{result['gallery']}: {len(people)} {'person' if len(people) == 1 else 'people'}")
        for person in people:
            print(f"  {person['name']:<30} {person['faces']:>4} face(s)  {person['id']}")


class Delete(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("person", help=PERSON_HELP)

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        with context.gallery() as gallery:
            person = find_person(gallery, args.person)
            gallery.delete_person(person.id)
            return {"deleted": person_dict(person)}

    def show(self, result: dict[str, Any]) -> None:
        person = result["deleted"]
        print(f"deleted {person['name']} and {person['faces']} face(s)")


class Rename(Command):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("person", help=PERSON_HELP)
        parser.add_argument("new_name")

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        with context.gallery() as gallery:
            person = find_person(gallery, args.person)
            renamed = gallery.rename(person.id, args.new_name)
            return {"from": person.name, "person": person_dict(renamed)}

    def show(self, result: dict[str, Any]) -> None:
        print(f"renamed {result['from']} to {result['person']['name']}")


class Merge(Command):
    """For one person enrolled twice: every face of ABSORB moves to KEEP, its notes are
    appended, and ABSORB is removed."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("keep", metavar="KEEP", help=f"the person who stays: {PERSON_HELP}")
        parser.add_argument(
            "absorb",
            metavar="ABSORB",
            help=f"the person merged into KEEP, then removed: {PERSON_HELP}",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        with context.gallery() as gallery:
            keep = find_person(gallery, args.keep)
            absorb = find_person(gallery, args.absorb)
            kept = gallery.merge(keep.id, absorb.id)
            return {"kept": person_dict(kept), "absorbed": person_dict(absorb)}

    def show(self, result: dict[str, Any]) -> None:
        kept, absorbed = result["kept"], result["absorbed"]
        print(
            f"merged {absorbed['name']} ({absorbed['faces']} face(s)) into {kept['name']}, who "
            f"now has {kept['faces']} face(s); {absorbed['name']} is removed"
        )


class Export(Command):
    """The whole gallery (people, notes, embeddings, face images) to a zip."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "zip", type=Path, help="the .zip to write (a folder: gallery-export.zip)"
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        target: Path = args.zip
        if target.suffix.lower() not in ("", ".zip") and not target.is_dir():
            # A typo like ``export data/gallery/gallery.db`` must not replace the database.
            raise ValueError(f"an export is a zip: give a .zip file name or a folder, not {target}")
        with context.gallery() as gallery:
            path = gallery.export_zip(target)
            with zipfile.ZipFile(path) as written:  # count what the file holds, not the gallery
                manifest = json.loads(written.read("manifest.json"))
            return {
                "export": str(path),
                "gallery": str(gallery.location),
                "model_id": manifest["model_id"],
                "people": manifest["people"],
                "faces": manifest["faces"],
                "bytes": path.stat().st_size,
            }

    def show(self, result: dict[str, Any]) -> None:
        print(
            f"exported {result['people']} people and {result['faces']} face(s) of "
            f"{result['model_id']} to {result['export']} ({result['bytes'] / 1e6:.1f} MB)"
        )
        print(
            "  it holds biometric data (face embeddings and images): keep it as safe as the gallery"
        )


class Import(Command):
    """Faces already here are skipped; people already here (same name) get the new faces."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("zip", type=Path, help="a zip from `cli.py export` or the Gallery page")

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        if not args.zip.is_file():  # before opening (and so creating) a gallery for a typo
            raise FileNotFoundError(f"{args.zip} is not a file")
        with context.gallery() as gallery:
            summary = gallery.import_zip(args.zip)
            return {"source": str(args.zip), "gallery": str(gallery.location), **asdict(summary)}

    def show(self, result: dict[str, Any]) -> None:
        print(
            f"{result['source']}: imported {result['faces_imported']} face(s), skipped "
            f"{result['faces_skipped']} already here; {result['people_created']} new people, "
            f"{result['people_matched']} matched to people here"
        )


class Migrate(Command):
    """Copy the gallery into another database, then open it there (which builds its index)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--to",
            required=True,
            metavar="URL",
            help="an empty database: postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or "
            "sqlite:///FOLDER/gallery.db (a SQLite gallery is that folder)",
        )

    def run(self, args: argparse.Namespace, context: CommandContext) -> dict[str, Any]:
        from dataclasses import replace

        from cli.output import terminal_counter
        from store import Gallery
        from store.database import database_url
        from store.relocation import target_folder

        url = database_url(args.to)
        with context.gallery() as guarded:
            gallery = guarded.unguarded  # operator-only upkeep (store.guarded.OPERATOR_ONLY)
            source = gallery.database_label
            model_id, embedding_dim = gallery.model_id, gallery.embedding_dim
            summary = gallery.copy_to(args.to, terminal_counter("copying faces"))
        settings = context.settings
        folder = target_folder(url)
        if folder is None:
            copied = Gallery.open(replace(settings, database_url=args.to), model_id, embedding_dim)
        else:
            copied = Gallery(
                folder, model_id, embedding_dim, settings.chroma_host, settings.chroma_port
            )
        with copied:  # opening repairs: the search index is made from the embedding copies
            report = copied.last_reconcile
            assert report is not None
            return {
                "source": source,
                **asdict(summary),
                "index_restored": len(report.embeddings_restored),
                "people_open": copied.count_people(),
                "faces_open": copied.count_faces(),
                "model_id": model_id,
            }

    def show(self, result: dict[str, Any]) -> None:
        print(
            f"copied {result['people']} people and {result['faces']} face(s) "
            f"({result['chips']} with their chip) from {result['source']} to {result['target']} "
            f"in {result['seconds']:.1f} s; opened there, {result['index_restored']} "
            f"embedding(s) of {result['model_id']} indexed"
        )
        print(
            "  the old gallery is unchanged: point VISIONLAB_DATABASE_URL at the new one, check "
            "it, then delete the old one (it holds biometric data)"
        )
