"""Vision Lab: entry point. Declares the pages and the sidebar every page shares."""

import streamlit as st

from pages.access import require_login
from pages.resources import active_face_model_id, engine_status

st.set_page_config(page_title="Vision Lab", page_icon="🧪", layout="wide")

pages = {
    "Vision Lab": [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("pages/concepts.py", title="Concepts", icon="🎓"),
        st.Page("pages/privacy.py", title="Privacy", icon="🔒"),
    ],
    "Faces": [
        st.Page("pages/enroll.py", title="Enroll", icon="➕"),
        st.Page("pages/verify.py", title="Verify", icon="🔍"),
        st.Page("pages/recognize.py", title="Recognize", icon="🧑"),
        st.Page("pages/gallery.py", title="Gallery", icon="🗂️"),
    ],
    "Analysis": [
        st.Page("pages/threshold_lab.py", title="Threshold lab", icon="📈"),
        st.Page("pages/train.py", title="Train", icon="🏋️"),
    ],
    "Networks": [
        st.Page("pages/neurons.py", title="Neurons", icon="🧠"),
        st.Page("pages/style.py", title="Style transfer", icon="🎨"),
    ],
}
page = st.navigation(pages)
require_login()  # stops here, with a login form, until the visitor may see the page

with st.sidebar:
    status = engine_status()
    st.caption(f"Device: **{status.device}** · torch {status.versions.get('torch', '?')}")
    st.caption(f"Face model: **{active_face_model_id()}** (change it on Train)")

page.run()
