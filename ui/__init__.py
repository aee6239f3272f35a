"""The web UI: page scripts (ui/pages, what st.navigation runs) and the widgets they share."""
