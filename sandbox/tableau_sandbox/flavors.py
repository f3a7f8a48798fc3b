"""What differs between Tableau Server and Tableau Cloud, as the sandbox models it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    name: str  # "server" | "cloud"
    product_version: str
    build: str
    rest_api_version: str
    session_minutes: int  # lifetime of an X-Tableau-Auth token
    has_default_site: bool  # Server has the "" (Default) site; Cloud sites always have a contentUrl
    server_schedules: bool  # GET /schedules exists (Server only; Cloud schedules live on the tasks)
    concurrency_limit: int | None  # in-flight REST requests per site before 429 (Cloud only)

    @property
    def is_cloud(self) -> bool:
        return self.name == "cloud"


# Tableau Server 2025.1 ships REST API 3.25. Tableau Cloud reports a release-style productVersion
# and a newer build/API version; serverinfo has no field that says "Cloud" (see TSC issue #1592).
SERVER = Flavor("server", "2025.1.0", "20251.25.0313.1208", "3.25", 240, True, True, None)
CLOUD = Flavor("cloud", "2025.3.0", "20253.25.1017.0838", "3.27", 120, False, False, 8)

FLAVORS = {"server": SERVER, "cloud": CLOUD}


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown flavor {name!r}; expected 'server' or 'cloud'") from None
