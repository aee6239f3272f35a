"""The app's heavy objects, created once per server process (``st.cache_resource``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from engine.config import Settings
from engine.faces.pipeline import FacePipeline
from engine.faces.weights import FACE_RESNET_V1
from engine.status import EngineStatus, collect_engine_status

if TYPE_CHECKING:
    from engine.neurons.backbones import Backbone
    from engine.training.models import ModelInUse
    from store import Gallery


@st.cache_resource
def settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner="Loading the face models…")
def base_face_pipeline() -> FacePipeline:
    """The pretrained pipeline (detector, landmarks, face ResNet), loaded once."""
    return FacePipeline.from_settings(settings())


@st.cache_resource(show_spinner="Loading the trained model…")
def _in_use(data_dir: str, model_id: str | None) -> ModelInUse:
    """``pipeline_in_use`` once per data folder and chosen model (``model_id`` is the cache key:
    choosing another model loads that one)."""
    from engine.training.models import pipeline_in_use

    return pipeline_in_use(base_face_pipeline(), data_dir)


def _model_in_use() -> ModelInUse:
    from engine.training.models import active_model_id

    data_dir = settings().data_dir
    return _in_use(str(data_dir), active_model_id(data_dir))


def face_pipeline() -> FacePipeline:
    """The pipeline of the model chosen on the Train page ("use this model"), else the base
    one. A chosen model that cannot load falls back to the base model (see
    ``active_model_problem``)."""
    return _model_in_use().pipeline


def active_face_model_id() -> str:
    """The id of the face model chosen on the Train page, without loading any model (for the
    sidebar of every page, the light ones included)."""
    from engine.training.models import active_model_id

    return active_model_id(settings().data_dir) or FACE_RESNET_V1.model_id


def active_model_problem() -> str | None:
    """Why the chosen trained model is not in use, when it is not."""
    return _model_in_use().problem


@st.cache_resource(show_spinner="Opening the gallery…")
def gallery_for(model_id: str) -> Gallery:
    """One gallery object per model per process: Chroma's client is thread-safe and holds the
    index open. People are shared; each model has its own vectors.

    Imported here, not at the top, so pages that never touch the gallery don't load Chroma.
    """
    from store import Gallery

    return Gallery.open(
        settings(), model_id=model_id, embedding_dim=FACE_RESNET_V1.embedding_dim or 128
    )


def gallery() -> Gallery:
    """The gallery's view for the model in use (see ``face_pipeline``)."""
    return gallery_for(face_pipeline().model_id)


@st.cache_resource
def engine_status() -> EngineStatus:
    return collect_engine_status(settings().device)


@st.cache_resource(show_spinner="Loading the network…")
def neuron_backbone(name: str) -> Backbone:
    """The neuron browser's networks (face, vgg16, vgg19), one of each per process."""
    from engine.neurons.backbones import load_backbone

    return load_backbone(name, device=engine_status().device)


# --- style transfer ---
if TYPE_CHECKING:
    from engine.backbones.vgg import VGGFeatures
    from engine.style.fast import FastStylizer


@st.cache_resource(show_spinner="Loading VGG16…")
def style_network() -> VGGFeatures:
    """The whole VGG16 conv stack (offline ImageNet weights); each run slices what it needs."""
    from engine.backbones.vgg import VGGFeatures

    return VGGFeatures.load("vgg16", device=engine_status().device)


@st.cache_resource(show_spinner="Loading the fast style network…")
def fast_stylizer() -> FastStylizer:
    from engine.style.fast import FastStylizer

    return FastStylizer(str(engine_status().device))


# --- concepts ---
if TYPE_CHECKING:
    from engine.concepts.quiz import FaceTriplet


@st.cache_resource(show_spinner="Embedding three sample faces…")
def concepts_face_triplet() -> FaceTriplet:
    """The Concepts page's real faces: Eileen Collins, a cropped mirror of her, Grace Hopper."""
    from engine.concepts.quiz import face_triplet, sample_photos

    return face_triplet(base_face_pipeline(), *sample_photos())
