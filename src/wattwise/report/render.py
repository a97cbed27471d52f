"""The report as JSON (a dict), Markdown and HTML, and its one-paragraph carbon statement.

Every number carries its unit; an estimate is labelled as one; an unknown embodied
figure is shown as unknown and the totals say they exclude it.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from wattwise.report.embodied import SOURCES as EMBODIED_SOURCES
from wattwise.report.equivalents import SOURCES as EQUIVALENT_SOURCES
from wattwise.report.model import Report, RunCarbon

SCI_NOTE = "SCI = (E·I + M) / R: location-based operational plus embodied CO₂e per functional unit"


def g(value: float | None) -> str:
    """Grams of CO₂e with 4 significant digits (or ``unknown``)."""
    return "unknown" if value is None else f"{value:.4g} gCO₂e"


def kwh(value: float) -> str:
    return f"{value:.4g} kWh"


def _how(estimated: bool) -> str:
    return "estimated" if estimated else "measured"


def _when(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _unit_label(report: Report) -> str:
    count = f"{report.unit.count:g}"
    return f"{count} {report.unit.name}" + ("" if report.unit.count == 1 else "s")


def _excludes(unknown: list[str]) -> str:
    return f" (excludes the embodied CO₂e of {', '.join(unknown)}: unknown)" if unknown else ""


def statement(report: Report) -> str:
    """One paragraph for a paper or a pull request."""
    unknown = report.embodied_unknown
    energy = (
        f"{kwh(report.energy_kwh)} of electricity ({_how(report.estimated)}; "
        f"sources: {', '.join(report.sources) or 'none'})"
    )
    if report.pue_is_default:
        pue = "no data-centre overhead was counted (PUE 1.0, the default)"
    else:
        pue = (
            f"with a PUE of {report.pue:.3g} ({'; '.join(report.pue_bases)}) the facility drew "
            f"{kwh(report.facility_energy_kwh)}"
        )
    parts = [f"This work ({report.selection}, {report.duration_s:.4g} s) used {energy}; {pue}."]
    if report.operational_co2e_g is None:
        parts.append(
            "Its operational CO₂e is unknown (no carbon intensity was stored with the run)."
        )
    else:
        intensity = report.intensity_g_per_kwh
        at = f" at {intensity:.4g} gCO₂e/kWh" if intensity is not None else ""
        parts.append(
            f"Its location-based operational emissions were {g(report.operational_co2e_g)}{at}"
            + (
                f", market-based {g(report.market_co2e_g)} with a contract factor of "
                f"{report.market.g_per_kwh:g} gCO₂e/kWh"
                if report.market is not None
                else ""
            )
            + "."
        )
    parts.append(
        f"Manufacturing the hardware, amortised by time share over its lifetime, adds "
        f"{g(report.embodied_co2e_g)} of embodied emissions"
        + (
            f", not counting {', '.join(unknown)}, for which no public figure is known"
            if unknown
            else ""
        )
        + "."
    )
    if report.total_co2e_g is not None:
        parts.append(
            f"In total {g(report.total_co2e_g)}, an SCI of {g(report.sci_g)} per "
            f"{report.unit.name} ({_unit_label(report)})."
        )
    parts.append("Measured and reported with wattwise.")
    return " ".join(parts)


# -- JSON --------------------------------------------------------------------------------


def _item_dict(item: RunCarbon, per_item_sci: bool) -> dict[str, Any]:
    return {
        "run_id": item.run_id,
        "job_id": item.job_id,
        "name": item.name,
        "kind": item.kind,
        "status": item.status,
        "host": item.host,
        "started_s": item.started_s,
        "duration_s": item.duration_s,
        "energy_kwh": item.energy_kwh,
        "energy_estimated": item.estimated,
        "energy_sources": item.sources,
        "devices": [d.__dict__ for d in item.devices],
        "pue": item.pue.value,
        "pue_basis": item.pue.basis,
        "pue_is_default": item.pue.is_default,
        "facility_energy_kwh": item.facility_energy_kwh,
        "intensity_g_per_kwh": item.intensity_g_per_kwh,
        "intensity_source": item.intensity_source,
        "operational_co2e_g": item.operational_co2e_g,
        "operational_market_co2e_g": item.market_co2e_g,
        "embodied_co2e_g": item.embodied_co2e_g,
        "embodied_unknown": item.embodied_unknown,
        "embodied": [_embodied_dict(e) for e in item.embodied],
        "total_co2e_g": item.total_co2e_g,
        "sci": item.total_co2e_g if per_item_sci else None,
    }


def _embodied_dict(e: Any) -> dict[str, Any]:
    return {
        "device": e.device,
        "kind": e.kind,
        "model": e.model,
        "model_from": e.model_from,
        "co2e_g": e.co2e_g,
        "known": e.known,
        "embodied_kgco2e": e.embodied_kgco2e,
        "lifetime_years": e.lifetime_years,
        "time_share": e.time_share,
        "source_id": e.source_id,
        "label": e.label,
        "reason": e.reason,
    }


def report_dict(report: Report) -> dict[str, Any]:
    # Per-item SCI only where the unit is one per item (the default); a user's unit
    # counts the whole selection.
    per_item = not report.unit.given
    return {
        "selection": report.selection,
        "energy_kwh": report.energy_kwh,
        "energy_estimated": report.estimated,
        "energy_sources": report.sources,
        "pue": report.pue,
        "pue_basis": report.pue_bases,
        "pue_is_default": report.pue_is_default,
        "facility_energy_kwh": report.facility_energy_kwh,
        "intensity_g_per_kwh": report.intensity_g_per_kwh,
        "operational_co2e_g": report.operational_co2e_g,
        "operational_basis": "location-based (the run's stored carbon intensity x PUE)",
        "operational_market_co2e_g": report.market_co2e_g,
        "market_factor_g_per_kwh": None if report.market is None else report.market.g_per_kwh,
        "market_factor_basis": None if report.market is None else report.market.basis,
        "embodied_co2e_g": report.embodied_co2e_g,
        "embodied_unknown": report.embodied_unknown,
        "embodied_sources": EMBODIED_SOURCES,
        "total_co2e_g": report.total_co2e_g,
        "total_excludes": [f"embodied CO2e of {d}" for d in report.embodied_unknown],
        "sci": report.sci_g,
        "sci_unit": f"gCO2e per {report.unit.name}",
        "functional_unit": {"name": report.unit.name, "count": report.unit.count},
        "equivalents": [
            {
                "name": e.name,
                "unit": e.unit,
                "amount": e.amount,
                "g_co2e_per_unit": e.g_co2e_per_unit,
            }
            for e in report.equivalents
        ],
        "equivalents_sources": EQUIVALENT_SOURCES,
        "statement": report.statement,
        "items": [_item_dict(i, per_item) for i in report.items],
    }


# -- Markdown ----------------------------------------------------------------------------


def _rows(report: Report) -> list[tuple[str, ...]]:
    """(quantity, value, how / source) rows of the summary table."""
    unknown = report.embodied_unknown
    rows: list[tuple[str, ...]] = [
        (
            "energy (IT)",
            kwh(report.energy_kwh),
            f"{_how(report.estimated)}; {', '.join(report.sources)}",
        ),
        ("PUE", f"{report.pue:.4g}", "; ".join(report.pue_bases)),
        ("energy (facility)", kwh(report.facility_energy_kwh), "energy × PUE"),
        (
            "carbon intensity",
            "unknown"
            if report.intensity_g_per_kwh is None
            else f"{report.intensity_g_per_kwh:.4g} gCO₂e/kWh",
            "; ".join(sorted({i.intensity_source or "none stored" for i in report.items})),
        ),
        (
            "operational CO₂e (location-based)",
            g(report.operational_co2e_g),
            "facility energy × intensity",
        ),
    ]
    if report.market is not None:
        rows.append(
            (
                "operational CO₂e (market-based)",
                g(report.market_co2e_g),
                f"facility energy × {report.market.g_per_kwh:g} gCO₂e/kWh ({report.market.basis})",
            )
        )
    rows += [
        (
            "embodied CO₂e",
            g(report.embodied_co2e_g),
            "time share of each device's figure" + _excludes(unknown),
        ),
        (
            "total CO₂e",
            g(report.total_co2e_g),
            "location-based operational + embodied" + _excludes(unknown),
        ),
        (
            "SCI",
            f"{g(report.sci_g)} per {report.unit.name}",
            f"{SCI_NOTE}; R = {_unit_label(report)}",
        ),
    ]
    return rows


def _embodied_rows(report: Report) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for item in report.items:
        for e in item.embodied:
            figure = (
                f"{e.embodied_kgco2e:.4g} kgCO₂e / {e.lifetime_years:g} y ({e.source_id})"
                if e.known
                else e.reason
            )
            share = "-" if e.time_share is None else f"{e.time_share:.3e}"
            out.append(
                (str(item.run_id), e.device, e.model or "unknown", figure, share, g(e.co2e_g))
            )
    return out


def _md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


PER_RUN = ("run", "job", "name", "started", "energy", "PUE", "operational", "embodied", "total")


def _per_run_rows(report: Report) -> list[tuple[str, ...]]:
    return [
        (
            str(i.run_id),
            "-" if i.job_id is None else str(i.job_id),
            i.name,
            _when(i.started_s),
            f"{kwh(i.energy_kwh)} ({_how(i.estimated)})",
            f"{i.pue.value:g}",
            g(i.operational_co2e_g),
            g(i.embodied_co2e_g),
            g(i.total_co2e_g),
        )
        for i in report.items
    ]


def markdown(report: Report) -> str:
    lines = [f"# Carbon report: {report.selection}", ""]
    lines += _md_table(("quantity", "value", "how / source"), _rows(report))
    if len(report.items) > 1:
        lines += ["", "## Per run", ""]
        lines += _md_table(PER_RUN, _per_run_rows(report))
    lines += ["", "## Embodied CO₂e by device", ""]
    lines += _md_table(
        ("run", "device", "model", "figure (source)", "time share", "CO₂e"), _embodied_rows(report)
    )
    lines += ["", f"Embodied figures: {EMBODIED_SOURCES}."]
    if report.equivalents:
        lines += ["", "## Equivalents", ""]
        lines += [f"- {e.amount:.3g} {e.unit}" for e in report.equivalents]
        lines += ["", f"Factors: {EQUIVALENT_SOURCES} (U.S. EPA)."]
    lines += ["", "## Carbon statement", "", report.statement, ""]
    return "\n".join(lines)


def html_page(report: Report) -> str:
    def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    title = html.escape(f"Carbon report: {report.selection}")
    equivalents = "".join(
        f"<li>{e.amount:.3g} {html.escape(e.unit)}</li>" for e in report.equivalents
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1>"
        + table(("quantity", "value", "how / source"), _rows(report))
        + (
            "<h2>Per run</h2>" + table(PER_RUN, _per_run_rows(report))
            if len(report.items) > 1
            else ""
        )
        + "<h2>Embodied CO₂e by device</h2>"
        + table(
            ("run", "device", "model", "figure (source)", "time share", "CO₂e"),
            _embodied_rows(report),
        )
        + f"<p>Embodied figures: {html.escape(EMBODIED_SOURCES)}.</p>"
        + (f"<h2>Equivalents</h2><ul>{equivalents}</ul>" if equivalents else "")
        + f"<h2>Carbon statement</h2><p>{html.escape(report.statement)}</p></body></html>\n"
    )
