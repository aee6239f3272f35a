"""Streamlit pages: UI only. Every computation goes through the engine."""
