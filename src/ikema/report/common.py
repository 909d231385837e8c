"""Small pieces every report section uses: an HTML table of escaped cells and a figure as a PNG data URI."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def table_html(headers: Sequence[str], body: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table with escaped cells."""
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in headers)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in row) + "</tr>" for row in body)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>'


def png_data_uri(fig: plt.Figure, dpi: int = 90) -> str:
    """Encode a matplotlib figure as a data: URI (PNG, fixed metadata so output is byte-stable) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def decision_sentence(gs: Mapping[str, Any]) -> str:
    """The decision of a group-sequential look in one sentence."""
    head = (f"{gs['parameter']}, look {gs['look']}: z = {gs['z']:.3f} against the boundary {gs['boundary_z']:.3f} "
            f"(one-sided p {gs['p_one_sided']:.2g} against {gs['boundary_p']:.2g}) at {gs['events']} of "
            f"{gs['planned_events']} planned events (information fraction {gs['information_fraction']:.3f})")
    if not gs["formal_test"]:
        return head + ": descriptive only, the boundary was crossed at an earlier look."
    if gs["crossed"]:
        return head + ": the boundary is crossed, the null hypothesis is rejected."
    return head + ": the boundary is not crossed, the trial continues to the next look."
