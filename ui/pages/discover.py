"""Discover: the people of an unlabelled photo collection, grouped by face, named and enrolled.

The steps are ``engine.clustering.discovery``'s (the CLI's ``cluster`` runs the same); this
script only draws them. Uploads are everyone's, a server folder is an admin's
(``ui.widgets.data_source``), the gallery's own faces are everyone's reads; naming a group
enrols its faces through the store, which checks ``Action.ENROL``.
"""

import time

import streamlit as st

from engine.clustering import Cluster, ClusteringCancelled
from engine.clustering.discovery import (
    Discovery,
    discover,
    enrol_cluster,
    gallery_collection,
    group,
    merged,
    moved_out,
    person_matcher,
    regroup,
    rematched,
)
from engine.errors import VisionLabError
from engine.evaluation.embedding import EmbeddingCancelled
from engine.permissions import Action
from store.names import MAX_NAME_LENGTH, clean_name
from ui.widgets.access import ADMIN_ONLY, current_actor
from ui.widgets.data_source import data_source, finish_upload
from ui.widgets.face_widgets import counted, open_gallery, show_error
from ui.widgets.jobs import heavy_job, queue_caption
from ui.widgets.pace import pace_text
from ui.widgets.plain_text import md_literal, show_plain
from ui.widgets.resources import face_pipeline, settings

# The session's job: {"cancelled", "found": Discovery | None, "grouped_at", "notes", "message"}.
STATE = "discover"
PHOTOS, GALLERY = "Photos or a zip", "The gallery's own faces"
NEW_PERSON = "New person…"
PAGE_SIZE = 10  # groups shown per page
CHIPS_SHOWN = 60  # faces drawn per contact sheet (every face stays listed for the edits)


def _cancel() -> None:
    if st.session_state.get(STATE):
        st.session_state[STATE]["cancelled"] = True


def _note(label: int, kind: str, message: object) -> None:
    """A message shown inside group ``label``'s box on the next run."""
    st.session_state[STATE]["notes"].setdefault(label, []).append((kind, message))


def _set_found(found: Discovery) -> None:
    st.session_state[STATE]["found"] = found


def _merge(label: int) -> None:
    other = st.session_state.get(f"discover_merge_{label}")
    if other is not None:
        _set_found(merged(st.session_state[STATE]["found"], label, other))


def _move(label: int, together: bool) -> None:
    rows = st.session_state.pop(f"discover_faces_{label}", [])
    if rows:
        _set_found(moved_out(st.session_state[STATE]["found"], rows, together=together))


def _enrol(label: int) -> None:
    """Enrol group ``label`` as the person chosen (by id) or typed; report as Enrol does."""
    state = st.session_state[STATE]
    found: Discovery = state["found"]
    chosen = st.session_state.get(f"discover_who_{label}", NEW_PERSON)
    typed = st.session_state.get(f"discover_name_{label}", "").strip()
    try:
        person = gallery.get_person(chosen) if chosen != NEW_PERSON else clean_name(typed)
        result = enrol_cluster(
            gallery, found.faces_of(found.cluster(label)), person, found.collection.model_id
        )
    except VisionLabError as exc:
        _note(label, "error", exc)
        return
    who = md_literal(result.person.name) if result.person else "nobody new"
    if result.enrolled:
        _note(label, "success", f"Enrolled {counted(len(result.enrolled), 'face')} as {who}.")
    if result.duplicates:
        names = sorted({name for _, name in result.duplicates})
        _note(
            label,
            "info",
            f"{counted(len(result.duplicates), 'face')} already enrolled (for "
            f"{', '.join(md_literal(n) for n in names)}): not stored again.",
        )
    if result.skipped:
        _note(
            label, "warning", f"{counted(len(result.skipped), 'face')} without a picture: skipped."
        )
    st.session_state.pop(f"discover_name_{label}", None)
    st.session_state.pop(f"discover_who_{label}", None)  # next run: the person it now matches
    state["found"] = rematched(found, gallery, settings())  # it now matches whom it was named


def _find_people(kind: str, dataset) -> None:
    """Collect and group the faces, with a progress bar over photos and a Cancel button."""
    state = st.session_state[STATE] = {
        "cancelled": False,
        "found": None,
        "grouped_at": None,
        "notes": {},
        "message": None,
    }
    for key in ("discover_threshold", "discover_min_size"):  # the new collection's defaults
        st.session_state.pop(key, None)
    st.session_state.pop("discover_page", None)
    cancel = st.empty()
    cancel.button("Cancel", on_click=_cancel, key="discover_cancel")
    bar = st.progress(0.0, text="Reading the photos…")
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        pace = pace_text(done, total, time.monotonic() - started, unit="photos")
        bar.progress(done / total if total else 1.0, text=f"Photos: {done} / {total} · {pace}")

    def stop() -> bool:
        return state["cancelled"]

    try:
        with heavy_job("face grouping", should_stop=stop):
            if kind == GALLERY:
                collection = gallery_collection(gallery, settings().discover_max_faces)
                matcher = person_matcher(gallery, settings(), collection.model_id)
                found = group(collection, matcher=matcher, should_stop=stop)
            else:
                found = discover(
                    face_pipeline(),
                    dataset.root,
                    gallery=gallery,
                    settings=settings(),
                    cache_dir=dataset.cache_dir,
                    max_faces=settings().discover_max_faces,
                    progress=progress,
                    should_stop=stop,
                )
    except (EmbeddingCancelled, ClusteringCancelled) as exc:
        state["message"] = f"Cancelled: {md_literal(exc)}. Find people again to go on."
    except VisionLabError as exc:
        st.session_state[STATE] = None
        show_error(exc)
    else:
        state["found"] = found
        state["grouped_at"] = (round(found.clustering.options.threshold, 2), 2)
    bar.empty()
    cancel.empty()  # the job is over: nothing left to cancel
    if state["found"] is not None and dataset is not None and dataset.uploaded:
        finish_upload("discover")  # the faces are kept; the uploaded files go now


