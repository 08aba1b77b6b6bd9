"""`zoo pretrained list | info NAME | download NAME`."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("pretrained", help="list, describe and download pretrained models")
    sub = parser.add_subparsers(dest="pretrained_command", required=True)

    ls = sub.add_parser("list", help="the registered pretrained models")
    ls.add_argument("--json", action="store_true", help="print the registry entries as JSON")
    ls.set_defaults(func=_list)

    info = sub.add_parser("info", help="everything the registry records about one model")
    info.add_argument("name")
    info.add_argument("--json", action="store_true", help="print the registry entry as JSON")
    info.set_defaults(func=_info)

    dl = sub.add_parser(
        "download", help="fetch a model into the cache (verified; a shipped copy is used when present)"
    )
    dl.add_argument("name", nargs="+", help="model name(s), or 'all'")
    dl.add_argument("--timeout", type=float, default=None, help="seconds without data before giving up")
    dl.add_argument("--no-progress", dest="progress", action="store_false")
    dl.set_defaults(func=_download)


def _where(model: Any) -> str:
    from zoo.pretrained import locate

    path = locate(model.name)
    if path is None:
        return "not local (downloads on first use)"
    return "shipped" if path == model.packaged_path else "cached"


def _mae(model: Any, prop: str) -> str:
    r = model.test_errors.get(prop)
    if not r:
        return "-"
    return f"{r['mae']:.4g} {r['unit']}"


def _list(args: argparse.Namespace) -> int:
    from zoo.pretrained import registry

    models = registry()
    if args.json:
        print(json.dumps([m.as_dict() for _, m in sorted(models.items())], indent=2, ensure_ascii=False))
        return 0
    header = (
        f"{'name':<28} {'version':<8} {'kind':<7} {'species':<12} {'test energy MAE':<18} "
        f"{'test forces MAE':<20} {'size':>8}  where"
    )
    print(header)
    for name, m in sorted(models.items()):
        s = m.summary
        energy = s.get("energy_property") or next(
            (p for p in m.test_errors if p not in ("forces", "stress")), "energy"
        )
        print(
            f"{name:<28} {m.version:<8} {s.get('model_kind', '?'):<7} "
            f"{','.join(s.get('species_symbols', [])):<12} {_mae(m, energy):<18} {_mae(m, 'forces'):<20} "
            f"{m.size / 1024:>6.0f} KiB  {_where(m)}"
        )
    return 0


def _info(args: argparse.Namespace) -> int:
    from zoo.pretrained import get

    m = get(args.name)
    if args.json:
        print(json.dumps(m.as_dict(), indent=2, ensure_ascii=False))
        return 0
    s, t = m.summary, m.training
    print(f"name          {m.name}")
    print(f"version       {m.version}")
    print(f"description   {m.description}")
    print(f"file          {m.file} ({m.size} bytes, sha256 {m.sha256})")
    print(f"url           {m.download_url}")
    print(f"local         {_where(m)}; cache {m.cache_path}")
    print(f"model         {s.get('model_kind')} {json.dumps(s.get('hyperparameters', {}))}")
    print(f"cutoff        {s.get('cutoff')} Å")
    print(f"species       {', '.join(s.get('species_symbols', []))}")
    print(f"properties    {', '.join(s.get('properties', []))}")
    print(f"units         {', '.join(f'{k} {v}' for k, v in s.get('units', {}).items())}")
    print(f"artifact      format {s.get('format_version')}, {s.get('encoding')}, {s.get('dtype')}")
    print(f"training data {t.get('data')}")
    print(f"n_train       {t.get('n_train')} (validation {t.get('n_val')}, test {t.get('n_test')})")
    if t.get("wall_time_s") is not None:
        print(f"training      {t.get('epochs')} epochs in {t['wall_time_s']:.0f} s on {t.get('hardware')}")
    if t.get("command"):
        print(f"command       {t['command']}")
    print("test errors")
    for prop, r in m.test_errors.items():
        print(
            f"  {prop:<12} MAE {r['mae']:.5g} {r['unit']} ({r['mae_paper']:.4g} {r['paper_unit']}), "
            f"RMSE {r['rmse']:.5g} {r['unit']}"
        )
    return 0


def _download(args: argparse.Namespace) -> int:
    from zoo.pretrained import available, fetch, get

    names = available() if args.name == ["all"] else args.name
    for name in names:
        get(name)  # unknown names fail before anything is fetched
    for name in names:
        path = fetch(name, progress=args.progress, timeout=args.timeout)
        print(f"{name}: {path} (sha256 verified)")
    return 0
