"""The app's heavy objects, created once per server process (``st.cache_resource``)."""

from __future__ import annotations

import streamlit as st

from engine.config import Settings
from engine.faces.pipeline import FacePipeline, PipelineOptions
from engine.status import EngineStatus, collect_engine_status


@st.cache_resource
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner="Loading the face models…")
def face_pipeline() -> FacePipeline:
    s = settings()
    options = PipelineOptions(max_side=s.detect_max_side, max_pixels=s.max_pixels)
    return FacePipeline.load(device=s.device, options=options)


@st.cache_resource
def engine_status() -> EngineStatus:
    return collect_engine_status(settings().device)
