"""The app's heavy objects, created once per server process (``st.cache_resource``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from engine.config import Settings
from engine.faces.pipeline import FacePipeline
from engine.faces.weights import FACE_RESNET_V1
from engine.status import EngineStatus, collect_engine_status

if TYPE_CHECKING:
    from store import Gallery


@st.cache_resource
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner="Loading the face models…")
def face_pipeline() -> FacePipeline:
    return FacePipeline.from_settings(settings())


@st.cache_resource(show_spinner="Opening the gallery…")
def gallery() -> Gallery:
    """One gallery per process: Chroma's client is thread-safe and holds the index open.

    Imported here, not at the top, so pages that never touch the gallery don't load Chroma.
    """
    from store import Gallery

    return Gallery.open(
        settings(),
        model_id=FACE_RESNET_V1.model_id,
        embedding_dim=FACE_RESNET_V1.embedding_dim or 128,
    )


@st.cache_resource
def engine_status() -> EngineStatus:
    return collect_engine_status(settings().device)