def _grouping(found: Discovery) -> Discovery:
    """Threshold and smallest group: moving either groups the kept faces again at once."""
    default = found.default_threshold
    start = round(default.value, 2)
    left, right = st.columns(2)
    value = left.slider(
        "Threshold (distance)",
        min_value=0.30,
        max_value=0.70,
        value=start,
        step=0.01,
        key="discover_threshold",
        help="Faces at most this far apart can be grouped as one person. Lower splits more; "
        "higher merges more strangers.",
    )
    left.caption(
        f"Default {md_literal(default.source)}: it falls as the collection grows, so that "
        "strangers are not grouped together."
    )
    min_size = right.number_input(
        "Smallest group",
        min_value=1,
        max_value=100,
        value=2,
        key="discover_min_size",
        help="Groups with fewer faces are listed apart, as single faces.",
    )
    state = st.session_state[STATE]
    if state["grouped_at"] != (value, int(min_size)):
        found = regroup(found, value, int(min_size))
        state["found"], state["grouped_at"], state["notes"] = found, (value, int(min_size)), {}
        right.caption("Grouped again: earlier merges and moves were undone.")
    return found


def _title(position: int, cluster: Cluster) -> str:
    match = cluster.person
    who = f" · looks like {md_literal(match.name)}" if match else ""
    return f"Group {position} · {counted(cluster.size, 'face')}{who}"


def _contact_sheet(found: Discovery, cluster: Cluster) -> None:
    row = st.container(horizontal=True, gap="small")  # wraps: side by side on a phone
    for number, face in enumerate(found.faces_of(cluster)[:CHIPS_SHOWN], 1):
        if face.chip is not None:
            row.image(face.chip, caption=str(number), width=80)
    if cluster.size > CHIPS_SHOWN:
        st.caption(f"… and {counted(cluster.size - CHIPS_SHOWN, 'more face')}.")


def _face_label(found: Discovery, cluster: Cluster):
    numbers = {row: n for n, row in enumerate(cluster.members, 1)}
    return lambda row: f"{numbers[row]}: {found.collection.faces[row].photo}"  # plain text


def _show_group(found: Discovery, position: int, cluster: Cluster, names: dict) -> None:
    label = cluster.label
    with st.container(border=True):
        st.markdown(f"**{_title(position, cluster)}**")
        match = cluster.person
        st.caption(
            f"Spread {cluster.spread:.2f} (typical distance between its faces; near the "
            "threshold, it may hold two people)"
            + (f" · distance to {md_literal(match.name)} {match.distance:.2f}" if match else "")
        )
        for kind, message in st.session_state[STATE]["notes"].pop(label, []):
            if kind == "error":
                show_error(message)
            else:
                getattr(st, kind)(message)
        _contact_sheet(found, cluster)
        with st.expander("Name, merge or fix this group"):
            _name_form(label, cluster, names)
            _merge_form(found, label, position)
            _move_form(found, label, cluster)


def _name_form(label: int, cluster: Cluster, names: dict) -> None:
    may_enrol = current_actor().may(Action.ENROL)
    matched = next(
        (pid for pid, n in names.items() if cluster.person and n == cluster.person.name), None
    )
    options = [NEW_PERSON, *names]
    who = st.selectbox(
        "Enrol these faces as",
        options,
        index=options.index(matched) if matched else 0,
        format_func=lambda pid: pid if pid == NEW_PERSON else names[pid],  # plain text
        key=f"discover_who_{label}",
    )
    typed = ""
    if who == NEW_PERSON:
        typed = st.text_input(
            "Name of the new person",
            max_chars=MAX_NAME_LENGTH,
            key=f"discover_name_{label}",
            help=f"1–{MAX_NAME_LENGTH} characters.",
        ).strip()
    st.button(
        f"Enrol {counted(cluster.size, 'face')}",
        type="primary",
        key=f"discover_enrol_{label}",
        disabled=not may_enrol or (who == NEW_PERSON and not typed),
        help=None if may_enrol else ADMIN_ONLY,
        on_click=_enrol,
        args=(label,),
    )


