"""The sync's error for a hub server that cannot be reached (shared by the feed client and
the preview fetcher)."""


class HubUnavailable(RuntimeError):
    """The hub server cannot be reached (or keeps failing); nothing local was changed."""


class AccountRefused(Exception):
    """The hub server refused the API key the local hub syncs its account with (401)."""
