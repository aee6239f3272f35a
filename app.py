"""Vision Lab: entry point. Declares the pages and the sidebar every page shares."""

from engine.openmp import prefer_passive_waiting

prefer_passive_waiting()  # before ui.widgets.resources loads torch

import streamlit as st  # noqa: E402

from ui.widgets.access import login_role, require_login  # noqa: E402
from ui.widgets.resources import active_face_model_id, engine_status  # noqa: E402

st.set_page_config(page_title="Vision Lab", page_icon=":material/science:", layout="wide")

pages = {
    "Vision Lab": [
        st.Page("ui/pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("ui/pages/concepts.py", title="Concepts", icon=":material/school:"),
        st.Page("ui/pages/privacy.py", title="Privacy", icon=":material/lock:"),
    ],
    "Faces": [
        st.Page("ui/pages/enroll.py", title="Enrol", icon=":material/person_add:"),
        st.Page("ui/pages/verify.py", title="Verify", icon=":material/how_to_reg:"),
        st.Page("ui/pages/recognize.py", title="Recognize", icon=":material/face:"),
        st.Page("ui/pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
        st.Page("ui/pages/discover.py", title="Discover", icon=":material/diversity_3:"),
    ],
    "Analysis": [
        st.Page("ui/pages/threshold_lab.py", title="Threshold lab", icon=":material/show_chart:"),
        st.Page("ui/pages/train.py", title="Train", icon=":material/model_training:"),
    ],
    "Networks": [
        st.Page("ui/pages/neurons.py", title="Neurons", icon=":material/psychology:"),
        st.Page("ui/pages/style.py", title="Style transfer", icon=":material/palette:"),
    ],
}
# Until the visitor may see pages the list stays hidden (deep links still resolve, then stop).
page = st.navigation(pages, position="sidebar" if login_role() else "hidden")
require_login()  # stops here, with a login form or a configuration error, until allowed

with st.sidebar:
    status = engine_status()
    st.caption(f"Device: **{status.device}** · torch {status.versions.get('torch', '?')}")
    st.caption(f"Face model: **{active_face_model_id()}** (change it on Train)")

page.run()
