"""Train page: start from a preset (or scratch, or an earlier run), change its network and how
it learns, see what it costs, start a training and watch it live.

The training runs in a worker process of the server's one TrainingQueue; what became of a
request, and everything shown about it, comes from `queue.overview` (`mnist_core.jobs`) in
one read per refresh. The visitor's own request is remembered in the session and in the URL
(?job=RUN_ID), so a page change or a reload finds it again. The live panel polls once a
second while anything is training or waiting, and not at all otherwise. ?from=RUN_ID (the
"Train again with changes" links of Compare and Evaluate) opens that run's network.
"""

from __future__ import annotations

import streamlit as st

from mnist_core import runs
from mnist_core.config import spec_of
from mnist_core.errors import InputError, StudioError
from pages import network_editor, network_view, run_views, shared, train_form

POLL_S = 1.0  # how often the live panel refreshes while something trains or waits
# One way to stop a training: Streamlit's own running indicator (top right, with a "Stop" that
# ends only this page's script run, not the training) shows at each refresh of the live panel,
# next to "Stop training". Hidden on this page only; still in the page, so tests that wait for
# it to go away keep working.
ONE_STOP_CSS = '<style>[data-testid="stStatusWidget"] { visibility: hidden; }</style>'
# The form's column never narrower than its controls want (a third of a 1024 px window is not).
FORM_CSS = """<style>[data-testid="stColumn"]:has(.st-key-train_preset) { min-width: 300px; }
@media (min-width: 641px) { [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"]
  .st-key-train_preset) { flex-wrap: nowrap; } }</style>"""


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


def _load_from_address() -> None:
    """?from=RUN_ID: that run's network and settings into the editor, once."""
    wanted = st.query_params.get("from")
    if not wanted:
        return
    st.query_params.pop("from", None)
    try:
        run = runs.get_run(runs.validate_run_id(wanted))
        if run.error:
            raise InputError(f"The run {wanted} cannot be read: {run.error}")
        network_editor.load(spec_of(run.meta), run.id)
    except StudioError as exc:
        st.session_state.train_error = f"Could not open that run's network: {exc}"
        return
    st.session_state.net_notice = (
        f"The network of run {wanted} is in the editor below: change it and train it again."
    )


# --------------------------------------------------------------------------- the live panel


def _panel(queue, view, my_run: str | None) -> None:
    """The queue as everyone sees it, then this visitor's own request."""
    mine = view.mine
    # "You" only for what this session started: a link (?job=) can name anyone's training.
    yours = my_run is not None and my_run in st.session_state.get("train_started", ())
    # The worker lives on for a moment after its run.json says how it ended: from then on
    # the run is shown by how it ended only, not also as training ("Finishing…").
    now = view.now if view.now is not None and view.now.active else None
    if now is not None:
        if view.external:
            who = "started outside this page (command line, or before the server restarted)"
        elif now.run_id == my_run:
            who = "started by you" if yours else "the training named in the address"
        else:
            who = "started by another visitor"
        st.markdown(
            f"#### Now training\n**{now.watch.run.preset if now.watch else '?'}** · "
            f"run `{now.run_id}` · {who}"
        )
        if now.watch:
            run_views.live_view(now.watch)
        if now.run_id == my_run and not view.external:
            stopping = st.session_state.get("train_stopping") == my_run
            if st.button(
                "Stop training",
                key="train_stop",
                type="primary",
                icon=":material/stop_circle:",
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

st.html(ONE_STOP_CSS + FORM_CSS)
st.title("Train a model")
st.caption(
    "Pick a model, adjust how it learns, and watch it learn to read handwritten digits. "
    "One training runs at a time on this server; other requests wait their turn."
)

train_form.start()
_load_from_address()
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
    if "net_notice" in st.session_state:
        st.success(st.session_state.pop("net_notice"), icon=":material/edit:")
    train_form.starting_point(disabled=demo)
    raw = network_editor.raw_spec()
    spec, fault = network_view.check(raw)
    if fault is not None:
        st.error(f"The network cannot be built: {fault[1]}", icon=":material/error:")
    train_form.settings(disabled=False)  # the demo explores costs too: only Start is off
    train_form.naming(disabled=demo)
    mine_active = first_view.mine is not None and first_view.mine.active
    st.button(
        "Start training",
        type="primary",
        key="train_start",
        disabled=demo or mine_active or fault is not None,
        on_click=train_form.submit,
        args=(queue,),
        help="Your training is already queued or running."
        if mine_active
        else "Fix the network first (see the message above)."
        if fault
        else None,
    )
    if "train_error" in st.session_state:
        shared.show_error(InputError(st.session_state.pop("train_error")))

with right:
    # Just after a training started, ended or was queued, the panel is emptied at once: else
    # the old one ("Finishing…" with its chart) stayed beside the new until the page was done.
    changed = st.session_state.pop("train_panel_changed", False)
    holder = st.empty().container() if changed else st.container()

    @st.fragment(run_every=POLL_S if first_view.busy else None)
    def live_panel():
        view = queue.overview(my_run)
        if view.key != first_view.key:
            st.session_state.train_panel_changed = True
            st.rerun(scope="app")  # started, finished or queued: redraw all, switch polling
        try:
            _panel(queue, view, my_run)
        except Exception as exc:  # a half-written file, a vanished run: say so, poll again
            shared.show_error(exc)

    with holder:
        live_panel()


# --------------------------------------------------------------------------- the network

st.header("Design the network")
st.caption(
    "Layers from the picture (28×28 pixels) to the answer, top to bottom. Change any of them; "
    "the shapes, the cost and the drawing follow at once."
)
if spec is not None:
    network_view.totals(spec, train_form.train_images())
edit, view = st.columns(2, gap="large")
with edit:
    network_editor.editor(spec.costs() if spec else None, fault)
with view:
    if spec is not None:
        network_view.table(spec)
    else:
        st.error(fault[1], icon=":material/error:")
if spec is not None:
    network_view.diagram(spec)
network_editor.json_tools(spec, raw)