def _merge_form(found: Discovery, label: int, position: int) -> None:
    others = {
        c.label: f"Group {n} · {counted(c.size, 'face')}"
        + (f" · {c.person.name}" if c.person else "")
        for n, c in enumerate(found.clustering.clusters, 1)
        if c.label != label
    }
    if not others:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.selectbox(
        f"Merge another group into group {position}",
        list(others),
        format_func=others.get,  # plain text: names in options are not Markdown
        key=f"discover_merge_{label}",
    )
    right.button("Merge", key=f"discover_merge_go_{label}", on_click=_merge, args=(label,))


def _move_form(found: Discovery, label: int, cluster: Cluster) -> None:
    if cluster.size < 2:
        return
    chosen = st.multiselect(
        "Faces to take out (by number)",
        list(cluster.members),
        format_func=_face_label(found, cluster),
        key=f"discover_faces_{label}",
    )
    left, right = st.columns(2)
    left.button(
        "Not this person",
        key=f"discover_not_{label}",
        disabled=not chosen,
        on_click=_move,
        args=(label, False),
        help="Each chosen face leaves the group and stands alone.",
    )
    right.button(
        "Split into a new group",
        key=f"discover_split_{label}",
        disabled=not chosen or len(chosen) == cluster.size,
        on_click=_move,
        args=(label, True),
        help="The chosen faces leave together, as a group of their own.",
    )


def _results(found: Discovery) -> None:
    collection = found.collection
    if not collection.faces:
        st.warning(
            f"No face was found in any of the {counted(collection.photos, 'photo')}: try photos "
            "where faces are larger, frontal and well lit."
        )
        _photo_problems(found)
        return
    found = _grouping(found)
    clusters, singles = found.clustering.clusters, found.clustering.singletons
    st.success(
        f"{counted(collection.photos, 'photo')}, {counted(len(collection.faces), 'face')}: "
        f"{counted(len(clusters), 'group')} of {found.clustering.options.min_size} or more faces, "
        f"{_apart(singles)}."
    )
    _photo_problems(found)
    names = {p.id: p.name for p in gallery.people()}
    pages = max(1, -(-len(clusters) // PAGE_SIZE))
    page = 1
    if pages > 1:
        page = st.selectbox(
            "Page",
            range(1, pages + 1),
            key="discover_page",
            format_func=lambda p: (
                f"Groups {(p - 1) * PAGE_SIZE + 1}–{min(p * PAGE_SIZE, len(clusters))}"
            ),
        )
    first = (page - 1) * PAGE_SIZE
    for position, cluster in enumerate(clusters[first : first + PAGE_SIZE], first + 1):
        _show_group(found, position, cluster, names)
    if singles:
        with st.expander(_apart(singles)):
            row = st.container(horizontal=True, gap="small")
            for single in singles[:CHIPS_SHOWN]:
                for face in found.faces_of(single):
                    if face.chip is not None:
                        row.image(face.chip, width=80)
            if len(singles) > CHIPS_SHOWN:
                st.caption(f"… and {counted(len(singles) - CHIPS_SHOWN, 'more')}.")


def _apart(singles: tuple[Cluster, ...]) -> str:
    """The faces not in a listed group, in words: "1 face on its own", "5 faces in groups
    under the smallest size"."""
    faces = sum(c.size for c in singles)
    if all(c.size == 1 for c in singles):
        return f"{counted(faces, 'face')} on {'its' if faces == 1 else 'their'} own"
    return f"{counted(faces, 'face')} in groups under the smallest size"


def _photo_problems(found: Discovery) -> None:
    collection = found.collection
    if collection.no_face:
        with st.expander(f"{counted(len(collection.no_face), 'photo')} without a face"):
            show_plain("\n".join(collection.no_face))
    if collection.unreadable:
        with st.expander(f"{counted(len(collection.unreadable), 'file')} not readable as images"):
            st.text("\n".join(f"{name}: {why}" for name, why in collection.unreadable))


st.title("Discover")
st.write(
    "Group the faces of a photo collection into people, without sorting the photos first. "
    "Every face of every photo counts. Fix the groups (merge, split, take a face out), then "
    "name a group to enrol all its faces as one person."
)
gallery = open_gallery()
kind = st.radio("Faces from", [PHOTOS, GALLERY], horizontal=True, key="discover_source")
dataset = (
    data_source("discover", photos=True, what="a zip of photos (any layout)")
    if kind == PHOTOS
    else None
)
if kind == GALLERY:
    st.caption(
        "Groups the enrolled faces: a group that spans two names may be one person enrolled "
        "twice (merge them on the **Gallery** page)."
    )
st.caption(queue_caption())
if st.button(
    "Find people", type="primary", key="discover_go", disabled=kind == PHOTOS and dataset is None
):
    _find_people(kind, dataset)
state = st.session_state.get(STATE)
if state:
    if state.get("message"):
        st.warning(state["message"])
    elif state.get("cancelled") and state.get("found") is None:  # the click ended the run
        st.warning(
            "Cancelled: the faces of the photos read so far are kept in the cache. "
            "Find people again to go on."
        )
    if state.get("found") is not None:
        _results(state["found"])
