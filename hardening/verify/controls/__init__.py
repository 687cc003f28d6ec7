"""The catalogue: every control ``hardening verify`` evaluates, as data.

Each control is one entry in a module of this package (one module per area: ``pgaudit``,
``logging``, ``connections``, ``privileges``, ``server``, ``kit``; the ``--probe`` controls in
``probes``) and one query in ``sql/checks/``. Entries name the CIS PostgreSQL 17 Benchmark
recommendations and the Crunchy Data PostgreSQL 16 STIG checks they answer
(``hardening.verify.catalogues``), and the pgdsat check numbers where pgdsat has one.

Example::

    from hardening.verify.controls import CONTROLS, get
    get("log_connections").cis        # ('3.1.20',)
    len(CONTROLS)
"""

from __future__ import annotations

from hardening.verify.controls import connections, kit, logging, pgaudit, privileges, server
from hardening.verify.controls.probes import PROBES
from hardening.verify.model import Control

CONTROLS: tuple[Control, ...] = (
    *pgaudit.CONTROLS,
    *logging.CONTROLS,
    *connections.CONTROLS,
    *privileges.CONTROLS,
    *server.CONTROLS,
    *kit.CONTROLS,
)

_BY_ID = {c.id: c for c in CONTROLS + PROBES}

__all__ = ["CONTROLS", "PROBES", "get", "ids"]


def get(control_id: str) -> Control:
    """The control (or probe) ``control_id``; KeyError naming ``--list`` when there is none.

    Args:
        control_id: a control's id, as ``hardening verify --list`` shows it.

    Example::

        get("ssl_on").fix
    """
    try:
        return _BY_ID[control_id]
    except KeyError:
        raise KeyError(f"no control {control_id!r}; `hardening verify --list` names them") from None


def ids() -> list[str]:
    """The ids of the catalogue's controls (not the probes), in catalogue order.

    Example::

        assert "ssl_on" in ids()
    """
    return [c.id for c in CONTROLS]
