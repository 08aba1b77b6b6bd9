"""Materials Project: crystal structures with formation energies per atom, from the MP REST API.

Jain et al., APL Materials 1, 011002 (2013), https://materialsproject.org. Queries
``GET {api_url}?_fields=material_id,formation_energy_per_atom,structure&_skip=K&_limit=N[&criteria]``
with the header ``X-API-KEY`` (argument ``api_key`` or environment variable ``MP_API_KEY``). Every page
of the answer is cached to disk as JSON, so an interrupted fetch resumes at the next page and a complete
one is never fetched again. Structures are pymatgen ``Structure`` dicts (``lattice.matrix`` rows in Å,
``sites[].xyz`` Cartesian Å, ``sites[].species[].element``).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_numbers

from zoo.data.dataset import AtomsDataset
from zoo.datasets.base import PreparedDataset
from zoo.datasets.download import USER_AGENT
from zoo.errors import DataError, DownloadError

API_URL = "https://api.materialsproject.org/materials/summary/"
FIELDS = "material_id,formation_energy_per_atom,structure"


class MaterialsProject(PreparedDataset):
    name = "mp"
    formation_energy = "formation_energy_per_atom"

    def __init__(
        self,
        root: str | os.PathLike[str],
        api_key: str | None = None,
        criteria: Mapping[str, Any] | None = None,
        page_size: int = 1000,
        max_structures: int | None = None,
        api_url: str = API_URL,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, **kwargs)
        self.api_key = api_key or os.environ.get("MP_API_KEY")
        self.criteria = dict(criteria or {})
        if page_size <= 0:
            raise DataError(f"page_size must be positive, got {page_size}.")
        self.page_size = page_size
        self.max_structures = max_structures
        self.api_url = api_url

    def _query_id(self) -> str:
        text = json.dumps([self.criteria, self.max_structures], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def _processed_name(self) -> str:
        return f"mp_{self._query_id()}.h5"

    @property
    def pages_folder(self) -> Path:
        return self.folder / f"pages_{self._query_id()}"

    # ------------------------------------------------------------------ fetching
    def _get(self, skip: int, limit: int) -> dict[str, Any]:
        params = {"_fields": FIELDS, "_skip": skip, "_limit": limit, **self.criteria}
        url = f"{self.api_url}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, headers={"X-API-KEY": self.api_key or "", "User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise DownloadError(
                    f"The Materials Project API refused the API key (HTTP {exc.code})."
                ) from None
            raise DownloadError(f"The Materials Project API answered HTTP {exc.code} for {url}.") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise DownloadError(
                f"Could not reach the Materials Project API at {self.api_url} "
                f"({getattr(exc, 'reason', exc)}); "
                f"when offline, place the cached pages in {self.pages_folder}."
            ) from None
        except json.JSONDecodeError:
            raise DownloadError(
                f"The Materials Project API sent an answer that is not JSON for {url}."
            ) from None

    def fetch_pages(self) -> list[Path]:
        """Fetch (or reuse) every page of the query; returns the cached page files in order."""
        folder = self.pages_folder
        done = folder / "complete.json"
        if done.exists():
            n = json.loads(done.read_text())["pages"]
            return [folder / f"page_{k:05d}.json" for k in range(n)]
        if not self.download or not self.api_key:
            why = "downloads are disabled" if not self.download else "no API key was given"
            raise DownloadError(
                f"Materials Project data is not cached at {folder} and {why}: "
                "set MP_API_KEY (or pass api_key) to fetch it."
            )
        folder.mkdir(parents=True, exist_ok=True)
        pages: list[Path] = []
        k = fetched = 0
        total: int | None = None
        while True:
            page = folder / f"page_{k:05d}.json"
            if page.exists():
                body = json.loads(page.read_text())
            else:
                limit = self.page_size
                if self.max_structures is not None:
                    limit = min(limit, self.max_structures - fetched)
                body = self._get(k * self.page_size, limit)
                if not isinstance(body.get("data"), list):
                    raise DownloadError(f"The Materials Project API answer for page {k} has no 'data' list.")
                _write_json(page, body)
            pages.append(page)
            n = len(body["data"])
            fetched += n
            total = body.get("meta", {}).get("total_doc", total)
            k += 1
            if n < self.page_size or (total is not None and fetched >= total):
                break
            if self.max_structures is not None and fetched >= self.max_structures:
                break
        _write_json(done, {"pages": len(pages), "structures": fetched, "total_doc": total})
        return pages

    # ------------------------------------------------------------------ conversion
    def _convert(self, out: Path) -> AtomsDataset:
        pages = self.fetch_pages()
        ids: list[str] = []
        structures = _structures(pages, ids)
        ds = self._create(
            out, structures, {self.formation_energy: "eV/atom"}, source=self.api_url,
            criteria=json.dumps(self.criteria, sort_keys=True),
        )  # fmt: skip
        _write_json(out.with_suffix(".ids.json"), ids)
        return ds

    @property
    def material_ids(self) -> list[str]:
        """Materials Project ids, in the order of the dataset."""
        self.prepare()
        return json.loads(self.processed_path.with_suffix(".ids.json").read_text())


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def structure_arrays(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Z, R, cell, pbc of a pymatgen Structure dict (ordered structures only)."""
    try:
        lattice = np.asarray(doc["lattice"]["matrix"], dtype=np.float64).reshape(3, 3)
        z, r = [], []
        for site in doc["sites"]:
            species = site["species"]
            if len(species) != 1 or abs(float(species[0].get("occu", 1.0)) - 1.0) > 1e-6:
                raise DataError(f"{where} has a partially occupied site, which zoo cannot represent.")
            z.append(atomic_numbers[species[0]["element"]])
            r.append(site["xyz"] if "xyz" in site else np.asarray(site["abc"], dtype=np.float64) @ lattice)
        pbc = doc["lattice"].get("pbc", (True, True, True))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where} is not a valid pymatgen structure ({exc}).") from None
    return {"Z": np.asarray(z), "R": np.asarray(r, dtype=np.float64), "cell": lattice, "pbc": np.asarray(pbc)}


def _structures(pages: list[Path], ids: list[str]) -> Iterator[dict[str, Any]]:
    for page in pages:
        try:
            body = json.loads(page.read_text())
        except json.JSONDecodeError:
            raise DataError(f"{page} is not valid JSON; delete it to fetch the page again.") from None
        for doc in body["data"]:
            where = f"{page}: {doc.get('material_id', '?')}"
            energy = doc.get("formation_energy_per_atom")
            if energy is None or "structure" not in doc:
                continue  # MP has materials without a formation energy
            s = structure_arrays(doc["structure"], where)
            s[MaterialsProject.formation_energy] = float(energy)
            ids.append(str(doc.get("material_id", "")))
            yield s
