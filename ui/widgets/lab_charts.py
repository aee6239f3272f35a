"""The threshold lab's plotly figures, tables and downloads: built from engine results, so the
page script stays a list of widgets and one chart per question. Plotly renders HTML tags in
trace names and titles: a label that can come from the user (a head's name) goes through
``plotly_literal``."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import plotly.graph_objects as go

from engine.evaluation.metrics import DirAtFpir, ErrorCounts, OpenSetCurve, TarAtFar
from engine.evaluation.protocol import IdentityErrors
from engine.evaluation.scoring import PairScores, VerificationReport
from ui.widgets.plain_text import plotly_literal

GENUINE_COLOUR, IMPOSTOR_COLOUR = "seagreen", "darkorange"
_LAYOUT = {"height": 360, "margin": {"l": 50, "r": 20, "t": 40, "b": 45}}
_LOG_AXIS = {"type": "log", "dtick": 1, "exponentformat": "power"}
"""Log axes ticked at powers of ten only: 10⁻³, 10⁻², … (the rates analysts quote)."""


def score_histograms(scores: PairScores, threshold: float) -> go.Figure:
    """Genuine and impostor score distributions, overlaid, with the threshold as a line."""
    axis = (
        f"{scores.scorer}: probability of the same person" if scores.higher_is_same else "distance"
    )
    figure = go.Figure()
    for label, mask, colour in (
        ("genuine pairs", scores.same, GENUINE_COLOUR),
        ("impostor pairs", ~scores.same, IMPOSTOR_COLOUR),
    ):
        figure.add_trace(
            go.Histogram(
                x=scores.values[mask],
                name=f"{label} ({int(mask.sum()):,})",
                marker_color=colour,
                opacity=0.6,
                nbinsx=80,
            )
        )
    figure.add_vline(
        x=threshold,
        line={"color": "red", "width": 2},
        annotation_text=f"threshold {threshold:.3f}",
    )
    figure.update_layout(
        barmode="overlay",
        xaxis_title=axis,
        yaxis_title="pairs",
        legend={"orientation": "h", "y": 1.12},
        **_LAYOUT,
    )
    return figure


ROC_ZOOM_TAR = 0.9
"""A zoomed ROC starts its TAR axis here: good models differ only above it."""


def roc_figure(reports: dict[str, VerificationReport], *, zoomed: bool = False) -> go.Figure:
    """TAR against FAR on a log FAR axis (where operating points live), each curve's EER
    marked. A log axis cannot show FAR = 0: those points are left off. ``zoomed`` shows TAR
    from ``ROC_ZOOM_TAR`` up, where the curves of good models part; else the full 0–1."""
    figure = go.Figure()
    for label, report in reports.items():
        shown = report.roc.far > 0
        figure.add_trace(
            go.Scatter(
                x=report.roc.far[shown],
                y=report.roc.tar[shown],
                mode="lines",
                name=f"{plotly_literal(label)} (AUC {report.roc_auc:.4f})",
                customdata=report.roc.thresholds[shown],
                hovertemplate="FAR %{x:.2e}<br>TAR %{y:.4f}<br>threshold %{customdata:.3f}",
            )
        )
        if report.eer > 0:
            figure.add_trace(
                go.Scatter(
                    x=[report.eer],
                    y=[1 - report.eer],
                    mode="markers",
                    marker={"size": 10, "symbol": "x"},
                    name=f"{plotly_literal(label)} EER {report.eer:.2%}",
                )
            )
    figure.update_layout(
        xaxis={"title": "false accept rate", **_LOG_AXIS},
        yaxis={"title": "true accept rate", "range": [ROC_ZOOM_TAR if zoomed else 0, 1.02]},
        title=f"ROC (TAR from {ROC_ZOOM_TAR})" if zoomed else "ROC",
        **_LAYOUT,
    )
    return figure


def det_figure(report: VerificationReport) -> go.Figure:
    """Both error rates against each other on log axes; the EER lies on the diagonal."""
    det = report.det
    shown = (det.far > 0) & (det.frr > 0)
    figure = go.Figure(
        go.Scatter(
            x=det.far[shown],
            y=det.frr[shown],
            mode="lines",
            name=plotly_literal(report.scorer),
            customdata=det.thresholds[shown],
            hovertemplate="FAR %{x:.2e}<br>FRR %{y:.2e}<br>threshold %{customdata:.3f}",
        )
    )
    if report.eer > 0:
        figure.add_trace(
            go.Scatter(
                x=[report.eer],
                y=[report.eer],
                mode="markers",
                marker={"size": 10, "symbol": "x", "color": "red"},
                name=f"EER {report.eer:.2%}",
            )
        )
    if not shown.any():
        # Log axes cannot show a zero rate: say why the plot is empty instead of drawing axes
        # that run off to 10⁶.
        figure.add_annotation(
            text="No pair is on the wrong side of any threshold: nothing to draw on log axes.",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
        figure.update_xaxes(range=[-4, 0])
        figure.update_yaxes(range=[-4, 0])
    figure.update_layout(
        xaxis={"title": "false accept rate", **_LOG_AXIS},
        yaxis={"title": "false reject rate", **_LOG_AXIS},
        title="DET",
        showlegend=True,
        **_LAYOUT,
    )
    return figure


def open_set_figure(curve: OpenSetCurve, chosen: DirAtFpir | None = None) -> go.Figure:
    """DIR against FPIR (log): how many enrolled people are found first, within the threshold,
    for each rate of strangers wrongly matched to someone; ``chosen``, the point about to be
    saved for Recognize, marked (unless its FPIR is 0, which a log axis cannot show)."""
    shown = curve.fpir > 0
    figure = go.Figure(
        go.Scatter(
            x=curve.fpir[shown],
            y=curve.dir[shown],
            mode="lines",
            name="DIR against FPIR",
            customdata=curve.thresholds[shown],
            hovertemplate="FPIR %{x:.2e}<br>DIR %{y:.4f}<br>threshold %{customdata:.3f}",
        )
    )
    if chosen is not None and chosen.achieved_fpir > 0:
        figure.add_trace(
            go.Scatter(
                x=[chosen.achieved_fpir],
                y=[chosen.dir],
                mode="markers",
                marker={"size": 10, "symbol": "x", "color": "red"},
                name=f"threshold {chosen.threshold:.3f} (FPIR ≤ {chosen.target_fpir:.0e})",
            )
        )
    figure.update_layout(
        xaxis={"title": "false positive identification rate", **_LOG_AXIS},
        yaxis={"title": "detection and identification rate", "range": [0, 1.02]},
        title=f"Open-set identification ({curve.mated_searches:,} mated, "
        f"{curve.non_mated_searches:,} non-mated searches)",
        **_LAYOUT,
    )
    return figure


def tar_at_far_rows(rows: list[TarAtFar]) -> list[dict[str, str]]:
    """The TAR@FAR table: a row without enough impostor pairs says so and shows no number."""
    table = []
    for row in rows:
        if row.measurable:
            table.append(
                {
                    "FAR ≤": f"{row.target_far:.0e}",
                    "TAR": f"{row.tar:.2%}",
                    "threshold": f"{row.threshold:.3f}" if np.isfinite(row.threshold) else "—",
                    "FAR measured": f"{row.achieved_far:.2e}",
                    "impostor pairs": f"{row.impostor_pairs:,}",
                    "note": "",
                }
            )
        else:
            table.append(
                {
                    "FAR ≤": f"{row.target_far:.0e}",
                    "TAR": "—",
                    "threshold": "—",
                    "FAR measured": "—",
                    "impostor pairs": f"{row.impostor_pairs:,}",
                    "note": f"not measurable: needs ≥ {row.impostor_pairs_needed:,} impostor pairs",
                }
            )
    return table


def fold_rows(report: VerificationReport) -> list[dict[str, str | int]]:
    """One row per fold: its accuracy at the threshold chosen on the other folds."""
    return [
        {"fold": i + 1, "accuracy": f"{a:.2%}", "threshold": f"{t:.3f}"}
        for i, (a, t) in enumerate(zip(report.fold_accuracies, report.fold_thresholds, strict=True))
    ]


def errors_by_person_rows(rows: list[IdentityErrors]) -> list[dict[str, str | int]]:
    """The per-person error table: only the people with an error at the threshold."""
    return [
        {
            "person": r.person,
            "false rejects": r.false_rejects,
            "of genuine pairs": r.genuine_pairs,
            "false accepts": r.false_accepts,
            "of impostor pairs": r.impostor_pairs,
        }
        for r in rows
        if r.false_rejects + r.false_accepts
    ]


def scorer_comparison_rows(reports: dict[str, VerificationReport]) -> list[dict[str, str]]:
    """Scorers side by side: accuracy at their threshold, ROC AUC, EER and TAR at FAR 1e-2."""
    return [
        {
            "scorer": name,
            "accuracy": f"{r.accuracy:.2%}",
            "threshold": f"{r.threshold:.3f}",
            "ROC AUC": f"{r.roc_auc:.4f}",
            "EER": f"{r.eer:.2%}",
            "TAR @ FAR 1e-2": f"{r.tar_at(1e-2).tar:.2%}"
            if r.tar_at(1e-2).measurable
            else "not measurable",
        }
        for name, r in reports.items()
    ]


def curves_csv(reports: dict[str, VerificationReport]) -> str:
    """Every ROC and DET point of each scorer: ``scorer,curve,far,rate,threshold``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scorer", "curve", "far", "rate", "threshold"])
    for label, report in reports.items():
        for curve, far, rate, thresholds in (
            ("roc_tar", report.roc.far, report.roc.tar, report.roc.thresholds),
            ("det_frr", report.det.far, report.det.frr, report.det.thresholds),
        ):
            for f, r, t in zip(far, rate, thresholds, strict=True):
                writer.writerow([label, curve, f"{f:.6g}", f"{r:.6g}", f"{t:.6g}"])
    return out.getvalue()


def report_json(
    report: VerificationReport, dataset: dict, errors: ErrorCounts, extra: dict | None = None
) -> str:
    """The page's figures as one JSON document (curves included)."""
    document = {
        "dataset": dataset,
        "report": report.as_dict(),
        "at_threshold": errors.as_dict(),
        "curves": report.curves(),
        **(extra or {}),
    }
    return json.dumps(_finite(document), indent=1, allow_nan=False)


def _finite(value: object) -> object:
    """JSON has no NaN or infinity: such numbers become null; numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
