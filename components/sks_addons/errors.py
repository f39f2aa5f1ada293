"""The exception an SKS add-on operation raises: the message names the cluster id and the add-on,
and quotes the Exoscale API's own message when the API refused."""


class SksAddonError(Exception):
    """Enabling, reading or removing an SKS cluster add-on failed."""
