"""MNIST Studio: `streamlit run streamlit_app.py`. Page config, navigation and sidebar only."""

import streamlit as st

from pages import canvas_fit, shared

st.set_page_config(page_title="MNIST Studio", page_icon="✏️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(
        "pages/evaluate.py", title="Evaluate", icon=":material/analytics:", url_path="evaluate"
    ),
    st.Page(
        "pages/robustness.py",
        title="Robustness",
        icon=":material/shield:",
        url_path="robustness",
    ),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
    st.Page("pages/inside.py", title="Inside", icon=":material/neurology:", url_path="inside"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page(
        "pages/your_digits.py",
        title="Your digits",
        icon=":material/collections:",
        url_path="your-digits",
    ),
    # Where the server sends addresses that name no page (see serve.py); not in the menu.
    st.Page(
        "pages/not_found.py", title="Page not found", url_path="not-found", visibility="hidden"
    ),
]

page = st.navigation(PAGES)
canvas_fit.fit_page()  # every page fits a 1024 px window
with st.sidebar:
    st.caption("MNIST Studio: train, evaluate and play with handwritten-digit networks.")
page.run()
shared.after_page()  # starts the background model warm-up when serve.py asked for it
