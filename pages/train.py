"""Train page: choose a preset, adjust it, start a training and watch it live.

The training runs in a worker process of the server's one TrainingQueue; what became of a
request, and everything shown about it, comes from `queue.overview` (`mnist_core.jobs`) in
one read per refresh. The visitor's own request is remembered in the session and in the URL
(?job=RUN_ID), so a page change or a reload finds it again. The live panel polls once a
second while anything is training or waiting, and not at all otherwise.
"""

from __future__ import annotations

import streamlit as st

from mnist_core import runs
from mnist_core.errors import InputError, StudioError
from pages import run_views, shared, train_form

POLL_S = 1.0  # how often the live panel refreshes while something trains or waits


def _my_run() -> str | None:
    """This visitor's request: the URL's ?job= wins (a reload, a shared link), else the session's."""
    wanted = st.query_params.get("job") or st.session_state.get("train_job")
    if not wanted:
        return None
    try:
        runs.validate_run_id(wanted)
    except StudioError:
        st.warning("The training named in the address is not valid; it was ignored.")
        st.session_state.pop("train_job", None)
        st.query_params.pop("job", None)
        return None
    st.session_state.train_job = wanted
    if st.query_params.get("job") != wanted:
        st.query_params["job"] = wanted
    return wanted


# --------------------------------------------------------------------------- the live panel


def _panel(queue, view, my_run: str | None) -> None:
    """The queue as everyone sees it, then this visitor's own request."""
    mine = view.mine
    # "You" only for what this session started: a link (?job=) can name anyone's training.
    yours = my_run is not None and my_run in st.session_state.get("train_started", ())
    if view.now is not None:
        if view.external:
            who = "started outside this page (command line, or before the server restarted)"
        elif view.now.run_id == my_run:
            who = "started by you" if yours else "the training named in the address"
        else:
            who = "started by another visitor"
        st.markdown(
            f"#### Now training\n**{view.now.watch.run.preset if view.now.watch else '?'}** · "
            f"run `{view.now.run_id}` · {who}"
        )
        if view.now.watch:
            run_views.live_view(view.now.watch)
        if view.now.run_id == my_run and not view.external:
            stopping = st.session_state.get("train_stopping") == my_run
            if st.button(
                "Stop training",
                key="train_stop",
                disabled=stopping,
                help="Ends after the current batch and keeps the best weights so far.",
            ):
                queue.stop(my_run)
                st.session_state.train_stopping, stopping = my_run, True
            if stopping:
                st.caption("Stopping after the current batch…")
    elif not (mine and mine.active):
        st.info(
            "Nothing is training right now. Choose a model on the left and press **Start training**."
        )
    ahead = mine.waiting if mine else None
    others = len(view.queued) - (1 if ahead else 0)
    if ahead:
        st.info(
            f"Your training is waiting: you are number {ahead + 1} in the queue, with "
            f"{ahead} training{'s' if ahead != 1 else ''} before yours.",
            icon=":material/hourglass_top:",
        )
        if st.button("Cancel my request", key="train_cancel"):
            queue.stop(my_run)
            st.rerun(scope="app")
    if others > 0:
        st.caption(f"{others} other request{'s' if others != 1 else ''} waiting in the queue.")
    if mine is not None and not mine.active:
        st.markdown("#### Your last training" if yours else "#### The training in the address")
        if mine.status == "unknown":
            st.warning("The training in the address was not found; it may have been deleted.")
        else:
            st.caption(f"Run `{my_run}` · {mine.words}")
            run_views.ending(mine, yours)


# --------------------------------------------------------------------------- the page

st.title("Train a model")
st.caption(
    "Pick a model, adjust how it learns, and watch it learn to read handwritten digits. "
    "One training runs at a time on this server; other requests wait their turn."
)

queue = shared.training_queue()
my_run = _my_run()
first_view = queue.overview(my_run)
demo = shared.demo_mode()

left, right = st.columns([1, 2], gap="large")
with left:
    st.subheader("New training")
    if demo:
        st.info(
            "Training is turned off in this demo: it would keep the server busy for everyone. "
            "Run MNIST Studio on your own computer to train models.",
            icon=":material/lock:",
        )
    train_form.settings(disabled=demo)
    mine_active = first_view.mine is not None and first_view.mine.active
    st.button(
        "Start training",
        type="primary",
        key="train_start",
        disabled=demo or mine_active,
        on_click=train_form.submit,
        args=(queue,),
        help="Your training is already queued or running." if mine_active else None,
    )
    if "train_error" in st.session_state:
        shared.show_error(InputError(st.session_state.pop("train_error")))

with right:

    @st.fragment(run_every=POLL_S if first_view.busy else None)
    def live_panel():
        view = queue.overview(my_run)
        if view.key != first_view.key:
            st.rerun(scope="app")  # started, finished or queued: redraw all, switch polling
        try:
            _panel(queue, view, my_run)
        except Exception as exc:  # a half-written file, a vanished run: say so, poll again
            shared.show_error(exc)

    live_panel()
