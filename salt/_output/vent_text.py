"""Plain text for Vent's runners.

A runner that must set salt-run's exit code returns ``{"data": text, "outputter":
"vent_text", "retcode": N}``; salt hands the whole dict to the outputter, which
prints only the text.
"""


def output(data, **kwargs):  # pylint: disable=unused-argument
    if isinstance(data, dict) and "data" in data and "retcode" in data:
        data = data["data"]
    return str(data)
