"""Vision Lab engine: all computation. Never imports streamlit."""
